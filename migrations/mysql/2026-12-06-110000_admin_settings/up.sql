-- What admins set through the API, by kind: `source` (S3 sources; those of the configuration
-- file are not here), `capacity` (name `LAYER/METRIC/ENTITY`), `rule` (name: the rule's id)
-- and `group` (precursor groups). The settings as JSON, so that a field added later needs no
-- migration; every node reads them from here (the sources each second).
CREATE TABLE admin_settings (
    kind VARCHAR(16) NOT NULL,
    name VARCHAR(400) NOT NULL,
    spec TEXT NOT NULL,
    updated_ms BIGINT NOT NULL,
    PRIMARY KEY (kind, name)
);
