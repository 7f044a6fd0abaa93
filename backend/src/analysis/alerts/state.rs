//! The per-series alert state machine.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{AlertError, AlertRule, RuleSet, SeriesKey, Signal};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertState {
    Inactive,
    /// The fire condition holds, for less than the rule's `for` so far.
    Pending,
    Firing,
    /// Was firing, the resolve condition was met. Behaves as inactive afterwards.
    Resolved,
}

/// One state change of one rule on one series: stored and pushed live as it is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertTransition {
    pub rule_id: String,
    pub series: SeriesKey,
    pub from: AlertState,
    pub to: AlertState,
    pub at_ms: i64,
    /// The signal the rule looks at, and its value that caused the change.
    pub signal: Signal,
    pub value: f64,
    /// When the fire condition started holding (the start of the pending period).
    pub active_since_ms: Option<i64>,
    /// Whether someone acknowledged the alert before this change.
    pub acknowledged: bool,
    /// False while the alert is silenced: record it, don't page anyone.
    pub notify: bool,
}

/// One window's signals for the alert rules. `None` (or a non-finite number) means the signal is
/// not available for this window (anomaly detector warming, no runway): rules on it keep their
/// state.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Observation {
    pub ts_ms: i64,
    pub value: f64,
    pub anomaly_score: Option<f64>,
    /// Days until full; `f64::INFINITY` when never at this trend (see `Runway::days_until_full`).
    pub runway_days: Option<f64>,
}

/// An alert's state as stored, to restore it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StoredAlert {
    pub state: AlertState,
    pub active_since_ms: Option<i64>,
    pub acknowledged: bool,
    pub silenced_until_ms: Option<i64>,
}

/// One rule's state on the series.
#[derive(Debug, Clone)]
struct RuleAlert {
    rule: Arc<AlertRule>,
    state: AlertState,
    active_since_ms: Option<i64>,
    acknowledged: bool,
    silenced_until_ms: Option<i64>,
}

/// Alert states of one series under the rules that apply to it.
///
/// Memory: the key (three small strings), 8 bytes of previous value, and about 48 bytes per
/// applying rule (the rule itself is shared); nothing grows with history.
#[derive(Debug, Clone)]
pub struct SeriesAlerts {
    series: SeriesKey,
    alerts: Vec<RuleAlert>,
    /// The previous window's value, for change conditions.
    previous_value: Option<f64>,
}

impl SeriesAlerts {
    pub(super) fn new(series: SeriesKey, rules: Vec<Arc<AlertRule>>) -> Self {
        Self {
            series,
            alerts: rules.into_iter().map(RuleAlert::new).collect(),
            previous_value: None,
        }
    }

    pub fn series(&self) -> &SeriesKey {
        &self.series
    }

    /// Evaluates every applying rule on a new window; returns the state changes (usually none).
    pub fn evaluate(&mut self, obs: &Observation) -> Vec<AlertTransition> {
        let change_percent = match self.previous_value {
            Some(prev) if prev != 0.0 => Some((obs.value - prev) / prev.abs() * 100.0),
            _ => None,
        };
        if obs.value.is_finite() {
            self.previous_value = Some(obs.value);
        }
        let mut transitions = Vec::new();
        for alert in &mut self.alerts {
            let signal = alert.rule.condition.signal;
            let x = match signal {
                Signal::Value => Some(obs.value),
                Signal::AnomalyScore => obs.anomaly_score,
                Signal::RunwayDays => obs.runway_days,
                Signal::ChangePercent => change_percent,
            };
            // Infinite runway is a real value (never full); NaN is not.
            let Some(x) = x.filter(|x| !x.is_nan()) else {
                continue;
            };
            if let Some(t) = alert.step(obs.ts_ms, x, &self.series) {
                transitions.push(t);
            }
        }
        transitions
    }

    /// Current state under rule `rule_id`, `None` when the rule does not apply.
    pub fn state(&self, rule_id: &str) -> Option<AlertState> {
        self.alerts
            .iter()
            .find(|a| a.rule.id == rule_id)
            .map(|a| a.state)
    }

    /// Marks a firing alert as acknowledged (until it resolves). The caller stores who and when.
    pub fn acknowledge(&mut self, rule_id: &str) -> Result<(), AlertError> {
        let alert = self.find(rule_id)?;
        if alert.state != AlertState::Firing {
            return Err(AlertError::NotFiring {
                rule: rule_id.to_owned(),
                state: alert.state,
            });
        }
        alert.acknowledged = true;
        Ok(())
    }

    /// Silences the alert of rule `rule_id` until `until_ms`: transitions before then come back
    /// with `notify: false`. The state machine keeps running.
    pub fn silence(&mut self, rule_id: &str, until_ms: i64) -> Result<(), AlertError> {
        self.find(rule_id)?.silenced_until_ms = Some(until_ms);
        Ok(())
    }

    /// Takes a new rule set (an admin changed the rules): rules that still apply keep their
    /// state under the same id, new ones start inactive, removed ones are dropped.
    pub fn apply_rules(&mut self, rules: &RuleSet) {
        let mut old = std::mem::take(&mut self.alerts);
        self.alerts = rules
            .matching(&self.series)
            .into_iter()
            .map(|rule| match old.iter().position(|a| a.rule.id == rule.id) {
                Some(i) => RuleAlert {
                    rule,
                    ..old.swap_remove(i)
                },
                None => RuleAlert::new(rule),
            })
            .collect();
    }

    /// Puts a rule's alert back where a stored state left it (a node taking the series over):
    /// a firing alert stays firing, neither fired again nor resolved, until the values say so.
    pub fn restore(&mut self, rule_id: &str, stored: StoredAlert) -> Result<(), AlertError> {
        let alert = self.find(rule_id)?;
        alert.state = stored.state;
        alert.active_since_ms = stored.active_since_ms;
        alert.acknowledged = stored.acknowledged;
        alert.silenced_until_ms = stored.silenced_until_ms;
        Ok(())
    }

    /// Whether any rule's alert is pending or firing.
    pub fn is_active(&self) -> bool {
        self.alerts
            .iter()
            .any(|a| matches!(a.state, AlertState::Pending | AlertState::Firing))
    }

    fn find(&mut self, rule_id: &str) -> Result<&mut RuleAlert, AlertError> {
        self.alerts
            .iter_mut()
            .find(|a| a.rule.id == rule_id)
            .ok_or_else(|| AlertError::UnknownRule(rule_id.to_owned()))
    }
}

impl RuleAlert {
    fn new(rule: Arc<AlertRule>) -> Self {
        Self {
            rule,
            state: AlertState::Inactive,
            active_since_ms: None,
            acknowledged: false,
            silenced_until_ms: None,
        }
    }

    /// One step of the state machine; returns the transition if the state changed.
    fn step(&mut self, at_ms: i64, x: f64, series: &SeriesKey) -> Option<AlertTransition> {
        let condition = &self.rule.condition;
        let from = self.state;
        let to = match from {
            AlertState::Inactive | AlertState::Resolved if condition.fires(x) => {
                self.active_since_ms = Some(at_ms);
                if self.rule.for_ms == 0 {
                    AlertState::Firing
                } else {
                    AlertState::Pending
                }
            }
            AlertState::Pending if !condition.fires(x) => AlertState::Inactive,
            AlertState::Pending => {
                let since = self.active_since_ms.unwrap_or(at_ms);
                if at_ms.saturating_sub(since) >= self.rule.for_ms {
                    AlertState::Firing
                } else {
                    AlertState::Pending
                }
            }
            AlertState::Firing if condition.resolves(x) => AlertState::Resolved,
            state => state,
        };
        if to == from {
            return None;
        }
        self.state = to;
        let transition = AlertTransition {
            rule_id: self.rule.id.clone(),
            series: series.clone(),
            from,
            to,
            at_ms,
            signal: condition.signal,
            value: x,
            active_since_ms: self.active_since_ms,
            acknowledged: self.acknowledged,
            notify: self.silenced_until_ms.is_none_or(|until| at_ms >= until),
        };
        if matches!(to, AlertState::Inactive | AlertState::Resolved) {
            self.active_since_ms = None;
            self.acknowledged = false;
        }
        Some(transition)
    }
}
