-- Namespaces as stored objects (SPEC §13): what an admin configured for a
-- tenant. A namespace without a row has the defaults (weight 1, no cap, no
-- folder); deleting the row returns it to them. DAGs name their namespace
-- themselves (dags.ns), so no foreign key ties them to this table. The same
-- table as migrations/postgres/0009_namespaces.sql.
CREATE TABLE namespaces (
  name              TEXT PRIMARY KEY,
  weight            REAL NOT NULL DEFAULT 1 CHECK (weight >= 0.01 AND weight <= 1000),
  max_running_tasks INTEGER CHECK (max_running_tasks IS NULL OR max_running_tasks >= 1),
  folder            TEXT,
  description       TEXT NOT NULL DEFAULT ''
);
