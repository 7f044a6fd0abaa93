use layercast_shared::OsiLayer;

use super::*;

const MIN_MS: i64 = 60_000;

fn key(entity: &str) -> SeriesKey {
    SeriesKey {
        layer: OsiLayer::L2,
        entity: entity.to_owned(),
        metric: "bytes".to_owned(),
    }
}

fn rule(id: &str, condition: Condition, for_ms: i64) -> AlertRule {
    AlertRule {
        id: id.to_owned(),
        layer: OsiLayer::L2,
        entity: "sw1-*".to_owned(),
        metric: "bytes".to_owned(),
        condition,
        for_ms,
    }
}

/// Fire above 90 for 5 minutes, resolve below 80.
fn hot() -> AlertRule {
    let condition = Condition {
        signal: Signal::Value,
        op: Op::Above,
        fire: 90.0,
        resolve: Some(80.0),
    };
    rule("hot", condition, 5 * MIN_MS)
}

fn series_with(rules: Vec<AlertRule>) -> SeriesAlerts {
    RuleSet::new(rules)
        .expect("valid rules")
        .for_series(key("sw1-port1"))
}

fn value(ts_ms: i64, value: f64) -> Observation {
    Observation {
        ts_ms,
        value,
        anomaly_score: None,
        runway_days: None,
    }
}

/// Feeds one value per minute; returns the (from, to) of every transition.
fn feed(
    alerts: &mut SeriesAlerts,
    start_min: i64,
    values: &[f64],
) -> Vec<(AlertState, AlertState)> {
    values
        .iter()
        .enumerate()
        .flat_map(|(i, &v)| alerts.evaluate(&value((start_min + i as i64) * MIN_MS, v)))
        .map(|t| (t.from, t.to))
        .collect()
}

use AlertState::{Firing, Inactive, Pending, Resolved};

#[test]
fn pending_then_firing_after_for() {
    let mut alerts = series_with(vec![hot()]);
    let seen = feed(&mut alerts, 0, &[50.0, 95.0, 95.0, 95.0, 95.0, 95.0]);
    assert_eq!(seen, [(Inactive, Pending)]);
    assert_eq!(alerts.state("hot"), Some(Pending));
    let t = alerts.evaluate(&value(6 * MIN_MS, 96.0));
    assert_eq!(t.len(), 1);
    assert_eq!((t[0].from, t[0].to), (Pending, Firing));
    assert_eq!(t[0].active_since_ms, Some(MIN_MS));
    assert_eq!(t[0].value, 96.0);
    assert!(t[0].notify);
}

#[test]
fn pending_is_cancelled_when_the_condition_stops_before_for() {
    let mut alerts = series_with(vec![hot()]);
    let seen = feed(&mut alerts, 0, &[95.0, 95.0, 85.0, 95.0, 95.0, 95.0, 95.0]);
    assert_eq!(
        seen,
        [
            (Inactive, Pending),
            (Pending, Inactive),
            (Inactive, Pending)
        ]
    );
    // The second pending period started at minute 3: not firing at minute 7, firing at 8.
    assert!(alerts.evaluate(&value(7 * MIN_MS, 95.0)).is_empty());
    assert_eq!(alerts.evaluate(&value(8 * MIN_MS, 95.0))[0].to, Firing);
}

#[test]
fn no_flapping_inside_the_hysteresis_band_and_one_resolve() {
    let mut alerts = series_with(vec![hot()]);
    feed(&mut alerts, 0, &[95.0; 7]);
    assert_eq!(alerts.state("hot"), Some(Firing));
    // Oscillating between the resolve (80) and fire (90) thresholds, and across 90.
    let band: Vec<f64> = (0..100).map(|i| [81.0, 89.0, 92.0, 85.0][i % 4]).collect();
    assert!(feed(&mut alerts, 10, &band).is_empty());
    let seen = feed(&mut alerts, 200, &[79.0, 70.0, 60.0, 85.0, 79.0]);
    assert_eq!(seen, [(Firing, Resolved)]);
    assert_eq!(alerts.state("hot"), Some(Resolved));
}

#[test]
fn without_resolve_threshold_it_resolves_when_the_condition_stops() {
    let mut condition = hot().condition;
    condition.resolve = None;
    let mut alerts = series_with(vec![rule("plain", condition, 0)]);
    let seen = feed(&mut alerts, 0, &[95.0, 91.0, 90.0, 95.0]);
    assert_eq!(
        seen,
        [(Inactive, Firing), (Firing, Resolved), (Resolved, Firing)]
    );
}

#[test]
fn silence_suppresses_notifications_but_tracks_state() {
    let mut alerts = series_with(vec![hot()]);
    alerts.silence("hot", 30 * MIN_MS).expect("rule applies");
    let t: Vec<AlertTransition> = (0..8)
        .flat_map(|m| alerts.evaluate(&value(m * MIN_MS, 95.0)))
        .collect();
    assert_eq!(t.len(), 2);
    assert!(t.iter().all(|t| !t.notify));
    assert_eq!(alerts.state("hot"), Some(Firing));
    // After the silence ends, the resolve is notified.
    let resolved = alerts.evaluate(&value(40 * MIN_MS, 10.0));
    assert_eq!(resolved[0].to, Resolved);
    assert!(resolved[0].notify);
}

#[test]
fn acknowledge_only_when_firing_and_until_resolved() {
    let mut alerts = series_with(vec![hot()]);
    assert!(matches!(
        alerts.acknowledge("hot"),
        Err(AlertError::NotFiring { .. })
    ));
    assert!(matches!(
        alerts.acknowledge("nope"),
        Err(AlertError::UnknownRule(_))
    ));
    feed(&mut alerts, 0, &[95.0; 7]);
    alerts.acknowledge("hot").expect("firing");
    let resolved = alerts.evaluate(&value(10 * MIN_MS, 10.0));
    assert!(resolved[0].acknowledged);
    feed(&mut alerts, 20, &[95.0; 7]);
    let again = alerts.evaluate(&value(40 * MIN_MS, 10.0));
    assert!(
        !again[0].acknowledged,
        "a new firing needs a new acknowledgement"
    );
}

#[test]
fn anomaly_runway_and_change_conditions() {
    let anomaly = rule(
        "anomaly",
        Condition {
            signal: Signal::AnomalyScore,
            op: Op::Above,
            fire: 0.9,
            resolve: Some(0.5),
        },
        0,
    );
    let runway = rule(
        "runway",
        Condition {
            signal: Signal::RunwayDays,
            op: Op::Below,
            fire: 30.0,
            resolve: Some(45.0),
        },
        0,
    );
    let jump = rule(
        "jump",
        Condition {
            signal: Signal::ChangePercent,
            op: Op::Above,
            fire: 50.0,
            resolve: None,
        },
        0,
    );
    let mut alerts = series_with(vec![anomaly, runway, jump]);
    let obs = |ts_ms, value, anomaly_score, runway_days| Observation {
        ts_ms,
        value,
        anomaly_score,
        runway_days,
    };
    // Signals not available yet: nothing happens.
    assert!(alerts.evaluate(&obs(0, 100.0, None, None)).is_empty());
    let t = alerts.evaluate(&obs(MIN_MS, 160.0, Some(0.95), Some(20.0)));
    let fired: Vec<&str> = t.iter().map(|t| t.rule_id.as_str()).collect();
    assert_eq!(fired, ["anomaly", "runway", "jump"]);
    let t = alerts.evaluate(&obs(2 * MIN_MS, 170.0, Some(0.6), Some(f64::INFINITY)));
    let resolved: Vec<&str> = t.iter().map(|t| t.rule_id.as_str()).collect();
    assert_eq!(resolved, ["runway", "jump"]);
}

#[test]
fn rules_apply_by_layer_pattern_and_metric() {
    let rules = RuleSet::new(vec![hot()]).expect("valid");
    assert_eq!(
        rules.for_series(key("sw1-eth0")).state("hot"),
        Some(Inactive)
    );
    assert_eq!(rules.for_series(key("sw2-eth0")).state("hot"), None);
    let mut other_metric = key("sw1-eth0");
    other_metric.metric = "errors".to_owned();
    assert_eq!(rules.for_series(other_metric).state("hot"), None);
}

#[test]
fn changed_rules_keep_the_state_of_surviving_ids() {
    let mut alerts = series_with(vec![hot()]);
    feed(&mut alerts, 0, &[95.0; 7]);
    let mut stricter = hot();
    stricter.condition.fire = 99.0;
    let mut other = hot();
    other.id = "other".to_owned();
    alerts.apply_rules(&RuleSet::new(vec![stricter, other]).expect("valid"));
    assert_eq!(alerts.state("hot"), Some(Firing));
    assert_eq!(alerts.state("other"), Some(Inactive));
}

#[test]
fn invalid_rules_are_refused() {
    let with = |f: &dyn Fn(&mut AlertRule)| {
        let mut r = hot();
        f(&mut r);
        RuleSet::new(vec![r])
    };
    assert!(matches!(
        with(&|r| r.condition.resolve = Some(95.0)),
        Err(AlertError::ResolveWrongSide { .. })
    ));
    assert!(matches!(
        with(&|r| {
            r.condition.op = Op::Below;
            r.condition.resolve = Some(85.0);
        }),
        Err(AlertError::ResolveWrongSide { .. })
    ));
    assert!(matches!(
        with(&|r| r.condition.fire = f64::NAN),
        Err(AlertError::NotFinite { .. })
    ));
    assert!(matches!(
        with(&|r| r.for_ms = -1),
        Err(AlertError::NegativeFor { .. })
    ));
    assert!(matches!(with(&|r| r.id.clear()), Err(AlertError::EmptyId)));
    assert!(matches!(
        with(&|r| r.entity.clear()),
        Err(AlertError::Empty { .. })
    ));
    assert!(matches!(
        with(&|r| {
            r.condition.signal = Signal::AnomalyScore;
            r.condition.fire = 1.5;
            r.condition.resolve = None;
        }),
        Err(AlertError::OutOfRange { .. })
    ));
    assert!(matches!(
        RuleSet::new(vec![hot(), hot()]),
        Err(AlertError::DuplicateId(_))
    ));
}

#[test]
fn rules_and_transitions_round_trip_through_json() {
    let json = r#"{"id":"hot","layer":"L2","entity":"sw1-*","metric":"bytes",
        "condition":{"signal":"value","op":"above","fire":90,"resolve":80},"for_ms":300000}"#;
    let parsed: AlertRule = serde_json::from_str(json).expect("rule parses");
    assert_eq!(parsed, hot());
    let mut alerts = series_with(vec![parsed]);
    let t = feed_transitions(&mut alerts);
    let back: AlertTransition =
        serde_json::from_str(&serde_json::to_string(&t).expect("serialises")).expect("parses");
    assert_eq!(back, t);
    assert!(serde_json::to_string(&t)
        .expect("serialises")
        .contains(r#""to":"pending""#));
}

fn feed_transitions(alerts: &mut SeriesAlerts) -> AlertTransition {
    alerts
        .evaluate(&value(0, 99.0))
        .pop()
        .expect("a transition")
}
