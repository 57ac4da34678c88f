-- Fair share across members (SPEC §13): a queued try carries its namespace,
-- so that claims give each namespace its weighted share of the workers and
-- keep it within its max_running_tasks; and whether it is a backfill's, so
-- that live work goes first within a namespace. The same columns as
-- migrations/sqlite/0011_queue_namespaces.sql.
ALTER TABLE task_queue ADD COLUMN ns TEXT NOT NULL DEFAULT 'default';
ALTER TABLE task_queue ADD COLUMN backfill INTEGER NOT NULL DEFAULT 0;
-- The next tries of one namespace, in claim order; the namespaces with a try.
CREATE INDEX task_queue_unclaimed_ns ON task_queue(ns, backfill, priority DESC, seq) WHERE worker IS NULL;
-- The tries each namespace holds on workers.
CREATE INDEX task_queue_claimed_ns ON task_queue(ns) WHERE worker IS NOT NULL;
