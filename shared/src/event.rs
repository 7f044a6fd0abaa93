use chrono::{DateTime, TimeZone, Utc};
use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use crate::OsiLayer;

/// Version of [`EventMsg`], the payload of `layercast.events`.
pub const EVENT_VERSION: u16 = 1;

/// One measurement record in LayerCast's native format: a line of an NDJSON file in the inbox,
/// and (wrapped in [`EventMsg`]) a record on `layercast.events`.
///
/// ```json
/// {"ts":"2026-11-25T10:00:03.250Z","layer":"L3","entity":"10.0.0.1>10.0.0.2","bytes":1500,"packets":2}
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Event {
    /// Event time: RFC 3339 text, or an integer of milliseconds since the Unix epoch.
    #[serde(deserialize_with = "de_timestamp")]
    pub ts: DateTime<Utc>,
    pub layer: OsiLayer,
    /// What the measurement is about, as a planner names it: an interface, an address pair,
    /// a load balancer and target, a service, a resolver.
    pub entity: String,
    // The measurements this record gives for its layer; absent ones are zero (or no latency).
    // Inline rather than a flattened struct, because serde cannot refuse unknown fields
    // through `flatten`, and a typo such as `byts` must be an error, not a silent zero.
    #[serde(default)]
    pub bytes: u64,
    #[serde(default)]
    pub packets: u64,
    #[serde(default)]
    pub connections: u64,
    #[serde(default)]
    pub requests: u64,
    #[serde(default)]
    pub errors: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<f64>,
    /// What kind of error `errors` counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_class: Option<ErrorClass>,
}

/// Why an error happened, in the words a planner filters by. Closed set: the dashboard and
/// alerts group by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// L1: CRC/FCS/alignment errors, link flaps.
    PhysicalError,
    /// L2: interface errors and discards.
    FrameDrop,
    /// L3: traffic rejected by a security group or ACL (flow logs' REJECT).
    Rejected,
    /// L4: connection attempts without an answer or refused (Zeek S0, REJ; TCP RST).
    FailedHandshake,
    /// L4: connections reset or abandoned after they were set up.
    ConnectionReset,
    /// L6: TLS handshake failures (ALB/NLB TLS errors, Zeek ssl not established).
    TlsFailure,
    /// L7: 4xx answers.
    ClientError,
    /// L7: 5xx answers, and load-balancer errors (ALB 502/503/504, `-1` processing times).
    ServerError,
    /// L7: DNS SERVFAIL.
    DnsServfail,
    /// L7: DNS NXDOMAIN.
    DnsNxdomain,
    /// Zeek weird.log entries.
    ProtocolAnomaly,
}

impl ErrorClass {
    pub fn name(self) -> &'static str {
        match self {
            ErrorClass::PhysicalError => "physical_error",
            ErrorClass::FrameDrop => "frame_drop",
            ErrorClass::Rejected => "rejected",
            ErrorClass::FailedHandshake => "failed_handshake",
            ErrorClass::ConnectionReset => "connection_reset",
            ErrorClass::TlsFailure => "tls_failure",
            ErrorClass::ClientError => "client_error",
            ErrorClass::ServerError => "server_error",
            ErrorClass::DnsServfail => "dns_servfail",
            ErrorClass::DnsNxdomain => "dns_nxdomain",
            ErrorClass::ProtocolAnomaly => "protocol_anomaly",
        }
    }
}

/// The versioned payload of a record on `layercast.events` (key: the entity).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventMsg {
    pub v: u16,
    pub event: Event,
    /// What produced the record (a log format such as `vpc-flow`, or a name a producer of
    /// its own picks): each source may have its own allowed out-of-orderness
    /// (`windows.sources`). Absent: the default source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The object the record was read from and its number there, set by LayerCast's own
    /// sources (the inbox): a record produced again after a crash is counted once. Absent:
    /// every record counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<Origin>,
}

/// Where a record was read from. A source that stopped in the middle of an object (a crash, a
/// lost claim) is resumed from the last record the broker acknowledged before its progress was
/// saved, so the records after it may be on the topic twice; the partitions count each
/// (object, seq) once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    /// The object within its source, with what tells its versions apart: `inbox/flows.log`.
    pub object: String,
    /// The record's number within the object, from 0, in the order the object holds them.
    pub seq: u64,
}

impl EventMsg {
    pub fn new(event: Event) -> Self {
        EventMsg {
            v: EVENT_VERSION,
            event,
            source: None,
            origin: None,
        }
    }

    /// The same record, marked with where it was read from.
    pub fn with_origin(self, origin: Origin) -> Self {
        EventMsg {
            origin: Some(origin),
            ..self
        }
    }

    pub fn from_source(event: Event, source: &str) -> Self {
        EventMsg {
            source: Some(source.to_owned()),
            ..EventMsg::new(event)
        }
    }
}

fn de_timestamp<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
    d.deserialize_any(TimestampVisitor)
}

/// Reads the number or the text as it comes: an untagged enum would buffer every record's
/// value and build (and throw away) an error for the variant it tries first: 13% of the
/// stream thread's time in a profile of `serve` under the end-to-end benchmark.
struct TimestampVisitor;

impl<'de> Visitor<'de> for TimestampVisitor {
    type Value = DateTime<Utc>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("RFC 3339 text or an integer of milliseconds since the Unix epoch")
    }

    fn visit_i64<E: de::Error>(self, ms: i64) -> Result<Self::Value, E> {
        Utc.timestamp_millis_opt(ms)
            .single()
            .ok_or_else(|| E::custom(format!("timestamp {ms} ms is out of range")))
    }

    fn visit_u64<E: de::Error>(self, ms: u64) -> Result<Self::Value, E> {
        let ms = i64::try_from(ms)
            .map_err(|_| E::custom(format!("timestamp {ms} ms is out of range")))?;
        self.visit_i64(ms)
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
        DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| E::custom(format!("timestamp {s:?} is not RFC 3339: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_text_and_millisecond_timestamps_alike() {
        let a: Event = serde_json::from_str(
            r#"{"ts":"2026-11-25T10:00:03.250Z","layer":"L3","entity":"a>b","bytes":10}"#,
        )
        .expect("text timestamp");
        let b: Event =
            serde_json::from_str(r#"{"ts":1795600803250,"layer":"L3","entity":"a>b","bytes":10}"#)
                .expect("millisecond timestamp");
        assert_eq!(a.ts, b.ts);
        assert_eq!(a.bytes, 10);
        assert_eq!(a.packets, 0);
    }

    #[test]
    fn a_bad_timestamp_is_an_error_that_says_why() {
        let err = |ts: &str| {
            serde_json::from_str::<Event>(&format!(r#"{{"ts":{ts},"layer":"L3","entity":"x"}}"#))
                .expect_err(ts)
                .to_string()
        };
        assert!(err(r#""yesterday""#).contains("is not RFC 3339"));
        assert!(err("99999999999999999").contains("out of range"));
        assert!(err("18446744073709551615").contains("out of range"));
        assert!(err("1.5").contains("RFC 3339 text or an integer"));
        assert!(err("null").contains("RFC 3339 text or an integer"));
    }

    #[test]
    fn refuses_unknown_fields_and_bad_layers() {
        let typo = r#"{"ts":0,"layer":"L3","entity":"x","byts":1}"#;
        assert!(serde_json::from_str::<Event>(typo).is_err());
        let layer = r#"{"ts":0,"layer":"L9","entity":"x"}"#;
        assert!(serde_json::from_str::<Event>(layer).is_err());
    }

    #[test]
    fn round_trips_through_the_topic_payload() {
        let e: Event = serde_json::from_str(
            r#"{"ts":1000,"layer":"L7","entity":"svc","requests":3,"latency_ms":12.5}"#,
        )
        .expect("event");
        let wire = serde_json::to_string(&EventMsg::new(e.clone())).expect("encode");
        let back: EventMsg = serde_json::from_str(&wire).expect("decode");
        assert_eq!(back.v, EVENT_VERSION);
        assert_eq!(back.event, e);
        assert_eq!(back.source, None);
        assert!(!wire.contains("source"), "{wire}");
        let from_flow: EventMsg = serde_json::from_str(
            &serde_json::to_string(&EventMsg::from_source(e, "vpc-flow")).expect("encode"),
        )
        .expect("decode");
        assert_eq!(from_flow.source.as_deref(), Some("vpc-flow"));
    }
}
