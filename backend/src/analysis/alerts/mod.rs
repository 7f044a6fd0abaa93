//! Alert rules and their state machine.
//!
//! A rule names a layer, an entity pattern (exact, or a glob with `*` and `?`) and a metric,
//! and a condition on one signal of the series: its value, its anomaly score, its runway in
//! days, or its change from the previous window in percent. The condition must hold for the
//! rule's `for_ms` before the alert fires (Inactive → Pending → Firing); it resolves on a
//! separate, laxer threshold (fire above 90, resolve below 80), so a value wandering inside
//! the band neither resolves nor re-fires. Firing alerts can be acknowledged; any alert can be
//! silenced until a time, which marks its transitions as not to be notified but keeps the
//! state machine running. Every state change comes back as an [`AlertTransition`].
//!
//! Cost: matching rules to a series happens once, in [`RuleSet::for_series`]; per point only
//! the rules that matched are evaluated, a few comparisons each.

mod glob;
mod state;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use layercast_shared::OsiLayer;
use serde::{Deserialize, Serialize};

pub use state::{AlertState, AlertTransition, Observation, SeriesAlerts, StoredAlert};

/// One series: what a detector runs on and an alert is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SeriesKey {
    pub layer: OsiLayer,
    pub entity: String,
    /// The measurement, as the windows name it (`bytes`, `errors`, `latency_ms`, ...).
    pub metric: String,
}

/// What a condition looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Signal {
    /// The window aggregate itself (static threshold).
    Value,
    /// The anomaly score in [0, 1].
    AnomalyScore,
    /// Days until the forecast reaches capacity (infinite when never).
    RunwayDays,
    /// Change from the previous window, in percent of the previous value.
    ChangePercent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    Above,
    Below,
}

/// Fire when the signal is strictly `op` `fire`; once firing, resolve when it is strictly on the
/// other side of `resolve` (or, without `resolve`, as soon as the fire condition stops).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Condition {
    pub signal: Signal,
    pub op: Op,
    pub fire: f64,
    #[serde(default)]
    pub resolve: Option<f64>,
}

impl Condition {
    pub(crate) fn fires(&self, x: f64) -> bool {
        match self.op {
            Op::Above => x > self.fire,
            Op::Below => x < self.fire,
        }
    }

    pub(crate) fn resolves(&self, x: f64) -> bool {
        match (self.resolve, self.op) {
            (None, _) => !self.fires(x),
            (Some(r), Op::Above) => x < r,
            (Some(r), Op::Below) => x > r,
        }
    }
}

/// An alert rule as an admin sets it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AlertRule {
    /// Unique among the rules.
    pub id: String,
    pub layer: OsiLayer,
    /// Entity name, or a pattern with `*` (any run) and `?` (one character).
    pub entity: String,
    pub metric: String,
    pub condition: Condition,
    /// How long the condition must hold before the alert fires, in milliseconds.
    #[serde(default)]
    pub for_ms: i64,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AlertError {
    #[error("a rule needs a non-empty id")]
    EmptyId,
    #[error("two rules have the id {0:?}")]
    DuplicateId(String),
    #[error("rule {rule:?}: the {field} must not be empty")]
    Empty { rule: String, field: &'static str },
    #[error("rule {rule:?}: {field} must be a finite number, got {value}")]
    NotFinite {
        rule: String,
        field: &'static str,
        value: f64,
    },
    #[error("rule {rule:?}: `for` must not be negative, got {for_ms} ms")]
    NegativeFor { rule: String, for_ms: i64 },
    #[error(
        "rule {rule:?}: resolve threshold {resolve} is on the wrong side of the fire threshold \
         {fire} (a rule firing {op:?} must resolve at or beyond it in the other direction)"
    )]
    ResolveWrongSide {
        rule: String,
        op: Op,
        fire: f64,
        resolve: f64,
    },
    #[error("rule {rule:?}: {signal:?} thresholds must be in {min}..={max}, got {value}")]
    OutOfRange {
        rule: String,
        signal: Signal,
        value: f64,
        min: f64,
        max: f64,
    },
    #[error("no rule {0:?} applies to this series")]
    UnknownRule(String),
    #[error("rule {rule:?} is {state:?}, only a firing alert can be acknowledged")]
    NotFiring { rule: String, state: AlertState },
}

impl AlertRule {
    /// Checks what serde cannot: thresholds finite, in range and on the right side.
    pub fn validate(&self) -> Result<(), AlertError> {
        let rule = || self.id.clone();
        if self.id.trim().is_empty() {
            return Err(AlertError::EmptyId);
        }
        for (field, text) in [("entity pattern", &self.entity), ("metric", &self.metric)] {
            if text.trim().is_empty() {
                return Err(AlertError::Empty {
                    rule: rule(),
                    field,
                });
            }
        }
        if self.for_ms < 0 {
            return Err(AlertError::NegativeFor {
                rule: rule(),
                for_ms: self.for_ms,
            });
        }
        let c = &self.condition;
        let thresholds = [
            ("fire threshold", Some(c.fire)),
            ("resolve threshold", c.resolve),
        ];
        for (field, value) in thresholds {
            let Some(value) = value else { continue };
            if !value.is_finite() {
                return Err(AlertError::NotFinite {
                    rule: rule(),
                    field,
                    value,
                });
            }
            let range = match c.signal {
                Signal::AnomalyScore => Some((0.0, 1.0)),
                Signal::RunwayDays => Some((0.0, f64::MAX)),
                Signal::Value | Signal::ChangePercent => None,
            };
            if let Some((min, max)) = range {
                if !(min..=max).contains(&value) {
                    return Err(AlertError::OutOfRange {
                        rule: rule(),
                        signal: c.signal,
                        value,
                        min,
                        max,
                    });
                }
            }
        }
        if let Some(resolve) = c.resolve {
            let wrong = match c.op {
                Op::Above => resolve > c.fire,
                Op::Below => resolve < c.fire,
            };
            if wrong {
                return Err(AlertError::ResolveWrongSide {
                    rule: rule(),
                    op: c.op,
                    fire: c.fire,
                    resolve,
                });
            }
        }
        Ok(())
    }

    /// Whether the rule is about this series.
    pub fn applies_to(&self, series: &SeriesKey) -> bool {
        self.layer == series.layer
            && self.metric == series.metric
            && glob::matches(&self.entity, &series.entity)
    }
}

/// A validated set of rules with unique ids.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    rules: Vec<Arc<AlertRule>>,
}

impl RuleSet {
    pub fn new(rules: Vec<AlertRule>) -> Result<Self, AlertError> {
        let mut ids = std::collections::HashSet::new();
        for rule in &rules {
            rule.validate()?;
            if !ids.insert(rule.id.as_str()) {
                return Err(AlertError::DuplicateId(rule.id.clone()));
            }
        }
        Ok(Self {
            rules: rules.into_iter().map(Arc::new).collect(),
        })
    }

    /// The alert state of one series under the rules that apply to it, all inactive.
    pub fn for_series(&self, series: SeriesKey) -> SeriesAlerts {
        let rules = self.matching(&series);
        SeriesAlerts::new(series, rules)
    }

    /// The metrics of `(layer, entity)` that some rule is about.
    pub fn metrics_of(&self, layer: OsiLayer, entity: &str) -> Vec<String> {
        let mut metrics: Vec<String> = self
            .rules
            .iter()
            .filter(|r| r.layer == layer && glob::matches(&r.entity, entity))
            .map(|r| r.metric.clone())
            .collect();
        metrics.sort();
        metrics.dedup();
        metrics
    }

    pub fn get(&self, id: &str) -> Option<&AlertRule> {
        self.rules.iter().map(|r| r.as_ref()).find(|r| r.id == id)
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    fn matching(&self, series: &SeriesKey) -> Vec<Arc<AlertRule>> {
        self.rules
            .iter()
            .filter(|r| r.applies_to(series))
            .cloned()
            .collect()
    }
}
