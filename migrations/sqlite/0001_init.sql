-- Baton's whole data model (SPEC.md), SQLite dialect. Forward-only: a later
-- change is a new numbered file, never an edit of this one.
-- Instants are INTEGER microseconds since the Unix epoch (UTC); JSON is TEXT.

CREATE TABLE settings (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
);

-- DAGs as the folder last showed them, and every compiled version.
CREATE TABLE dags (
  dag_id          TEXT PRIMARY KEY,
  namespace       TEXT NOT NULL DEFAULT 'default',
  file            TEXT NOT NULL,
  current_version TEXT,                       -- dag_versions.version, null until one compiled
  active          INTEGER NOT NULL DEFAULT 1, -- 0 once its file is gone: no new runs
  paused          INTEGER NOT NULL DEFAULT 0,
  import_errors   TEXT,                       -- JSON list while the file is invalid
  partition_no    INTEGER NOT NULL,           -- hash(dag_id) mod the partition count
  last_tick       INTEGER,                    -- the latest interval start the scheduler created a run for
  created_at      INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL
);
CREATE INDEX dags_by_partition ON dags(partition_no);

CREATE TABLE dag_versions (
  dag_id     TEXT NOT NULL REFERENCES dags(dag_id),
  version    TEXT NOT NULL,                   -- SHA-256 of the canonical compiled form
  compiled   TEXT NOT NULL,                   -- the canonical JSON
  source     TEXT NOT NULL,                   -- the YAML text it came from
  file       TEXT NOT NULL,
  git_commit TEXT,
  git_dirty  INTEGER,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (dag_id, version)
);

-- Runs and task instances.
CREATE TABLE dag_runs (
  id                  INTEGER PRIMARY KEY,
  dag_id              TEXT NOT NULL REFERENCES dags(dag_id),
  run_id              TEXT NOT NULL,
  run_type            TEXT NOT NULL CHECK (run_type IN ('scheduled', 'manual', 'backfill', 'dataset')),
  state               TEXT NOT NULL CHECK (state IN ('queued', 'running', 'success', 'failed', 'canceled')),
  logical_date        INTEGER NOT NULL,
  data_interval_start INTEGER NOT NULL,
  data_interval_end   INTEGER NOT NULL,
  params              TEXT NOT NULL DEFAULT '{}',
  dag_version         TEXT NOT NULL,
  note                TEXT,
  idempotency_key     TEXT,
  backfill_id         INTEGER REFERENCES backfills(id),
  created_by          TEXT NOT NULL DEFAULT 'system',
  created_at          INTEGER NOT NULL,
  started_at          INTEGER,
  ended_at            INTEGER,
  UNIQUE (dag_id, run_id)
);
-- Never more than one scheduled or backfill run per (DAG, logical date).
CREATE UNIQUE INDEX dag_runs_one_per_interval ON dag_runs(dag_id, logical_date)
  WHERE run_type IN ('scheduled', 'backfill');
CREATE UNIQUE INDEX dag_runs_idempotency ON dag_runs(dag_id, idempotency_key)
  WHERE idempotency_key IS NOT NULL;
CREATE INDEX dag_runs_by_dag ON dag_runs(dag_id, logical_date DESC, id DESC);
CREATE INDEX dag_runs_unfinished ON dag_runs(state) WHERE state IN ('queued', 'running');
CREATE INDEX dag_runs_by_backfill ON dag_runs(backfill_id) WHERE backfill_id IS NOT NULL;

CREATE TABLE task_instances (
  id                INTEGER PRIMARY KEY,
  run_pk            INTEGER NOT NULL REFERENCES dag_runs(id),
  task_id           TEXT NOT NULL,
  map_index         INTEGER NOT NULL DEFAULT -1,
  state             TEXT NOT NULL CHECK (state IN ('pending', 'scheduled', 'queued', 'running', 'waiting',
                      'up_for_retry', 'success', 'failed', 'upstream_failed', 'skipped', 'canceled')),
  try_number        INTEGER NOT NULL DEFAULT 0,
  max_tries         INTEGER NOT NULL DEFAULT 1,
  queue             TEXT NOT NULL DEFAULT 'default',
  pool              TEXT NOT NULL DEFAULT 'default',
  pool_slots        INTEGER NOT NULL DEFAULT 1,
  priority          INTEGER NOT NULL DEFAULT 0,
  ready_at          INTEGER,          -- became scheduled (for the ready -> running latency)
  wake_at           INTEGER,          -- up_for_retry: retry time; waiting: next poke
  started_at        INTEGER,
  ended_at          INTEGER,
  worker            TEXT,
  attempt_token     TEXT,             -- the current try's fencing token
  exit_code         INTEGER,
  reason            TEXT,
  heartbeat_at      INTEGER,
  last_activity_at  INTEGER,          -- last log line or checkpoint
  output            TEXT,             -- JSON object of the last successful try
  checkpoint        BLOB,
  checkpoint_at     INTEGER,
  UNIQUE (run_pk, task_id, map_index)
);
CREATE INDEX task_instances_active ON task_instances(state)
  WHERE state IN ('scheduled', 'queued', 'running', 'waiting', 'up_for_retry');

CREATE TABLE task_tries (
  ti_id         INTEGER NOT NULL REFERENCES task_instances(id),
  try_number    INTEGER NOT NULL,
  state         TEXT NOT NULL,
  worker        TEXT,
  attempt_token TEXT,
  queued_at     INTEGER,
  started_at    INTEGER,
  ended_at      INTEGER,
  exit_code     INTEGER,
  reason        TEXT,
  log_path      TEXT,                 -- relative to the logs folder
  log_bytes     INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (ti_id, try_number)
);

-- Backfills: objects the server owns and the scheduler carries out.
CREATE TABLE backfills (
  id              INTEGER PRIMARY KEY,
  dag_id          TEXT NOT NULL REFERENCES dags(dag_id),
  from_at         INTEGER NOT NULL,
  to_at           INTEGER NOT NULL,
  from_text       TEXT NOT NULL,
  to_text         TEXT NOT NULL,
  reprocess       TEXT NOT NULL CHECK (reprocess IN ('none', 'failed', 'all')),
  max_active_runs INTEGER NOT NULL,
  reverse         INTEGER NOT NULL DEFAULT 0,
  tasks           TEXT,               -- JSON list, or null for all
  downstream      INTEGER NOT NULL DEFAULT 0,
  state           TEXT NOT NULL CHECK (state IN ('running', 'success', 'failed', 'canceled')),
  total           INTEGER NOT NULL DEFAULT 0,
  done            INTEGER NOT NULL DEFAULT 0,
  failed          INTEGER NOT NULL DEFAULT 0,
  cursor_at       INTEGER,            -- the next interval to create
  created_by      TEXT NOT NULL,
  created_at      INTEGER NOT NULL,
  ended_at        INTEGER
);

-- SLA misses, recorded once per (run, task, kind); task_id '' for a run.
CREATE TABLE sla_misses (
  id          INTEGER PRIMARY KEY,
  dag_id      TEXT NOT NULL,
  run_id      TEXT NOT NULL,
  task_id     TEXT NOT NULL DEFAULT '',
  kind        TEXT NOT NULL CHECK (kind IN ('run_deadline', 'run_duration', 'task_duration')),
  deadline    INTEGER NOT NULL,
  detected_at INTEGER NOT NULL,
  UNIQUE (dag_id, run_id, task_id, kind)
);

-- The append-only audit log: each entry chains to the previous by SHA-256.
CREATE TABLE audit_log (
  id        INTEGER PRIMARY KEY,
  at        INTEGER NOT NULL,
  actor     TEXT NOT NULL,
  action    TEXT NOT NULL,
  target    TEXT NOT NULL,
  details   TEXT NOT NULL DEFAULT '{}',
  prev_hash TEXT NOT NULL,
  hash      TEXT NOT NULL UNIQUE
);
CREATE INDEX audit_by_target ON audit_log(target);

-- Scheduler membership and partition ownership (fenced by epochs).
CREATE TABLE scheduler_members (
  member_id        TEXT PRIMARY KEY,
  host             TEXT NOT NULL,
  pid              INTEGER NOT NULL,
  started_at       INTEGER NOT NULL,
  heartbeat_at     INTEGER NOT NULL,
  lease_expires_at INTEGER NOT NULL
);
CREATE TABLE partitions (
  partition_no INTEGER PRIMARY KEY,
  owner        TEXT,
  epoch        INTEGER NOT NULL DEFAULT 0,
  assigned_at  INTEGER
);

-- Intents recorded by the API and carried out by the scheduler.
CREATE TABLE commands (
  id           INTEGER PRIMARY KEY,
  kind         TEXT NOT NULL,         -- trigger, cancel, clear, mark, pause, backfill, ...
  dag_id       TEXT,
  payload      TEXT NOT NULL DEFAULT '{}',
  created_by   TEXT NOT NULL,
  created_at   INTEGER NOT NULL,
  processed_at INTEGER,
  result       TEXT
);
CREATE INDEX commands_pending ON commands(id) WHERE processed_at IS NULL;

CREATE TABLE pools (
  name        TEXT PRIMARY KEY,
  slots       INTEGER NOT NULL CHECK (slots >= 0),
  description TEXT NOT NULL DEFAULT ''
);
INSERT INTO pools (name, slots) VALUES ('default', 128);

-- Data-aware scheduling.
CREATE TABLE dataset_events (
  id             INTEGER PRIMARY KEY,
  uri            TEXT NOT NULL,
  at             INTEGER NOT NULL,
  extra          TEXT NOT NULL DEFAULT '{}',
  source_dag_id  TEXT,
  source_run_id  TEXT,
  source_task_id TEXT
);
CREATE INDEX dataset_events_by_uri ON dataset_events(uri, id);
CREATE TABLE dataset_consumers (
  dag_id        TEXT NOT NULL,
  uri           TEXT NOT NULL,
  last_event_id INTEGER NOT NULL DEFAULT 0,  -- consumed up to this event
  PRIMARY KEY (dag_id, uri)
);

CREATE TABLE variables (
  name       TEXT PRIMARY KEY,
  value      TEXT NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE TABLE connections (
  name       TEXT PRIMARY KEY,
  url        TEXT NOT NULL,               -- with its password; the API masks it
  updated_at INTEGER NOT NULL
);

CREATE TABLE tokens (
  id           INTEGER PRIMARY KEY,
  name         TEXT NOT NULL UNIQUE,
  role         TEXT NOT NULL CHECK (role IN ('viewer', 'operator', 'admin', 'worker')),
  hash         TEXT NOT NULL UNIQUE,      -- SHA-256 of the token; the token itself is never stored
  created_at   INTEGER NOT NULL,
  revoked_at   INTEGER,
  last_used_at INTEGER
);

-- Notifications waiting to be delivered (webhooks retried with backoff).
CREATE TABLE notifications (
  id              INTEGER PRIMARY KEY,
  event           TEXT NOT NULL,          -- on_failure, on_success, on_retry, on_sla_miss
  dag_id          TEXT NOT NULL,
  target_kind     TEXT NOT NULL CHECK (target_kind IN ('webhook', 'command')),
  target          TEXT NOT NULL,
  payload         TEXT NOT NULL,
  attempts        INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL,
  state           TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'failed')),
  last_error      TEXT,
  created_at      INTEGER NOT NULL
);
CREATE INDEX notifications_pending ON notifications(next_attempt_at) WHERE state = 'pending';
