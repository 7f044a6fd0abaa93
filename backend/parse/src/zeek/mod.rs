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

use std::borrow::Cow;
use std::fmt::Write as _;

use layercast_shared::{ErrorClass, OsiLayer};
use serde::de::{self, IgnoredAny, Visitor};
use serde::{Deserialize, Deserializer};

use super::alb::{iso8601_ms, non_negative, parse_u64, show};
use super::ndjson::MAX_ENTITY_BYTES;
use super::{Format, LineOutcome, Measurement, RecordParser, Sink};

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

/// The fields LayerCast reads, by their Zeek names; a TSV header maps each to its column.
const NAMES: [&str; 22] = [
    "ts",
    "id.orig_h",
    "id.resp_h",
    "id.resp_p",
    "proto",
    "orig_bytes",
    "resp_bytes",
    "orig_ip_bytes",
    "resp_ip_bytes",
    "orig_pkts",
    "resp_pkts",
    "conn_state",
    "host",
    "status_code",
    "request_body_len",
    "response_body_len",
    "rtt",
    "rcode_name",
    "server_name",
    "established",
    "resumed",
    "peer",
];

#[derive(Debug, Clone)]
struct Header {
    separator: u8,
    unset: Vec<u8>,
    empty: Vec<u8>,
    /// From `#path`.
    kind: Option<Kind>,
    /// From `#fields`.
    columns: Option<Columns>,
}

impl Default for Header {
    fn default() -> Self {
        Header {
            separator: b'\t',
            unset: b"-".to_vec(),
            empty: b"(empty)".to_vec(),
            kind: None,
            columns: None,
        }
    }
}

#[derive(Debug, Clone)]
struct Columns {
    count: usize,
    /// Column of each of [`NAMES`].
    index: [Option<usize>; NAMES.len()],
    /// Kind-telling names present, for a log without `#path`.
    seen: u16,
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
        let Some(columns) = &self.header.columns else {
            return match self.header.kind {
                Some(Kind::Other) => Ok(LineOutcome::Skipped),
                _ => Err("a TSV record before any #fields header".into()),
            };
        };
        let kind = self.header.kind.unwrap_or_else(|| guess(columns.seen));
        if kind == Kind::Other {
            return Ok(LineOutcome::Skipped);
        }
        let h = &self.header;
        self.spans.clear();
        let mut start = 0;
        for end in memchr::memchr_iter(h.separator, line) {
            self.spans.push((start, end));
            start = end + 1;
        }
        self.spans.push((start, line.len()));
        if self.spans.len() != columns.count {
            return Err(format!(
                "{} fields where #fields names {}",
                self.spans.len(),
                columns.count
            ));
        }
        let rec = tsv_record(line, &self.spans, columns, h)?;
        emit(kind, &rec, [&mut self.entity, &mut self.pair], sink)?;
        Ok(LineOutcome::Record)
    }
}

impl ZeekParser {
    fn header_line(&mut self, line: &[u8]) -> Result<LineOutcome, String> {
        if let Some(value) = line.strip_prefix(b"#separator ") {
            let separator = unescape_byte(value.trim_ascii())
                .ok_or_else(|| format!("#separator `{}` is not one byte", show(value)))?;
            // A new log starts (files are often concatenated): forget the old header.
            self.header = Header {
                separator,
                ..Header::default()
            };
            return Ok(LineOutcome::Skipped);
        }
        let h = &mut self.header;
        let separator = h.separator;
        let mut parts = line.split(|&b| b == separator);
        let name = parts.next().unwrap_or_default();
        let value = line.get(name.len() + 1..).unwrap_or_default();
        match name {
            b"#unset_field" => h.unset = value.to_vec(),
            b"#empty_field" => h.empty = value.to_vec(),
            b"#path" => {
                let path =
                    std::str::from_utf8(value).map_err(|_| "#path is not UTF-8".to_owned())?;
                h.kind = Some(Kind::from_path(path));
            }
            b"#fields" => {
                let mut columns = Columns {
                    count: 0,
                    index: [None; NAMES.len()],
                    seen: 0,
                };
                for (i, field) in parts.enumerate() {
                    let field = std::str::from_utf8(field)
                        .map_err(|_| "#fields is not UTF-8".to_owned())?;
                    if let Some(slot) = NAMES.iter().position(|n| *n == field) {
                        columns.index[slot] = Some(i);
                    }
                    columns.seen |= seen_bit(field);
                    columns.count = i + 1;
                }
                h.columns = Some(columns);
            }
            b"#types" => {
                let types = parts.count();
                if let Some(c) = h.columns.as_ref().filter(|c| c.count != types) {
                    return Err(format!("#types names {types} types for {} fields", c.count));
                }
            }
            // #set_separator (no measured field is a set), #open, #close, comments.
            _ => {}
        }
        Ok(LineOutcome::Skipped)
    }

    fn json_line(&mut self, line: &[u8], sink: &mut dyn Sink) -> Result<LineOutcome, String> {
        // Most lines of a skipped kind are told by a leading `_path` without a full parse.
        if let Some(rest) = line.trim_ascii_start().strip_prefix(b"{\"_path\":\"") {
            let path = rest.split(|&b| b == b'"').next().unwrap_or_default();
            if Kind::from_path(std::str::from_utf8(path).unwrap_or_default()) == Kind::Other {
                return Ok(LineOutcome::Skipped);
            }
        }
        let j: JsonRec<'_> =
            serde_json::from_slice(line).map_err(|e| format!("not a Zeek JSON record: {e}"))?;
        let kind = match &j.path {
            Some(path) => Kind::from_path(path),
            None => guess(j.seen()),
        };
        if kind == Kind::Other {
            return Ok(LineOutcome::Skipped);
        }
        emit(kind, &j.rec()?, [&mut self.entity, &mut self.pair], sink)?;
        Ok(LineOutcome::Record)
    }
}

fn tsv_record<'a>(
    line: &'a [u8],
    spans: &[(usize, usize)],
    c: &Columns,
    h: &Header,
) -> Result<Rec<'a>, String> {
    let mut r = Rec::default();
    for (slot, col) in c.index.iter().enumerate() {
        let Some(&(start, end)) = col.and_then(|i| spans.get(i)) else {
            continue;
        };
        let v = &line[start..end];
        if v == h.unset.as_slice() || v == h.empty.as_slice() || v.is_empty() {
            continue;
        }
        let name = NAMES[slot];
        let text = || std::str::from_utf8(v).map_err(|_| format!("{name} is not UTF-8"));
        let num = || parse_u64(v).ok_or_else(|| format!("{name} `{}` is not a count", show(v)));
        let flag = || match v {
            b"T" => Ok(true),
            b"F" => Ok(false),
            _ => Err(format!("{name} `{}` is not T or F", show(v))),
        };
        match slot {
            0 => {
                r.ts_ms = Some(
                    epoch_ms(v).ok_or_else(|| format!("ts `{}` is not epoch seconds", show(v)))?,
                )
            }
            1 => r.orig_h = Some(text()?),
            2 => r.resp_h = Some(text()?),
            3 => r.resp_p = Some(port(num()?)?),
            4 => r.proto = Some(text()?),
            5 => r.orig_bytes = Some(num()?),
            6 => r.resp_bytes = Some(num()?),
            7 => r.orig_ip_bytes = Some(num()?),
            8 => r.resp_ip_bytes = Some(num()?),
            9 => r.orig_pkts = Some(num()?),
            10 => r.resp_pkts = Some(num()?),
            11 => r.conn_state = Some(text()?),
            12 => r.host = Some(text()?),
            13 => r.status_code = Some(num()?),
            14 => r.request_body_len = Some(num()?),
            15 => r.response_body_len = Some(num()?),
            16 => {
                r.rtt_s = Some(
                    non_negative(v)
                        .ok_or_else(|| format!("rtt `{}` is not a duration", show(v)))?,
                )
            }
            17 => r.rcode_name = Some(text()?),
            18 => r.server_name = Some(text()?),
            19 => r.established = Some(flag()?),
            20 => r.resumed = Some(flag()?),
            _ => r.peer = Some(text()?),
        }
    }
    Ok(r)
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

/// `\x09` or a single literal byte.
fn unescape_byte(v: &[u8]) -> Option<u8> {
    match v {
        [b'\\', b'x', hi, lo] => {
            u8::from_str_radix(std::str::from_utf8(&[*hi, *lo]).ok()?, 16).ok()
        }
        [b] => Some(*b),
        _ => None,
    }
}

/// `1521911720.865716` (epoch seconds, Zeek's `time`) to milliseconds, cutting sub-ms digits.
fn epoch_ms(v: &[u8]) -> Option<i64> {
    let (secs, frac) = match memchr::memchr(b'.', v) {
        Some(dot) => (&v[..dot], &v[dot + 1..]),
        None => (v, &b""[..]),
    };
    if !frac.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let secs = i64::try_from(parse_u64(secs)?).ok()?;
    let ms = frac
        .iter()
        .chain(b"000")
        .take(3)
        .fold(0, |acc, d| acc * 10 + i64::from(d - b'0'));
    secs.checked_mul(1000)?.checked_add(ms)
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
struct JsonTs(i64);

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

#[cfg(test)]
mod tests;
