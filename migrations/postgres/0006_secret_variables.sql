-- Secret variables (SPEC §8): write-only like a connection's password. The
-- API shows their value as ***, the audit log never holds it, and the logs of
-- the tries that read one mask it. The same column as
-- migrations/sqlite/0006_secret_variables.sql.
ALTER TABLE variables ADD COLUMN secret BOOLEAN NOT NULL DEFAULT false;
