-- Scoped tokens and variables and connections per namespace (SPEC §13). The
-- same as migrations/sqlite/0010_scoped_tokens.sql.
--
-- A token's namespaces, comma-separated, in the order given ('': unscoped,
-- it sees every namespace). Names follow the rule of a DAG file's
-- `namespace:` (no commas), so the list needs no escaping.
ALTER TABLE tokens ADD COLUMN namespaces TEXT NOT NULL DEFAULT '';

-- Variables and connections belong to a namespace ('': global); a name is
-- unique within its namespace.
ALTER TABLE variables ADD COLUMN ns TEXT NOT NULL DEFAULT '';
ALTER TABLE variables DROP CONSTRAINT variables_pkey;
ALTER TABLE variables ADD PRIMARY KEY (ns, name);

ALTER TABLE connections ADD COLUMN ns TEXT NOT NULL DEFAULT '';
ALTER TABLE connections DROP CONSTRAINT connections_pkey;
ALTER TABLE connections ADD PRIMARY KEY (ns, name);
