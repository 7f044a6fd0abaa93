-- Per object whose records a partition has taken (records carry their origin: object and
-- sequence number), the highest sequence counted and the offsets of the copies dropped since
-- the replay point, as JSON: a new owner counts a record produced twice once, as the old one did.
ALTER TABLE partition_offsets ADD COLUMN origin_seqs TEXT NULL;
-- How many records of a file, in order, the broker has acknowledged (a node taking the file over
-- resumes there), and until when the node reading it holds it (ms since the epoch).
ALTER TABLE ingest_files ADD COLUMN acked BIGINT NOT NULL DEFAULT 0;
ALTER TABLE ingest_files ADD COLUMN lease_until_ms BIGINT NULL;
