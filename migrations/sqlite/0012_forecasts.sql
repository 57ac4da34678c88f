-- Run-time forecasts (SPEC §7): the durations of the last 50 successful
-- tries of each task, in a ring of 50 slots per (DAG, task) (a success
-- overwrites slot seq % 50, so the table never grows past 50 rows a task
-- and needs no pruning); the runs found at risk of missing their SLA, once
-- per run; a run's forecast (expected_end) and its SLA deadline; a task
-- instance's flags (slow, stuck) and its latest progress line. The same
-- tables as migrations/postgres/0012_forecasts.sql.
CREATE TABLE task_durations (
  dag_id TEXT NOT NULL,
  task_id TEXT NOT NULL,
  slot INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  seconds REAL NOT NULL,
  ended_at INTEGER NOT NULL,
  PRIMARY KEY (dag_id, task_id, slot)
);
CREATE TABLE sla_risks (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  dag_id TEXT NOT NULL,
  run_id TEXT NOT NULL,
  kind TEXT NOT NULL,
  deadline INTEGER NOT NULL,
  expected_end INTEGER NOT NULL,
  detected_at INTEGER NOT NULL,
  recovered_at INTEGER,
  UNIQUE (dag_id, run_id)
);
CREATE INDEX sla_risks_by_dag ON sla_risks(dag_id, id);
CREATE INDEX sla_risks_at ON sla_risks(detected_at, id);
ALTER TABLE dag_runs ADD COLUMN expected_end INTEGER;
ALTER TABLE dag_runs ADD COLUMN sla_deadline INTEGER;
ALTER TABLE task_instances ADD COLUMN flags TEXT;
ALTER TABLE task_instances ADD COLUMN progress TEXT;
