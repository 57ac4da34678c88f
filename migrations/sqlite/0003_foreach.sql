-- foreach (SPEC §3): a mapped task instance (map_index 0..n-1) keeps the item
-- it runs for, as JSON, from the moment its task was expanded: a restart or
-- another scheduler taking the partition over renders the same item, and a
-- cleared task runs again over the same items. NULL for every other task
-- instance. The same column as migrations/postgres/0003_foreach.sql.
ALTER TABLE task_instances ADD COLUMN item TEXT;
