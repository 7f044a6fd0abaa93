-- S3 sources admins added through the API (those of the configuration file are not here): the
-- source's settings as JSON (the fields of a [[sources]] table), so that a field added later
-- needs no migration. Every node reads this table each second and starts or stops its readers.
CREATE TABLE sources (
    name VARCHAR(64) NOT NULL PRIMARY KEY,
    spec TEXT NOT NULL,
    updated_ms BIGINT NOT NULL
);
