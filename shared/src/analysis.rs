//! What the live analysis says about a series: its alerts, trends, forecasts and runway, as the
//! REST API returns them and the WebSocket pushes them.

use serde::{Deserialize, Serialize};

use crate::{OsiLayer, SeriesWindow};

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

/// Errors out of what they are counted against on each layer: requests on L7, connections on
/// L4-L6 (a failed handshake, a reset, a TLS failure is one connection), packets on L1-L3
/// (interface counters and flow logs count frames and packets). `None` when the window has
/// none of that denominator (a rate out of nothing is not zero, it is unknown).
pub fn error_rate(layer: OsiLayer, errors: u64, packets: u64, connections: u64, requests: u64) -> Option<f64> {
    let out_of = match layer {
        OsiLayer::L7 => requests,
        OsiLayer::L4 | OsiLayer::L5 | OsiLayer::L6 => connections,
        OsiLayer::L1 | OsiLayer::L2 | OsiLayer::L3 => packets,
    };
    (out_of > 0).then(|| errors as f64 / out_of as f64)
}

impl SeriesWindow {
    fn len_s(&self) -> f64 {
        ((self.end_ms - self.start_ms).max(1)) as f64 / 1000.0
    }

    /// The window's value of a metric named in [`METRIC_NAMES`]; `None` for an unknown name or
    /// a value the window does not have (no latency, no denominator of the error rate).
    pub fn metric(&self, name: &str) -> Option<f64> {
        let latency = self.latency.as_ref();
        match name {
            "bytes" => Some(self.bytes as f64),
            "packets" => Some(self.packets as f64),
            "connections" => Some(self.connections as f64),
            "requests" => Some(self.requests as f64),
            "errors" => Some(self.errors as f64),
            "bytes_per_s" => Some(self.bytes as f64 / self.len_s()),
            "packets_per_s" => Some(self.packets as f64 / self.len_s()),
            "requests_per_s" => Some(self.requests as f64 / self.len_s()),
            "error_rate" => self.error_rate,
            "latency_p50_ms" => latency.map(|l| l.p50_ms),
            "latency_p95_ms" => latency.map(|l| l.p95_ms),
            "latency_p99_ms" => latency.map(|l| l.p99_ms),
            _ => None,
        }
    }
}

/// Where an alert is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AlertStatus {
    /// The condition holds, for less than the rule's `for_ms` so far.
    Pending,
    Firing,
    /// Was firing and met the resolve condition, or was pending and stopped holding.
    Resolved,
}

impl AlertStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertStatus::Pending => "pending",
            AlertStatus::Firing => "firing",
            AlertStatus::Resolved => "resolved",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(AlertStatus::Pending),
            "firing" => Some(AlertStatus::Firing),
            "resolved" => Some(AlertStatus::Resolved),
            _ => None,
        }
    }
}

/// The lower-layer anomaly that came before an alert in the same entity group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AlertPrecursor {
    pub group: String,
    pub layer: OsiLayer,
    pub entity: String,
    /// The anomaly detector's metric (`bytes_per_s`, `errors`, `latency_ms`).
    pub metric: String,
    /// Start of the anomalous window, ms since the epoch.
    pub start_ms: i64,
    pub score: f64,
    /// From the anomaly's window start to the alert's start.
    pub lag_ms: i64,
}

/// One alert: a rule on one series, in its current (latest) episode. `GET /api/alerts`, and
/// `{"type":"alert"}` on the WebSocket at every change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Alert {
    /// Stable per (rule, layer, entity, metric): the same alert across episodes and nodes.
    pub id: String,
    pub rule: String,
    pub layer: OsiLayer,
    /// `""` for a layer-wide series (the sum over every entity of the layer).
    pub entity: String,
    pub metric: String,
    pub state: AlertStatus,
    /// When the condition started holding (the start of the episode), ms since the epoch.
    pub since_ms: i64,
    /// The window time of the latest change.
    pub changed_ms: i64,
    /// The signal's value at the latest change, and the rule's fire threshold.
    pub value: f64,
    pub threshold: f64,
    /// What the rule looks at: `value`, `anomaly_score`, `runway_days`, `change_percent`.
    pub signal: String,
    pub acknowledged: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledged_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub silenced_until_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub precursor: Option<AlertPrecursor>,
}

/// One change of an alert: `GET /api/alerts/history`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AlertChange {
    pub alert_id: String,
    pub rule: String,
    pub layer: OsiLayer,
    pub entity: String,
    pub metric: String,
    /// `inactive` before the first change of an episode.
    pub from: String,
    pub to: AlertStatus,
    pub at_ms: i64,
    pub value: f64,
    /// False when the alert was silenced then: recorded, nobody paged.
    pub notify: bool,
}

/// `POST /api/alerts/{id}/silence`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SilenceRequest {
    /// Until when, ms since the epoch; at most 30 days ahead. A time in the past lifts it.
    pub until: i64,
}

/// The trend of one metric of one series over its roll-ups: `GET /api/trends`, and
/// `{"type":"trend"}` when it changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SeriesTrend {
    pub layer: OsiLayer,
    pub entity: String,
    pub metric: String,
    /// `up`, `down` or `flat` (no significant trend at the configured level).
    pub direction: String,
    /// Theil-Sen slope, in the metric's unit per day, with its confidence interval.
    pub slope_per_day: f64,
    pub slope_low: f64,
    pub slope_high: f64,
    /// Mann-Kendall, corrected for serial correlation.
    pub p_value: f64,
    /// Roll-up buckets the estimate stands on.
    pub buckets: u32,
    /// Window time of the estimate, ms since the epoch.
    pub at_ms: i64,
}

/// Days until a series reaches the capacity set for it: `GET /api/runway`, in a forecast, and
/// `{"type":"runway"}` when it changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SeriesRunway {
    pub layer: OsiLayer,
    pub entity: String,
    pub metric: String,
    pub capacity: f64,
    /// The forecast's value now.
    pub current: f64,
    /// `None`: not full within the horizon at this trend (or not enough history yet, see
    /// `state`).
    pub days_until_full: Option<f64>,
    /// `full` (at or over capacity now), `filling` (full within the horizon), `never` (not
    /// within it), `learning` (too little history for a forecast).
    pub state: String,
    pub at_ms: i64,
}

/// One point of a forecast, with its band.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ForecastValue {
    pub ts_ms: i64,
    pub value: f64,
    pub lower: f64,
    pub upper: f64,
}

/// `GET /api/forecast`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Forecast {
    pub layer: OsiLayer,
    pub entity: String,
    pub metric: String,
    pub points: Vec<ForecastValue>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runway: Option<SeriesRunway>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_rate_is_out_of_requests_connections_or_packets_by_layer() {
        assert_eq!(error_rate(OsiLayer::L7, 5, 1000, 100, 50), Some(0.1));
        assert_eq!(error_rate(OsiLayer::L4, 5, 1000, 100, 50), Some(0.05));
        assert_eq!(error_rate(OsiLayer::L2, 5, 1000, 100, 50), Some(0.005));
        assert_eq!(error_rate(OsiLayer::L7, 5, 1000, 100, 0), None);
    }

    #[test]
    fn alert_status_names_round_trip() {
        for s in [AlertStatus::Pending, AlertStatus::Firing, AlertStatus::Resolved] {
            assert_eq!(AlertStatus::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_string(&s).expect("encode"), format!("\"{}\"", s.as_str()));
        }
        assert_eq!(AlertStatus::parse("inactive"), None);
    }
}
