-- What admins set for the live analysis, by kind: `capacity` (name `LAYER/METRIC/ENTITY`),
-- `rule` (name: the rule's id) and `group` (precursor groups, by name). The settings as JSON,
-- so a field added later needs no migration; every node reads them from here.
CREATE TABLE analysis_inputs (
    kind VARCHAR(16) NOT NULL,
    name VARCHAR(400) NOT NULL,
    spec TEXT NOT NULL,
    updated_ms BIGINT NOT NULL,
    PRIMARY KEY (kind, name)
);
