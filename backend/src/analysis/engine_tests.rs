use super::*;
use crate::analysis::alerts::{AlertRule, AlertState, Condition, Op, Signal};

const LEN: i64 = 10_000;
const DAY: i64 = 86_400_000;

fn window(start_ms: i64, bytes_per_s: f64) -> SeriesWindow {
    let bytes = (bytes_per_s * LEN as f64 / 1000.0) as u64;
    SeriesWindow {
        layer: OsiLayer::L3,
        entity: "link".into(),
        start_ms,
        end_ms: start_ms + LEN,
        events: 10,
        bytes,
        packets: 100,
        connections: 0,
        requests: 0,
        errors: 1,
        bytes_min: 0,
        bytes_max: 0,
        bytes_per_s,
        events_per_s: 1.0,
        latency: None,
        error_rate: Some(0.01),
        error_classes: Default::default(),
        is_final: true,
        closed_at_ms: None,
    }
}

fn rule(fire: f64, resolve: f64) -> AlertRule {
    AlertRule {
        id: "hot".into(),
        layer: OsiLayer::L3,
        entity: "l*".into(),
        metric: "bytes_per_s".into(),
        condition: Condition {
            signal: Signal::Value,
            op: Op::Above,
            fire,
            resolve: Some(resolve),
        },
        for_ms: 0,
    }
}

fn inputs(rules: Vec<AlertRule>, capacity: Option<f64>) -> Arc<Inputs> {
    let capacities = capacity
        .map(|capacity| Capacity {
            layer: OsiLayer::L3,
            entity: "link".into(),
            metric: "bytes_per_s".into(),
            capacity,
        })
        .into_iter()
        .collect();
    Arc::new(Inputs::new(
        capacities,
        RuleSet::new(rules).expect("rules"),
        vec![],
    ))
}

fn states(found: &Findings) -> Vec<AlertState> {
    found.alerts.iter().map(|a| a.transition.to).collect()
}

#[test]
fn a_rule_added_later_fires_on_the_next_window_and_resolves_with_hysteresis() {
    let mut a = Analysis::new(LEN);
    let none = Scores::default();
    assert!(a.observe(&window(0, 1000.0), &none).alerts.is_empty());
    a.set_inputs(inputs(vec![rule(900.0, 500.0)], None));
    let fired = a.observe(&window(LEN, 1000.0), &none);
    assert_eq!(states(&fired), vec![AlertState::Firing]);
    assert_eq!(fired.alerts[0].threshold, 900.0);
    assert_eq!(
        fired.alerts[0].id,
        alert_id("hot", OsiLayer::L3, "link", "bytes_per_s")
    );
    // Inside the band: still firing, no change; below the resolve threshold: resolved once.
    assert!(a.observe(&window(2 * LEN, 700.0), &none).alerts.is_empty());
    assert_eq!(
        states(&a.observe(&window(3 * LEN, 400.0), &none)),
        vec![AlertState::Resolved]
    );
    assert!(a.observe(&window(4 * LEN, 400.0), &none).alerts.is_empty());
}

#[test]
fn a_restored_firing_alert_neither_fires_again_nor_resolves_while_the_value_holds() {
    let mut a = Analysis::new(LEN);
    a.set_inputs(inputs(vec![rule(900.0, 500.0)], None));
    a.restore_alert(
        "hot",
        OsiLayer::L3,
        "link",
        "bytes_per_s",
        StoredAlert {
            state: AlertState::Firing,
            active_since_ms: Some(0),
            acknowledged: true,
            silenced_until_ms: None,
        },
    );
    let none = Scores::default();
    assert!(a.observe(&window(LEN, 1000.0), &none).alerts.is_empty());
    let resolved = a.observe(&window(2 * LEN, 100.0), &none);
    assert_eq!(states(&resolved), vec![AlertState::Resolved]);
    assert!(resolved.alerts[0].transition.acknowledged);
}

/// 20 days of a link growing 2% a day toward a capacity, with a daily cycle: the runway agrees
/// with the truth, and a second analysis restored from the stored state gives the same answer.
#[test]
fn runway_from_steady_growth_is_near_the_truth_and_survives_a_restore() {
    let capacity = 3.0e6;
    let level = |t: i64| 1.0e6 * 1.02f64.powf(t as f64 / DAY as f64);
    let value = |t: i64| {
        let phase = (t % DAY) as f64 / DAY as f64 * std::f64::consts::TAU;
        level(t) * (1.0 + 0.2 * phase.sin())
    };
    // One window a minute is enough for 30-minute buckets and keeps the test fast.
    let step = 6 * LEN;
    let mut a = Analysis::new(LEN);
    a.set_inputs(inputs(vec![], Some(capacity)));
    let none = Scores::default();
    let mut last_state = None;
    let mut t = 0;
    let end = 20 * DAY;
    while t < end {
        let found = a.observe(&window(t, value(t)), &none);
        if let Some((_, _, s)) = found.states.into_iter().last() {
            last_state = Some((t, s));
        }
        t += step;
    }
    // Full when the daily peak (20% over the level) reaches the capacity.
    let truth_days = (capacity / (1.2 * level(end))).ln() / 1.02f64.ln();
    let runway = a
        .forecaster(OsiLayer::L3, "link", "bytes_per_s")
        .expect("forecaster")
        .runway(Some(capacity), DEFAULT_MAX_HORIZON_MS);
    let days = runway.days_until_full().expect("days");
    assert!(
        (days - truth_days).abs() < 3.0,
        "runway {days:.1} days, truth {truth_days:.1}"
    );
    let (saved_at, state) = last_state.expect("a state was stored");
    let text = serde_json::to_string(&state).expect("encode");
    let mut b = Analysis::new(LEN);
    b.set_inputs(inputs(vec![], Some(capacity)));
    b.restore_state(
        OsiLayer::L3,
        "link",
        serde_json::from_str(&text).expect("decode"),
    );
    let mut t = saved_at + step;
    while t < end {
        b.warm(&window(t, value(t)));
        t += step;
    }
    let restored = b
        .forecaster(OsiLayer::L3, "link", "bytes_per_s")
        .expect("forecaster")
        .runway(Some(capacity), DEFAULT_MAX_HORIZON_MS)
        .days_until_full()
        .expect("days");
    assert!(
        (restored - days).abs() < 1e-9,
        "after a restore {restored} days, before {days}"
    );
}

#[test]
fn trends_are_reported_when_a_bucket_completes_not_on_every_window() {
    let mut a = Analysis::new(LEN);
    let none = Scores::default();
    let mut reported = 0;
    let windows = 3 * DAY / LEN;
    for i in 0..windows {
        let t = i * LEN;
        reported += a
            .observe(&window(t, 1000.0 + t as f64 / 1e6), &none)
            .trends
            .len();
    }
    assert!(reported > 0, "a trend once eight buckets are complete");
    assert!(
        reported < 100,
        "{reported} trend reports for {windows} windows"
    );
}

/// What a series' stored state weighs once every tracker is full (30 days of one window a
/// minute): with and without a capacity. The numbers are in docs/detectors.md.
#[test]
fn a_series_state_stays_within_its_bound_however_long_the_history() {
    let sizes = |capacity: Option<f64>| {
        let mut a = Analysis::new(LEN);
        a.set_inputs(inputs(vec![], capacity));
        let mut last = None;
        let none = Scores::default();
        let mut t = 0;
        while t < 30 * DAY {
            if let Some((_, _, s)) = a
                .observe(&window(t, 1.0e6 + (t % DAY) as f64), &none)
                .states
                .pop()
            {
                last = Some(s);
            }
            t += 6 * LEN;
        }
        serde_json::to_string(&last.expect("a state"))
            .expect("encode")
            .len()
    };
    let (with, without) = (sizes(Some(3.0e6)), sizes(None));
    eprintln!("stored state per series: {without} bytes, {with} with a capacity");
    assert!(without < 16_000, "{without} bytes without a capacity");
    assert!(with < 32_000, "{with} bytes with a capacity");
}
