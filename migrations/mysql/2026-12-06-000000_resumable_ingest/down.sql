ALTER TABLE ingest_files DROP COLUMN lease_until_ms;
ALTER TABLE ingest_files DROP COLUMN acked;
ALTER TABLE partition_offsets DROP COLUMN origin_seqs;
