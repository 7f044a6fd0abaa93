-- See the MySQL migration of the same name for why each column is there.
ALTER TABLE windows ADD COLUMN packets BIGINT NOT NULL DEFAULT 0;
ALTER TABLE windows ADD COLUMN connections BIGINT NOT NULL DEFAULT 0;
ALTER TABLE windows ADD COLUMN requests BIGINT NOT NULL DEFAULT 0;
ALTER TABLE windows ADD COLUMN errors BIGINT NOT NULL DEFAULT 0;
ALTER TABLE windows ADD COLUMN bytes_min BIGINT NOT NULL DEFAULT 0;
ALTER TABLE windows ADD COLUMN bytes_max BIGINT NOT NULL DEFAULT 0;
ALTER TABLE windows ADD COLUMN latency_sketch BLOB NULL;
ALTER TABLE windows ADD COLUMN partition_id INTEGER NOT NULL DEFAULT -1;
ALTER TABLE windows ADD COLUMN is_final BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE windows ADD COLUMN closed_at_ms BIGINT NULL;
CREATE INDEX windows_open ON windows (partition_id, is_final, window_len_ms, window_start);

ALTER TABLE partition_offsets ADD COLUMN max_event_ms BIGINT NULL;
ALTER TABLE partition_offsets ADD COLUMN watermark_ms BIGINT NULL;

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
