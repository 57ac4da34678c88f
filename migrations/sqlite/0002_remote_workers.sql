-- Scheduling across processes (SPEC §9): the queue remote workers claim from,
-- what they report back to the owning scheduler, the partition of each API
-- intent, and the logs workers send with their heartbeats. The same tables as
-- migrations/postgres/0002_remote_workers.sql. SQLite admits one scheduling
-- process and no remote workers, so here they stay empty: they keep the two
-- schemas alike.

-- A try handed out for a remote worker. The owning scheduler inserts it (with
-- its partition's epoch checked) and deletes it when the try is over; a
-- worker claims it (FOR UPDATE SKIP LOCKED) and heartbeats it. A report or
-- heartbeat on a token that is not here, or held by another worker, is stale.
CREATE TABLE task_queue (
  attempt_token TEXT PRIMARY KEY,
  seq           INTEGER NOT NULL DEFAULT 0,
  ti_id         INTEGER NOT NULL,
  run_pk        INTEGER NOT NULL,
  task_index    INTEGER NOT NULL,
  try_number    INTEGER NOT NULL,
  partition_no  INTEGER NOT NULL,
  queue         TEXT NOT NULL,
  priority      INTEGER NOT NULL DEFAULT 0,
  payload       TEXT NOT NULL,
  queued_at     INTEGER NOT NULL,
  worker        TEXT,
  claimed_at    INTEGER,
  heartbeat_at  INTEGER
);
CREATE INDEX task_queue_unclaimed ON task_queue(queue, priority DESC, seq) WHERE worker IS NULL;

-- What workers did with a try (started, finished), for its owner to apply.
CREATE TABLE worker_events (
  id            INTEGER PRIMARY KEY,
  partition_no  INTEGER NOT NULL,
  attempt_token TEXT NOT NULL,
  run_pk        INTEGER NOT NULL,
  task_index    INTEGER NOT NULL,
  kind          TEXT NOT NULL CHECK (kind IN ('started', 'finished')),
  worker        TEXT NOT NULL,
  body          TEXT NOT NULL DEFAULT '{}',
  at            INTEGER NOT NULL
);
CREATE INDEX worker_events_by_partition ON worker_events(partition_no, id);
CREATE INDEX worker_events_by_token ON worker_events(attempt_token);

-- An intent goes to the scheduler that owns its DAG's partition; `status` is
-- ok or an error code, `result` the answer (JSON).
ALTER TABLE commands ADD COLUMN partition_no INTEGER NOT NULL DEFAULT 0;
ALTER TABLE commands ADD COLUMN status TEXT;
CREATE INDEX commands_pending_by_partition ON commands(partition_no, id) WHERE processed_at IS NULL;

-- Log bytes of remote tries, as their workers sent them.
CREATE TABLE try_logs (
  ti_id        INTEGER NOT NULL,
  try_number   INTEGER NOT NULL,
  offset_bytes INTEGER NOT NULL,
  data         BLOB NOT NULL,
  PRIMARY KEY (ti_id, try_number, offset_bytes)
);
