//! LayerCast: real-time capacity planning for networks, layer by layer.
//!
//! The flow, one module per stage (DESIGN.md draws it):
//!
//! - [`ingest`]: sources notice new input (the inbox folder), parsers turn it into
//!   [`layercast_shared::Event`]s, which are published on `layercast.events` keyed by entity.
//! - [`stream`]: a supervisor follows the consumer group and runs one partition actor per
//!   assigned partition; each keeps tumbling event-time windows per (layer, entity). Its
//!   second stage, [`stream::layers`], sums every partition's windows per layer.
//! - [`store`]: the database (MySQL or SQLite through diesel) and the aggregator actors that
//!   make window deltas durable together with the partition offset.
//! - [`analysis`]: the detectors (anomaly, trend, forecast and runway, alert rules) and the
//!   engine that runs them on every closed window, in the stream and in `layercast replay`.
//! - [`notify`]: sends alert changes to webhooks and Alertmanager from a database outbox.
//! - [`live`]: the hub actor that follows `layercast.updates` and the WebSocket sessions.
//! - [`api`]: the REST API.
//! - [`dashboard`]: the built frontend's files (embedded in the binary, or a folder).
//!
//! [`detect`] runs the anomaly detector over one CSV series (`layercast detect`) and scores it
//! on the Numenta Anomaly Benchmark.
//!
//! [`metrics`] counts what the stages do for `/metrics`. [`kafka`] holds what every stage
//! needs of the broker, [`config`] the settings, [`server`]
//! wires it all for `layercast serve`.

pub mod analysis;
pub mod api;
pub mod config;
pub mod dashboard;
pub mod detect;
pub mod ingest;
pub mod kafka;
pub mod live;
pub mod metrics;
pub mod notify;
pub mod replay;
pub mod server;
pub mod simulate;
pub mod store;
pub mod stream;

/// This node's name, as the API and the logs show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeId(pub String);
