//! AWS load balancer logs: Application Load Balancer access and connection logs, Network Load
//! Balancer access logs (`tls 1.0` and `tls 2.0`) and Classic ELB access logs.
//!
//! The four layouts are told apart line by line from their first field (`http`/`https`/`h2`/
//! `grpcs`/`ws`/`wss`, `tls`, or a timestamp), so [`AlbParser`] and [`NlbParser`] read all of
//! them: an S3 prefix or a test fixture that mixes them (Elastic's `test-alb.log` does) parses
//! cleanly with either; the two types differ only in the [`Format`] they report.
//!
//! What one line measures. L6 counts TLS handshakes attempted as `connections` and the failed
//! ones as `errors` (so `errors <= connections` and the failure rate is a plain ratio); L7
//! likewise counts requests and failed requests.
//!
//! | line | L4 (entity `<elb>`) | L6 (entity `<elb>`) | L7 (entity `<elb>><target>` or `<elb>`) |
//! |---|---|---|---|
//! | ALB access | connections 1 | when TLS was negotiated, expected (https, wss, grpcs, h2 with an `https://` URL) or named by `error_reason`: connections 1; expected but absent, or an `error_reason` naming TLS/SSL: `TlsFailure` | requests 1, bytes = received + sent, latency = the three processing times (none if one is `-1`), 5xx `ServerError`, 4xx `ClientError` |
//! | Classic ELB HTTP(S) | connections 1 | as ALB | as ALB |
//! | Classic ELB TCP/SSL | connections 1, bytes, latency; `-1` times: `FailedHandshake` (no backend took it) | as ALB | — |
//! | NLB `tls` | connections 1, bytes, latency = connection_time | connections 1, latency = tls_handshake_time; an incoming TLS alert or no negotiated protocol: `TlsFailure` (NLB logs TLS listeners only) | — |
//! | ALB connection log | connections 1 (entity `<elb>:<listener port>`) | connections 1, latency = handshake latency; `tls_verify_status` `Failed:*`: `TlsFailure` | — |
//!
//! Connection-log lines do not name their load balancer (only the object key does, see
//! [`load_balancer_from_key`]) and they count real connections where access-log lines count
//! requests, so their entity carries the listener port: the two never add into one series.

use layercast_shared::{ErrorClass, OsiLayer};

use super::ndjson::MAX_ENTITY_BYTES;
use super::{Format, LineOutcome, Measurement, RecordParser, Sink};

/// Fields kept per line; later ones (fields AWS adds in future) are counted and ignored.
const MAX_FIELDS: usize = 40;
/// ALB access lines need fields up to `ssl_protocol`; everything after it is optional, as the
/// layout has grown over the years (`error_reason` since 2018, TID since 2024).
const ALB_MIN_FIELDS: usize = 16;
/// Classic ELB lines up to `"request"` (the user agent and TLS fields came in 2015).
const CLASSIC_MIN_FIELDS: usize = 12;
/// NLB lines up to `tls_protocol_version` (`tls 1.0` lines have 18 fields, `tls 2.0` 22).
const NLB_MIN_FIELDS: usize = 16;
/// ALB connection-log lines up to `tls_verify_status` (`conn_trace_id` is newer).
const CONN_MIN_FIELDS: usize = 11;
const MS_PER_S: f64 = 1000.0;

/// Parses ALB (and any other ELB-family) lines, reporting [`Format::Alb`].
#[derive(Debug, Default)]
pub struct AlbParser(ElbCore);

/// Parses NLB (and any other ELB-family) lines, reporting [`Format::Nlb`].
#[derive(Debug, Default)]
pub struct NlbParser(ElbCore);

impl AlbParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// A parser for the object at `key`, whose name tells which load balancer wrote
    /// connection-log lines (see [`load_balancer_from_key`]).
    pub fn for_object_key(key: &str) -> Self {
        AlbParser(ElbCore {
            load_balancer: load_balancer_from_key(key),
            ..ElbCore::default()
        })
    }
}

impl NlbParser {
    pub fn new() -> Self {
        Self::default()
    }
}

impl RecordParser for AlbParser {
    fn format(&self) -> Format {
        Format::Alb
    }

    fn line(&mut self, line: &[u8], sink: &mut dyn Sink) -> Result<LineOutcome, String> {
        self.0.line(line, sink)
    }
}

impl RecordParser for NlbParser {
    fn format(&self) -> Format {
        Format::Nlb
    }

    fn line(&mut self, line: &[u8], sink: &mut dyn Sink) -> Result<LineOutcome, String> {
        self.0.line(line, sink)
    }
}

/// Whether the first lines of an object look like ALB access, ALB connection or Classic ELB
/// logs: most non-blank lines are ELB-family lines and the first of them is not NLB.
pub fn sniff(first_lines: &[&[u8]]) -> bool {
    sniff_family(first_lines).is_some_and(|first| first != Family::Nlb)
}

/// Whether the first lines of an object look like NLB access logs.
pub fn sniff_nlb(first_lines: &[&[u8]]) -> bool {
    sniff_family(first_lines) == Some(Family::Nlb)
}

fn sniff_family(first_lines: &[&[u8]]) -> Option<Family> {
    let (mut seen, mut known, mut first) = (0, 0, None);
    for line in first_lines
        .iter()
        .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
    {
        seen += 1;
        if let Some(f) = family(first_field(line)) {
            known += 1;
            first = first.or(Some(f));
        }
    }
    if known * 2 > seen {
        first
    } else {
        None
    }
}

/// The load balancer an ELB log object belongs to, from its key: the file name is
/// `[conn_log.]<account>_elasticloadbalancing_<region>_<type>.<name>.<id>_<end>_<ip>_<rand>.log.gz`
/// and the load balancer is `<type>/<name>/<id>`, as access-log lines write it.
pub fn load_balancer_from_key(key: &str) -> Option<String> {
    let file = key.rsplit('/').next()?;
    let file = file.strip_prefix("conn_log.").unwrap_or(file);
    let lb = file.split('_').nth(3)?;
    let mut parts = lb.split('.');
    let (kind, name, id) = (parts.next()?, parts.next()?, parts.next()?);
    let valid =
        |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    (parts.next().is_none() && ["app", "net"].contains(&kind) && valid(name) && valid(id))
        .then(|| format!("{kind}/{name}/{id}"))
}

#[derive(Debug, Default)]
struct ElbCore {
    /// Reused for entities made of several fields, so a line allocates nothing.
    entity: String,
    /// The load balancer named by the object key, for connection-log lines.
    load_balancer: Option<String>,
}

/// How a line is laid out, from its first field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    /// `http`, `https`, `h2`, `grpcs`, `ws`, `wss`: an ALB access line.
    Alb,
    /// `tls`: an NLB access line.
    Nlb,
    /// A timestamp: an ALB connection-log line or a Classic ELB line.
    Timestamped,
}

fn first_field(line: &[u8]) -> &[u8] {
    let line = line.trim_ascii_start();
    line.split(|&b| b == b' ').next().unwrap_or(line)
}

fn family(first: &[u8]) -> Option<Family> {
    match first {
        b"http" | b"https" | b"h2" | b"grpcs" | b"ws" | b"wss" => Some(Family::Alb),
        b"tls" => Some(Family::Nlb),
        _ if iso8601_ms(first).is_some() => Some(Family::Timestamped),
        _ => None,
    }
}

/// What an ALB access or Classic ELB line says; `None` stands for `-` (and `-1` times).
#[derive(Debug, Clone, PartialEq)]
struct HttpLine<'a> {
    ts_ms: i64,
    elb: &'a str,
    target: Option<&'a str>,
    processing_s: [Option<f64>; 3],
    elb_status: Option<u16>,
    received: u64,
    sent: u64,
    /// The listener speaks HTTP (always on ALB; Classic ELB TCP/SSL listeners log `"- - - "`).
    http: bool,
    /// The listener terminates TLS, so a line without TLS fields is a failed negotiation.
    tls_expected: bool,
    ssl_cipher: Option<&'a [u8]>,
    ssl_protocol: Option<&'a [u8]>,
    error_reason: Option<&'a [u8]>,
}

#[derive(Debug, Clone, PartialEq)]
struct NlbLine<'a> {
    ts_ms: i64,
    elb: &'a str,
    connection_ms: Option<f64>,
    handshake_ms: Option<f64>,
    received: u64,
    sent: u64,
    tls_alert: Option<&'a [u8]>,
    tls_cipher: Option<&'a [u8]>,
    tls_protocol: Option<&'a [u8]>,
}

#[derive(Debug, Clone, PartialEq)]
struct ConnLine<'a> {
    ts_ms: i64,
    listener_port: u16,
    tls_protocol: Option<&'a [u8]>,
    handshake_ms: Option<f64>,
    verify_status: Option<&'a [u8]>,
}

impl ElbCore {
    fn line(&mut self, line: &[u8], sink: &mut dyn Sink) -> Result<LineOutcome, String> {
        let line = line.trim_ascii();
        if line.is_empty() {
            return Ok(LineOutcome::Skipped);
        }
        let first = first_field(line);
        let mut f: [&[u8]; MAX_FIELDS] = [&[]; MAX_FIELDS];
        match family(first) {
            Some(Family::Nlb) => {
                let n = split_plain(line, &mut f);
                self.emit_nlb(&nlb_line(&f, n)?, sink);
            }
            Some(Family::Alb) => {
                let n = split_quoted(line, &mut f)?;
                let r = alb_line(&f, n)?;
                self.emit_http(&r, sink)?;
            }
            Some(Family::Timestamped) => {
                let n = split_quoted(line, &mut f)?;
                if n > 2 && !f[2].is_empty() && f[2].iter().all(u8::is_ascii_digit) {
                    self.emit_conn(&conn_line(&f, n)?, sink)?;
                } else {
                    let r = classic_line(&f, n)?;
                    self.emit_http(&r, sink)?;
                }
            }
            None => {
                return Err(format!(
                    "not a load balancer log line: starts with `{}`",
                    show(first)
                ))
            }
        }
        Ok(LineOutcome::Record)
    }

    fn emit_http(&mut self, r: &HttpLine<'_>, sink: &mut dyn Sink) -> Result<(), String> {
        // Every check comes before the first measurement: a line counts whole or not at all.
        let l7_entity = match r.target {
            Some(target) if r.http => {
                self.entity.clear();
                self.entity.push_str(r.elb);
                self.entity.push('>');
                self.entity.push_str(target);
                check_entity(&self.entity)?
            }
            _ => r.elb,
        };
        let latency_ms = match r.processing_s {
            [Some(a), Some(b), Some(c)] => Some((a + b + c) * MS_PER_S),
            _ => None,
        };
        let mut l4 = Measurement::new(r.ts_ms, OsiLayer::L4, r.elb);
        l4.connections = 1;
        if !r.http {
            l4.bytes = r.received.saturating_add(r.sent);
            l4.latency_ms = latency_ms;
            if latency_ms.is_none() {
                l4.errors = 1;
                l4.error_class = Some(ErrorClass::FailedHandshake);
            }
        }
        sink.measurement(&l4);

        let negotiated = r.ssl_cipher.is_some() || r.ssl_protocol.is_some();
        let tls_error = r.error_reason.is_some_and(names_tls);
        if negotiated || r.tls_expected || tls_error {
            let mut l6 = Measurement::new(r.ts_ms, OsiLayer::L6, r.elb);
            l6.connections = 1;
            if tls_error || (r.tls_expected && !negotiated) {
                l6.errors = 1;
                l6.error_class = Some(ErrorClass::TlsFailure);
            }
            sink.measurement(&l6);
        }

        if r.http {
            let mut l7 = Measurement::new(r.ts_ms, OsiLayer::L7, l7_entity);
            l7.requests = 1;
            l7.bytes = r.received.saturating_add(r.sent);
            l7.latency_ms = latency_ms;
            l7.set_error(match r.elb_status {
                Some(500..=599) => Some(ErrorClass::ServerError),
                Some(400..=499) => Some(ErrorClass::ClientError),
                _ => None,
            });
            sink.measurement(&l7);
        }
        Ok(())
    }

    fn emit_nlb(&mut self, r: &NlbLine<'_>, sink: &mut dyn Sink) {
        let mut l4 = Measurement::new(r.ts_ms, OsiLayer::L4, r.elb);
        l4.connections = 1;
        l4.bytes = r.received.saturating_add(r.sent);
        l4.latency_ms = r.connection_ms;
        sink.measurement(&l4);

        // NLB logs only TLS listeners, so every line is a TLS connection or a failed one.
        let negotiated = r.tls_protocol.is_some() || r.tls_cipher.is_some();
        let mut l6 = Measurement::new(r.ts_ms, OsiLayer::L6, r.elb);
        l6.connections = 1;
        l6.latency_ms = r.handshake_ms;
        if r.tls_alert.is_some() || !negotiated {
            l6.errors = 1;
            l6.error_class = Some(ErrorClass::TlsFailure);
        }
        sink.measurement(&l6);
    }

    fn emit_conn(&mut self, r: &ConnLine<'_>, sink: &mut dyn Sink) -> Result<(), String> {
        use std::fmt::Write as _;
        self.entity.clear();
        let lb = self.load_balancer.as_deref().unwrap_or("listener");
        // Writing into a String cannot fail.
        let _ = write!(self.entity, "{lb}:{}", r.listener_port);
        let entity = check_entity(&self.entity)?;
        let mut l4 = Measurement::new(r.ts_ms, OsiLayer::L4, entity);
        l4.connections = 1;
        sink.measurement(&l4);

        let failed = r.verify_status.is_some_and(|s| s.starts_with(b"Failed"));
        if r.tls_protocol.is_some() || failed {
            let mut l6 = Measurement::new(r.ts_ms, OsiLayer::L6, entity);
            l6.connections = 1;
            l6.latency_ms = r.handshake_ms;
            if failed {
                l6.errors = 1;
                l6.error_class = Some(ErrorClass::TlsFailure);
            }
            sink.measurement(&l6);
        }
        Ok(())
    }
}

// type time elb client:port target:port request_processing_time target_processing_time
// response_processing_time elb_status_code target_status_code received_bytes sent_bytes
// "request" "user_agent" ssl_cipher ssl_protocol target_group_arn "trace_id" "domain_name"
// "chosen_cert_arn" matched_rule_priority request_creation_time "actions_executed"
// "redirect_url" "error_reason" "target:port_list" "target_status_code_list"
// "classification" "classification_reason" conn_trace_id
fn alb_line<'a>(f: &[&'a [u8]; MAX_FIELDS], n: usize) -> Result<HttpLine<'a>, String> {
    if n < ALB_MIN_FIELDS {
        return Err(format!(
            "ALB access line with {n} fields (at least {ALB_MIN_FIELDS} expected)"
        ));
    }
    let kind = f[0];
    let (ssl_cipher, ssl_protocol) = (dash(f[14]), dash(f[15]));
    let tls_expected = match kind {
        b"https" | b"wss" | b"grpcs" => true,
        // HTTP/2 runs over TLS on HTTPS listeners, in clear text (h2c) on HTTP ones: the
        // request's scheme tells which (simnalamburt's case 16 is `h2` with `http://`).
        b"h2" => request_url(f[12]).starts_with(b"https://"),
        _ => false,
    };
    Ok(HttpLine {
        ts_ms: time(f[1], "time")?,
        elb: elb_name(f[2])?,
        target: target(f[4])?,
        processing_s: [seconds(f[5])?, seconds(f[6])?, seconds(f[7])?],
        elb_status: status(f[8], "elb_status_code")?,
        received: count(f[10], "received_bytes")?,
        sent: count(f[11], "sent_bytes")?,
        http: true,
        tls_expected,
        ssl_cipher,
        ssl_protocol,
        error_reason: if n > 24 { dash(f[24]) } else { None },
    })
}

// time elb client:port backend:port request_processing_time backend_processing_time
// response_processing_time elb_status_code backend_status_code received_bytes sent_bytes
// "request" "user_agent" ssl_cipher ssl_protocol
fn classic_line<'a>(f: &[&'a [u8]; MAX_FIELDS], n: usize) -> Result<HttpLine<'a>, String> {
    if n < CLASSIC_MIN_FIELDS {
        return Err(format!(
            "Classic ELB line with {n} fields (at least {CLASSIC_MIN_FIELDS} expected)"
        ));
    }
    let (ssl_cipher, ssl_protocol) = if n > 14 {
        (dash(f[13]), dash(f[14]))
    } else {
        (None, None)
    };
    let elb_status = status(f[7], "elb_status_code")?;
    // TCP and SSL listeners log no status and a request of `- - - `.
    let http = elb_status.is_some() || !f[11].starts_with(b"- ");
    Ok(HttpLine {
        ts_ms: time(f[0], "time")?,
        elb: elb_name(f[1])?,
        target: target(f[3])?,
        processing_s: [seconds(f[4])?, seconds(f[5])?, seconds(f[6])?],
        elb_status,
        received: count(f[9], "received_bytes")?,
        sent: count(f[10], "sent_bytes")?,
        http,
        tls_expected: http && request_url(f[11]).starts_with(b"https://"),
        ssl_cipher,
        ssl_protocol,
        error_reason: None,
    })
}

// type version time elb listener client:port destination:port connection_time
// tls_handshake_time received_bytes sent_bytes incoming_tls_alert chosen_cert_arn
// chosen_cert_serial tls_cipher tls_protocol_version tls_named_group domain_name
// alpn_fe_protocol alpn_be_protocol alpn_client_preference_list tls_connection_creation_time
fn nlb_line<'a>(f: &[&'a [u8]; MAX_FIELDS], n: usize) -> Result<NlbLine<'a>, String> {
    if n < NLB_MIN_FIELDS {
        return Err(format!(
            "NLB access line with {n} fields (at least {NLB_MIN_FIELDS} expected)"
        ));
    }
    if !matches!(f[1], b"1.0" | b"2.0") {
        return Err(format!(
            "NLB log version `{}` (1.0 or 2.0 expected)",
            show(f[1])
        ));
    }
    Ok(NlbLine {
        ts_ms: time(f[2], "time")?,
        elb: elb_name(f[3])?,
        connection_ms: millis(f[7], "connection_time")?,
        handshake_ms: millis(f[8], "tls_handshake_time")?,
        received: count(f[9], "received_bytes")?,
        sent: count(f[10], "sent_bytes")?,
        tls_alert: dash(f[11]),
        tls_cipher: dash(f[14]),
        tls_protocol: dash(f[15]),
    })
}

// time client_ip client_port listener_port tls_protocol tls_cipher tls_handshake_latency
// "leaf_client_cert_subject" leaf_client_cert_validity leaf_client_cert_serial_number
// tls_verify_status conn_trace_id
fn conn_line<'a>(f: &[&'a [u8]; MAX_FIELDS], n: usize) -> Result<ConnLine<'a>, String> {
    if n < CONN_MIN_FIELDS {
        return Err(format!(
            "ALB connection-log line with {n} fields (at least {CONN_MIN_FIELDS} expected)"
        ));
    }
    let listener_port = u16::try_from(count(f[3], "listener_port")?)
        .map_err(|_| format!("listener_port `{}` is not a port", show(f[3])))?;
    Ok(ConnLine {
        ts_ms: time(f[0], "time")?,
        listener_port,
        tls_protocol: dash(f[4]),
        handshake_ms: millis(f[6], "tls_handshake_latency")?,
        verify_status: dash(f[10]),
    })
}

/// Splits at spaces; a field opening with `"` runs to the next `"` that is not escaped by `\`
/// (AWS writes quotes inside as `\x22`, but `\"` costs nothing to honour). A closing quote ends
/// its field even without a space after it: the `"-"1` of lines seen in the wild is two fields.
/// Returns how many fields the line has; the first [`MAX_FIELDS`] are kept.
fn split_quoted<'a>(line: &'a [u8], out: &mut [&'a [u8]; MAX_FIELDS]) -> Result<usize, String> {
    let (mut n, mut i) = (0, 0);
    loop {
        while line.get(i) == Some(&b' ') {
            i += 1;
        }
        if i >= line.len() {
            return Ok(n);
        }
        let field = if line[i] == b'"' {
            let start = i + 1;
            let mut j = start;
            loop {
                match line.get(j) {
                    None => return Err(format!("field {} opens a quote that never closes", n + 1)),
                    Some(b'\\') => j += 2,
                    Some(b'"') => break,
                    Some(_) => j += 1,
                }
            }
            i = j + 1;
            &line[start..j]
        } else {
            let start = i;
            while i < line.len() && line[i] != b' ' {
                i += 1;
            }
            &line[start..i]
        };
        if let Some(slot) = out.get_mut(n) {
            *slot = field;
        }
        n += 1;
    }
}

/// Splits at spaces only: NLB lines quote nothing but the ALPN list (`"h2","http/1.1"`), which
/// has no spaces and must stay one field.
fn split_plain<'a>(line: &'a [u8], out: &mut [&'a [u8]; MAX_FIELDS]) -> usize {
    let mut n = 0;
    for field in line.split(|&b| b == b' ').filter(|f| !f.is_empty()) {
        if let Some(slot) = out.get_mut(n) {
            *slot = field;
        }
        n += 1;
    }
    n
}

fn dash(f: &[u8]) -> Option<&[u8]> {
    (!f.is_empty() && f != b"-").then_some(f)
}

fn request_url(request: &[u8]) -> &[u8] {
    request.split(|&b| b == b' ').nth(1).unwrap_or_default()
}

fn names_tls(reason: &[u8]) -> bool {
    reason
        .windows(3)
        .any(|w| w.eq_ignore_ascii_case(b"tls") || w.eq_ignore_ascii_case(b"ssl"))
}

fn time(f: &[u8], what: &str) -> Result<i64, String> {
    iso8601_ms(f).ok_or_else(|| format!("{what} `{}` is not an ISO 8601 time", show(f)))
}

fn elb_name(f: &[u8]) -> Result<&str, String> {
    let name = std::str::from_utf8(f).map_err(|_| "load balancer name is not UTF-8".to_owned())?;
    if dash(f).is_none()
        || name.len() > MAX_ENTITY_BYTES
        || name.bytes().any(|b| !b.is_ascii_graphic())
    {
        return Err(format!("load balancer name `{}` is unusable", show(f)));
    }
    Ok(name)
}

fn target(f: &[u8]) -> Result<Option<&str>, String> {
    match dash(f) {
        None => Ok(None),
        Some(t) if t.iter().all(u8::is_ascii_graphic) => Ok(std::str::from_utf8(t).ok()),
        Some(t) => Err(format!("target `{}` is not an address", show(t))),
    }
}

fn check_entity(entity: &str) -> Result<&str, String> {
    if entity.len() > MAX_ENTITY_BYTES {
        return Err(format!(
            "entity is {} bytes long (at most {MAX_ENTITY_BYTES})",
            entity.len()
        ));
    }
    Ok(entity)
}

fn count(f: &[u8], what: &str) -> Result<u64, String> {
    if f == b"-" {
        return Ok(0);
    }
    parse_u64(f).ok_or_else(|| format!("{what} `{}` is not a count", show(f)))
}

/// Parses an unsigned decimal integer, by hand: no UTF-8 check, no allocation.
pub(crate) fn parse_u64(f: &[u8]) -> Option<u64> {
    if f.is_empty() || f.len() > 20 {
        return None;
    }
    f.iter().try_fold(0_u64, |acc, &b| {
        b.is_ascii_digit().then_some(())?;
        acc.checked_mul(10)?.checked_add(u64::from(b - b'0'))
    })
}

fn status(f: &[u8], what: &str) -> Result<Option<u16>, String> {
    if f == b"-" {
        return Ok(None);
    }
    match parse_u64(f) {
        Some(code) if code <= 999 => Ok(Some(code as u16)),
        _ => Err(format!("{what} `{}` is not a status code", show(f))),
    }
}

/// A duration in seconds; `-1` and `-` (no value) are `None`.
fn seconds(f: &[u8]) -> Result<Option<f64>, String> {
    if f == b"-1" || f == b"-" {
        return Ok(None);
    }
    non_negative(f)
        .map(Some)
        .ok_or_else(|| format!("processing time `{}` is not a duration", show(f)))
}

/// A duration already in milliseconds; `-` is `None`.
fn millis(f: &[u8], what: &str) -> Result<Option<f64>, String> {
    if f == b"-" || f == b"-1" {
        return Ok(None);
    }
    non_negative(f)
        .map(Some)
        .ok_or_else(|| format!("{what} `{}` is not a duration", show(f)))
}

pub(crate) fn non_negative(f: &[u8]) -> Option<f64> {
    // Digits and one dot only: `parse::<f64>` alone would take `inf`, `NaN` and `1e400`.
    if f.is_empty() || !f.iter().all(|&b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    std::str::from_utf8(f).ok()?.parse().ok()
}

/// A field for an error message: lossy, at most 40 characters.
pub(crate) fn show(f: &[u8]) -> String {
    String::from_utf8_lossy(f).chars().take(40).collect()
}

/// Milliseconds since the Unix epoch of `YYYY-MM-DDTHH:MM:SS[.fraction][Z|±HH:MM]`, parsed
/// by hand (chrono's parser allocates nothing either, but is several times slower).
/// Sub-millisecond digits are cut, not rounded, so a record stays in the window of its second.
/// A time without offset is UTC: NLB writes them so.
pub fn iso8601_ms(s: &[u8]) -> Option<i64> {
    if s.len() < 19
        || s[4] != b'-'
        || s[7] != b'-'
        || !matches!(s[10], b'T' | b' ')
        || s[13] != b':'
        || s[16] != b':'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| parse_u64(&s[r]).map(|v| v as i64);
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut i = 19;
    let mut ms = 0;
    if s.get(i) == Some(&b'.') {
        let start = i + 1;
        i = start;
        while s.get(i).is_some_and(u8::is_ascii_digit) {
            if i - start < 3 {
                ms = ms * 10 + i64::from(s[i] - b'0');
            }
            i += 1;
        }
        if i == start {
            return None;
        }
        for _ in (i - start)..3 {
            ms *= 10;
        }
    }
    let offset_s = match &s[i..] {
        b"" | b"Z" | b"z" => 0,
        [sign @ (b'+' | b'-'), rest @ ..] => {
            let (h, m) = match rest {
                [h1, h2, b':', m1, m2] | [h1, h2, m1, m2] => {
                    (parse_u64(&[*h1, *h2])?, parse_u64(&[*m1, *m2])?)
                }
                _ => return None,
            };
            let secs = (h * 3600 + m * 60) as i64;
            if *sign == b'+' {
                secs
            } else {
                -secs
            }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    Some((days * 86_400 + hour * 3600 + minute * 60 + second - offset_s) * 1000 + ms)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to the given proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests;
