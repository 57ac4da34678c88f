-- Reads that do not grow with history (BENCHMARKS.md W5). Every list the API
-- serves pages on an index in its own order (keyset: after the last row's
-- sort key and id, never OFFSET), and the counts of GET /metrics come from
-- counters kept by triggers in the transaction of every change, instead of a
-- count over every run and task instance. The same as
-- migrations/postgres/0007_read_indexes.sql.

-- Runs: a DAG's by state and by type (a DAG's own, newest first, is
-- dag_runs_by_dag). Runs are listed per DAG (GET /dags/{id}/runs) or
-- unfinished ones of all DAGs (dag_runs_unfinished): no index serves a list
-- of every DAG's runs, since every index on dag_runs is written with each
-- run's change (each one cost the trigger path about a tenth of its rate).
CREATE INDEX dag_runs_by_dag_state ON dag_runs(dag_id, state, logical_date DESC, id DESC);
CREATE INDEX dag_runs_by_dag_type ON dag_runs(dag_id, run_type, logical_date DESC, id DESC);
-- A DAG's by state and type at once (a filter on both walks only what matches).
CREATE INDEX dag_runs_by_dag_state_type ON dag_runs(dag_id, state, run_type, logical_date DESC, id DESC);

-- Task instances waiting for a worker, per queue (baton_queue_depth).
CREATE INDEX task_instances_queued ON task_instances(queue) WHERE state = 'queued';

-- A DAG's backfills, SLA misses and notifications, by id.
CREATE INDEX backfills_by_dag ON backfills(dag_id, id);
CREATE INDEX sla_misses_by_dag ON sla_misses(dag_id, id);
CREATE INDEX notifications_by_dag ON notifications(dag_id, id);

-- The audit log and SLA misses since an instant: the first id at or after
-- it (min(id) over these), where the list by id then starts.
CREATE INDEX audit_at ON audit_log(at, id);
CREATE INDEX sla_misses_at ON sla_misses(detected_at, id);

-- The audit log by action, by actor, and by the DAG its target is about
-- (dag:ID, dag:ID/RUN, dag:ID/RUN/TASK): an index on that expression (the
-- list's statement names the same one, store/src/sqlite/sqlite_lists.cpp),
-- so that the table, its entries and their hashes stay as they were.
CREATE INDEX audit_by_action ON audit_log(action, id);
CREATE INDEX audit_by_actor ON audit_log(actor, id);
CREATE INDEX audit_by_dag ON audit_log(
  (CASE WHEN substr(target, 1, 4) = 'dag:' THEN substr(target, 5, instr(substr(target, 5) || '/', '/') - 1) END), id);

-- Counters: runs and task instances per state, SLA misses (state ''). One
-- row per subject and state, every state there from the start.
CREATE TABLE state_counts (
  subject TEXT NOT NULL CHECK (subject IN ('run', 'task_instance', 'sla_miss')),
  state   TEXT NOT NULL,
  n       INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (subject, state)
);
INSERT INTO state_counts (subject, state) VALUES
  ('run', 'queued'), ('run', 'running'), ('run', 'success'), ('run', 'failed'), ('run', 'canceled'),
  ('task_instance', 'pending'), ('task_instance', 'scheduled'), ('task_instance', 'queued'),
  ('task_instance', 'running'), ('task_instance', 'waiting'), ('task_instance', 'up_for_retry'),
  ('task_instance', 'success'), ('task_instance', 'failed'), ('task_instance', 'upstream_failed'),
  ('task_instance', 'skipped'), ('task_instance', 'canceled'), ('sla_miss', '');
UPDATE state_counts SET n = c.n FROM (SELECT state, count(*) AS n FROM dag_runs GROUP BY state) AS c
  WHERE state_counts.subject = 'run' AND state_counts.state = c.state;
UPDATE state_counts SET n = c.n FROM (SELECT state, count(*) AS n FROM task_instances GROUP BY state) AS c
  WHERE state_counts.subject = 'task_instance' AND state_counts.state = c.state;
UPDATE state_counts SET n = (SELECT count(*) FROM sla_misses) WHERE subject = 'sla_miss';

CREATE TRIGGER dag_runs_counted AFTER INSERT ON dag_runs BEGIN
  UPDATE state_counts SET n = n + 1 WHERE subject = 'run' AND state = new.state;
END;
CREATE TRIGGER dag_runs_recounted AFTER UPDATE OF state ON dag_runs WHEN old.state <> new.state BEGIN
  UPDATE state_counts SET n = n - 1 WHERE subject = 'run' AND state = old.state;
  UPDATE state_counts SET n = n + 1 WHERE subject = 'run' AND state = new.state;
END;
CREATE TRIGGER dag_runs_uncounted AFTER DELETE ON dag_runs BEGIN
  UPDATE state_counts SET n = n - 1 WHERE subject = 'run' AND state = old.state;
END;
CREATE TRIGGER task_instances_counted AFTER INSERT ON task_instances BEGIN
  UPDATE state_counts SET n = n + 1 WHERE subject = 'task_instance' AND state = new.state;
END;
CREATE TRIGGER task_instances_recounted AFTER UPDATE OF state ON task_instances WHEN old.state <> new.state BEGIN
  UPDATE state_counts SET n = n - 1 WHERE subject = 'task_instance' AND state = old.state;
  UPDATE state_counts SET n = n + 1 WHERE subject = 'task_instance' AND state = new.state;
END;
CREATE TRIGGER task_instances_uncounted AFTER DELETE ON task_instances BEGIN
  UPDATE state_counts SET n = n - 1 WHERE subject = 'task_instance' AND state = old.state;
END;
CREATE TRIGGER sla_misses_counted AFTER INSERT ON sla_misses BEGIN
  UPDATE state_counts SET n = n + 1 WHERE subject = 'sla_miss';
END;
CREATE TRIGGER sla_misses_uncounted AFTER DELETE ON sla_misses BEGIN
  UPDATE state_counts SET n = n - 1 WHERE subject = 'sla_miss';
END;

-- The generation of the DAG table: one more with every change of what the
-- DAG summary counts (a DAG added or removed, its namespace, file, version,
-- activity, pause or import errors; not its last tick), so that the API
-- recomputes the summary only when it changed.
INSERT INTO settings (key, value) VALUES ('dags_generation', '0');
CREATE TRIGGER dags_added AFTER INSERT ON dags BEGIN
  UPDATE settings SET value = CAST(value AS INTEGER) + 1 WHERE key = 'dags_generation';
END;
CREATE TRIGGER dags_changed AFTER UPDATE OF namespace, file, current_version, active, paused, import_errors ON dags
BEGIN
  UPDATE settings SET value = CAST(value AS INTEGER) + 1 WHERE key = 'dags_generation';
END;
CREATE TRIGGER dags_removed AFTER DELETE ON dags BEGIN
  UPDATE settings SET value = CAST(value AS INTEGER) + 1 WHERE key = 'dags_generation';
END;
