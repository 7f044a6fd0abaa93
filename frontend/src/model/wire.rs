//! Bodies of routes whose types live in the backend rather than in `shared` (capacities, rules,
//! groups, the rule preview). The frontend's copies of their JSON shape: the backend's
//! OpenAPI document (`/api/openapi.json`) is the reference.

use layercast_shared::OsiLayer;
use serde::{Deserialize, Serialize};

/// `GET /api/capacities`: what a series' runway is measured against.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Capacity {
    pub layer: OsiLayer,
    pub entity: String,
    pub metric: String,
    pub capacity: f64,
}

/// `PUT /api/capacities/{layer}/{entity}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CapacityBody {
    pub metric: String,
    pub capacity: f64,
}

/// An alert rule as `/api/rules` takes and gives it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertRule {
    pub id: String,
    pub layer: OsiLayer,
    pub entity: String,
    pub metric: String,
    pub condition: Condition,
    #[serde(default)]
    pub for_ms: i64,
}

/// Fire when `signal` is `op` (`above`, `below`) `fire`; resolve past `resolve`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Condition {
    /// `value`, `anomaly_score`, `runway_days` or `change_percent`.
    pub signal: String,
    pub op: String,
    pub fire: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolve: Option<f64>,
}

/// The signals and comparisons a rule can use, for the editor's choices.
pub const SIGNALS: [&str; 4] = ["value", "anomaly_score", "runway_days", "change_percent"];
pub const OPS: [&str; 2] = ["above", "below"];

/// `GET /api/groups`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EntityGroup {
    pub name: String,
    pub entities: Vec<String>,
}

/// `PUT /api/groups/{name}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupBody {
    pub entities: Vec<String>,
}

/// `POST /api/rules/preview`: what a rule would have fired on over the stored windows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RulePreview {
    pub alerts: Vec<PreviewAlert>,
    /// Windows the preview evaluated.
    pub windows: u64,
    /// What the preview could not take into account, when anything.
    #[serde(default)]
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PreviewAlert {
    pub entity: String,
    pub since_ms: i64,
    #[serde(default)]
    pub until_ms: Option<i64>,
    pub value: f64,
}
