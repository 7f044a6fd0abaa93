//! Integration tests against real services: MariaDB (MySQL protocol) and a Kafka-protocol
//! broker process (tansu), with `layercast serve` run as real processes.
//!
//! `scripts/test` makes sure both are there. Settings: `LAYERCAST_TEST_MYSQL` (server URL
//! without a database, default `mysql://root@127.0.0.1:3306`) and `TANSU_BIN` (default: `tansu`
//! on the PATH).

mod embedded;
mod production;
mod stream_engine;
mod support;
