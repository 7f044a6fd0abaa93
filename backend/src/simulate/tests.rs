//! The simulator against the parsers: what it writes is read back with zero errors, and the
//! scenario's incidents and growth show in the parsed measurements where the ground truth
//! says they are.

use layercast_shared::{Event, OsiLayer};

use super::model::Network;
use super::traffic::{MS_PER_DAY, MS_PER_HOUR, MS_PER_WEEK};
use super::*;
use crate::ingest::object;
use crate::ingest::parse::{self, Format};

/// 2026-11-23T00:00:00Z, a Monday.
const MONDAY_MS: i64 = 1_795_392_000_000;

/// The default scenario with a tenth of its requests, so that debug-mode tests stay fast.
fn quiet() -> Network {
    let mut net = parse_scenario(DEFAULT_SCENARIO).expect("default scenario");
    for s in &mut net.services {
        s.requests_per_s /= 10.0;
    }
    for r in &mut net.resolvers {
        r.queries_per_s /= 10.0;
    }
    net
}

fn expected_format(name: &str) -> Format {
    if name.contains("vpcflowlogs") {
        Format::VpcFlow
    } else if name.contains("elasticloadbalancing") {
        Format::Alb
    } else if name.contains("zeek") {
        Format::Zeek
    } else {
        assert!(name.contains("counters"), "{name}");
        Format::Counters
    }
}

/// Every event of every object, each object read with a fresh parser as the inbox does;
/// asserts that every object is recognised as its format and has no malformed line.
fn parse_all(sim: &mut Simulation) -> Vec<Event> {
    let mut events = Vec::new();
    while let Some(o) = sim.next_object() {
        let format = object::detect(&o.bytes);
        assert_eq!(format, Some(expected_format(&o.name)), "{}", o.name);
        let mut parser = parse::parser_for(expected_format(&o.name));
        let before = events.len();
        let report = parse::parse_object(parser.as_mut(), &o.bytes, &mut events);
        assert_eq!(report.error_count, 0, "{}: {:?}", o.name, report.errors);
        assert_eq!(report.records, o.records, "{}", o.name);
        assert!(
            events.len() > before || o.records == 0,
            "{} measured nothing",
            o.name
        );
    }
    events
}

fn files(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<_> = std::fs::read_dir(dir)
        .expect("dir")
        .map(|e| e.expect("entry"))
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).expect("file"),
            )
        })
        .collect();
    out.sort();
    out
}

fn options(out: &std::path::Path, seed: u64, hours: i64) -> Options {
    Options {
        out: out.to_owned(),
        truth: None,
        speed: Speed::Max,
        start_ms: MONDAY_MS,
        duration_ms: Some(hours * MS_PER_HOUR),
        seed,
    }
}

#[test]
fn same_seed_same_bytes_other_seed_other_bytes() {
    let dirs: Vec<_> = (0..3)
        .map(|_| tempfile::tempdir().expect("tempdir"))
        .collect();
    for (dir, seed) in dirs.iter().zip([7, 7, 8]) {
        let summary = run(quiet(), &options(dir.path(), seed, 1), &|| false).expect("run");
        assert!(summary.objects > 0 && summary.records > 0);
    }
    let [a, b, c] = [0, 1, 2].map(|i| files(dirs[i].path()));
    assert!(a.iter().any(|(name, _)| name == TRUTH_FILE));
    assert!(
        a.iter().any(|(name, _)| name.ends_with(".gz")),
        "some objects are gzip"
    );
    assert!(!a.iter().any(|(name, _)| name.ends_with(".tmp")));
    assert_eq!(a, b);
    let names = |x: &[(String, Vec<u8>)]| x.iter().map(|f| f.0.clone()).collect::<Vec<_>>();
    assert_eq!(names(&a), names(&c));
    assert_ne!(a, c);
}

#[test]
fn written_files_decode_and_parse_without_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    run(quiet(), &options(dir.path(), 1, 1), &|| false).expect("run");
    for (name, raw) in files(dir.path())
        .into_iter()
        .filter(|(n, _)| !n.starts_with('.'))
    {
        let (bytes, broken) = object::decode(raw);
        assert_eq!(broken, None, "{name}");
        let format = object::detect(&bytes).expect("recognised");
        assert_eq!(format, expected_format(&name), "{name}");
        let mut events: Vec<Event> = Vec::new();
        assert_eq!(
            object::parse(format, &bytes, &mut events).error_count,
            0,
            "{name}"
        );
    }
}

#[test]
fn s3_output_is_refused_clearly() {
    let e = run(
        quiet(),
        &options(std::path::Path::new("s3://bucket/inbox"), 1, 1),
        &|| false,
    );
    assert!(matches!(e, Err(SimError::S3Unsupported(_))));
}

/// (sum of `value` over events of `layer`/`entity` inside `[from, to)`, count), and outside.
fn inside_outside(
    events: &[Event],
    layer: OsiLayer,
    entity: &str,
    [from, to]: [i64; 2],
    value: impl Fn(&Event) -> Option<f64>,
) -> [(f64, f64); 2] {
    let mut acc = [(0.0, 0.0); 2];
    for e in events
        .iter()
        .filter(|e| e.layer == layer && e.entity == entity)
    {
        let ts = e.ts.timestamp_millis();
        let slot = usize::from(!(from..to).contains(&ts));
        if let Some(v) = value(e) {
            acc[slot].0 += v;
            acc[slot].1 += 1.0;
        }
    }
    acc
}

/// Errors per measurement inside the window over those outside it.
fn error_rates(events: &[Event], layer: OsiLayer, entity: &str, window: [i64; 2]) -> (f64, f64) {
    let [(ie, n_in), (oe, n_out)] =
        inside_outside(events, layer, entity, window, |e| Some(e.errors as f64));
    assert!(
        n_in > 0.0 && n_out > 0.0,
        "{layer:?} {entity}: {n_in} inside, {n_out} outside"
    );
    (ie / n_in, oe / n_out)
}

#[test]
fn incidents_show_where_and_when_the_ground_truth_says() {
    let net = quiet();
    let end = MONDAY_MS + 8 * MS_PER_HOUR;
    let truth = ground_truth(&net, 1, MONDAY_MS, Some(end));
    let events = parse_all(&mut Simulation::new(net, MONDAY_MS, Some(end), 1));
    let mut checked = 0;
    for incident in &truth.incidents {
        for effect in &incident.effects {
            let window = [effect.start_ms, effect.end_ms];
            for layer in &effect.layers {
                let layer: OsiLayer =
                    serde_json::from_value(serde_json::json!(layer)).expect("layer");
                for entity in &effect.entities {
                    if effect.measure == "latency" {
                        let [(li, ni), (lo, no)] =
                            inside_outside(&events, layer, entity, window, |e| e.latency_ms);
                        assert!(
                            li / ni > 3.0 * (lo / no),
                            "{entity}: latency {} inside, {} outside",
                            li / ni,
                            lo / no
                        );
                    } else {
                        let (inside, outside) = error_rates(&events, layer, entity, window);
                        assert!(
                            inside > 0.05 && inside > 20.0 * outside,
                            "{} {layer:?} {entity}: {inside} inside, {outside} outside",
                            incident.kind
                        );
                    }
                    checked += 1;
                }
            }
        }
    }
    // CRC: L1 + L2 + 2 × L4 + L7; TLS: 2 × L6 + L7; DNS: L7.
    assert_eq!(checked, 9);
}

#[test]
fn the_growing_link_grows_five_percent_a_week() {
    let mut net = quiet();
    // Only the counters matter here; without services, resolvers and incidents the other
    // producers write empty logs.
    net.services.clear();
    net.resolvers.clear();
    net.load_balancers.clear();
    net.incidents.clear();
    net.rolls.counters_poll_ms = 5 * 60_000;
    net.rolls.counters_object_ms = 6 * MS_PER_HOUR;
    for roll in [&mut net.rolls.flow_object_ms, &mut net.rolls.zeek_object_ms] {
        *roll = MS_PER_DAY;
    }
    let link = net
        .links
        .iter()
        .find(|l| l.growth_per_week > 0.0)
        .expect("a growing link")
        .entity();
    let weeks = 3;
    let end = MONDAY_MS + weeks * MS_PER_WEEK;
    let events = parse_all(&mut Simulation::new(net, MONDAY_MS, Some(end), 5));
    let week_bytes = |w: i64| -> f64 {
        events
            .iter()
            .filter(|e| e.layer == OsiLayer::L2 && e.entity == link)
            .filter(|e| {
                (MONDAY_MS + w * MS_PER_WEEK..MONDAY_MS + (w + 1) * MS_PER_WEEK)
                    .contains(&e.ts.timestamp_millis())
            })
            .map(|e| e.bytes as f64)
            .sum()
    };
    let weekly: Vec<f64> = (0..weeks).map(week_bytes).collect();
    for pair in weekly.windows(2) {
        let growth = pair[1] / pair[0] - 1.0;
        assert!((growth - 0.05).abs() < 0.01, "week over week {growth}");
    }
}
