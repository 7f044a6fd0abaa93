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
mod tests {
    use super::*;
    use layercast_shared::Event;
    use serde_json::Value;

    const DATA: &str = concat!(env!("LAYERCAST_SHARED_DATA"), "/");

    fn read(rel: &str) -> Vec<u8> {
        std::fs::read(format!("{DATA}{rel}")).unwrap_or_else(|e| panic!("{rel}: {e}"))
    }

    fn lines(bytes: &[u8]) -> Vec<&[u8]> {
        bytes
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .collect()
    }

    fn events(line: &[u8]) -> Result<Vec<Event>, String> {
        let mut out = Vec::new();
        AlbParser::new().line(line, &mut out)?;
        Ok(out)
    }

    fn layer(events: &[Event], layer: OsiLayer) -> Option<&Event> {
        events.iter().find(|e| e.layer == layer)
    }

    fn fields(line: &[u8]) -> Vec<String> {
        let mut f: [&[u8]; MAX_FIELDS] = [&[]; MAX_FIELDS];
        let n = split_quoted(line, &mut f).expect("tokenizes");
        f[..n.min(MAX_FIELDS)]
            .iter()
            .map(|x| String::from_utf8_lossy(x).trim().to_owned())
            .collect()
    }

    fn close(a: Option<f64>, b: Option<f64>) -> bool {
        match (a, b) {
            (Some(a), Some(b)) => (a - b).abs() < 1e-6,
            (a, b) => a == b,
        }
    }

    fn ms(rfc3339: &str) -> i64 {
        chrono::DateTime::parse_from_rfc3339(rfc3339)
            .expect("rfc3339")
            .timestamp_millis()
    }

    #[test]
    fn iso8601_agrees_with_chrono_and_refuses_nonsense() {
        for s in [
            "2018-07-02T22:23:00.186641Z",
            "2024-02-29T00:00:00Z",
            "1999-12-31T23:59:59.9+01:30",
            "2020-01-01T00:00:00.000-05:00",
        ] {
            assert_eq!(iso8601_ms(s.as_bytes()), Some(ms(s)), "{s}");
        }
        assert_eq!(
            iso8601_ms(b"2018-12-20T02:59:40"),
            Some(ms("2018-12-20T02:59:40Z"))
        );
        for bad in [
            "2023-02-29T00:00:00Z",
            "2018-13-01T00:00:00Z",
            "2018-07-02T24:00:00Z",
            "2018-07-02T22:23:00.Z",
            "2018-07-02T22:23:00Zjunk",
            "2018-07-0",
            "tls",
            "2018-07-02T22:23:0x",
        ] {
            assert_eq!(iso8601_ms(bad.as_bytes()), None, "{bad}");
        }
    }

    #[test]
    fn every_real_elb_line_parses() {
        for (file, want) in [
            ("aws/alb/elastic-integrations/test-alb.log", 10),
            ("aws/alb/elastic-beats/application-lb-http.log", 10),
            ("aws/alb/elastic-beats/example-alb-http.log", 9),
            ("aws/alb/classic-elb-elastic-beats/elb-http.log", 5),
            ("aws/alb/classic-elb-elastic-beats/elb-tcp.log", 6),
            ("aws/alb/classic-elb-elastic-beats/example-http.log", 2),
            ("aws/alb/classic-elb-elastic-beats/example-https.log", 1),
            ("aws/alb/classic-elb-elastic-beats/example-ssl.log", 1),
            ("aws/alb/classic-elb-elastic-beats/example-tcp.log", 2),
            ("aws/nlb/elastic-beats/example-nlb-tcp.log", 1),
            ("aws/nlb/elastic-integrations/test-alb.nlb-lines-3-6.log", 4),
        ] {
            for parser in [
                &mut AlbParser::new() as &mut dyn RecordParser,
                &mut NlbParser::new(),
            ] {
                let mut out = Vec::new();
                let report = super::super::parse_object(parser, &read(file), &mut out);
                assert_eq!(
                    (report.records, report.error_count),
                    (want, 0),
                    "{file}: {:?}",
                    report.errors
                );
                assert!(
                    out.len() as u64 >= want,
                    "{file}: every line measures something"
                );
            }
        }
    }

    /// Elastic's expected output for its mixed fixture: ALB, NLB and connection-log lines.
    #[test]
    fn elastic_fixture_values_match_its_expected_output() {
        let input = read("aws/alb/elastic-integrations/test-alb.log");
        let expected: Value = serde_json::from_slice(&read(
            "aws/alb/elastic-integrations/test-alb.log-expected.json",
        ))
        .expect("json");
        let expected = expected["expected"].as_array().expect("array");
        let input = lines(&input);
        assert_eq!(input.len(), expected.len());
        for (line, x) in input.iter().zip(expected) {
            let ev = events(line).expect("parses");
            let elb = &x["aws"]["elb"];
            let f = |p: &str| x.pointer(p).and_then(Value::as_f64);
            assert!(ev
                .iter()
                .all(|e| e.ts.timestamp_millis() == ms(x["@timestamp"].as_str().expect("ts"))));
            let l4 = layer(&ev, OsiLayer::L4).expect("L4");
            let l6 = layer(&ev, OsiLayer::L6);
            match elb["protocol"].as_str() {
                Some("http") => {
                    let l7 = layer(&ev, OsiLayer::L7).expect("L7");
                    let target = elb["backend"]["ip"].as_str().map(|ip| {
                        format!(">{ip}:{}", elb["backend"]["port"].as_str().expect("port"))
                    });
                    assert_eq!(
                        l7.entity,
                        format!(
                            "{}{}",
                            elb["name"].as_str().expect("name"),
                            target.unwrap_or_default()
                        )
                    );
                    let bytes = f("/http/request/body/bytes").unwrap_or(0.0)
                        + f("/http/response/body/bytes").unwrap_or(0.0);
                    assert_eq!(l7.bytes, bytes as u64);
                    let times = ["request", "backend", "response"]
                        .map(|k| f(&format!("/aws/elb/{k}_processing_time/sec")));
                    let latency = times
                        .iter()
                        .try_fold(0.0, |acc, t| t.map(|t| acc + t * 1000.0));
                    assert!(
                        close(l7.latency_ms, latency),
                        "{:?} {latency:?}",
                        l7.latency_ms
                    );
                    assert_eq!(l4.entity, elb["name"].as_str().expect("name"));
                    assert!(l6.is_none(), "plain HTTP has no L6");
                }
                Some("tcp") if elb["type"] == "tls" => {
                    assert_eq!(l4.entity, elb["name"].as_str().expect("name"));
                    assert_eq!(
                        l4.bytes as f64,
                        f("/source/bytes").expect("rx") + f("/destination/bytes").expect("tx")
                    );
                    assert!(close(l4.latency_ms, f("/aws/elb/connection_time/ms")));
                    let l6 = l6.expect("NLB L6");
                    assert!(close(l6.latency_ms, f("/aws/elb/tls_handshake_time/ms")));
                    let ok = elb.get("ssl_protocol").is_some();
                    assert_eq!((l6.connections, l6.errors), (1, u64::from(!ok)));
                }
                Some("tcp") => {
                    assert_eq!(
                        l4.entity,
                        format!("listener:{}", elb["listener"].as_str().expect("listener"))
                    );
                    let failed = elb["tls_verify_status"] == "Failed";
                    match l6 {
                        Some(l6) => {
                            assert!(close(l6.latency_ms, elb["tls_handshake_latency"].as_f64()));
                            assert_eq!(l6.error_class, failed.then_some(ErrorClass::TlsFailure));
                        }
                        None => assert!(elb.get("ssl_protocol").is_none()),
                    }
                }
                other => panic!("unexpected protocol {other:?}"),
            }
        }
    }

    /// Simnalamburt's cases give every ALB field as text: the tokenizer must agree on each.
    #[test]
    fn alb_cases_split_into_the_expected_fields() {
        const NAMES: [&str; 30] = [
            "type",
            "time",
            "elb",
            "",
            "target_ip_port",
            "request_processing_time",
            "target_processing_time",
            "response_processing_time",
            "elb_status_code",
            "target_status_code",
            "received_bytes",
            "sent_bytes",
            "",
            "user_agent",
            "ssl_cipher",
            "ssl_protocol",
            "target_group_arn",
            "trace_id",
            "domain_name",
            "chosen_cert_arn",
            "matched_rule_priority",
            "request_creation_time",
            "actions_executed",
            "redirect_url",
            "error_reason",
            "target_ip_port_list",
            "target_status_code_list",
            "classification",
            "classification_reason",
            "tid",
        ];
        let cases = read("aws/alb/simnalamburt-elb-log-parser/alb.cases.jsonl");
        for case in lines(&cases) {
            let case: Value = serde_json::from_slice(case).expect("json");
            let (input, x) = (
                case["input"].as_str().expect("input").trim_end(),
                &case["expected"],
            );
            let got = fields(input.as_bytes());
            for (i, name) in NAMES.iter().enumerate().filter(|(_, n)| !n.is_empty()) {
                if let Some(want) = x[name].as_str() {
                    assert_eq!(got[i], want, "case {} field {name}", case["case"]);
                }
            }
            assert_eq!(
                got[3],
                format!(
                    "{}:{}",
                    x["client_ip"].as_str().expect("ip"),
                    x["client_port"].as_str().expect("port")
                )
            );
            let ev = events(input.as_bytes()).expect("parses");
            let l7 = layer(&ev, OsiLayer::L7).expect("L7");
            let num = |k: &str| x[k].as_str().expect(k).parse::<u64>().expect("number");
            assert_eq!(l7.bytes, num("received_bytes") + num("sent_bytes"));
            assert_eq!(
                l7.ts.timestamp_millis(),
                ms(x["time"].as_str().expect("time"))
            );
        }
    }

    #[test]
    fn vrl_cases_give_the_expected_values() {
        let cases = read("aws/alb/vrl/parse_aws_alb_log.cases.jsonl");
        for case in lines(&cases) {
            let case: Value = serde_json::from_slice(case).expect("json");
            let x = &case["expected"];
            let mut f: [&[u8]; MAX_FIELDS] = [&[]; MAX_FIELDS];
            let input = case["input"].as_str().expect("input").as_bytes();
            let n = split_quoted(input, &mut f).expect("tokenizes");
            let r = alb_line(&f, n).expect("parses");
            let name = &case["case"];
            assert_eq!(r.elb, x["elb"].as_str().expect("elb"), "{name}");
            assert_eq!(
                r.elb_status.map(|s| s.to_string()).as_deref(),
                x["elb_status_code"].as_str(),
                "{name}"
            );
            assert_eq!(
                (r.received, r.sent),
                (
                    x["received_bytes"].as_u64().expect("rx"),
                    x["sent_bytes"].as_u64().expect("tx")
                )
            );
            for (i, k) in [
                "request_processing_time",
                "target_processing_time",
                "response_processing_time",
            ]
            .iter()
            .enumerate()
            {
                let want = x[k].as_f64().filter(|&t| t >= 0.0);
                assert!(close(r.processing_s[i], want), "{name} {k}");
            }
            let text = |o: Option<&[u8]>| o.map(|b| String::from_utf8_lossy(b).into_owned());
            assert_eq!(
                text(r.ssl_cipher),
                x["ssl_cipher"].as_str().map(str::to_owned),
                "{name}"
            );
            assert_eq!(
                text(r.ssl_protocol),
                x["ssl_protocol"].as_str().map(str::to_owned),
                "{name}"
            );
            assert_eq!(
                text(r.error_reason),
                x["error_reason"].as_str().map(str::to_owned),
                "{name}"
            );
            if let Some(t) = x.get("target_host") {
                assert_eq!(r.target, t.as_str(), "{name}");
            }
        }
    }

    #[test]
    fn classic_cases_give_the_expected_values() {
        let cases = read("aws/alb/classic-elb-simnalamburt/classic_lb.cases.jsonl");
        for case in lines(&cases) {
            let case: Value = serde_json::from_slice(case).expect("json");
            let (x, input) = (
                &case["expected"],
                case["input"].as_str().expect("input").trim_end().as_bytes(),
            );
            let mut f: [&[u8]; MAX_FIELDS] = [&[]; MAX_FIELDS];
            let n = split_quoted(input, &mut f).expect("tokenizes");
            let r = classic_line(&f, n).expect("parses");
            assert_eq!(r.elb, x["elb"].as_str().expect("elb"));
            assert_eq!(
                r.target,
                Some(x["backend_ip_port"].as_str().expect("backend")).filter(|t| *t != "-")
            );
            assert_eq!(r.ts_ms, ms(x["time"].as_str().expect("time")));
            assert_eq!(
                r.elb_status.map(|s| s.to_string()).unwrap_or("-".into()),
                x["elb_status_code"].as_str().expect("status")
            );
            assert_eq!(r.http, x["http_method"] != "-");
            let rx = x["received_bytes"]
                .as_str()
                .expect("rx")
                .parse::<u64>()
                .expect("n");
            assert_eq!(r.received, rx);
            let ev = events(input).expect("parses");
            assert_eq!(layer(&ev, OsiLayer::L7).is_some(), r.http);
            assert_eq!(layer(&ev, OsiLayer::L6).is_some(), x["ssl_cipher"] != "-");
        }
    }

    #[test]
    fn an_https_line_speaks_of_l4_l6_and_l7() {
        let input = read("aws/alb/elastic-beats/example-alb-http.log");
        let ev = events(lines(&input)[1]).expect("parses");
        assert_eq!(
            ev.iter().map(|e| e.layer).collect::<Vec<_>>(),
            [OsiLayer::L4, OsiLayer::L6, OsiLayer::L7]
        );
        assert_eq!(
            (ev[0].entity.as_str(), ev[0].connections),
            ("app/my-loadbalancer/50dc6c495c0c9188", 1)
        );
        assert_eq!((ev[1].connections, ev[1].errors), (1, 0));
        let l7 = &ev[2];
        assert_eq!(
            l7.entity,
            "app/my-loadbalancer/50dc6c495c0c9188>10.0.0.1:80"
        );
        assert_eq!((l7.requests, l7.bytes, l7.errors), (1, 57, 0));
        assert!(close(l7.latency_ms, Some(171.0)));
    }

    #[test]
    fn status_classes_timeouts_and_tls_failures_are_errors() {
        let input = read("aws/alb/elastic-beats/application-lb-http.log");
        let ev = events(lines(&input)[1]).expect("504 line");
        let l7 = layer(&ev, OsiLayer::L7).expect("L7");
        assert_eq!(
            (l7.errors, l7.error_class, l7.latency_ms),
            (1, Some(ErrorClass::ServerError), None)
        );
        let ev = events(lines(&input)[0]).expect("460 line");
        assert_eq!(
            layer(&ev, OsiLayer::L7).expect("L7").error_class,
            Some(ErrorClass::ClientError)
        );

        let https_without_tls = b"https 2018-07-02T22:23:00.186641Z app/lb/1 1.2.3.4:5 - -1 -1 -1 400 - 0 0 \"- - -\" \"-\" - - - \"-\" \"-\" \"-\" - 2018-07-02T22:23:00.186641Z \"-\" \"-\" \"-\"";
        let l6 = events(https_without_tls)
            .expect("parses")
            .into_iter()
            .find(|e| e.layer == OsiLayer::L6)
            .expect("L6");
        assert_eq!(
            (l6.connections, l6.errors, l6.error_class),
            (1, 1, Some(ErrorClass::TlsFailure))
        );
        let target_tls = b"http 2018-07-02T22:23:00.186641Z app/lb/1 1.2.3.4:5 10.0.0.1:443 0.001 -1 -1 502 - 9 9 \"GET http://x/ HTTP/1.1\" \"-\" - - - \"-\" \"-\" \"-\" 0 2018-07-02T22:23:00.186641Z \"forward\" \"-\" \"TargetTLSNegotiationError\"";
        let l6 = events(target_tls)
            .expect("parses")
            .into_iter()
            .find(|e| e.layer == OsiLayer::L6)
            .expect("L6");
        assert_eq!(l6.error_class, Some(ErrorClass::TlsFailure));

        // h2 in clear text (h2c) is not a TLS failure: simnalamburt's case 16.
        let cases = read("aws/alb/simnalamburt-elb-log-parser/alb.cases.jsonl");
        let case: Value = serde_json::from_slice(lines(&cases)[16]).expect("json");
        let ev = events(case["input"].as_str().expect("input").as_bytes()).expect("parses");
        assert!(layer(&ev, OsiLayer::L6).is_none());

        let tcp = read("aws/alb/classic-elb-elastic-beats/example-tcp.log");
        let ev = events(lines(&tcp)[1]).expect("no backend");
        assert_eq!(
            (ev.len(), ev[0].error_class, ev[0].bytes),
            (1, Some(ErrorClass::FailedHandshake), 82)
        );
    }

    /// Line 5 of Filebeat's example lacks a space between `"-"` and `1`.
    #[test]
    fn a_closing_quote_ends_its_field_even_without_a_space() {
        let input = read("aws/alb/elastic-beats/example-alb-http.log");
        let got = fields(lines(&input)[4]);
        assert_eq!(got.len(), 25);
        assert_eq!(
            (got[19].as_str(), got[20].as_str(), got[21].as_str()),
            ("-", "1", "2018-07-02T22:22:48.364000Z")
        );
        assert_eq!(got[24], "-");
    }

    #[test]
    fn malformed_lines_are_refused_with_a_reason_and_never_panic() {
        let cases: [(&[u8], &str); 9] = [
            (b"garbage here", "not a load balancer log line"),
            (b"http 2018-07-02T22:23:00.186641Z app/lb/1 1.2.3.4:5", "with 4 fields"),
            (b"http yesterday app/lb/1 1.2.3.4:5 - 0 0 0 200 200 1 1 \"GET / HTTP/1.1\" \"-\" - -", "not an ISO 8601 time"),
            (b"http 2018-07-02T22:23:00.186641Z app/lb/1 1.2.3.4:5 - 0 0 0 200 200 lots 1 \"GET / HTTP/1.1\" \"-\" - -", "received_bytes `lots`"),
            (b"http 2018-07-02T22:23:00.186641Z app/lb/1 1.2.3.4:5 - 0 NaN 0 200 200 1 1 \"GET / HTTP/1.1\" \"-\" - -", "`NaN` is not a duration"),
            (b"http 2018-07-02T22:23:00.186641Z app/lb/1 1.2.3.4:5 - 0 0 0 200 200 1 1 \"GET / HTTP/1.1", "never closes"),
            (b"http 2018-07-02T22:23:00.186641Z \xff\xfe 1.2.3.4:5 - 0 0 0 200 200 1 1 \"GET / HTTP/1.1\" \"-\" - -", "not UTF-8"),
            (b"tls 3.0 2018-12-20T02:59:40 net/a/b l 1.2.3.4:5 1.2.3.4:443 5 2 98 246 - arn - c tlsv12 - d", "version `3.0`"),
            (b"2024-10-04T17:05:15.514108Z 192.168.131.39 36280 99999 TLSv1.2 c 4.036 \"-\" - - Success", "not a port"),
        ];
        for (line, reason) in cases {
            let err = events(line).expect_err("refused");
            assert!(err.contains(reason), "{err} (wanted {reason})");
        }
        assert_eq!(
            AlbParser::new().line(b"   ", &mut Vec::new()),
            Ok(LineOutcome::Skipped)
        );
        let long_target = format!("http 2018-07-02T22:23:00.186641Z app/lb/1 1.2.3.4:5 {}:80 0 0 0 200 200 1 1 \"GET / HTTP/1.1\" \"-\" - -", "x".repeat(300));
        let mut sink = Vec::new();
        let err = AlbParser::new()
            .line(long_target.as_bytes(), &mut sink)
            .expect_err("refused");
        assert!(
            err.contains("bytes long") && sink.is_empty(),
            "{err}: a refused line measures nothing"
        );

        // Every prefix and a byte flipped at every place of real lines: Ok or Err, no panic.
        let mut all = read("aws/alb/elastic-integrations/test-alb.log");
        all.extend(read("aws/alb/classic-elb-elastic-beats/example-tcp.log"));
        for line in lines(&all) {
            for cut in 0..line.len() {
                let _ = events(&line[..cut]);
                let mut bent = line.to_vec();
                bent[cut] = [b'"', b' ', b'-', 0xff][cut % 4];
                let _ = events(&bent);
            }
        }
    }

    #[test]
    fn sniffing_tells_the_families_apart_on_real_files() {
        let first = |rel: &str| {
            read(rel)
                .split(|&b| b == b'\n')
                .take(5)
                .map(<[u8]>::to_vec)
                .collect::<Vec<_>>()
        };
        let sniffs = |rel: &str| {
            let f = first(rel);
            let refs: Vec<&[u8]> = f.iter().map(Vec::as_slice).collect();
            (sniff(&refs), sniff_nlb(&refs))
        };
        for alb in [
            "aws/alb/elastic-integrations/test-alb.log",
            "aws/alb/elastic-beats/example-alb-http.log",
            "aws/alb/classic-elb-elastic-beats/elb-tcp.log",
        ] {
            assert_eq!(sniffs(alb), (true, false), "{alb}");
        }
        assert_eq!(
            sniffs("aws/nlb/elastic-beats/example-nlb-tcp.log"),
            (false, true)
        );
        for other in [
            "zeek/wrccdc-2018/tsv/dns.log",
            "zeek/wrccdc-2018/json/ssl.json",
            "aws/vpcflow/elastic-beats/bad.log",
            "aws/vpcflow/elastic-beats/accept-reject-traffic.log",
        ] {
            assert_eq!(sniffs(other), (false, false), "{other}");
        }
    }

    #[test]
    fn connection_logs_take_their_load_balancer_from_the_object_key() {
        let key = "logs/AWSLogs/123456789012/elasticloadbalancing/us-east-2/2022/05/01/conn_log.123456789012_elasticloadbalancing_us-east-2_app.my-loadbalancer.1234567890abcdef_20220215T2340Z_172.160.001.192_20sg8hgm.log.gz";
        assert_eq!(
            load_balancer_from_key(key).as_deref(),
            Some("app/my-loadbalancer/1234567890abcdef")
        );
        assert_eq!(load_balancer_from_key("inbox/test-alb.log"), None);
        let mut out = Vec::new();
        let line = b"2024-10-04T17:05:15.514108Z 192.168.131.39 36280 443 TLSv1.2 ECDHE-RSA-AES128-GCM-SHA256 4.036 \"-\" - - Success";
        AlbParser::for_object_key(key)
            .line(line, &mut out)
            .expect("parses");
        assert_eq!(out[0].entity, "app/my-loadbalancer/1234567890abcdef:443");
    }
}
