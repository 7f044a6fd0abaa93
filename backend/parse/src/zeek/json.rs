//! Zeek's JSON writer: one object per line, its measured fields, `ts` as seconds or ISO 8601.

use std::borrow::Cow;

use serde::de::{self, IgnoredAny, Visitor};
use serde::{Deserialize, Deserializer};

use super::json_scan::scan;
use super::{emit, guess, port, seen, Kind, Rec, ZeekParser};
use crate::alb::fields::iso8601_ms;
use crate::{LineOutcome, Sink};

impl ZeekParser {
    pub(super) fn json_line(
        &mut self,
        line: &[u8],
        sink: &mut dyn Sink,
    ) -> Result<LineOutcome, String> {
        // Most lines of a skipped kind are told by a leading `_path` without a full parse.
        if let Some(rest) = line.trim_ascii_start().strip_prefix(b"{\"_path\":\"") {
            let path = rest.split(|&b| b == b'"').next().unwrap_or_default();
            if Kind::from_path(std::str::from_utf8(path).unwrap_or_default()) == Kind::Other {
                return Ok(LineOutcome::Skipped);
            }
        }
        #[cfg(test)]
        let scanned = if self.serde_only { None } else { scan(line) };
        #[cfg(not(test))]
        let scanned = scan(line);
        if let Some(fast) = scanned {
            return self.record(fast.path, fast.seen, || Ok(fast.rec), sink);
        }
        let j: JsonRec<'_> =
            serde_json::from_slice(line).map_err(|e| format!("not a Zeek JSON record: {e}"))?;
        self.record(j.path.as_deref(), j.seen(), || j.rec(), sink)
    }

    /// Measures a record of the kind its `_path` names (or its fields tell); other kinds are
    /// skipped before their fields are checked.
    fn record<'r>(
        &mut self,
        path: Option<&str>,
        seen: u16,
        rec: impl FnOnce() -> Result<Rec<'r>, String>,
        sink: &mut dyn Sink,
    ) -> Result<LineOutcome, String> {
        let kind = path.map_or_else(|| guess(seen), Kind::from_path);
        if kind == Kind::Other {
            return Ok(LineOutcome::Skipped);
        }
        emit(kind, &rec()?, [&mut self.entity, &mut self.pair], sink)?;
        Ok(LineOutcome::Record)
    }
}

/// A JSON record: only the fields LayerCast reads, borrowed from the line when unescaped;
/// the `Option<IgnoredAny>` ones only tell the kind of a record without `_path`.
#[derive(Deserialize)]
struct JsonRec<'a> {
    #[serde(rename = "_path", borrow)]
    path: Option<Cow<'a, str>>,
    ts: Option<JsonTs>,
    #[serde(rename = "id.orig_h", borrow)]
    orig_h: Option<Cow<'a, str>>,
    #[serde(rename = "id.resp_h", borrow)]
    resp_h: Option<Cow<'a, str>>,
    #[serde(rename = "id.resp_p")]
    resp_p: Option<u64>,
    #[serde(borrow)]
    proto: Option<Cow<'a, str>>,
    orig_bytes: Option<u64>,
    resp_bytes: Option<u64>,
    orig_ip_bytes: Option<u64>,
    resp_ip_bytes: Option<u64>,
    orig_pkts: Option<u64>,
    resp_pkts: Option<u64>,
    #[serde(borrow)]
    conn_state: Option<Cow<'a, str>>,
    #[serde(borrow)]
    host: Option<Cow<'a, str>>,
    status_code: Option<u64>,
    request_body_len: Option<u64>,
    response_body_len: Option<u64>,
    rtt: Option<f64>,
    #[serde(borrow)]
    rcode_name: Option<Cow<'a, str>>,
    #[serde(borrow)]
    server_name: Option<Cow<'a, str>>,
    established: Option<bool>,
    resumed: Option<bool>,
    #[serde(borrow)]
    peer: Option<Cow<'a, str>>,
    trans_id: Option<IgnoredAny>,
    rejected: Option<IgnoredAny>,
    query: Option<IgnoredAny>,
    trans_depth: Option<IgnoredAny>,
    request_path: Option<IgnoredAny>,
    call_id: Option<IgnoredAny>,
    name: Option<IgnoredAny>,
    notice: Option<IgnoredAny>,
}

impl JsonRec<'_> {
    fn seen(&self) -> u16 {
        let bit = |present: bool, b: u16| if present { b } else { 0 };
        bit(self.conn_state.is_some(), seen::CONN_STATE)
            | bit(self.established.is_some(), seen::ESTABLISHED)
            | bit(self.trans_id.is_some(), seen::TRANS_ID)
            | bit(
                self.rejected.is_some() || self.query.is_some() || self.rcode_name.is_some(),
                seen::DNS_ONLY,
            )
            | bit(self.trans_depth.is_some(), seen::TRANS_DEPTH)
            | bit(
                self.request_path.is_some() || self.call_id.is_some(),
                seen::SIP_ONLY,
            )
            | bit(
                self.request_body_len.is_some() || self.response_body_len.is_some(),
                seen::HTTP_BODY,
            )
            | bit(self.name.is_some(), seen::NAME)
            | bit(self.notice.is_some(), seen::NOTICE)
    }

    fn rec(&self) -> Result<Rec<'_>, String> {
        fn s<'b>(v: &'b Option<Cow<'_, str>>) -> Option<&'b str> {
            v.as_deref().filter(|s| !s.is_empty())
        }
        Ok(Rec {
            ts_ms: self.ts.map(|t| t.0),
            orig_h: s(&self.orig_h),
            resp_h: s(&self.resp_h),
            resp_p: self.resp_p.map(port).transpose()?,
            proto: s(&self.proto),
            orig_bytes: self.orig_bytes,
            resp_bytes: self.resp_bytes,
            orig_ip_bytes: self.orig_ip_bytes,
            resp_ip_bytes: self.resp_ip_bytes,
            orig_pkts: self.orig_pkts,
            resp_pkts: self.resp_pkts,
            conn_state: s(&self.conn_state),
            host: s(&self.host),
            status_code: self.status_code,
            request_body_len: self.request_body_len,
            response_body_len: self.response_body_len,
            rtt_s: self.rtt.filter(|r| r.is_finite() && *r >= 0.0),
            rcode_name: s(&self.rcode_name),
            server_name: s(&self.server_name),
            established: self.established,
            resumed: self.resumed,
            peer: s(&self.peer),
        })
    }
}

/// Zeek's JSON `ts`: epoch seconds as a number (the default) or ISO 8601 text
/// (`LogAscii::json_timestamps = JSON::TS_ISO8601`), in milliseconds.
#[derive(Debug, Clone, Copy)]
pub(super) struct JsonTs(pub(super) i64);

impl<'de> Deserialize<'de> for JsonTs {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct TsVisitor;
        impl Visitor<'_> for TsVisitor {
            type Value = JsonTs;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("epoch seconds or an ISO 8601 time")
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<JsonTs, E> {
                // Round to whole microseconds first (Zeek's precision) so that binary
                // fractions such as .001 = .000999… do not fall into the millisecond before.
                let micros = (v * 1e6).round();
                if !micros.is_finite() || micros.abs() > 9.0e18 {
                    return Err(E::custom(format!("ts {v} is out of range")));
                }
                Ok(JsonTs((micros as i64).div_euclid(1000)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<JsonTs, E> {
                i64::try_from(v)
                    .ok()
                    .and_then(|s| s.checked_mul(1000))
                    .map(JsonTs)
                    .ok_or_else(|| E::custom("ts out of range"))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<JsonTs, E> {
                v.checked_mul(1000)
                    .map(JsonTs)
                    .ok_or_else(|| E::custom("ts out of range"))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<JsonTs, E> {
                iso8601_ms(v.as_bytes())
                    .map(JsonTs)
                    .ok_or_else(|| E::custom(format!("ts `{v}` is not an ISO 8601 time")))
            }
        }
        d.deserialize_any(TsVisitor)
    }
}
