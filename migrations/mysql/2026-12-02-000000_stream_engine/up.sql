-- The stream engine: every aggregate of a window, whether it is final, which partition owns
-- it; the partition's watermark kept with its offset; records dropped as too late.
ALTER TABLE windows
    ADD COLUMN packets BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN connections BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN requests BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN errors BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN bytes_min BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN bytes_max BIGINT NOT NULL DEFAULT 0,
    -- DDSketch (Datadog's portable encoding) of the records' latency; NULL when none had one.
    ADD COLUMN latency_sketch BLOB NULL,
    -- The events partition whose actor writes and closes the row (series are keyed by entity,
    -- so one partition holds all of a series); -1 for rows written before this migration.
    ADD COLUMN partition_id INT NOT NULL DEFAULT -1,
    ADD COLUMN is_final BOOLEAN NOT NULL DEFAULT FALSE,
    -- Wall clock (ms) when the watermark passed the window's end plus the grace period.
    ADD COLUMN closed_at_ms BIGINT NULL;
CREATE INDEX windows_open ON windows (partition_id, is_final, window_len_ms, window_start);

-- Written in the same transaction as the offset, so that a new owner decides "late or not"
-- exactly as the old one did for the records it replays.
ALTER TABLE partition_offsets
    ADD COLUMN max_event_ms BIGINT NULL,
    ADD COLUMN watermark_ms BIGINT NULL;

-- Records later than their window's close, per series. Incremented in the transaction that
-- advances the partition offset: counted once, however often a partition is replayed.
CREATE TABLE late_drops (
    layer VARCHAR(2) NOT NULL,
    entity VARCHAR(255) NOT NULL,
    dropped BIGINT NOT NULL,
    last_event_ms BIGINT NOT NULL,
    PRIMARY KEY (layer, entity)
);

-- Windows the anomaly detector flagged when they closed; the natural key makes a repeated
-- detection (a partition replayed after a crash) rewrite the same row.
CREATE TABLE anomalies (
    layer VARCHAR(2) NOT NULL,
    entity VARCHAR(255) NOT NULL,
    metric VARCHAR(32) NOT NULL,
    window_start BIGINT NOT NULL,
    window_len_ms BIGINT NOT NULL,
    value DOUBLE NOT NULL,
    score DOUBLE NOT NULL,
    PRIMARY KEY (layer, entity, metric, window_start, window_len_ms)
);
CREATE INDEX anomalies_by_time ON anomalies (window_start);
