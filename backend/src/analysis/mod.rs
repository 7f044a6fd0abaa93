//! Detectors over window series: each series (layer, entity, metric) of window aggregates feeds
//! streaming detectors that update in constant time per new window. Pure code: no I/O, no
//! clock (time comes in with every point), no actors.

pub mod alerts;
pub mod anomaly;
pub mod forecast;
pub mod live;
pub mod nab;
pub mod precursor;
pub mod trend;

pub use alerts::{
    AlertError, AlertRule, AlertState, AlertTransition, Condition, Observation, Op, RuleSet,
    SeriesAlerts, SeriesKey, Signal,
};
pub use forecast::{
    rank_by_days_until_full, ForecastConfig, ForecastError, ForecastPoint, Forecaster, Runway,
    DEFAULT_MAX_HORIZON_MS,
};
pub use precursor::{
    AnomalyEvent, EntityGroup, LeadStat, Precursor, PrecursorConfig, PrecursorError,
    PrecursorFinder,
};
/// The metric names, the same everywhere (capacities, rules, trends, forecasts, alerts): the
/// window sums and the rates derived from them.
pub const METRIC_NAMES: [&str; 12] = [
    "bytes",
    "packets",
    "connections",
    "requests",
    "errors",
    "bytes_per_s",
    "packets_per_s",
    "requests_per_s",
    "error_rate",
    "latency_p50_ms",
    "latency_p95_ms",
    "latency_p99_ms",
];

pub use trend::{Direction, Trend, TrendConfig, TrendError, TrendEstimate, TrendTracker};
