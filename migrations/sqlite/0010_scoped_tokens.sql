-- Scoped tokens and variables and connections per namespace (SPEC §13). The
-- same as migrations/postgres/0010_scoped_tokens.sql.
--
-- A token's namespaces, comma-separated, in the order given ('': unscoped,
-- it sees every namespace). Names follow the rule of a DAG file's
-- `namespace:` (no commas), so the list needs no escaping.
ALTER TABLE tokens ADD COLUMN namespaces TEXT NOT NULL DEFAULT '';

-- Variables and connections belong to a namespace ('': global); a name is
-- unique within its namespace. SQLite cannot change a primary key in place:
-- the tables are made again with their rows.
CREATE TABLE variables_by_ns (
  ns         TEXT NOT NULL DEFAULT '',
  name       TEXT NOT NULL,
  value      TEXT NOT NULL,
  updated_at INTEGER NOT NULL,
  secret     INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (ns, name)
);
INSERT INTO variables_by_ns (ns, name, value, updated_at, secret)
  SELECT '', name, value, updated_at, secret FROM variables;
DROP TABLE variables;
ALTER TABLE variables_by_ns RENAME TO variables;

CREATE TABLE connections_by_ns (
  ns         TEXT NOT NULL DEFAULT '',
  name       TEXT NOT NULL,
  url        TEXT NOT NULL,               -- with its password; the API masks it
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (ns, name)
);
INSERT INTO connections_by_ns (ns, name, url, updated_at)
  SELECT '', name, url, updated_at FROM connections;
DROP TABLE connections;
ALTER TABLE connections_by_ns RENAME TO connections;
