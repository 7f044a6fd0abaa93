//! Types that cross a process boundary in LayerCast: the native event format (NDJSON files and
//! the `layercast.events` topic), the update messages on `layercast.updates`, the layer partials on `layercast.layers`, the WebSocket
//! protocol and the REST bodies. Plain serde types only, so that the frontend (wasm32) and the
//! backend decode exactly the same shapes.

mod access;
mod analysis;
mod event;
mod layer;
mod layers;
mod rest;
mod ws;
mod ws2;

pub use access::{
    ApiToken, AuditEntry, CreatedToken, LoginRequest, Me, NewToken, NewUser, Role, User, UserUpdate,
};
pub use analysis::{
    error_rate, Alert, AlertChange, AlertPrecursor, AlertStatus, Forecast, ForecastValue, SeriesRunway,
    SeriesTrend, SilenceRequest, METRIC_NAMES,
};
pub use event::{ErrorClass, Event, EventMsg, Origin, EVENT_VERSION};
pub use layer::{OsiLayer, UnknownLayer};
pub use layers::{LayerPartial, PartialWindow, LAYER_PARTIAL_VERSION};
pub use rest::{
    ApiErrorBody, ComponentHealth, Health, IngestErrorSample, IngestFile, IngestReport,
    IngestSource, LateReport, LateSeries, LatencySummary, LayerSeriesWindow, LayerTotals,
    PartitionStatus, ReplayErrorSample, ReplayIncident, ReplayInput, ReplayReport, ReplayRunway,
    SeriesWindow, SourceObjects, WindowAnomaly, WindowMetric,
};
pub use ws::{ClientMsg, LayerWindow, ServerMsg, UpdateMsg, PROTOCOL_VERSION, UPDATE_VERSION};

/// Version 2 of the WebSocket protocol (`/ws?v=2`).
pub mod v2 {
    pub use crate::ws2::*;
}
