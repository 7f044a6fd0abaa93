//! Zeek logs, in both of Zeek's writers: TSV with `#` headers and JSON lines (NDJSON).
//!
//! **TSV.** `#separator` (written `\x09`) starts a log and resets what the parser knows;
//! `#set_separator` is accepted (no measured field is a set), `#empty_field` and `#unset_field`
//! name the values that mean "nothing", `#path` names the log kind, `#fields` names the columns
//! (fields are found by name, so extra columns such as Stratosphere's two label columns are
//! fine), `#types` is checked against `#fields`, `#open`/`#close` and other comments are
//! skipped. A record whose field count differs from `#fields` is refused: the header lies.
//!
//! **JSON.** One object per line, dotted names (`id.orig_h`), `ts` as epoch seconds (a number)
//! or ISO 8601 text. The kind is the `_path` field when there is one (Zeek writes it with
//! `LogAscii::use_json` and `_path` enabled, as in the WRCCDC set); otherwise it is guessed from
//! fields that only one kind always writes (see `guess`): `conn_state` → conn, `established`
//! → ssl, `trans_id` with `rejected`/`query`/`rcode_name` → dns, `trans_depth` with a body
//! length (which SMTP lacks) but without SIP's `request_path`/`call_id` → http, `name` with
//! `notice` → weird; anything else is another kind. A TSV log without `#path` is guessed the
//! same way from `#fields`. Both guesses are tested on every real log with its name removed.
//!
//! **Kinds and measurements.** Every measurement keeps `errors <= connections` (or requests)
//! of its layer, so an error rate is a plain ratio; weird is the exception, it only counts.
//!
//! | kind | layer | entity | measures |
//! |---|---|---|---|
//! | conn | L3 | `orig_h>resp_h` | bytes = orig_ip_bytes + resp_ip_bytes (payload bytes when unset), packets |
//! | conn | L4 | `resp_h:resp_p/proto` (`resp_h/icmp`) | connections 1, payload bytes; TCP S0 REJ RSTOS0 RSTRH SH SHR and non-TCP S0: `FailedHandshake`; RSTO RSTR: `ConnectionReset` |
//! | http | L7 | Host header, else `resp_h:resp_p` | requests 1, body bytes, 5xx `ServerError`, 4xx `ClientError` |
//! | dns | L7 | resolver `resp_h:resp_p` | requests 1, latency = rtt, SERVFAIL `DnsServfail`, NXDOMAIN `DnsNxdomain` |
//! | ssl | L6 | SNI `server_name`, else `resp_h:resp_p` | connections 1; not established: `TlsFailure` |
//! | ssl | L5 | as L6 | connections 1 for a resumed session (so L5/L6 is the resumption rate) |
//! | weird | L4 | `resp_h` (the sensor's `peer` for weirds without a connection) | errors 1 `ProtocolAnomaly` |
//!
//! Conn durations are not reported as latency: a long-lived connection is not a slow one.
//! Non-TCP conn states other than S0 (UDP `SHR` is an answer whose question was not captured)
//! are not failures. Every other log kind (notice, sip, tunnel, x509, files, ...) gives
//! `Ok(LineOutcome::Skipped)` per record, which the caller counts: they say nothing a planner
//! sizes by, and refusing them would bury real errors.

use std::fmt::Write as _;

use layercast_shared::{ErrorClass, OsiLayer};

use super::ndjson::MAX_ENTITY_BYTES;
use super::{Format, LineOutcome, Measurement, RecordParser, Sink};

mod json;
mod json_scan;
mod tsv;

use tsv::Header;

const MS_PER_S: f64 = 1000.0;

/// Parses Zeek TSV and JSON lines; keeps the TSV header of the log being read.
#[derive(Debug, Default)]
pub struct ZeekParser {
    header: Header,
    /// Field boundaries of the current TSV line, reused so a line allocates nothing.
    spans: Vec<(usize, usize)>,
    /// Reused for entities made of several fields (conn records need two at once).
    entity: String,
    pair: String,
    /// Tests turn the JSON fast path off to compare it with serde's.
    #[cfg(test)]
    serde_only: bool,
}

impl ZeekParser {
    pub fn new() -> Self {
        Self::default()
    }
}

/// Whether the first lines of an object look like a Zeek log: the first non-blank line is a
/// TSV header, or a JSON object with `_path` or Zeek's dotted `id.orig_h`.
pub fn sniff(first_lines: &[&[u8]]) -> bool {
    let Some(line) = first_lines
        .iter()
        .map(|l| l.trim_ascii())
        .find(|l| !l.is_empty())
    else {
        return false;
    };
    let has = |needle: &[u8]| memchr::memmem::find(line, needle).is_some();
    [&b"#separator"[..], b"#fields\t", b"#path\t"]
        .iter()
        .any(|h| line.starts_with(h))
        || (line.starts_with(b"{") && (has(b"\"_path\"") || has(b"\"id.orig_h\"")))
}

/// The log kinds LayerCast measures; `Other` logs are skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Conn,
    Http,
    Dns,
    Ssl,
    Weird,
    Other,
}

impl Kind {
    fn from_path(path: &str) -> Kind {
        match path {
            "conn" => Kind::Conn,
            "http" => Kind::Http,
            "dns" => Kind::Dns,
            "ssl" => Kind::Ssl,
            "weird" => Kind::Weird,
            _ => Kind::Other,
        }
    }
}

/// Which kind-telling field names a record (or a `#fields` line) has.
mod seen {
    pub const CONN_STATE: u16 = 1;
    pub const ESTABLISHED: u16 = 1 << 1;
    pub const TRANS_ID: u16 = 1 << 2;
    pub const DNS_ONLY: u16 = 1 << 3; // rejected, query, rcode_name
    pub const TRANS_DEPTH: u16 = 1 << 4;
    pub const SIP_ONLY: u16 = 1 << 5; // request_path, call_id
    pub const NAME: u16 = 1 << 6;
    pub const NOTICE: u16 = 1 << 7;
    pub const HTTP_BODY: u16 = 1 << 8; // request_body_len, response_body_len (SMTP has neither)
}

/// The kind of a log that does not name it, from the fields only that kind always writes.
fn guess(s: u16) -> Kind {
    let has = |bits: u16| s & bits == bits;
    if has(seen::CONN_STATE) {
        Kind::Conn
    } else if has(seen::ESTABLISHED) {
        Kind::Ssl
    } else if has(seen::TRANS_ID | seen::DNS_ONLY) {
        Kind::Dns
    } else if has(seen::TRANS_DEPTH | seen::HTTP_BODY) && !has(seen::SIP_ONLY) {
        Kind::Http
    } else if has(seen::NAME | seen::NOTICE) {
        Kind::Weird
    } else {
        Kind::Other
    }
}

fn seen_bit(name: &str) -> u16 {
    match name {
        "conn_state" => seen::CONN_STATE,
        "established" => seen::ESTABLISHED,
        "trans_id" => seen::TRANS_ID,
        "rejected" | "query" | "rcode_name" => seen::DNS_ONLY,
        "trans_depth" => seen::TRANS_DEPTH,
        "request_path" | "call_id" => seen::SIP_ONLY,
        "request_body_len" | "response_body_len" => seen::HTTP_BODY,
        "name" => seen::NAME,
        "notice" => seen::NOTICE,
        _ => 0,
    }
}

/// One record's measured fields, from either writer; `None` is unset, empty or absent.
#[derive(Debug, Default)]
struct Rec<'a> {
    ts_ms: Option<i64>,
    orig_h: Option<&'a str>,
    resp_h: Option<&'a str>,
    resp_p: Option<u16>,
    proto: Option<&'a str>,
    orig_bytes: Option<u64>,
    resp_bytes: Option<u64>,
    orig_ip_bytes: Option<u64>,
    resp_ip_bytes: Option<u64>,
    orig_pkts: Option<u64>,
    resp_pkts: Option<u64>,
    conn_state: Option<&'a str>,
    host: Option<&'a str>,
    status_code: Option<u64>,
    request_body_len: Option<u64>,
    response_body_len: Option<u64>,
    rtt_s: Option<f64>,
    rcode_name: Option<&'a str>,
    server_name: Option<&'a str>,
    established: Option<bool>,
    resumed: Option<bool>,
    peer: Option<&'a str>,
}

impl RecordParser for ZeekParser {
    fn format(&self) -> Format {
        Format::Zeek
    }

    fn line(&mut self, line: &[u8], sink: &mut dyn Sink) -> Result<LineOutcome, String> {
        if line.first() == Some(&b'#') {
            return self.header_line(line);
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            return Ok(LineOutcome::Skipped);
        }
        if line.trim_ascii_start().starts_with(b"{") {
            return self.json_line(line, sink);
        }
        self.tsv_line(line, sink)
    }
}

/// Reports what one record measures (see the table at the top). Every check comes before the
/// first measurement: a record counts whole or not at all.
fn emit(
    kind: Kind,
    r: &Rec<'_>,
    [entity, pair]: [&mut String; 2],
    sink: &mut dyn Sink,
) -> Result<(), String> {
    let ts = r.ts_ms.ok_or("record without ts")?;
    fn need<'v>(v: Option<&'v str>, name: &str) -> Result<&'v str, String> {
        v.ok_or_else(|| format!("record without {name}"))
    }
    let sum = |a: Option<u64>, b: Option<u64>| a.unwrap_or(0).saturating_add(b.unwrap_or(0));
    match kind {
        Kind::Conn => {
            let (orig, resp, proto) = (
                need(r.orig_h, "id.orig_h")?,
                need(r.resp_h, "id.resp_h")?,
                need(r.proto, "proto")?,
            );
            pair.clear();
            let _ = write!(pair, "{orig}>{resp}");
            let pair = checked(pair)?;
            entity.clear();
            if proto == "icmp" {
                let _ = write!(entity, "{resp}/icmp");
            } else {
                push_service(entity, resp, r.resp_p.ok_or("record without id.resp_p")?);
                let _ = write!(entity, "/{proto}");
            }
            let service = checked(entity)?;

            let mut l3 = Measurement::new(ts, OsiLayer::L3, pair);
            l3.bytes = match (r.orig_ip_bytes, r.resp_ip_bytes) {
                (None, None) => sum(r.orig_bytes, r.resp_bytes),
                (a, b) => sum(a, b),
            };
            l3.packets = sum(r.orig_pkts, r.resp_pkts);
            sink.measurement(&l3);

            let mut l4 = Measurement::new(ts, OsiLayer::L4, service);
            l4.connections = 1;
            l4.bytes = sum(r.orig_bytes, r.resp_bytes);
            l4.set_error(match (r.conn_state.unwrap_or_default(), proto == "tcp") {
                ("S0", _) | ("REJ" | "RSTOS0" | "RSTRH" | "SH" | "SHR", true) => {
                    Some(ErrorClass::FailedHandshake)
                }
                ("RSTO" | "RSTR", true) => Some(ErrorClass::ConnectionReset),
                _ => None,
            });
            sink.measurement(&l4);
        }
        Kind::Http => {
            let name = name_or_service(entity, r.host, r)?;
            let mut l7 = Measurement::new(ts, OsiLayer::L7, name);
            l7.requests = 1;
            l7.bytes = sum(r.request_body_len, r.response_body_len);
            l7.set_error(match r.status_code {
                Some(500..=599) => Some(ErrorClass::ServerError),
                Some(400..=499) => Some(ErrorClass::ClientError),
                _ => None,
            });
            sink.measurement(&l7);
        }
        Kind::Dns => {
            let name = name_or_service(entity, None, r)?;
            let mut l7 = Measurement::new(ts, OsiLayer::L7, name);
            l7.requests = 1;
            l7.latency_ms = r.rtt_s.map(|s| s * MS_PER_S);
            l7.set_error(match r.rcode_name {
                Some("SERVFAIL") => Some(ErrorClass::DnsServfail),
                Some("NXDOMAIN") => Some(ErrorClass::DnsNxdomain),
                _ => None,
            });
            sink.measurement(&l7);
        }
        Kind::Ssl => {
            let name = name_or_service(entity, r.server_name, r)?;
            let mut l6 = Measurement::new(ts, OsiLayer::L6, name);
            l6.connections = 1;
            if r.established == Some(false) {
                l6.errors = 1;
                l6.error_class = Some(ErrorClass::TlsFailure);
            }
            sink.measurement(&l6);
            if r.resumed == Some(true) {
                let mut l5 = Measurement::new(ts, OsiLayer::L5, name);
                l5.connections = 1;
                sink.measurement(&l5);
            }
        }
        Kind::Weird => {
            let name = r
                .resp_h
                .or(r.peer)
                .ok_or("weird record names neither id.resp_h nor peer")?;
            let mut l4 = Measurement::new(ts, OsiLayer::L4, checked(name)?);
            l4.errors = 1;
            l4.error_class = Some(ErrorClass::ProtocolAnomaly);
            sink.measurement(&l4);
        }
        Kind::Other => {}
    }
    Ok(())
}

/// `name` (a Host header, an SNI) in lower case when it is a usable entity, else the
/// responder's `resp_h:resp_p`.
fn name_or_service<'e>(
    entity: &'e mut String,
    name: Option<&str>,
    r: &Rec<'_>,
) -> Result<&'e str, String> {
    entity.clear();
    match name.filter(|n| n.len() <= MAX_ENTITY_BYTES && n.bytes().all(|b| b.is_ascii_graphic())) {
        Some(n) => entity.extend(n.chars().map(|c| c.to_ascii_lowercase())),
        None => {
            let resp = r.resp_h.ok_or("record without id.resp_h")?;
            push_service(entity, resp, r.resp_p.ok_or("record without id.resp_p")?);
        }
    }
    checked(entity)
}

/// `addr:port`, with an IPv6 address in brackets.
fn push_service(entity: &mut String, addr: &str, port: u16) {
    let _ = if addr.contains(':') {
        write!(entity, "[{addr}]:{port}")
    } else {
        write!(entity, "{addr}:{port}")
    };
}

fn checked(entity: &str) -> Result<&str, String> {
    if entity.is_empty() || entity.len() > MAX_ENTITY_BYTES {
        return Err(format!(
            "entity is {} bytes long (1 to {MAX_ENTITY_BYTES})",
            entity.len()
        ));
    }
    Ok(entity)
}

fn port(n: u64) -> Result<u16, String> {
    u16::try_from(n).map_err(|_| format!("port {n} is out of range"))
}

#[cfg(test)]
mod tests;
