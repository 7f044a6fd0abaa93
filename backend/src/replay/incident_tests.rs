//! Replaying the simulator's built-in scenario finds each incident of its ground truth, on
//! the right layer and entity, at about the right time.

use std::collections::BTreeSet;

use layercast_shared::OsiLayer;

use super::{collect_files, replay, ReplayOptions};
use crate::simulate::{self, Options, Speed};

/// 2026-11-23T00:00:00Z, a Monday.
const START_MS: i64 = 1_795_392_000_000;
/// Long enough for every incident of the built-in scenario (the last ends at 6 h 20 min).
const DURATION_MS: i64 = (6 * 60 + 40) * 60_000;
/// How late after its true start an incident may be raised: the windows are a minute wide,
/// and the slower layers (flow logs aggregate a minute, then roll every five) take a few.
const LATE_MS: i64 = 3 * 60_000;

#[test]
fn every_simulated_incident_is_found_on_its_layer_and_entity_in_time() {
    let dir = tempfile::tempdir().expect("dir");
    let net = simulate::parse_scenario(simulate::DEFAULT_SCENARIO).expect("built-in scenario");
    let truth = simulate::ground_truth(&net, 7, START_MS, Some(START_MS + DURATION_MS));
    let options = Options {
        out: dir.path().to_owned(),
        truth: None,
        speed: Speed::Max,
        start_ms: START_MS,
        duration_ms: Some(DURATION_MS),
        seed: 7,
    };
    simulate::run(net, &options, &|| false).expect("simulate");

    let files = collect_files(&[dir.path().to_owned()]).expect("files");
    let (report, failures) = replay(&files, &ReplayOptions::default());
    assert!(failures.is_empty());
    assert_eq!(report.errors_total, 0);

    let mut expected = 0;
    for incident in &truth.incidents {
        for effect in &incident.effects {
            for layer in &effect.layers {
                let layer: OsiLayer = layer.parse().expect("layer");
                for entity in &effect.entities {
                    expected += 1;
                    let found = report.incidents.iter().find(|i| {
                        i.layer == layer
                            && &i.entity == entity
                            && i.at_ms >= effect.start_ms - 60_000
                            && i.at_ms <= effect.start_ms + LATE_MS
                    });
                    assert!(
                        found.is_some(),
                        "{} ({}) on {layer} {entity} from {}: not found; raised: {:#?}",
                        incident.what,
                        effect.measure,
                        effect.start,
                        report.incidents
                    );
                }
            }
        }
    }
    assert!(expected >= 9, "the built-in scenario has its incidents");
    // Nothing is raised before the first incident starts (2 h in): the detectors warm up
    // quietly and a healthy network raises nothing.
    let first = truth
        .incidents
        .iter()
        .flat_map(|i| &i.effects)
        .map(|e| e.start_ms)
        .min();
    let early: BTreeSet<_> = report
        .incidents
        .iter()
        .filter(|i| first.is_some_and(|f| i.at_ms < f - 60_000))
        .map(|i| format!("{} {} {} at {}", i.layer, i.entity, i.metric, i.at))
        .collect();
    assert!(early.is_empty(), "raised on a healthy network: {early:#?}");
}
