-- Per source of the partition's records, its newest event time (a JSON object, source name to
-- ms; "" for records without a source): a new owner resumes every source's watermark.
ALTER TABLE partition_offsets ADD COLUMN source_clocks TEXT NULL;
