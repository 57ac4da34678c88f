-- A backfill made by a command (SPEC §9) keeps the command's key, so that a
-- command carried out twice (its owner lost the partition between making the
-- backfill and writing the answer, and the new owner carried it out again)
-- still makes one backfill. NULL for the others. The same column and index
-- as migrations/postgres/0005_backfill_key.sql.
ALTER TABLE backfills ADD COLUMN idempotency_key TEXT;
CREATE UNIQUE INDEX backfills_idempotency ON backfills(dag_id, idempotency_key)
  WHERE idempotency_key IS NOT NULL;
