-- The live analysis' results and state. Natural keys throughout, so that a replay after a
-- takeover rewrites the same rows.

-- One alert per rule and series (id: a hash of rule, layer, entity and metric), in its latest
-- episode. `precursor`: JSON of the lower-layer anomaly that came before it, if any.
CREATE TABLE alerts (
    id VARCHAR(32) NOT NULL PRIMARY KEY,
    rule VARCHAR(255) NOT NULL,
    layer VARCHAR(8) NOT NULL,
    entity VARCHAR(255) NOT NULL,
    metric VARCHAR(32) NOT NULL,
    state VARCHAR(16) NOT NULL,
    since_ms BIGINT NOT NULL,
    changed_ms BIGINT NOT NULL,
    value DOUBLE NOT NULL,
    threshold DOUBLE NOT NULL,
    signal_name VARCHAR(32) NOT NULL,
    acknowledged BOOLEAN NOT NULL DEFAULT FALSE,
    acknowledged_by VARCHAR(255) NULL,
    silenced_until_ms BIGINT NULL,
    precursor TEXT NULL,
    partition_id INTEGER NOT NULL
);
CREATE INDEX alerts_by_state ON alerts (state);
CREATE INDEX alerts_by_partition ON alerts (partition_id);

-- Every change of every alert.
CREATE TABLE alert_changes (
    alert_id VARCHAR(32) NOT NULL,
    at_ms BIGINT NOT NULL,
    to_state VARCHAR(16) NOT NULL,
    from_state VARCHAR(16) NOT NULL,
    rule VARCHAR(255) NOT NULL,
    layer VARCHAR(8) NOT NULL,
    entity VARCHAR(255) NOT NULL,
    metric VARCHAR(32) NOT NULL,
    value DOUBLE NOT NULL,
    notify BOOLEAN NOT NULL,
    PRIMARY KEY (alert_id, at_ms, to_state)
);
CREATE INDEX alert_changes_by_time ON alert_changes (at_ms);

CREATE TABLE series_trends (
    layer VARCHAR(8) NOT NULL,
    entity VARCHAR(255) NOT NULL,
    metric VARCHAR(32) NOT NULL,
    direction VARCHAR(8) NOT NULL,
    slope_per_day DOUBLE NOT NULL,
    slope_low DOUBLE NOT NULL,
    slope_high DOUBLE NOT NULL,
    p_value DOUBLE NOT NULL,
    buckets INTEGER NOT NULL,
    at_ms BIGINT NOT NULL,
    PRIMARY KEY (layer, entity, metric)
);

CREATE TABLE series_runways (
    layer VARCHAR(8) NOT NULL,
    entity VARCHAR(255) NOT NULL,
    metric VARCHAR(32) NOT NULL,
    capacity DOUBLE NOT NULL,
    current_value DOUBLE NOT NULL,
    days_until_full DOUBLE NULL,
    state VARCHAR(16) NOT NULL,
    at_ms BIGINT NOT NULL,
    PRIMARY KEY (layer, entity, metric)
);

-- Each series' trend and forecast trackers, as JSON, stored when one completes a bucket.
CREATE TABLE analysis_state (
    partition_id INTEGER NOT NULL,
    layer VARCHAR(8) NOT NULL,
    entity VARCHAR(255) NOT NULL,
    last_start_ms BIGINT NOT NULL,
    state MEDIUMTEXT NOT NULL,
    PRIMARY KEY (partition_id, layer, entity)
);

-- The outbox of alert notifications: written in the transaction of the change, sent by any
-- node (a claim is a lease), at least once.
CREATE TABLE notifications (
    receiver VARCHAR(255) NOT NULL,
    alert_id VARCHAR(32) NOT NULL,
    at_ms BIGINT NOT NULL,
    to_state VARCHAR(16) NOT NULL,
    payload TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    due_ms BIGINT NOT NULL,
    claimed_until_ms BIGINT NULL,
    sent_ms BIGINT NULL,
    last_error TEXT NULL,
    PRIMARY KEY (receiver, alert_id, at_ms, to_state)
);
CREATE INDEX notifications_due ON notifications (sent_ms, due_ms);
