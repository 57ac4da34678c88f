-- Deadline-aware claims (SPEC §7): a queued try carries the latest time its
-- run can start it and still meet its SLA deadline (the owner's forecast:
-- now + slack, when queued; the largest value for a run without an SLA),
-- and claims take, within a namespace's live or backfill tries of one
-- priority, the earliest first. The same column as
-- migrations/postgres/0013_queue_slack.sql.
ALTER TABLE task_queue ADD COLUMN latest_start BIGINT NOT NULL DEFAULT 9223372036854775807;
DROP INDEX IF EXISTS task_queue_unclaimed_ns;
CREATE INDEX task_queue_unclaimed_ns ON task_queue(ns, backfill, priority DESC, latest_start, seq) WHERE worker IS NULL;
