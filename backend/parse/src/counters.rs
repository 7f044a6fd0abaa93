//! Interface counters of switches and routers: one JSON sample per line, as an SNMP (IF-MIB)
//! or gNMI (openconfig-interfaces) exporter writes them. The counters only grow; this parser
//! remembers the last sample of every interface and turns each new one into what happened in
//! between.
//!
//! # Format
//!
//! ```json
//! {"ts":"2026-11-25T10:00:00Z","device":"sw1","interface":"et3","speed_bps":10000000000,
//!  "in_octets":81723,"out_octets":9120,"in_pkts":120,"out_pkts":97,"in_errors":0,
//!  "out_errors":0,"in_discards":0,"out_discards":0,"crc_errors":0,"oper_status":"up"}
//! ```
//!
//! | field | meaning | IF-MIB / openconfig |
//! |---|---|---|
//! | `ts` | sample time: RFC 3339 text, or integer milliseconds since the epoch | poll time / notification timestamp |
//! | `device`, `interface` | required, non-empty; the entity is `device/interface` | sysName, ifName / `name` |
//! | `speed_bps` | optional, bits per second; 0 = unknown | ifHighSpeed × 10⁶ / `state/port-speed` |
//! | `in_octets`, `out_octets` | octets | ifHCInOctets, ifHCOutOctets / `in-octets` |
//! | `in_pkts`, `out_pkts` | frames (unicast + multicast + broadcast) | ifHCIn{Ucast,Multicast,Broadcast}Pkts / `in-pkts` |
//! | `in_errors`, `out_errors` | frames in error | ifInErrors, ifOutErrors / `in-errors` |
//! | `in_discards`, `out_discards` | frames dropped without error (buffers full) | ifInDiscards / `in-discards` |
//! | `crc_errors` | frames with a bad FCS | dot3StatsFCSErrors / `in-fcs-errors` |
//! | `oper_status` | `up`, `down`, `testing`, `unknown`, `dormant`, `notPresent`, `lowerLayerDown` (any case, `_` allowed), or IF-MIB's code 1–7 | ifOperStatus / `oper-status` |
//! | `last_change_ms` | optional: when the status last changed (any clock, only compared) | ifLastChange / `last-change` |
//! | `uptime_ms` | optional: the device's uptime; must not wrap (a decrease means a restart) | sysUpTime, hrSystemUptime |
//! | `counter_bits` | optional: `32` or `64`; absent means "judge by value" (below) | ifInOctets vs ifHCInOctets |
//!
//! Every counter is optional (`null` or missing); a counter gives a delta when it is in this
//! sample and was in an earlier one of the interface. Other fields are refused, so that a typo
//! (`in_octet`) is an error, not a counter silently missing.
//!
//! # What a sample measures
//!
//! The first sample of an interface measures nothing. Each later one, at its own `ts`, for
//! `device/interface` (the switch port, what a planner sizes and what has a line rate):
//!
//! - **L2**: bytes = Δin_octets + Δout_octets, packets = Δin_pkts + Δout_pkts, errors =
//!   Δ(in/out errors + in/out discards), class [`ErrorClass::FrameDrop`].
//! - **L1**, when the sample has `crc_errors` or `oper_status`: errors = Δcrc_errors + one per
//!   link flap, class [`ErrorClass::PhysicalError`]. A flap is up → not up, or up → up with a
//!   changed `last_change_ms` (down and up again between two polls). Most platforms count CRC
//!   errors in `in_errors` as well: L2 sees the frames lost, L1 the physical cause.
//!
//! # Wraps and resets
//!
//! When `uptime_ms` goes down, the device restarted: a **reset**. When a counter is lower than
//! before, either it wrapped or the device (or its counters) restarted. A **wrap** is taken
//! when both of these hold, else a **reset**:
//!
//! - the counter's width allows it: `counter_bits`, or when absent 32 bits if both values fit
//!   in 32 bits, else 64;
//! - the wrapped delta is less than half the counter's range (serial-number arithmetic, RFC
//!   1982: a counter polled so rarely that it could pass half its range cannot be read at all),
//!   and, when `speed_bps` is known, no more than line rate over the interval (+10%).
//!
//! On a reset the interval is **skipped** and the new values become the baseline (a link flap
//! the status shows is still reported). Counting the new values as "traffic since the
//! restart", as Prometheus's `rate()` does, assumes counters restart at zero exactly when the
//! device does; after `clear counters`, an agent restart or an interface re-created with a
//! different counter, that is a spike that never happened. A planner's trend and runway
//! forecast are hurt more by a false spike than by one interval missing.
//!
//! A sample not newer than the interface's last one is refused (out of order or repeated);
//! the state is left as it was.
//!
//! # State across objects
//!
//! The state is per parser. An exporter writes one object per few minutes, so a fresh parser
//! per object would lose the first interval of every interface in every object: keep one
//! parser per source and feed it the objects in order.

use std::borrow::Cow;
use std::collections::HashMap;

use layercast_shared::OsiLayer;
use serde::Deserialize;

use super::ndjson::MAX_ENTITY_BYTES;
use super::{ErrorClass, Format, LineOutcome, Measurement, RecordParser, Sink};

/// Headroom over line rate for a wrapped delta, in percent: the poll time an exporter stamps
/// and the moment the device read its counters differ by up to a few seconds.
const LINE_RATE_SLACK_PCT: u128 = 10;
/// The smallest Ethernet frame on the wire, in bytes: 64 + preamble 8 + inter-frame gap 12.
/// At most line rate / this many frames (or errors) per second.
const MIN_FRAME_WIRE_BYTES: u128 = 84;

/// The counters, by index into [`Interface::counters`].
const COUNTERS: usize = 9;
const IN_OCTETS: usize = 0;
const OUT_OCTETS: usize = 1;
const IN_PKTS: usize = 2;
const OUT_PKTS: usize = 3;
const IN_ERRORS: usize = 4;
const OUT_ERRORS: usize = 5;
const IN_DISCARDS: usize = 6;
const OUT_DISCARDS: usize = 7;
const CRC_ERRORS: usize = 8;
/// The counters that make the L2 measurement.
const L2_COUNTERS: std::ops::Range<usize> = IN_OCTETS..CRC_ERRORS;

/// One line as exporters write it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Sample<'a> {
    ts: Timestamp,
    #[serde(borrow)]
    device: Cow<'a, str>,
    #[serde(borrow)]
    interface: Cow<'a, str>,
    speed_bps: Option<u64>,
    counter_bits: Option<u32>,
    uptime_ms: Option<u64>,
    in_octets: Option<u64>,
    out_octets: Option<u64>,
    in_pkts: Option<u64>,
    out_pkts: Option<u64>,
    in_errors: Option<u64>,
    out_errors: Option<u64>,
    in_discards: Option<u64>,
    out_discards: Option<u64>,
    crc_errors: Option<u64>,
    oper_status: Option<Status>,
    last_change_ms: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Timestamp {
    Millis(i64),
    Text(String),
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Status {
    Code(u64),
    Name(String),
}

impl Timestamp {
    fn millis(&self) -> Result<i64, String> {
        match self {
            Timestamp::Millis(ms) => Ok(*ms),
            Timestamp::Text(s) => chrono::DateTime::parse_from_rfc3339(s)
                .map(|t| t.timestamp_millis())
                .map_err(|e| format!("ts {s:?} is not RFC 3339: {e}")),
        }
    }
}

impl Status {
    /// Whether the link is up; IF-MIB's names and codes, openconfig's upper-case names.
    fn is_up(&self) -> Result<bool, String> {
        match self {
            Status::Code(1) => Ok(true),
            Status::Code(2..=7) => Ok(false),
            Status::Code(c) => Err(format!("oper_status {c} is not an IF-MIB status (1-7)")),
            Status::Name(name) => match name.replace('_', "").to_ascii_lowercase().as_str() {
                "up" => Ok(true),
                "down" | "testing" | "unknown" | "dormant" | "notpresent" | "lowerlayerdown" => {
                    Ok(false)
                }
                _ => Err(format!("oper_status {name:?} is not an interface status")),
            },
        }
    }
}

/// How wide the counters of a sample are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Width {
    Bits32,
    Bits64,
    /// Not said: 32 bits when both values fit, else 64.
    ByValue,
}

/// What the parser remembers of an interface.
#[derive(Debug, Clone)]
struct Interface {
    ts_ms: i64,
    /// The last value seen of each counter (kept when a sample leaves one out, so that no
    /// traffic is lost: the next delta spans both intervals).
    counters: [Option<u64>; COUNTERS],
    up: Option<bool>,
    last_change_ms: Option<u64>,
    uptime_ms: Option<u64>,
}

/// What happened to the counters over the parser's life, for the report and the tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CounterStats {
    /// Samples that started an interface (no measurement).
    pub first_samples: u64,
    /// Intervals in which at least one counter wrapped (measured).
    pub wraps: u64,
    /// Intervals skipped because the counters restarted.
    pub resets: u64,
}

/// Turns counter samples into per-interval deltas. Keep one per source across its objects.
#[derive(Debug, Default)]
pub struct CountersParser {
    interfaces: HashMap<String, Interface>,
    /// `device/interface` of the line at hand, reused so that a known interface costs no
    /// allocation.
    key: String,
    stats: CounterStats,
}

impl CountersParser {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn stats(&self) -> CounterStats {
        self.stats
    }
}

impl RecordParser for CountersParser {
    fn format(&self) -> Format {
        Format::Counters
    }

    fn line(&mut self, line: &[u8], sink: &mut dyn Sink) -> Result<LineOutcome, String> {
        if line.iter().all(u8::is_ascii_whitespace) {
            return Ok(LineOutcome::Skipped);
        }
        let s: Sample<'_> =
            serde_json::from_slice(line).map_err(|e| format!("not a counter sample: {e}"))?;
        let ts_ms = s.ts.millis()?;
        if s.device.is_empty() || s.interface.is_empty() {
            return Err("device and interface must not be empty".into());
        }
        let width = match s.counter_bits {
            None => Width::ByValue,
            Some(32) => Width::Bits32,
            Some(64) => Width::Bits64,
            Some(b) => return Err(format!("counter_bits {b} is neither 32 nor 64")),
        };
        let values = [
            s.in_octets,
            s.out_octets,
            s.in_pkts,
            s.out_pkts,
            s.in_errors,
            s.out_errors,
            s.in_discards,
            s.out_discards,
            s.crc_errors,
        ];
        if width == Width::Bits32 {
            if let Some(v) = values.iter().flatten().find(|&&v| v > u64::from(u32::MAX)) {
                return Err(format!(
                    "counter value {v} does not fit the declared 32 bits"
                ));
            }
        }
        let up = s.oper_status.as_ref().map(Status::is_up).transpose()?;
        self.key.clear();
        self.key.push_str(&s.device);
        self.key.push('/');
        self.key.push_str(&s.interface);
        if self.key.len() > MAX_ENTITY_BYTES {
            return Err(format!(
                "entity is {} bytes long (at most {MAX_ENTITY_BYTES})",
                self.key.len()
            ));
        }
        let now = Interface {
            ts_ms,
            counters: values,
            up,
            last_change_ms: s.last_change_ms,
            uptime_ms: s.uptime_ms,
        };

        let Some(prev) = self.interfaces.get_mut(self.key.as_str()) else {
            self.interfaces.insert(self.key.clone(), now);
            self.stats.first_samples += 1;
            return Ok(LineOutcome::Record);
        };
        if ts_ms <= prev.ts_ms {
            return Err(format!(
                "sample of {} at {} is not newer than its last one at {}",
                self.key,
                show(ts_ms),
                show(prev.ts_ms)
            ));
        }
        let interval = Interval {
            dt_ms: ts_ms.saturating_sub(prev.ts_ms).unsigned_abs(),
            speed_bps: s.speed_bps.filter(|&b| b > 0),
            width,
            restarted: matches!((prev.uptime_ms, now.uptime_ms), (Some(a), Some(b)) if b < a),
        };
        let deltas = interval.deltas(&prev.counters, &now.counters);
        let flaps = u64::from(match (prev.up, now.up) {
            (Some(true), Some(false)) => true,
            (Some(true), Some(true)) => {
                matches!((prev.last_change_ms, now.last_change_ms), (Some(a), Some(b)) if a != b)
            }
            _ => false,
        });
        let status_known = prev.up.is_some() && now.up.is_some();
        if deltas.is_some() {
            for (kept, new) in prev.counters.iter_mut().zip(now.counters) {
                if new.is_some() {
                    *kept = new;
                }
            }
        } else {
            // After a restart the old values mean nothing, also those this sample leaves out.
            prev.counters = now.counters;
        }
        prev.ts_ms = now.ts_ms;
        prev.up = now.up.or(prev.up);
        prev.last_change_ms = now.last_change_ms.or(prev.last_change_ms);
        prev.uptime_ms = now.uptime_ms.or(prev.uptime_ms);

        let entity = self.key.as_str();
        let Some(deltas) = deltas else {
            self.stats.resets += 1;
            if flaps > 0 {
                sink.measurement(&physical(ts_ms, entity, flaps));
            }
            return Ok(LineOutcome::Record);
        };
        if deltas.iter().any(|d| d.wrapped) {
            self.stats.wraps += 1;
        }
        let sum = |idx: &[usize]| {
            idx.iter()
                .filter_map(|&i| deltas[i].value)
                .fold(0_u64, u64::saturating_add)
        };
        if L2_COUNTERS.clone().any(|i| deltas[i].value.is_some()) {
            let mut m = Measurement::new(ts_ms, OsiLayer::L2, entity);
            m.bytes = sum(&[IN_OCTETS, OUT_OCTETS]);
            m.packets = sum(&[IN_PKTS, OUT_PKTS]);
            m.errors = sum(&[IN_ERRORS, OUT_ERRORS, IN_DISCARDS, OUT_DISCARDS]);
            m.error_class = (m.errors > 0).then_some(ErrorClass::FrameDrop);
            sink.measurement(&m);
        }
        if deltas[CRC_ERRORS].value.is_some() || status_known {
            sink.measurement(&physical(
                ts_ms,
                entity,
                sum(&[CRC_ERRORS]).saturating_add(flaps),
            ));
        }
        Ok(LineOutcome::Record)
    }
}

/// A time as an error message shows it.
fn show(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map_or_else(|| format!("{ms} ms"), |t| t.to_rfc3339())
}

fn physical(ts_ms: i64, entity: &str, errors: u64) -> Measurement<'_> {
    let mut m = Measurement::new(ts_ms, OsiLayer::L1, entity);
    m.errors = errors;
    m.error_class = (errors > 0).then_some(ErrorClass::PhysicalError);
    m
}

/// The change of one counter over an interval.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Delta {
    /// `None` when the counter is missing from either end.
    value: Option<u64>,
    wrapped: bool,
}

/// What is known about the time between two samples of an interface.
#[derive(Debug, Clone, Copy)]
struct Interval {
    dt_ms: u64,
    speed_bps: Option<u64>,
    width: Width,
    /// The device's uptime went down.
    restarted: bool,
}

impl Interval {
    /// The deltas of all counters, or `None` when the counters restarted: the uptime went
    /// down, or a counter went down and could not have wrapped.
    fn deltas(
        &self,
        old: &[Option<u64>; COUNTERS],
        new: &[Option<u64>; COUNTERS],
    ) -> Option<[Delta; COUNTERS]> {
        if self.restarted {
            return None;
        }
        let mut out = [Delta::default(); COUNTERS];
        for (i, slot) in out.iter_mut().enumerate() {
            let (Some(a), Some(b)) = (old[i], new[i]) else {
                continue;
            };
            *slot = if b >= a {
                Delta {
                    value: Some(b - a),
                    wrapped: false,
                }
            } else {
                let ceiling = self.ceiling(i < IN_PKTS);
                Delta {
                    value: Some(self.wrapped(a, b, ceiling)?),
                    wrapped: true,
                }
            };
        }
        Some(out)
    }

    /// The delta of a counter that went from `a` down to `b`, if a wrap explains it.
    fn wrapped(&self, a: u64, b: u64, ceiling: Option<u128>) -> Option<u64> {
        let fits32 = |v: u64| v <= u64::from(u32::MAX);
        let bits = match self.width {
            Width::Bits32 => 32,
            Width::Bits64 => 64,
            Width::ByValue if fits32(a) && fits32(b) => 32,
            Width::ByValue => 64,
        };
        let range = 1_u128 << bits;
        // A value that does not fit the declared width cannot have wrapped within it (found
        // by the fuzzer: a 33-bit value, then `counter_bits: 32`).
        if u128::from(a) >= range || u128::from(b) >= range {
            return None;
        }
        let delta = range - u128::from(a) + u128::from(b);
        if delta >= range / 2 || ceiling.is_some_and(|c| delta > c) {
            return None;
        }
        u64::try_from(delta).ok()
    }

    /// The most an octet (or frame) counter can grow over the interval at line rate.
    fn ceiling(&self, octets: bool) -> Option<u128> {
        const MS_PER_S: u128 = 1000;
        const BITS_PER_BYTE: u128 = 8;
        // Saturating: a year-long interval at an absurd speed is "no ceiling", not a panic.
        let bits = u128::from(self.speed_bps?)
            .saturating_mul(u128::from(self.dt_ms))
            .saturating_mul(100 + LINE_RATE_SLACK_PCT)
            / (100 * MS_PER_S);
        let bytes = bits / BITS_PER_BYTE;
        Some(if octets {
            bytes
        } else {
            bytes / MIN_FRAME_WIRE_BYTES
        })
    }
}

/// Whether the first non-blank line is a counter sample with at least one counter or status.
pub fn sniff(first_lines: &[&[u8]]) -> bool {
    let Some(line) = first_lines
        .iter()
        .find(|l| !l.iter().all(u8::is_ascii_whitespace))
    else {
        return false;
    };
    serde_json::from_slice::<Sample<'_>>(line).is_ok_and(|s| {
        s.oper_status.is_some()
            || [
                s.in_octets,
                s.out_octets,
                s.in_pkts,
                s.out_pkts,
                s.in_errors,
                s.out_errors,
            ]
            .iter()
            .chain([s.in_discards, s.out_discards, s.crc_errors].iter())
            .any(Option::is_some)
    })
}

#[cfg(test)]
mod tests;
