-- See the MySQL migration of the same name for why each table and column is there.
CREATE TABLE layer_windows (
    layer VARCHAR(2) NOT NULL,
    window_start BIGINT NOT NULL,      -- ms since the Unix epoch, inclusive
    window_len_ms BIGINT NOT NULL,
    events BIGINT NOT NULL,
    bytes BIGINT NOT NULL,
    packets BIGINT NOT NULL,
    connections BIGINT NOT NULL,
    requests BIGINT NOT NULL,
    errors BIGINT NOT NULL,
    -- FALSE: the sum of the contributions so far, while some source still has it open.
    is_final BOOLEAN NOT NULL DEFAULT FALSE,
    -- Wall clock (ms) when the stage made the window final.
    closed_at_ms BIGINT NULL,
    -- How many events partitions contributed to the window.
    sources INT NOT NULL,
    PRIMARY KEY (layer, window_start, window_len_ms)
);
CREATE INDEX layer_windows_by_time ON layer_windows (window_len_ms, window_start);

-- Per layer, window length and source partition: the newest window start that source has
-- closed. Written with the stage's position, so a new owner of the layer knows at once how
-- far every source is.
CREATE TABLE layer_sources (
    layer VARCHAR(2) NOT NULL,
    window_len_ms BIGINT NOT NULL,
    source_partition INT NOT NULL,
    closed_through BIGINT NOT NULL,
    PRIMARY KEY (layer, window_len_ms, source_partition)
);

-- Per layer and window length: every window starting at or before `final_through` is final
-- in `layer_windows`; a replayed contribution to one of them is skipped.
CREATE TABLE layer_progress (
    layer VARCHAR(2) NOT NULL,
    window_len_ms BIGINT NOT NULL,
    final_through BIGINT NOT NULL,
    PRIMARY KEY (layer, window_len_ms)
);
