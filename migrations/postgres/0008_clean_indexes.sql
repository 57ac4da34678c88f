-- Retention (`baton db clean`, docs/running.md "Retention"): a batch deletes
-- the queue rows and worker events of the runs it removes by run_pk; without
-- these each batch would read the whole table.
CREATE INDEX task_queue_by_run ON task_queue(run_pk);
CREATE INDEX worker_events_by_run ON worker_events(run_pk);
