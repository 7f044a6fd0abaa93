//! The per-family line layouts (ALB access, Classic ELB, NLB, ALB connection log) as structs.

use super::fields::{
    count, dash, elb_name, millis, seconds, show, status, target, time, MAX_FIELDS,
};

/// ALB access lines need fields up to `ssl_protocol`; everything after it is optional, as the
/// layout has grown over the years (`error_reason` since 2018, TID since 2024).
const ALB_MIN_FIELDS: usize = 16;
/// Classic ELB lines up to `"request"` (the user agent and TLS fields came in 2015).
const CLASSIC_MIN_FIELDS: usize = 12;
/// NLB lines up to `tls_protocol_version` (`tls 1.0` lines have 18 fields, `tls 2.0` 22).
const NLB_MIN_FIELDS: usize = 16;
/// ALB connection-log lines up to `tls_verify_status` (`conn_trace_id` is newer).
const CONN_MIN_FIELDS: usize = 11;

/// What an ALB access or Classic ELB line says; `None` stands for `-` (and `-1` times).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct HttpLine<'a> {
    pub(super) ts_ms: i64,
    pub(super) elb: &'a str,
    pub(super) target: Option<&'a str>,
    pub(super) processing_s: [Option<f64>; 3],
    pub(super) elb_status: Option<u16>,
    pub(super) received: u64,
    pub(super) sent: u64,
    /// The listener speaks HTTP (always on ALB; Classic ELB TCP/SSL listeners log `"- - - "`).
    pub(super) http: bool,
    /// The listener terminates TLS, so a line without TLS fields is a failed negotiation.
    pub(super) tls_expected: bool,
    pub(super) ssl_cipher: Option<&'a [u8]>,
    pub(super) ssl_protocol: Option<&'a [u8]>,
    pub(super) error_reason: Option<&'a [u8]>,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) struct NlbLine<'a> {
    pub(super) ts_ms: i64,
    pub(super) elb: &'a str,
    pub(super) connection_ms: Option<f64>,
    pub(super) handshake_ms: Option<f64>,
    pub(super) received: u64,
    pub(super) sent: u64,
    pub(super) tls_alert: Option<&'a [u8]>,
    pub(super) tls_cipher: Option<&'a [u8]>,
    pub(super) tls_protocol: Option<&'a [u8]>,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) struct ConnLine<'a> {
    pub(super) ts_ms: i64,
    pub(super) listener_port: u16,
    pub(super) tls_protocol: Option<&'a [u8]>,
    pub(super) handshake_ms: Option<f64>,
    pub(super) verify_status: Option<&'a [u8]>,
}

// type time elb client:port target:port request_processing_time target_processing_time
// response_processing_time elb_status_code target_status_code received_bytes sent_bytes
// "request" "user_agent" ssl_cipher ssl_protocol target_group_arn "trace_id" "domain_name"
// "chosen_cert_arn" matched_rule_priority request_creation_time "actions_executed"
// "redirect_url" "error_reason" "target:port_list" "target_status_code_list"
// "classification" "classification_reason" conn_trace_id
pub(super) fn alb_line<'a>(f: &[&'a [u8]; MAX_FIELDS], n: usize) -> Result<HttpLine<'a>, String> {
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
pub(super) fn classic_line<'a>(
    f: &[&'a [u8]; MAX_FIELDS],
    n: usize,
) -> Result<HttpLine<'a>, String> {
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
pub(super) fn nlb_line<'a>(f: &[&'a [u8]; MAX_FIELDS], n: usize) -> Result<NlbLine<'a>, String> {
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
pub(super) fn conn_line<'a>(f: &[&'a [u8]; MAX_FIELDS], n: usize) -> Result<ConnLine<'a>, String> {
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

fn request_url(request: &[u8]) -> &[u8] {
    request.split(|&b| b == b' ').nth(1).unwrap_or_default()
}
