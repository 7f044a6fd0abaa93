//! What a receiver gets: the body of a webhook, and the alerts of Alertmanager's API v2.

use chrono::{TimeZone, Utc};
use layercast_shared::AlertStatus;
use serde_json::{json, Value};

use crate::store::analysis::Notice;

/// The same for every change of one episode of one alert (a pager groups the trigger and the
/// resolve by it); `change_key` tells the changes apart, for a receiver that drops repeats
/// (delivery is at least once).
pub fn dedup_key(n: &Notice) -> String {
    format!("{}:{}", n.alert.id, n.alert.since_ms)
}

pub fn change_key(n: &Notice) -> String {
    format!("{}:{}:{}", n.alert.id, n.at_ms, n.to.as_str())
}

/// A generic webhook's JSON body.
pub fn webhook(n: &Notice) -> Value {
    json!({
        "version": 1,
        "dedup_key": dedup_key(n),
        "change_key": change_key(n),
        "from": n.from,
        "to": n.to,
        "at_ms": n.at_ms,
        "alert": n.alert,
    })
}

fn rfc3339(ms: i64) -> String {
    Utc.timestamp_millis_opt(ms)
        .single()
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

/// One alert of `POST /api/v2/alerts`: Alertmanager groups and routes by the labels; a
/// resolved alert carries `endsAt`.
pub fn alertmanager(n: &Notice) -> Value {
    let a = &n.alert;
    let mut alert = json!({
        "labels": {
            "alertname": a.rule,
            "layer": a.layer.as_str(),
            "entity": a.entity,
            "metric": a.metric,
            "source": "layercast",
        },
        "annotations": {
            "summary": format!(
                "{} {} {} {}: {} {} (threshold {})",
                a.rule, a.layer, a.entity, a.metric, a.signal, a.value, a.threshold
            ),
            "value": a.value.to_string(),
            "threshold": a.threshold.to_string(),
            "alert_id": a.id,
        },
        "startsAt": rfc3339(a.since_ms),
    });
    if n.to == AlertStatus::Resolved {
        alert["endsAt"] = Value::String(rfc3339(n.at_ms));
    }
    json!([alert])
}

#[cfg(test)]
mod tests {
    use super::*;
    use layercast_shared::{Alert, OsiLayer};

    fn notice(to: AlertStatus) -> Notice {
        Notice {
            alert: Alert {
                id: "abc".into(),
                rule: "hot-link".into(),
                layer: OsiLayer::L3,
                entity: "sw1/eth3".into(),
                metric: "bytes_per_s".into(),
                state: to,
                since_ms: 1_700_000_000_000,
                changed_ms: 1_700_000_060_000,
                value: 9.5e8,
                threshold: 9e8,
                signal: "value".into(),
                acknowledged: false,
                acknowledged_by: None,
                silenced_until_ms: None,
                precursor: None,
            },
            from: "firing".into(),
            to,
            at_ms: 1_700_000_060_000,
        }
    }

    #[test]
    fn alertmanager_alerts_carry_labels_and_end_when_resolved() {
        let firing = alertmanager(&notice(AlertStatus::Firing));
        assert_eq!(firing[0]["labels"]["alertname"], "hot-link");
        assert_eq!(firing[0]["labels"]["entity"], "sw1/eth3");
        assert_eq!(firing[0]["startsAt"], "2023-11-14T22:13:20.000Z");
        assert!(firing[0].get("endsAt").is_none());
        let resolved = alertmanager(&notice(AlertStatus::Resolved));
        assert_eq!(resolved[0]["endsAt"], "2023-11-14T22:14:20.000Z");
    }

    #[test]
    fn a_webhook_body_has_the_episode_key_and_the_change_key() {
        let body = webhook(&notice(AlertStatus::Firing));
        assert_eq!(body["dedup_key"], "abc:1700000000000");
        assert_eq!(body["change_key"], "abc:1700000060000:firing");
        assert_eq!(body["alert"]["rule"], "hot-link");
        let resolved = webhook(&notice(AlertStatus::Resolved));
        assert_eq!(
            resolved["dedup_key"], body["dedup_key"],
            "one episode, one key"
        );
    }
}
