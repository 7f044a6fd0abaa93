-- Totals of one (layer, entity) over one tumbling window. The primary key is the natural key,
-- so every write is an upsert and a replay rewrites the same row.
CREATE TABLE windows (
    layer VARCHAR(2) NOT NULL,
    entity VARCHAR(255) NOT NULL,
    window_start BIGINT NOT NULL,      -- ms since the Unix epoch, inclusive
    window_len_ms BIGINT NOT NULL,
    events BIGINT NOT NULL,
    bytes BIGINT NOT NULL,
    PRIMARY KEY (layer, entity, window_start, window_len_ms)
);
CREATE INDEX windows_by_time ON windows (window_len_ms, window_start, layer);

-- How far each partition of the events topic is reflected in `windows`. Written in the same
-- transaction as the window rows: this, not Kafka's committed offset, is where a new owner
-- of the partition resumes, and the compare-and-set on it fences a node that lost the partition.
CREATE TABLE partition_offsets (
    topic VARCHAR(249) NOT NULL,
    partition_id INT NOT NULL,
    next_offset BIGINT NOT NULL,
    owner VARCHAR(255) NOT NULL,
    PRIMARY KEY (topic, partition_id)
);

-- The inbox ledger: one row per file ever taken, so that no file is read twice.
CREATE TABLE ingest_files (
    name VARCHAR(512) NOT NULL PRIMARY KEY,
    size BIGINT NOT NULL,
    records BIGINT NOT NULL,
    errors BIGINT NOT NULL,
    status VARCHAR(16) NOT NULL,
    node VARCHAR(255) NOT NULL
);

-- Samples of malformed lines, with where they were and why they were refused.
CREATE TABLE ingest_errors (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    file VARCHAR(512) NOT NULL,
    line BIGINT NOT NULL,
    reason VARCHAR(1024) NOT NULL
);
