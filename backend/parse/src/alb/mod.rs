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

use super::{Format, LineOutcome, Measurement, RecordParser, Sink};

pub(crate) mod fields;
mod lines;

pub use fields::iso8601_ms;
use fields::{check_entity, show, split_plain, split_quoted, MAX_FIELDS};
use lines::{alb_line, classic_line, conn_line, nlb_line, ConnLine, HttpLine, NlbLine};

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
fn names_tls(reason: &[u8]) -> bool {
    reason
        .windows(3)
        .any(|w| w.eq_ignore_ascii_case(b"tls") || w.eq_ignore_ascii_case(b"ssl"))
}

#[cfg(test)]
mod tests;
