-- When an object was first claimed and when its reading finished (ms since the epoch): the
-- ledger's timings, in /api/ingest.
ALTER TABLE ingest_files ADD COLUMN claimed_ms BIGINT NULL;
ALTER TABLE ingest_files ADD COLUMN finished_ms BIGINT NULL;
