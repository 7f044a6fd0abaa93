//! The alerts the page knows: those `/api/alerts` listed when it loaded, overtaken by every
//! `alert` the live feed pushed since, so that a page left open shows an alert fire, be
//! acknowledged and resolve without a reload.

use std::collections::BTreeMap;

use layercast_shared::{Alert, AlertStatus, OsiLayer};

/// Alerts by id; the newest change of each wins.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlertBoard {
    alerts: BTreeMap<String, Alert>,
}

impl AlertBoard {
    /// Takes in one alert's state; an older one than held (a REST answer racing the socket)
    /// changes nothing. Acknowledging and silencing keep `changed_ms`, hence `>=`.
    pub fn apply(&mut self, alert: Alert) {
        match self.alerts.get(&alert.id) {
            Some(held) if held.changed_ms > alert.changed_ms => {}
            _ => {
                self.alerts.insert(alert.id.clone(), alert);
            }
        }
    }

    /// What was loaded, with the live changes applied over it.
    pub fn merged(&self, loaded: &[Alert]) -> AlertBoard {
        let mut board = AlertBoard::default();
        for alert in loaded {
            board.apply(alert.clone());
        }
        for alert in self.alerts.values() {
            board.apply(alert.clone());
        }
        board
    }

    /// Firing first, then pending, then resolved; the newest episode first within each.
    pub fn sorted(&self) -> Vec<Alert> {
        let mut all: Vec<Alert> = self.alerts.values().cloned().collect();
        all.sort_by(|a, b| {
            status_rank(a.state)
                .cmp(&status_rank(b.state))
                .then_with(|| b.since_ms.cmp(&a.since_ms))
                .then_with(|| a.id.cmp(&b.id))
        });
        all
    }

    pub fn firing(&self) -> Vec<Alert> {
        self.sorted()
            .into_iter()
            .filter(|a| a.state == AlertStatus::Firing)
            .collect()
    }
}

fn status_rank(s: AlertStatus) -> u8 {
    match s {
        AlertStatus::Firing => 0,
        AlertStatus::Pending => 1,
        AlertStatus::Resolved => 2,
    }
}

/// The alerts page's filters.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlertFilter {
    /// `None`: firing and pending (what needs attention).
    pub state: Option<AlertStatus>,
    pub layer: Option<OsiLayer>,
    /// Part of the entity, rule or metric.
    pub text: String,
}

impl AlertFilter {
    pub fn keeps(&self, alert: &Alert) -> bool {
        let state_ok = match self.state {
            Some(s) => alert.state == s,
            None => alert.state != AlertStatus::Resolved,
        };
        let text = self.text.trim().to_lowercase();
        state_ok
            && self.layer.is_none_or(|l| l == alert.layer)
            && (text.is_empty()
                || [&alert.entity, &alert.rule, &alert.metric]
                    .iter()
                    .any(|f| f.to_lowercase().contains(&text)))
    }
}

/// Whether a viewer with `is_admin` sees the acknowledge button of `alert`: only admins, and
/// only on a firing alert not yet acknowledged (the server answers 409 otherwise).
pub fn can_ack(alert: &Alert, is_admin: bool) -> bool {
    is_admin && alert.state == AlertStatus::Firing && !alert.acknowledged
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn alert(id: &str, state: AlertStatus, since_ms: i64, changed_ms: i64) -> Alert {
        Alert {
            id: id.into(),
            rule: "hot-links".into(),
            layer: OsiLayer::L3,
            entity: format!("entity-{id}"),
            metric: "bytes_per_s".into(),
            state,
            since_ms,
            changed_ms,
            value: 2.0,
            threshold: 1.0,
            signal: "value".into(),
            acknowledged: false,
            acknowledged_by: None,
            silenced_until_ms: None,
            precursor: None,
        }
    }

    #[test]
    fn live_changes_overtake_what_was_loaded_but_not_the_other_way() {
        let loaded = vec![alert("a", AlertStatus::Pending, 0, 10)];
        let mut live = AlertBoard::default();
        live.apply(alert("a", AlertStatus::Firing, 0, 20));
        let merged = live.merged(&loaded);
        assert_eq!(merged.sorted()[0].state, AlertStatus::Firing);

        let mut board = AlertBoard::default();
        board.apply(alert("a", AlertStatus::Firing, 0, 20));
        board.apply(alert("a", AlertStatus::Pending, 0, 10));
        assert_eq!(board.sorted()[0].state, AlertStatus::Firing);

        let mut acked = alert("a", AlertStatus::Firing, 0, 20);
        acked.acknowledged = true;
        board.apply(acked);
        assert!(board.sorted()[0].acknowledged, "an ack keeps changed_ms");
    }

    #[test]
    fn firing_first_then_pending_then_resolved_newest_first() {
        let mut board = AlertBoard::default();
        for a in [
            alert("r", AlertStatus::Resolved, 50, 60),
            alert("p", AlertStatus::Pending, 40, 40),
            alert("f-old", AlertStatus::Firing, 10, 30),
            alert("f-new", AlertStatus::Firing, 20, 30),
        ] {
            board.apply(a);
        }
        let ids: Vec<String> = board.sorted().into_iter().map(|a| a.id).collect();
        assert_eq!(ids, ["f-new", "f-old", "p", "r"]);
        assert_eq!(board.firing().len(), 2);
    }

    #[test]
    fn filters_and_who_may_acknowledge() {
        let firing = alert("a", AlertStatus::Firing, 0, 0);
        let resolved = alert("b", AlertStatus::Resolved, 0, 0);
        let open = AlertFilter::default();
        assert!(open.keeps(&firing) && !open.keeps(&resolved));
        let text = AlertFilter {
            text: "ENTITY-B".into(),
            state: Some(AlertStatus::Resolved),
            layer: Some(OsiLayer::L3),
        };
        assert!(text.keeps(&resolved) && !text.keeps(&firing));
        assert!(can_ack(&firing, true));
        assert!(!can_ack(&firing, false), "viewers never see the button");
        assert!(!can_ack(&resolved, true));
    }
}
