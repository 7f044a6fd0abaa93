ALTER TABLE ingest_files DROP COLUMN finished_ms;
ALTER TABLE ingest_files DROP COLUMN claimed_ms;
