-- The writes on a hop of a try through remote workers, one statement each
-- (issue 16). PostgresQueue's claim was BEGIN, the pools' locks, the look,
-- the claim and COMMIT: five round trips, each one a wake-up of this
-- server's backend, with the pools' locks held across the last two.
-- baton_claim does the same work server-side, so a claim is one round trip,
-- its own transaction when called alone; baton_report_claim (below) adds
-- the report before it, and baton_fenced (below) lets the owner's usual
-- write of a turn be one statement too (PostgresStore::apply).
--
-- The rules are those of SPEC §9 and §13, as the store's claim had them:
--  - nothing queued for the worker's queues: no lock is taken;
--  - the pools' rows are locked first, so two claims cannot both take a
--    pool's last slot (claims queue behind each other there). Each later
--    statement of this VOLATILE function takes a new snapshot, after the
--    locks were granted, so no claim can change the counts it reads;
--  - each next try goes to the namespace furthest below its weighted share
--    of the tries workers hold: the least (held + 1) / weight, then the
--    fewer held, then the name in byte order. This is core/fair.h's
--    fair_next, which the scheduler's local slots use; the two are held to
--    the same ties (tests/unit/core/fair_test.cpp, and the namespace cases
--    of tests/integration/store_claim_batch_test.cpp);
--  - a namespace at its max_running_tasks takes none; within a namespace,
--    live tries before backfills', then higher priority, then the earliest
--    latest_start, then queued first;
--  - a try takes its pool_slots from what its pool has left; one that does
--    not fit is skipped (what pools have left only shrinks within a claim).
--    A try whose pool was deleted after it was queued is not held back;
--  - at most p_limit tries (the worker's free slots).
-- The claimed rows get a `started` worker event each, and each owner is told
-- of its own partitions (NOTIFY baton_events 's:P').
CREATE OR REPLACE FUNCTION baton_claim(p_worker TEXT, p_queues TEXT[], p_limit INTEGER, p_at BIGINT)
RETURNS TABLE (c_token TEXT, c_ti_id BIGINT, c_run_pk BIGINT, c_task_index INTEGER, c_try_number INTEGER,
               c_partition INTEGER, c_queue TEXT, c_priority INTEGER, c_payload TEXT, c_queued_at BIGINT,
               c_checkpoint BYTEA, c_pool TEXT, c_pool_slots INTEGER, c_ns TEXT, c_backfill INTEGER)
LANGUAGE plpgsql VOLATILE AS $fn$
DECLARE
  v_rec        RECORD;
  v_pool_names TEXT[] := '{}';
  v_pool_slots BIGINT[] := '{}';
  v_left_names TEXT[] := '{}';    -- kind 0: what each pool has left
  v_left       BIGINT[] := '{}';
  v_ns         TEXT[] := '{}';    -- kind 1: the namespaces below their cap
  v_held       BIGINT[] := '{}';
  v_weight     FLOAT8[] := '{}';
  v_room       BIGINT[] := '{}';
  v_first      INTEGER[] := '{}'; -- each namespace's candidates: v_first .. v_last
  v_last       INTEGER[] := '{}';
  v_tokens     TEXT[] := '{}';    -- kind 2: the candidates, by namespace, in claim order
  v_pools      TEXT[] := '{}';
  v_slots      BIGINT[] := '{}';
  v_take       TEXT[] := '{}';
  v_taken      INTEGER := 0;
  v_best       INTEGER;
  v_i          INTEGER;
  v_j          INTEGER;
  v_k          INTEGER;
  v_rank_i     FLOAT8;
  v_rank_b     FLOAT8;
BEGIN
  IF p_limit < 1 OR NOT EXISTS (SELECT 1 FROM task_queue WHERE worker IS NULL AND queue = ANY(p_queues)) THEN
    RETURN;
  END IF;
  FOR v_rec IN SELECT name, slots FROM pools ORDER BY name FOR UPDATE LOOP
    v_pool_names := v_pool_names || v_rec.name;
    v_pool_slots := v_pool_slots || v_rec.slots::BIGINT;
  END LOOP;
  -- Under the locks, in one statement (one snapshot):
  --  - kind 0: what each pool has left over the tries workers hold;
  --  - kind 1: the namespaces with an unclaimed try (a skip scan of
  --    task_queue_unclaimed_ns), their weights and caps, and the tries each
  --    holds on workers;
  --  - kind 2: the candidates of each namespace below its cap, in its claim
  --    order, each fitting in what its pool has left (so a head of tries
  --    that do not fit holds up no other pool's), with room to skip those
  --    that do not fit once others are taken.
  FOR v_rec IN
    WITH RECURSIVE h AS (SELECT pool, sum(pool_slots) AS s FROM task_queue WHERE worker IS NOT NULL GROUP BY pool),
    l AS (SELECT p.name, p.slots - coalesce(h.s, 0) AS room FROM unnest(v_pool_names, v_pool_slots) AS p(name, slots)
          LEFT JOIN h ON h.pool = p.name),
    n AS ((SELECT ns FROM task_queue WHERE worker IS NULL ORDER BY ns LIMIT 1)
          UNION ALL SELECT (SELECT q.ns FROM task_queue q WHERE q.worker IS NULL AND q.ns > n.ns ORDER BY q.ns LIMIT 1)
          FROM n WHERE n.ns IS NOT NULL),
    s AS (SELECT n.ns, coalesce(c.weight, 1) AS weight, c.max_running_tasks AS cap,
                 (SELECT count(*) FROM task_queue hq WHERE hq.worker IS NOT NULL AND hq.ns = n.ns) AS held
          FROM n LEFT JOIN namespaces c ON c.name = n.ns WHERE n.ns IS NOT NULL),
    x AS (SELECT x.*, s.ns FROM s CROSS JOIN LATERAL (
            SELECT q.attempt_token, q.pool, q.pool_slots, q.backfill, q.priority, q.latest_start, q.seq
            FROM task_queue q LEFT JOIN l ON l.name = q.pool
            WHERE q.worker IS NULL AND q.ns = s.ns AND q.queue = ANY(p_queues)
              AND (l.name IS NULL OR q.pool_slots <= l.room)
            ORDER BY q.backfill, q.priority DESC, q.latest_start, q.seq LIMIT p_limit * 2 + 8
            FOR UPDATE OF q SKIP LOCKED) x
          WHERE s.cap IS NULL OR s.cap > s.held)
    SELECT 0 AS kind, name AS ns, NULL::text AS token, NULL::text AS pool, room AS num, NULL::bigint AS cap,
           NULL::float8 AS weight, NULL::int AS backfill, NULL::int AS priority, NULL::bigint AS latest_start,
           NULL::bigint AS seq FROM l
    UNION ALL SELECT 1, ns, NULL, NULL, held, cap, weight, NULL, NULL, NULL, NULL FROM s
    UNION ALL SELECT 2, ns, attempt_token, pool, pool_slots, NULL, NULL, backfill, priority, latest_start, seq FROM x
    ORDER BY 1, 2, 8, 9 DESC, 10, 11
  LOOP
    IF v_rec.kind = 0 THEN
      v_left_names := v_left_names || v_rec.ns;
      v_left := v_left || v_rec.num;
    ELSIF v_rec.kind = 1 THEN
      IF v_rec.cap IS NULL OR v_rec.cap > v_rec.num THEN  -- at its cap: none of its tries is a candidate
        v_ns := v_ns || v_rec.ns;
        v_held := v_held || v_rec.num;
        v_weight := v_weight || CASE WHEN v_rec.weight > 0 THEN v_rec.weight ELSE 1 END;
        v_room := v_room || CASE WHEN v_rec.cap IS NULL THEN 9223372036854775807 ELSE v_rec.cap - v_rec.num END;
        v_first := v_first || NULL::INTEGER;
        v_last := v_last || NULL::INTEGER;
      END IF;
    ELSE
      v_k := array_position(v_ns, v_rec.ns);
      IF v_k IS NOT NULL THEN
        v_tokens := v_tokens || v_rec.token;
        v_pools := v_pools || v_rec.pool;
        v_slots := v_slots || v_rec.num;
        v_j := cardinality(v_tokens);
        IF v_first[v_k] IS NULL THEN
          v_first[v_k] := v_j;
        END IF;
        v_last[v_k] := v_j;
      END IF;
    END IF;
  END LOOP;

  WHILE v_taken < p_limit LOOP
    v_best := NULL;
    FOR v_i IN 1 .. cardinality(v_ns) LOOP
      CONTINUE WHEN v_first[v_i] IS NULL OR v_first[v_i] > v_last[v_i] OR v_room[v_i] <= 0;
      IF v_best IS NULL THEN
        v_best := v_i;
        CONTINUE;
      END IF;
      v_rank_i := (v_held[v_i] + 1)::FLOAT8 / v_weight[v_i];
      v_rank_b := (v_held[v_best] + 1)::FLOAT8 / v_weight[v_best];
      IF v_rank_i < v_rank_b OR (v_rank_i = v_rank_b AND (v_held[v_i] < v_held[v_best] OR
          (v_held[v_i] = v_held[v_best] AND v_ns[v_i] COLLATE "C" < v_ns[v_best] COLLATE "C"))) THEN
        v_best := v_i;
      END IF;
    END LOOP;
    EXIT WHEN v_best IS NULL;
    -- Its first candidate that still fits its pool.
    WHILE v_first[v_best] <= v_last[v_best] LOOP
      v_j := v_first[v_best];
      v_first[v_best] := v_j + 1;
      v_k := array_position(v_left_names, v_pools[v_j]);
      IF v_k IS NOT NULL THEN
        CONTINUE WHEN v_left[v_k] < v_slots[v_j];
        v_left[v_k] := v_left[v_k] - v_slots[v_j];
      END IF;
      v_take := v_take || v_tokens[v_j];
      v_taken := v_taken + 1;
      v_held[v_best] := v_held[v_best] + 1;
      v_room[v_best] := v_room[v_best] - 1;
      EXIT;
    END LOOP;
  END LOOP;
  IF v_taken = 0 THEN
    RETURN;
  END IF;

  RETURN QUERY
    WITH claimed AS (UPDATE task_queue q SET worker = p_worker, claimed_at = p_at, heartbeat_at = p_at
                     WHERE q.attempt_token = ANY(v_take) RETURNING q.*),
    ev AS (INSERT INTO worker_events (partition_no, attempt_token, run_pk, task_index, kind, worker, at)
           SELECT cl.partition_no, cl.attempt_token, cl.run_pk, cl.task_index, 'started', p_worker, p_at FROM claimed cl),
    woken AS (SELECT count(pg_notify('baton_events', 's:' || d.partition_no)::text) AS n
              FROM (SELECT DISTINCT cl.partition_no FROM claimed cl) d)
    SELECT c.attempt_token, c.ti_id, c.run_pk, c.task_index, c.try_number, c.partition_no, c.queue, c.priority,
           c.payload, c.queued_at, ti.checkpoint, c.pool, c.pool_slots, c.ns, c.backfill
    FROM claimed c LEFT JOIN task_instances ti ON ti.id = c.ti_id CROSS JOIN woken
    ORDER BY c.backfill, c.priority DESC, c.latest_start, c.seq;
END;
$fn$;

-- A worker's report (SPEC §9): its try leaves the queue, and a `finished`
-- worker event carries the body to the partition's owner (NOTIFY
-- baton_events 'e:P'). Only the worker holding the try, with its ti_id and
-- try number, reports it: the answer is 0 for a stale report (nothing is
-- written), 1 otherwise.
CREATE OR REPLACE FUNCTION baton_report(p_token TEXT, p_worker TEXT, p_body TEXT, p_at BIGINT, p_ti_id BIGINT,
                                        p_try INTEGER)
RETURNS INTEGER LANGUAGE plpgsql VOLATILE AS $fn$
DECLARE
  v_n INTEGER;
BEGIN
  WITH done AS (DELETE FROM task_queue WHERE attempt_token = p_token AND worker = p_worker AND ti_id = p_ti_id
                AND try_number = p_try RETURNING partition_no, attempt_token, run_pk, task_index),
  ev AS (INSERT INTO worker_events (partition_no, attempt_token, run_pk, task_index, kind, worker, body, at)
         SELECT d.partition_no, d.attempt_token, d.run_pk, d.task_index, 'finished', p_worker, p_body, p_at FROM done d
         RETURNING partition_no)
  SELECT count(pg_notify('baton_events', 'e:' || ev.partition_no)::text) INTO v_n FROM ev;
  RETURN v_n;
END;
$fn$;

-- A report that carries the worker's next claim, in one statement: both or
-- neither. A stale report raises SQLSTATE BT409, which undoes the statement.
CREATE OR REPLACE FUNCTION baton_report_claim(p_token TEXT, p_worker TEXT, p_body TEXT, p_at BIGINT, p_ti_id BIGINT,
                                              p_try INTEGER, p_queues TEXT[], p_limit INTEGER)
RETURNS TABLE (c_token TEXT, c_ti_id BIGINT, c_run_pk BIGINT, c_task_index INTEGER, c_try_number INTEGER,
               c_partition INTEGER, c_queue TEXT, c_priority INTEGER, c_payload TEXT, c_queued_at BIGINT,
               c_checkpoint BYTEA, c_pool TEXT, c_pool_slots INTEGER, c_ns TEXT, c_backfill INTEGER)
LANGUAGE plpgsql VOLATILE AS $fn$
BEGIN
  IF baton_report(p_token, p_worker, p_body, p_at, p_ti_id, p_try) = 0 THEN
    RAISE EXCEPTION 'stale report' USING ERRCODE = 'BT409';
  END IF;
  RETURN QUERY SELECT * FROM baton_claim(p_worker, p_queues, p_limit, p_at);
END;
$fn$;

-- A partition owner's usual write of a turn, as one statement (issue 16;
-- PostgresStore::apply): the batch's fences are read FOR SHARE in the same
-- statement, and baton_fenced raises SQLSTATE BT412 when one has moved on,
-- which undoes the whole statement, as the fenced transaction was refused
-- whole. A partition never assigned is at epoch 0. p_found and
-- p_found_epochs are the partitions' rows as the statement read them.
CREATE OR REPLACE FUNCTION baton_fenced(p_parts INTEGER[], p_epochs BIGINT[], p_found INTEGER[],
                                        p_found_epochs BIGINT[])
RETURNS INTEGER LANGUAGE plpgsql VOLATILE AS $fn$
DECLARE
  v_i   INTEGER;
  v_k   INTEGER;
  v_now BIGINT;
BEGIN
  FOR v_i IN 1 .. coalesce(cardinality(p_parts), 0) LOOP
    v_k := array_position(p_found, p_parts[v_i]);
    v_now := CASE WHEN v_k IS NULL THEN 0 ELSE p_found_epochs[v_k] END;
    IF v_now IS DISTINCT FROM p_epochs[v_i] THEN
      RAISE EXCEPTION 'partition % is at epoch %, not %: it moved to another scheduler, and this write is refused',
        p_parts[v_i], v_now, p_epochs[v_i] USING ERRCODE = 'BT412';
    END IF;
  END LOOP;
  RETURN 1;
END;
$fn$;
