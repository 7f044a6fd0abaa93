//! ALB access logs: one line per request, every field in AWS's order (the parser reads up to
//! `error_reason`; the rest are written as AWS writes them).
//!
//! Normal requests are `https` lines with a TLS cipher, 2xx (a few 4xx/5xx). During a CRC
//! burst's L7 phase the target answers `latency_factor` times slower and some requests time
//! out (504). During a TLS incident of a target, the ALB's TLS handshake to it fails: 502 with
//! `error_reason` `TargetTLSNegotiationError` (L6 error on the load balancer, L7 5xx on the
//! target).

use rand::Rng;

use super::{ip, Ctx};
use crate::simulate::fmt;
use crate::simulate::traffic::{self, MS_PER_S};

/// Share of requests a client gets wrong (404) and a healthy target fails (500).
const CLIENT_ERROR_RATIO: f64 = 0.01;
const SERVER_ERROR_RATIO: f64 = 0.001;
/// Share of requests that time out while a target is slowed down by an incident.
const TIMEOUT_RATIO_WHEN_SLOW: f64 = 0.05;
/// Spread of request latency, as the sd of its logarithm.
const LATENCY_LOG_SD: f64 = 0.35;
const PATHS: [&str; 4] = ["/", "/v1/items", "/v1/cart", "/static/app.js"];
const ACCOUNT: &str = "123456789012";
const REGION: &str = "eu-central-1";

/// Writes the requests of load balancer `lb` over `[from_ms, to_ms)`; returns the line count.
pub fn write(ctx: &mut Ctx<'_>, lb: usize, from_ms: i64, to_ms: i64, buf: &mut Vec<u8>) -> u64 {
    let net = ctx.net;
    let targets: Vec<usize> = (0..net.services.len())
        .filter(|&s| net.services[s].load_balancer == lb)
        .collect();
    let levels: Vec<f64> = targets.iter().map(|_| ctx.level(from_ms)).collect();
    let mut lines = 0;
    let mut second = from_ms;
    while second < to_ms {
        let season = traffic::seasonal(&net.profile, second);
        for (&s, level) in targets.iter().zip(&levels) {
            let svc = &net.services[s];
            let n = traffic::count(ctx.rng, svc.requests_per_s * season * level);
            let t = ctx.offset(second);
            let slow = net.latency_factor(s, t);
            let tls_broken = net.tls_failure_ratio(s, t);
            for _ in 0..n {
                let ts = ctx.within_second(second);
                line(ctx, lb, s, ts, slow, tls_broken, buf);
                lines += 1;
            }
        }
        second += MS_PER_S;
    }
    lines
}

fn line(
    ctx: &mut Ctx<'_>,
    lb: usize,
    s: usize,
    ts: i64,
    slow: f64,
    tls_broken: f64,
    buf: &mut Vec<u8>,
) {
    let net = ctx.net;
    let svc = &net.services[s];
    let tls_failed = traffic::chance(ctx.rng, tls_broken);
    let timed_out = slow > 1.0 && traffic::chance(ctx.rng, TIMEOUT_RATIO_WHEN_SLOW);
    let latency_s =
        svc.latency_ms * slow * (LATENCY_LOG_SD * traffic::unit_noise(ctx.rng)).exp() / 1000.0;
    let status: u16 = if tls_failed {
        502
    } else if timed_out {
        504
    } else if traffic::chance(ctx.rng, SERVER_ERROR_RATIO) {
        500
    } else if traffic::chance(ctx.rng, CLIENT_ERROR_RATIO) {
        404
    } else {
        200
    };
    let reached_target = !tls_failed && !timed_out;
    buf.extend_from_slice(b"https ");
    ctx.clock.iso(buf, ts, true);
    buf.push(b' ');
    buf.extend_from_slice(net.load_balancers[lb].name.as_bytes());
    buf.push(b' ');
    let client = ctx.public_client();
    ip(buf, client);
    buf.push(b':');
    let port = ctx.ephemeral_port();
    fmt::u64(buf, u64::from(port));
    buf.push(b' ');
    ip(buf, svc.addr);
    buf.push(b':');
    fmt::u64(buf, u64::from(svc.port));
    // request, target and response processing times; -1 when the target never answered.
    buf.extend_from_slice(b" 0.000 ");
    if reached_target {
        fmt::fixed(buf, latency_s, 3);
        buf.extend_from_slice(b" 0.000 ");
    } else {
        buf.extend_from_slice(b"-1 -1 ");
    }
    fmt::u64(buf, u64::from(status));
    buf.push(b' ');
    if reached_target {
        fmt::u64(buf, u64::from(status));
    } else {
        buf.push(b'-');
    }
    buf.push(b' ');
    let received = ctx.rng.random_range(250..900_u64);
    fmt::u64(buf, received);
    buf.push(b' ');
    let sent = if reached_target {
        ctx.rng.random_range(400..40_000_u64)
    } else {
        0
    };
    fmt::u64(buf, sent);
    buf.extend_from_slice(b" \"GET https://");
    buf.extend_from_slice(svc.host.as_bytes());
    buf.push(b':');
    fmt::u64(buf, u64::from(svc.port));
    buf.extend_from_slice(PATHS[ctx.rng.random_range(0..PATHS.len())].as_bytes());
    buf.extend_from_slice(b" HTTP/1.1\" \"Mozilla/5.0 (X11; Linux x86_64)\" ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 arn:aws:elasticloadbalancing:");
    buf.extend_from_slice(REGION.as_bytes());
    buf.push(b':');
    buf.extend_from_slice(ACCOUNT.as_bytes());
    buf.extend_from_slice(b":targetgroup/");
    buf.extend_from_slice(svc.name.as_bytes());
    buf.extend_from_slice(b"/73e2d6bc24d8a067 \"Root=1-");
    ctx.hex(buf, 8);
    buf.push(b'-');
    ctx.hex(buf, 24);
    buf.extend_from_slice(b"\" \"");
    buf.extend_from_slice(svc.host.as_bytes());
    buf.extend_from_slice(b"\" \"arn:aws:acm:");
    buf.extend_from_slice(REGION.as_bytes());
    buf.push(b':');
    buf.extend_from_slice(ACCOUNT.as_bytes());
    buf.extend_from_slice(b":certificate/12345678-1234-1234-1234-123456789012\" 1 ");
    let took_ms = if reached_target {
        (latency_s * 1000.0) as i64
    } else {
        0
    };
    ctx.clock.iso(buf, ts - took_ms, true);
    buf.extend_from_slice(b" \"forward\" \"-\" ");
    if tls_failed {
        buf.extend_from_slice(b"\"TargetTLSNegotiationError\"");
    } else if timed_out {
        buf.extend_from_slice(b"\"TargetResponseTimeout\"");
    } else {
        buf.extend_from_slice(b"\"-\"");
    }
    buf.extend_from_slice(b" \"");
    ip(buf, svc.addr);
    buf.push(b':');
    fmt::u64(buf, u64::from(svc.port));
    buf.extend_from_slice(b"\" \"");
    if reached_target {
        fmt::u64(buf, u64::from(status));
    } else {
        buf.push(b'-');
    }
    buf.extend_from_slice(b"\" \"-\" \"-\"\n");
}

/// The object's name after AWS's: `<account>_elasticloadbalancing_<region>_app.<name>.<id>_<end>_<ip>_<random>.log.gz`
/// (the time prefix, added by the driver, keeps all objects in simulated-time order).
pub fn object_name(ctx: &Ctx<'_>, lb: usize, to_ms: i64) -> String {
    let lb_dotted = ctx.net.load_balancers[lb].name.replace('/', ".");
    format!(
        "{ACCOUNT}_elasticloadbalancing_{REGION}_{lb_dotted}_{}_10.0.0.1_sim.log.gz",
        fmt::compact_time(to_ms)
    )
}
