//! The simulator's growth scenario, replayed: the runway of the growing link within 10% of the
//! ground truth (issue 6).

use super::*;
use crate::simulate::{self, Speed};

const DAY_MS: i64 = 86_400_000;

/// One 40 Gbps link at 55% mean utilisation growing 5% a week (compounded), a daily cycle of
/// ±40%, no weekend dip, 5% noise.
const SCENARIO: &str = r#"
name = "growth"

[traffic]
daily_amplitude = 0.4
peak_hour_utc = 14.0
weekend_factor = 1.0
noise = 0.05

[rolls]
counters_poll = "30s"
counters_object = "1h"
flow_aggregation = "1m"
flow_object = "5m"
alb_object = "5m"
zeek_object = "5m"

[[links]]
site = "fra1"
switch = "fra1-spine1"
port = "et49"
speed_gbps = 40.0
utilisation = 0.55
growth_per_week = 0.05
"#;

#[test]
fn growth_scenario_runway_within_10_percent_of_the_truth() {
    let dir = tempfile::tempdir().expect("dir");
    let net = simulate::parse_scenario(SCENARIO).expect("scenario");
    let options = simulate::Options {
        out: dir.path().to_owned(),
        truth: None,
        speed: Speed::Max,
        start_ms: 1_793_577_600_000, // 2026-11-02T00:00:00Z, a Monday
        duration_ms: Some(10 * DAY_MS),
        seed: 3,
    };
    simulate::run(net, &options, &|| false).expect("simulate");
    let truth: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.path().join(simulate::TRUTH_FILE)).expect("truth file"),
    )
    .expect("truth json");
    let end_ms = truth["end_ms"].as_i64().expect("end");
    let growth = &truth["growth"][0];
    let peak_ms = growth["peak_reaches_capacity_ms"].as_i64().expect("peak");
    // Line rate inbound in bytes/s; the L2 series counts in + out, out being 0.8 × in.
    let capacity = growth["capacity_bps"].as_f64().expect("capacity") / 8.0 * 1.8;
    let files = collect_files(&[dir.path().to_owned()]).expect("walk");
    let capacities = vec![Capacity {
        layer: OsiLayer::L2,
        entity: "fra1-spine1/et49".into(),
        bytes_per_s: capacity,
    }];
    let (report, failures) = replay(
        &files,
        &ReplayOptions {
            capacities,
            ..ReplayOptions::default()
        },
    );
    assert!(failures.is_empty());
    let runway = &report.runway[0];
    let true_days = (peak_ms - end_ms) as f64 / DAY_MS as f64;
    let days = runway.days_until_full.expect("a runway");
    let error = (days - true_days).abs() / true_days;
    eprintln!(
        "runway {days:.2} d, truth {true_days:.2} d, error {:.1}%",
        100.0 * error
    );
    assert!(error <= 0.10, "runway {days} d vs truth {true_days} d");
}
