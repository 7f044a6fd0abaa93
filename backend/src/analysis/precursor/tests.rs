use super::*;

const MIN_MS: i64 = 60_000;
const T0: i64 = 1_790_000_000_000;

fn finder() -> PrecursorFinder {
    let groups = vec![
        EntityGroup {
            name: "port3+api".to_owned(),
            entities: vec!["sw1/eth3".to_owned(), "alb/api".to_owned()],
        },
        EntityGroup {
            name: "port4+web".to_owned(),
            entities: vec!["sw1/eth4".to_owned(), "alb/web".to_owned()],
        },
    ];
    PrecursorFinder::new(groups, PrecursorConfig::default()).expect("valid config")
}

fn anomaly(layer: OsiLayer, entity: &str, metric: &str, start_ms: i64, score: f64) -> AnomalyEvent {
    AnomalyEvent {
        series: SeriesKey {
            layer,
            entity: entity.to_owned(),
            metric: metric.to_owned(),
        },
        start_ms,
        score,
    }
}

fn l2_errors(start_ms: i64) -> AnomalyEvent {
    anomaly(OsiLayer::L2, "sw1/eth3", "errors", start_ms, 0.9)
}

fn l7_latency(entity: &str, start_ms: i64) -> AnomalyEvent {
    anomaly(OsiLayer::L7, entity, "latency_ms", start_ms, 0.8)
}

#[test]
fn l2_burst_before_l7_latency_is_its_precursor() {
    let mut f = finder();
    assert_eq!(f.observe(l2_errors(T0)), None);
    let p = f
        .observe(l7_latency("alb/api", T0 + 5 * MIN_MS))
        .expect("a precursor");
    assert_eq!(p.anomaly, l2_errors(T0));
    assert_eq!(p.lag_ms, 5 * MIN_MS);
    assert_eq!(p.group, "port3+api");
}

#[test]
fn higher_layer_first_gives_no_precursor() {
    let mut f = finder();
    assert_eq!(f.observe(l7_latency("alb/api", T0)), None);
    assert_eq!(f.observe(l2_errors(T0 + 5 * MIN_MS)), None);
}

#[test]
fn outside_the_maximum_lag_gives_no_precursor() {
    let mut f = finder();
    f.observe(l2_errors(T0));
    assert_eq!(f.observe(l7_latency("alb/api", T0 + 16 * MIN_MS)), None);
    // Exactly at the maximum lag still counts.
    let mut f = finder();
    f.observe(l2_errors(T0));
    assert!(f.observe(l7_latency("alb/api", T0 + 15 * MIN_MS)).is_some());
}

#[test]
fn unrelated_group_gives_no_precursor() {
    let mut f = finder();
    f.observe(l2_errors(T0));
    assert_eq!(f.observe(l7_latency("alb/web", T0 + 5 * MIN_MS)), None);
    assert_eq!(f.observe(l7_latency("not-grouped", T0 + 5 * MIN_MS)), None);
}

#[test]
fn the_strongest_lower_layer_anomaly_is_chosen() {
    let mut f = finder();
    f.observe(anomaly(OsiLayer::L2, "sw1/eth3", "errors", T0, 0.6));
    f.observe(anomaly(
        OsiLayer::L1,
        "sw1/eth3",
        "errors",
        T0 + MIN_MS,
        0.95,
    ));
    f.observe(anomaly(
        OsiLayer::L4,
        "alb/api",
        "errors",
        T0 + 2 * MIN_MS,
        0.7,
    ));
    let p = f
        .observe(l7_latency("alb/api", T0 + 4 * MIN_MS))
        .expect("a precursor");
    assert_eq!(p.anomaly.series.layer, OsiLayer::L1);
    assert_eq!(p.lag_ms, 3 * MIN_MS);
}

#[test]
fn memory_stays_bounded() {
    let mut f = finder();
    for i in 0..10_000 {
        f.observe(l2_errors(T0 + i * 1_000));
        assert!(f.held() <= 2 * DEFAULT_MAX_RECENT_PER_GROUP);
    }
    // Pruned by time: an anomaly an hour later finds nothing and leaves one in its group.
    f.observe(l7_latency("alb/api", T0 + 10_000 * 1_000 + 60 * MIN_MS));
    assert_eq!(f.held(), 1);
}

#[test]
fn lead_statistics_grow_confident_with_repeated_leads() {
    let mut f = finder();
    for day in 0..20 {
        let t = T0 + day * 86_400_000;
        f.observe(l2_errors(t));
        f.observe(l7_latency("alb/api", t + 4 * MIN_MS));
    }
    // A few L7 anomalies with no L2 before them.
    for i in 0..5 {
        f.observe(l7_latency("alb/api", T0 + 30 * 86_400_000 + i * 86_400_000));
    }
    let stats = f.lead_stats();
    let s = stats
        .iter()
        .find(|s| s.lower == OsiLayer::L2 && s.higher == OsiLayer::L7)
        .expect("a stat for L2 -> L7");
    assert_eq!((s.higher_anomalies, s.led, s.followed), (25, 20, 0));
    assert!(s.confidence > 0.6 && s.confidence < 0.8, "{}", s.confidence);
}

#[test]
fn invalid_configs_are_refused() {
    let no_lag = PrecursorConfig {
        max_lag_ms: 0,
        ..PrecursorConfig::default()
    };
    assert!(PrecursorFinder::new(vec![], no_lag).is_err());
    let empty = EntityGroup {
        name: "x".to_owned(),
        entities: vec![],
    };
    assert!(PrecursorFinder::new(vec![empty], PrecursorConfig::default()).is_err());
}
