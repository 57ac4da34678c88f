-- Pools across members (SPEC §3, §9): a try queued for remote workers keeps
-- its task's pool and pool_slots, so that a claim takes a try only while its
-- pool has slots left over every member's claimed tries. The same columns as
-- migrations/postgres/0004_queue_pools.sql.
ALTER TABLE task_queue ADD COLUMN pool TEXT NOT NULL DEFAULT 'default';
ALTER TABLE task_queue ADD COLUMN pool_slots INTEGER NOT NULL DEFAULT 1;
-- The slots the claimed tries hold, summed by every claim.
CREATE INDEX task_queue_claimed ON task_queue(pool) WHERE worker IS NOT NULL;
