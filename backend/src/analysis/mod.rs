//! Detectors over window series: each series (layer, entity, metric) of window aggregates feeds
//! streaming detectors that update in constant time per new window. Pure code: no I/O, no
//! clock (time comes in with every point), no actors.

pub mod alerts;
pub mod anomaly;
pub mod engine;
pub mod forecast;
pub mod live;
pub mod nab;
pub mod precursor;
pub mod trend;

pub use alerts::{
    AlertError, AlertRule, AlertState, AlertTransition, Condition, Observation, Op, RuleSet,
    SeriesAlerts, SeriesKey, Signal, StoredAlert,
};
pub use engine::{alert_id, Analysis, Capacity, Findings, Inputs, SeriesState};
pub use forecast::{
    rank_by_days_until_full, ForecastConfig, ForecastError, ForecastPoint, Forecaster, Runway,
    DEFAULT_MAX_HORIZON_MS,
};
pub use layercast_shared::METRIC_NAMES;
pub use precursor::{
    AnomalyEvent, EntityGroup, LeadStat, Precursor, PrecursorConfig, PrecursorError,
    PrecursorFinder,
};

pub use trend::{Direction, Trend, TrendConfig, TrendError, TrendEstimate, TrendTracker};
