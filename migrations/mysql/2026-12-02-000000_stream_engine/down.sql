DROP TABLE anomalies;
DROP TABLE late_drops;
ALTER TABLE partition_offsets DROP COLUMN max_event_ms, DROP COLUMN watermark_ms;
DROP INDEX windows_open ON windows;
ALTER TABLE windows DROP COLUMN packets, DROP COLUMN connections, DROP COLUMN requests,
    DROP COLUMN errors, DROP COLUMN bytes_min, DROP COLUMN bytes_max, DROP COLUMN latency_sketch,
    DROP COLUMN partition_id, DROP COLUMN is_final, DROP COLUMN closed_at_ms;
