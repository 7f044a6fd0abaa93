use super::*;
use crate::store::db::test_support::sqlite_db;
use crate::store::notifications;
use layercast_shared::{SeriesRunway, SeriesTrend, WindowAnomaly, WindowMetric};

fn change(from: &str, to: AlertStatus, at_ms: i64, since_ms: i64) -> NewChange {
    NewChange {
        id: "a1".into(),
        rule: "busy".into(),
        layer: OsiLayer::L7,
        entity: "api".into(),
        metric: "error_rate".into(),
        from: from.into(),
        to,
        at_ms,
        since_ms,
        value: 0.2,
        threshold: 0.1,
        signal: "value".into(),
    }
}

fn batch(changes: Vec<NewChange>) -> StoredFindings {
    StoredFindings {
        changes,
        ..StoredFindings::default()
    }
}

#[test]
fn an_alert_never_goes_back_and_a_new_episode_clears_its_acknowledgement() {
    let (_dir, db) = sqlite_db();
    let mut conn = db.conn().expect("conn");
    write(
        &mut conn,
        0,
        &batch(vec![change("inactive", AlertStatus::Firing, 1_000, 1_000)]),
        0,
    )
    .expect("fire");
    let acked = acknowledge(&mut conn, "a1", "ops").expect("ack");
    assert!(acked.acknowledged);
    // A replay of an older change after a takeover changes nothing.
    let stale = write(
        &mut conn,
        0,
        &batch(vec![change("firing", AlertStatus::Resolved, 500, 1_000)]),
        0,
    )
    .expect("stale");
    assert!(stale.is_empty());
    assert_eq!(
        get(&mut conn, "a1").expect("get").expect("alert").state,
        AlertStatus::Firing
    );
    // Resolved, then a new episode: not acknowledged any more.
    write(
        &mut conn,
        0,
        &batch(vec![change("firing", AlertStatus::Resolved, 2_000, 1_000)]),
        0,
    )
    .expect("resolve");
    assert!(matches!(
        acknowledge(&mut conn, "a1", "ops"),
        Err(AlertActionError::NotFiring { .. })
    ));
    let again = write(
        &mut conn,
        0,
        &batch(vec![change("resolved", AlertStatus::Firing, 3_000, 3_000)]),
        0,
    )
    .expect("fire again");
    assert!(!again[0].acknowledged);
    let changes = history(&mut conn, 0, i64::MAX, 100).expect("history");
    assert_eq!(
        changes.len(),
        3,
        "the stale change is not recorded: {changes:?}"
    );
}

#[test]
fn silenced_changes_are_recorded_but_not_queued_for_receivers() {
    let (_dir, db) = sqlite_db();
    let mut conn = db.conn().expect("conn");
    settings::put(
        &mut conn,
        settings::RECEIVER,
        "hook",
        r#"{"name":"hook","kind":"webhook","url":"http://x"}"#,
        0,
    )
    .expect("receiver");
    write(
        &mut conn,
        0,
        &batch(vec![change("inactive", AlertStatus::Firing, 1_000, 1_000)]),
        0,
    )
    .expect("fire");
    silence(&mut conn, "a1", Some(10_000)).expect("silence");
    write(
        &mut conn,
        0,
        &batch(vec![change("firing", AlertStatus::Resolved, 2_000, 1_000)]),
        0,
    )
    .expect("resolve");
    let changes = history(&mut conn, 0, i64::MAX, 100).expect("history");
    let notify: Vec<bool> = changes.iter().map(|c| c.notify).collect();
    assert_eq!(
        notify,
        vec![false, true],
        "newest first: the resolve was silenced"
    );
    assert_eq!(notifications::pending(&mut conn).expect("pending"), 1);
    // One claim at a time: a second claimant gets nothing while the lease holds.
    let claimed = notifications::claim_due(&mut conn, 5_000, 10).expect("claim");
    assert_eq!(claimed.len(), 1);
    assert!(notifications::claim_due(&mut conn, 5_001, 10)
        .expect("claim")
        .is_empty());
    notifications::failed(&mut conn, &claimed[0], "down", 6_000).expect("failed");
    assert!(
        notifications::claim_due(&mut conn, 5_500, 10)
            .expect("claim")
            .is_empty(),
        "not due yet"
    );
    let retried = notifications::claim_due(&mut conn, 6_000, 10).expect("claim");
    assert_eq!(retried[0].attempts, 1);
    notifications::delivered(&mut conn, &retried[0], 6_100).expect("delivered");
    assert_eq!(notifications::pending(&mut conn).expect("pending"), 0);
    // The same change stored again (a replay) queues nothing new.
    write(
        &mut conn,
        0,
        &batch(vec![change("inactive", AlertStatus::Firing, 1_000, 1_000)]),
        0,
    )
    .expect("replay");
    assert_eq!(notifications::pending(&mut conn).expect("pending"), 0);
}

#[test]
fn an_alert_carries_the_latest_lower_layer_anomaly_of_its_group_before_it() {
    let (_dir, db) = sqlite_db();
    let mut conn = db.conn().expect("conn");
    settings::put(
        &mut conn,
        settings::GROUP,
        "edge",
        r#"{"name":"edge","entities":["sw1/eth3","api"]}"#,
        0,
    )
    .expect("group");
    let anomaly = |layer, entity: &str, start_ms| WindowAnomaly {
        layer,
        entity: entity.into(),
        metric: WindowMetric::Errors,
        start_ms,
        end_ms: start_ms + 10_000,
        value: 50.0,
        score: 0.9,
    };
    // The anomalies of the same close, in the same transaction, before its alert changes.
    let found = StoredFindings {
        anomalies: vec![
            anomaly(OsiLayer::L2, "sw1/eth3", 100_000),
            anomaly(OsiLayer::L2, "sw1/eth3", 400_000),
            // Not a precursor: another group, a higher layer, after the alert.
            anomaly(OsiLayer::L2, "elsewhere", 450_000),
            anomaly(OsiLayer::L7, "api", 450_000),
            anomaly(OsiLayer::L1, "sw1/eth3", 900_000),
        ],
        changes: vec![change("inactive", AlertStatus::Firing, 500_000, 500_000)],
    };
    let stored = write(&mut conn, 0, &found, 0).expect("fire");
    let p = stored[0].precursor.clone().expect("a precursor");
    assert_eq!(
        (p.layer, p.entity.as_str(), p.start_ms, p.lag_ms),
        (OsiLayer::L2, "sw1/eth3", 400_000, 100_000)
    );
    assert_eq!(p.group, "edge");
    // More than 15 minutes before: none.
    let mut late = change("inactive", AlertStatus::Firing, 2_000_000, 2_000_000);
    late.id = "a2".into();
    let stored = write(&mut conn, 0, &batch(vec![late]), 0).expect("fire");
    assert_eq!(stored[0].precursor, None);
}

#[test]
fn trackers_are_stored_many_rows_a_statement_and_replaced_by_newer_ones() {
    let (_dir, db) = sqlite_db();
    let mut conn = db.conn().expect("conn");
    let state = |entity: String, last_start_ms: i64| SavedState {
        layer: OsiLayer::L4,
        entity,
        last_start_ms,
        json: format!("{{\"at\":{last_start_ms}}}"),
    };
    let trend = |entity: String, slope_per_day: f64| SeriesTrend {
        layer: OsiLayer::L4,
        entity,
        metric: "bytes_per_s".into(),
        direction: "up".into(),
        slope_per_day,
        slope_low: slope_per_day / 2.0,
        slope_high: slope_per_day * 2.0,
        p_value: 0.01,
        buckets: 12,
        at_ms: 10_000,
    };
    let runway = |entity: String, days_until_full: Option<f64>| SeriesRunway {
        layer: OsiLayer::L4,
        entity,
        metric: "bytes_per_s".into(),
        capacity: 1e9,
        current: 5e8,
        days_until_full,
        state: "filling".into(),
        at_ms: 10_000,
    };
    // More than one statement's worth of each, as at a bucket's end.
    let first = TrackerRows {
        trends: (0..1_200).map(|i| trend(format!("e{i:04}"), 1.0)).collect(),
        runways: (0..600)
            .map(|i| runway(format!("e{i:04}"), Some(30.0)))
            .collect(),
        states: (0..250)
            .map(|i| state(format!("e{i:04}"), 10_000))
            .collect(),
    };
    save_trackers(&mut conn, 3, &first).expect("first");
    let newer = TrackerRows {
        // A slope the database cannot hold is stored as 0.
        trends: vec![trend("e0000".into(), f64::NAN), trend("e0001".into(), 3.0)],
        runways: vec![runway("e0000".into(), None)],
        states: (0..5).map(|i| state(format!("e{i:04}"), 20_000)).collect(),
    };
    save_trackers(&mut conn, 3, &newer).expect("newer");

    let (_, mut stored) = load(&mut conn, 3).expect("load");
    stored.sort_by(|a, b| a.entity.cmp(&b.entity));
    assert_eq!(stored.len(), 250, "one state per series");
    assert_eq!(
        stored.iter().filter(|s| s.last_start_ms == 20_000).count(),
        5,
        "the newer states replaced theirs"
    );
    assert_eq!(stored[0], newer.states[0]);
    assert_eq!(stored[249], first.states[249]);
    assert!(
        load(&mut conn, 4).expect("load").1.is_empty(),
        "states are per partition"
    );

    let trends = trends(&mut conn, Some(OsiLayer::L4), None, None, 5_000).expect("trends");
    assert_eq!(trends.len(), 1_200, "one trend per series and metric");
    let slope_of = |entity: &str| {
        trends
            .iter()
            .find(|t| t.entity == entity)
            .map(|t| t.slope_per_day)
    };
    assert_eq!(slope_of("e0000"), Some(0.0));
    assert_eq!(slope_of("e0001"), Some(3.0));
    assert_eq!(slope_of("e1199"), Some(1.0));
    let runways = runways(&mut conn, 5_000).expect("runways");
    assert_eq!(runways.len(), 600);
    let days_of = |entity: &str| {
        runways
            .iter()
            .find(|r| r.entity == entity)
            .map(|r| r.days_until_full)
    };
    assert_eq!(days_of("e0000"), Some(None));
    assert_eq!(days_of("e0599"), Some(Some(30.0)));
}
