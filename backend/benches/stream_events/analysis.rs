//! What the live analysis gets in the end-to-end benchmark: alert rules over the generated
//! entities (most never fire), capacities on some of them (so that their forecasters and
//! runways run too), and probes: entities whose traffic alternates, window by window, above
//! and below the probe rule's thresholds, so that each one's alert fires at one window's close
//! and resolves at the next. The probes' alerts are what the close → alert latency is measured
//! on. One probe (the default) gives one alert a close, about 67 in a 60-s run, so their p99
//! is their slowest; more probes give more alerts, but each adds an alert transition to every
//! close, which the 10,000 quiet series do not otherwise have (8 probes, whose keys put them on
//! all 4 partitions, took 0.15 of a core more on 2026-12-07).

use chrono::{TimeZone, Utc};
use layercast_shared::{Event, OsiLayer};
use serde_json::{json, Value};

use crate::stream_events::{entity, EventGen};

/// The probes: L3 entities no other rule's pattern matches.
pub const PROBE_LAYER: OsiLayer = OsiLayer::L3;
pub const PROBE_RULE: &str = "probe";
/// One record in this many is a probe's, the probes in turn (200 a window at 20,000 records a
/// second of event time and 10-s windows).
const PROBE_EVERY: u64 = 1_000;
/// Bytes of one probe record in a high and in a low window. One high record alone makes
/// 10^8 bytes/s in a 10-s window, over the fire threshold; 10,000 low ones stay under the
/// resolve threshold, so the alternation holds whatever the event rate.
const PROBE_HIGH_BYTES: u64 = 1_000_000_000;
const PROBE_LOW_BYTES: u64 = 1_000;
/// The probe rule's thresholds, in bytes per second.
const PROBE_FIRE: f64 = 5.0e7;
const PROBE_RESOLVE: f64 = 1.0e7;

/// The capacity set on each entity that gets one, in bytes per second: far above the
/// generated traffic (tens of kB/s), so the runway is long and no rule on it fires.
pub const CAPACITY_BYTES_PER_S: f64 = 1.0e9;

/// The background rules: (layer, entity pattern, metric, signal, op, fire, resolve, for_ms).
/// Patterns cover every generated entity on every layer, several rules per series; the
/// thresholds are out of the generated traffic's reach, so almost none fires (a short window
/// of a quiet entity can still cross an error-rate or anomaly threshold now and then). No
/// pattern matches `""`, the layer-wide series.
type RuleRow = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    f64,
    Option<f64>,
    i64,
);
// A table, one rule a line: rustfmt would give each field a line of its own.
#[rustfmt::skip]
const RULES: [RuleRow; 20] = [
    ("L2", "sw*", "bytes_per_s", "value", "above", 1e12, Some(5e11), 0),
    ("L3", "10.*", "bytes_per_s", "value", "above", 1e12, Some(5e11), 0),
    ("L4", "10.1.*", "error_rate", "value", "above", 0.9, Some(0.5), 60_000),
    ("L7", "alb/web-1*", "latency_p99_ms", "value", "above", 1e6, None, 0),
    ("L2", "sw1*", "packets_per_s", "value", "above", 1e9, None, 0),
    ("L3", "10.0.*", "bytes_per_s", "anomaly_score", "above", 0.9999, Some(0.5), 60_000),
    ("L4", "10.1.0.*", "bytes_per_s", "change_percent", "above", 1e6, None, 0),
    ("L7", "alb/*", "requests_per_s", "value", "above", 1e9, None, 0),
    ("L2", "sw?-eth*", "bytes_per_s", "runway_days", "below", 1.0, Some(2.0), 0),
    ("L3", "10.?.1*", "latency_p95_ms", "value", "above", 1e6, None, 0),
    ("L4", "10.1.1*", "bytes", "value", "above", 1e15, None, 0),
    ("L7", "alb/web-?>*", "error_rate", "value", "above", 0.99, Some(0.5), 600_000),
    ("L2", "sw2*", "latency_p50_ms", "value", "above", 1e6, None, 0),
    ("L3", "10.6.*", "errors", "value", "above", 1e9, None, 0),
    ("L4", "*>10.2.0.1:443/tcp", "connections", "value", "above", 1e9, None, 0),
    ("L7", "alb/web-19>*", "bytes_per_s", "value", "above", 1e12, None, 0),
    ("L2", "sw3*-eth4?", "requests", "value", "above", 1e9, None, 0),
    ("L3", "10.5.2*", "packets", "value", "above", 1e12, None, 0),
    ("L4", "10.1.2*", "latency_p99_ms", "value", "above", 1e7, None, 0),
    ("L7", "alb/web-0>*", "bytes_per_s", "anomaly_score", "above", 0.9999, None, 300_000),
];

/// `n` background rules (the table above, repeated under new ids past 20), as `POST
/// /api/rules` takes them.
pub fn rules(n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| {
            let (layer, entity, metric, signal, op, fire, resolve, for_ms) = RULES[i % RULES.len()];
            json!({
                "id": format!("r{i}"),
                "layer": layer,
                "entity": entity,
                "metric": metric,
                "condition": {"signal": signal, "op": op, "fire": fire, "resolve": resolve},
                "for_ms": for_ms,
            })
        })
        .collect()
}

pub fn probe_entity(i: u64) -> String {
    format!("probe-{i}")
}

pub fn is_probe(entity: &str) -> bool {
    entity.starts_with("probe-")
}

/// The probe rule: fires when a probe's bytes/s rise over [`PROBE_FIRE`], resolves when they
/// fall under [`PROBE_RESOLVE`], at once (`for_ms` 0).
pub fn probe_rule() -> Value {
    json!({
        "id": PROBE_RULE,
        "layer": PROBE_LAYER.as_str(),
        "entity": "probe-*",
        "metric": "bytes_per_s",
        "condition": {"signal": "value", "op": "above", "fire": PROBE_FIRE, "resolve": PROBE_RESOLVE},
        "for_ms": 0,
    })
}

/// `n` L2 entities of the generator's (names without a slash, so they go into a path as they
/// are), each with a capacity of [`CAPACITY_BYTES_PER_S`] in `bytes_per_s`.
pub fn capacity_entities(n: usize, entities: u64) -> Vec<String> {
    (0..entities)
        .map(entity)
        .filter(|(layer, _)| *layer == OsiLayer::L2)
        .take(n)
        .map(|(_, name)| name)
        .collect()
}

/// The body of `PUT /api/capacities/L2/<entity>` for each of [`capacity_entities`].
pub fn capacity_body() -> Value {
    json!({"metric": "bytes_per_s", "capacity": CAPACITY_BYTES_PER_S})
}

/// The generator's records with the probes' among them: one in [`PROBE_EVERY`], at the newest
/// event time seen (never late, never in the previous window), high in windows of even index
/// and low in odd ones.
pub struct Probed {
    events: EventGen,
    probes: u64,
    window_ms: i64,
    n: u64,
    newest_ms: i64,
}

impl Probed {
    pub fn new(events: EventGen, probes: u64, window_ms: i64) -> Self {
        Probed {
            events,
            probes: probes.max(1),
            window_ms: window_ms.max(1),
            n: 0,
            newest_ms: i64::MIN,
        }
    }

    pub fn next_event(&mut self) -> Event {
        self.n += 1;
        if self.n.is_multiple_of(PROBE_EVERY) && self.newest_ms != i64::MIN {
            let high = self.newest_ms.div_euclid(self.window_ms) % 2 == 0;
            let bytes = if high {
                PROBE_HIGH_BYTES
            } else {
                PROBE_LOW_BYTES
            };
            return Event {
                ts: Utc
                    .timestamp_millis_opt(self.newest_ms)
                    .single()
                    .expect("in range"),
                layer: PROBE_LAYER,
                entity: probe_entity(self.n / PROBE_EVERY % self.probes),
                bytes,
                packets: 1 + bytes / 1_000,
                connections: 0,
                requests: 0,
                errors: 0,
                latency_ms: None,
                error_class: None,
            };
        }
        let event = self.events.next_event();
        self.newest_ms = self.newest_ms.max(event.ts.timestamp_millis());
        event
    }
}
