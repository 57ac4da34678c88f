-- Reads that do not grow with history (BENCHMARKS.md W5). Every list the API
-- serves pages on an index in its own order (keyset: after the last row's
-- sort key and id, never OFFSET), and the counts of GET /metrics come from
-- counters kept by triggers in the transaction of every change, instead of a
-- count over every run and task instance. The same as
-- migrations/sqlite/0007_read_indexes.sql, but for the counters' shards.

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
-- list's statement names the same one, store/src/postgres/postgres_lists.cpp),
-- so that the table, its entries and their hashes stay as they were.
CREATE INDEX audit_by_action ON audit_log(action, id);
CREATE INDEX audit_by_actor ON audit_log(actor, id);
CREATE INDEX audit_by_dag ON audit_log(
  (CASE WHEN left(target, 4) = 'dag:' THEN split_part(substr(target, 5), '/', 1) END), id);

-- Counters: runs and task instances per state, SLA misses (state ''). A
-- change never updates a shared row (two transactions locking counter rows
-- in data-dependent orders deadlock): its statement's trigger only inserts
-- its deltas into state_count_deltas (no unique index, so no row is locked
-- by another writer's insert). A read sums state_counts and the deltas; a
-- fold (PostgresAudit::fold_counts: from count_states and every 10 s from
-- each scheduler's poll, never inside a write) moves the deltas into
-- state_counts in one short transaction, one fold at a time.
CREATE TABLE state_counts (
  subject TEXT NOT NULL CHECK (subject IN ('run', 'task_instance', 'sla_miss')),
  state   TEXT NOT NULL,
  n       BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY (subject, state)
);
CREATE TABLE state_count_deltas (
  subject TEXT NOT NULL,
  state   TEXT NOT NULL,
  n       BIGINT NOT NULL
);
INSERT INTO state_counts (subject, state, n)
  SELECT 'run', state, count(*) FROM dag_runs GROUP BY state
  UNION ALL SELECT 'task_instance', state, count(*) FROM task_instances GROUP BY state
  UNION ALL SELECT 'sla_miss', '', count(*) FROM sla_misses;

-- One statement's changes at once (transition tables), one function per
-- table so that each reads its rows' state directly. Each runs with the
-- search_path of the schema migrated (set below), so that a session with
-- another search_path writes this schema's counters, not its own.
CREATE FUNCTION baton_count_runs() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO state_count_deltas (subject, state, n)
      SELECT 'run', r.state, count(*) FROM new_rows r GROUP BY r.state;
  ELSIF TG_OP = 'DELETE' THEN
    INSERT INTO state_count_deltas (subject, state, n)
      SELECT 'run', r.state, -count(*) FROM old_rows r GROUP BY r.state;
  ELSE
    INSERT INTO state_count_deltas (subject, state, n)
      SELECT 'run', v.state, sum(v.n)
      FROM old_rows o JOIN new_rows w ON w.id = o.id
        CROSS JOIN LATERAL (VALUES (o.state, -1), (w.state, 1)) AS v(state, n)
      WHERE w.state <> o.state
      GROUP BY v.state HAVING sum(v.n) <> 0;
  END IF;
  RETURN NULL;
END
$$;
CREATE FUNCTION baton_count_task_instances() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO state_count_deltas (subject, state, n)
      SELECT 'task_instance', r.state, count(*) FROM new_rows r GROUP BY r.state;
  ELSIF TG_OP = 'DELETE' THEN
    INSERT INTO state_count_deltas (subject, state, n)
      SELECT 'task_instance', r.state, -count(*) FROM old_rows r GROUP BY r.state;
  ELSE
    INSERT INTO state_count_deltas (subject, state, n)
      SELECT 'task_instance', v.state, sum(v.n)
      FROM old_rows o JOIN new_rows w ON w.id = o.id
        CROSS JOIN LATERAL (VALUES (o.state, -1), (w.state, 1)) AS v(state, n)
      WHERE w.state <> o.state
      GROUP BY v.state HAVING sum(v.n) <> 0;
  END IF;
  RETURN NULL;
END
$$;
CREATE FUNCTION baton_count_sla_misses() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO state_count_deltas (subject, state, n) SELECT 'sla_miss', '', count(*) FROM new_rows HAVING count(*) > 0;
  ELSE
    INSERT INTO state_count_deltas (subject, state, n) SELECT 'sla_miss', '', -count(*) FROM old_rows HAVING count(*) > 0;
  END IF;
  RETURN NULL;
END
$$;

CREATE TRIGGER dag_runs_counted AFTER INSERT ON dag_runs REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION baton_count_runs();
CREATE TRIGGER dag_runs_recounted AFTER UPDATE ON dag_runs REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION baton_count_runs();
CREATE TRIGGER dag_runs_uncounted AFTER DELETE ON dag_runs REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION baton_count_runs();
CREATE TRIGGER task_instances_counted AFTER INSERT ON task_instances REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION baton_count_task_instances();
CREATE TRIGGER task_instances_recounted AFTER UPDATE ON task_instances
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION baton_count_task_instances();
CREATE TRIGGER task_instances_uncounted AFTER DELETE ON task_instances REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION baton_count_task_instances();
CREATE TRIGGER sla_misses_counted AFTER INSERT ON sla_misses REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION baton_count_sla_misses();
CREATE TRIGGER sla_misses_uncounted AFTER DELETE ON sla_misses REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION baton_count_sla_misses();

-- The generation of the DAG table: one more with every statement that
-- changes what the DAG summary counts (a DAG added or removed, its
-- namespace, file, version, activity, pause or import errors; not its last
-- tick), so that the API recomputes the summary only when it changed.
INSERT INTO settings (key, value) VALUES ('dags_generation', '0');
CREATE FUNCTION baton_dags_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE settings SET value = (value::bigint + 1)::text WHERE key = 'dags_generation';
  RETURN NULL;
END
$$;
CREATE TRIGGER dags_changed AFTER INSERT OR DELETE OR UPDATE OF namespace, file, current_version, active, paused,
  import_errors ON dags FOR EACH STATEMENT EXECUTE FUNCTION baton_dags_changed();

-- The functions above write the tables of the schema migrated (the first of
-- this session's search_path), whatever the search_path of the session that
-- fires them.
DO $$
BEGIN
  EXECUTE format('ALTER FUNCTION baton_count_runs() SET search_path = %I, pg_temp', current_schema());
  EXECUTE format('ALTER FUNCTION baton_count_task_instances() SET search_path = %I, pg_temp', current_schema());
  EXECUTE format('ALTER FUNCTION baton_count_sla_misses() SET search_path = %I, pg_temp', current_schema());
  EXECUTE format('ALTER FUNCTION baton_dags_changed() SET search_path = %I, pg_temp', current_schema());
END
$$;
