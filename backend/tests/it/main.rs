//! Integration tests against real services: MariaDB (MySQL protocol) and a Kafka-protocol
//! broker process (tansu), with `layercast serve` run as real processes.
//!
//! `scripts/test` makes sure both are there. Settings: `LAYERCAST_TEST_MYSQL` (server URL
//! without a database, default `mysql://root@127.0.0.1:3306`) and `TANSU_BIN` (default: `tansu`
//! on the PATH). The outage test stops its database, so it runs a MariaDB server of its own
//! (`MARIADB_INSTALL_DB`, `MARIADBD`: the binaries, from Debian's mariadb-server by default).
//! The S3 tests run moto's S3 server (`MOTO_SERVER`, default the one `scripts/setup --test`
//! installs in `~/.cache/layercast/moto-venv`).

mod access;
mod alerts;
mod analysis_inputs;
mod embedded;
mod inbox_takeover;
mod layer_stage;
mod outage;
mod production;
mod s3_bench;
mod s3_faults;
mod s3_large_object;
mod s3_notifications;
mod s3_source;
mod scenario;
mod sources_api;
mod stream_engine;
mod support;
mod websocket;
