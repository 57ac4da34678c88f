-- Secret variables (SPEC §8): write-only like a connection's password. The
-- API shows their value as ***, the audit log never holds it, and the logs of
-- the tries that read one mask it. The same column as
-- migrations/postgres/0006_secret_variables.sql.
ALTER TABLE variables ADD COLUMN secret INTEGER NOT NULL DEFAULT 0;
