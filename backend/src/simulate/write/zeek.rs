//! Zeek logs from a sensor between the load balancer and the services: `conn` and `http` in
//! Zeek's TSV writer, `dns` and `ssl` in its JSON writer (both writers exist in the wild).
//!
//! - conn: one connection per [`REQUESTS_PER_CONNECTION`] requests; `SF` when healthy, `S0`
//!   (SYN, no answer) for the handshakes a CRC burst breaks.
//! - http: the load balancer's plain-HTTP health checks of each target (the requests
//!   themselves are TLS, which Zeek cannot read); some fail with 503 while a target is slow.
//! - ssl: one handshake per connection, a share resumed (L5); during a TLS incident a share
//!   is not established (`certificate_expired`).
//! - dns: internal clients asking the resolvers for the services' names; SERVFAIL during a
//!   resolver incident.

use rand::Rng;

use super::{ip, Ctx, REQUESTS_PER_CONNECTION};
use crate::simulate::fmt;
use crate::simulate::traffic::{self, MS_PER_S};

/// The log kinds written, in the order their objects are rolled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Log {
    Conn,
    Http,
    Dns,
    Ssl,
}

impl Log {
    pub const ALL: [Log; 4] = [Log::Conn, Log::Http, Log::Dns, Log::Ssl];

    pub fn name(self) -> &'static str {
        match self {
            Log::Conn => "conn",
            Log::Http => "http",
            Log::Dns => "dns",
            Log::Ssl => "ssl",
        }
    }
}

const CONN_FIELDS: &str = "ts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\torig_bytes\tresp_bytes\tconn_state\tlocal_orig\tlocal_resp\tmissed_bytes\thistory\torig_pkts\torig_ip_bytes\tresp_pkts\tresp_ip_bytes\ttunnel_parents";
const CONN_TYPES: &str = "time\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\tcount\tstring\tbool\tbool\tcount\tstring\tcount\tcount\tcount\tcount\tset[string]";
const HTTP_FIELDS: &str = "ts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\ttrans_depth\tmethod\thost\turi\tversion\tuser_agent\trequest_body_len\tresponse_body_len\tstatus_code\tstatus_msg";
const HTTP_TYPES: &str = "time\tstring\taddr\tport\taddr\tport\tcount\tstring\tstring\tstring\tstring\tstring\tcount\tcount\tcount\tstring";
/// The load balancer's address as the sensor sees it talk to the targets.
const LB_ADDR: std::net::Ipv4Addr = std::net::Ipv4Addr::new(10, 1, 0, 10);
const HEALTH_CHECK_EVERY_S: i64 = 10;
const HEALTH_PORT: u64 = 80;
/// Share of health checks that fail while a target is slowed down.
const HEALTH_FAIL_WHEN_SLOW: f64 = 0.3;
const RESUMED_RATIO: f64 = 0.3;
/// IP + TCP header bytes per packet.
const HEADER_BYTES: u64 = 52;
/// A SERVFAIL comes after the resolver gave up on its upstream: this many times its usual rtt.
const SERVFAIL_RTT_FACTOR: f64 = 50.0;

fn header(buf: &mut Vec<u8>, path: &str, fields: &str, types: &str) {
    buf.extend_from_slice(
        b"#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\t",
    );
    buf.extend_from_slice(path.as_bytes());
    buf.extend_from_slice(b"\n#fields\t");
    buf.extend_from_slice(fields.as_bytes());
    buf.extend_from_slice(b"\n#types\t");
    buf.extend_from_slice(types.as_bytes());
    buf.push(b'\n');
}

/// Writes one log kind over `[from_ms, to_ms)`; returns the record count.
pub fn write(ctx: &mut Ctx<'_>, log: Log, from_ms: i64, to_ms: i64, buf: &mut Vec<u8>) -> u64 {
    match log {
        Log::Conn => header(buf, "conn", CONN_FIELDS, CONN_TYPES),
        Log::Http => header(buf, "http", HTTP_FIELDS, HTTP_TYPES),
        Log::Dns | Log::Ssl => {}
    }
    let net = ctx.net;
    let mut records = 0;
    let levels: Vec<f64> = match log {
        Log::Dns => net.resolvers.iter().map(|_| ctx.level(from_ms)).collect(),
        _ => net.services.iter().map(|_| ctx.level(from_ms)).collect(),
    };
    let mut second = from_ms;
    while second < to_ms {
        let season = traffic::seasonal(&net.profile, second);
        let t = ctx.offset(second);
        if log == Log::Dns {
            for (r, level) in levels.iter().enumerate() {
                let n = traffic::count(ctx.rng, net.resolvers[r].queries_per_s * season * level);
                let servfail = net.servfail_ratio(r, t);
                for _ in 0..n {
                    let ts = ctx.within_second(second);
                    dns(ctx, r, ts, servfail, buf);
                    records += 1;
                }
            }
        } else if log == Log::Http {
            if (second / MS_PER_S) % HEALTH_CHECK_EVERY_S == 0 {
                for s in 0..net.services.len() {
                    let failing = if net.latency_factor(s, t) > 1.0 {
                        HEALTH_FAIL_WHEN_SLOW
                    } else {
                        0.0
                    };
                    let ts = ctx.within_second(second);
                    let failed = traffic::chance(ctx.rng, failing);
                    http(ctx, s, ts, failed, buf);
                    records += 1;
                }
            }
        } else {
            for (s, level) in levels.iter().enumerate() {
                let rate =
                    net.services[s].requests_per_s / REQUESTS_PER_CONNECTION * season * level;
                let p = match log {
                    Log::Conn => net.failed_handshake_ratio(s, t),
                    _ => net.tls_failure_ratio(s, t),
                };
                for _ in 0..traffic::count(ctx.rng, rate) {
                    let failed = traffic::chance(ctx.rng, p);
                    let ts = ctx.within_second(second);
                    if log == Log::Conn {
                        conn(ctx, s, ts, failed, buf);
                    } else {
                        ssl(ctx, s, ts, failed, buf);
                    }
                    records += 1;
                }
            }
        }
        second += MS_PER_S;
    }
    if matches!(log, Log::Conn | Log::Http) {
        buf.extend_from_slice(b"#close\t");
        buf.extend_from_slice(fmt::compact_time(to_ms).as_bytes());
        buf.push(b'\n');
    }
    records
}

fn uid(ctx: &mut Ctx<'_>, buf: &mut Vec<u8>) {
    buf.push(b'C');
    ctx.hex(buf, 17);
}

/// The fields every log of a connection from the load balancer opens with: `ts`, `uid`,
/// `id.orig_h`, `id.orig_p`, `id.resp_h`, `id.resp_p`.
fn conn_id(
    ctx: &mut Ctx<'_>,
    ts: i64,
    resp: std::net::Ipv4Addr,
    resp_port: u64,
    buf: &mut Vec<u8>,
) {
    fmt::epoch_micros(buf, ts);
    buf.push(b'\t');
    uid(ctx, buf);
    buf.push(b'\t');
    ip(buf, LB_ADDR);
    buf.push(b'\t');
    fmt::u64(buf, u64::from(ctx.ephemeral_port()));
    buf.push(b'\t');
    ip(buf, resp);
    buf.push(b'\t');
    fmt::u64(buf, resp_port);
}

fn conn(ctx: &mut Ctx<'_>, s: usize, ts: i64, failed: bool, buf: &mut Vec<u8>) {
    let svc = &ctx.net.services[s];
    conn_id(ctx, ts, svc.addr, u64::from(svc.port), buf);
    if failed {
        // Three SYNs, no answer: Zeek's S0, history `S`.
        buf.extend_from_slice(b"\ttcp\t-\t3.011000\t0\t0\tS0\tT\tT\t0\tS\t3\t180\t0\t0\t-\n");
        return;
    }
    let (op, rp) = (
        ctx.rng.random_range(6..40_u64),
        ctx.rng.random_range(8..100_u64),
    );
    let (ob, rb) = (
        op * ctx.rng.random_range(40..300_u64),
        rp * ctx.rng.random_range(300..1300_u64),
    );
    buf.extend_from_slice(b"\ttcp\tssl\t");
    fmt::fixed(buf, ctx.rng.random_range(0.05..30.0), 6);
    for v in [ob, rb] {
        buf.push(b'\t');
        fmt::u64(buf, v);
    }
    buf.extend_from_slice(b"\tSF\tT\tT\t0\tShADadFf");
    for v in [op, ob + op * HEADER_BYTES, rp, rb + rp * HEADER_BYTES] {
        buf.push(b'\t');
        fmt::u64(buf, v);
    }
    buf.extend_from_slice(b"\t-\n");
}

fn http(ctx: &mut Ctx<'_>, s: usize, ts: i64, failed: bool, buf: &mut Vec<u8>) {
    let svc = &ctx.net.services[s];
    conn_id(ctx, ts, svc.addr, HEALTH_PORT, buf);
    buf.extend_from_slice(b"\t1\tGET\t");
    ip(buf, svc.addr);
    buf.extend_from_slice(b"\t/health\t1.1\tELB-HealthChecker/2.0\t0\t");
    buf.extend_from_slice(if failed {
        b"0\t503\tService Unavailable\n"
    } else {
        b"2\t200\tOK\n"
    });
}

fn json_head(
    ctx: &mut Ctx<'_>,
    path: &str,
    ts: i64,
    orig: std::net::Ipv4Addr,
    resp: std::net::Ipv4Addr,
    port: u16,
    buf: &mut Vec<u8>,
) {
    buf.extend_from_slice(b"{\"_path\":\"");
    buf.extend_from_slice(path.as_bytes());
    buf.extend_from_slice(b"\",\"ts\":");
    fmt::epoch_micros(buf, ts);
    buf.extend_from_slice(b",\"uid\":\"");
    uid(ctx, buf);
    buf.extend_from_slice(b"\",\"id.orig_h\":\"");
    ip(buf, orig);
    buf.extend_from_slice(b"\",\"id.orig_p\":");
    fmt::u64(buf, u64::from(ctx.ephemeral_port()));
    buf.extend_from_slice(b",\"id.resp_h\":\"");
    ip(buf, resp);
    buf.extend_from_slice(b"\",\"id.resp_p\":");
    fmt::u64(buf, u64::from(port));
}

fn ssl(ctx: &mut Ctx<'_>, s: usize, ts: i64, failed: bool, buf: &mut Vec<u8>) {
    let svc = &ctx.net.services[s];
    json_head(ctx, "ssl", ts, LB_ADDR, svc.addr, svc.port, buf);
    let resumed = !failed && traffic::chance(ctx.rng, RESUMED_RATIO);
    buf.extend_from_slice(b",\"version\":\"TLSv12\",\"cipher\":\"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256\",\"curve\":\"x25519\",\"server_name\":\"");
    buf.extend_from_slice(svc.host.as_bytes());
    buf.extend_from_slice(if resumed {
        b"\",\"resumed\":true"
    } else {
        b"\",\"resumed\":false"
    });
    if failed {
        buf.extend_from_slice(b",\"last_alert\":\"certificate_expired\",\"established\":false}\n");
    } else {
        buf.extend_from_slice(b",\"established\":true}\n");
    }
}

fn dns(ctx: &mut Ctx<'_>, r: usize, ts: i64, servfail: f64, buf: &mut Vec<u8>) {
    let resolver = &ctx.net.resolvers[r];
    let client = ctx.internal_client();
    json_head(ctx, "dns", ts, client, resolver.addr, 53, buf);
    let failed = traffic::chance(ctx.rng, servfail);
    let svc = &ctx.net.services[ctx.rng.random_range(0..ctx.net.services.len())];
    let rtt_ms = resolver.rtt_ms
        * (0.3 * traffic::unit_noise(ctx.rng)).exp()
        * if failed { SERVFAIL_RTT_FACTOR } else { 1.0 };
    buf.extend_from_slice(b",\"proto\":\"udp\",\"trans_id\":");
    fmt::u64(buf, u64::from(ctx.rng.random::<u16>()));
    buf.extend_from_slice(b",\"rtt\":");
    fmt::fixed(buf, rtt_ms / 1000.0, 6);
    buf.extend_from_slice(b",\"query\":\"");
    buf.extend_from_slice(svc.host.as_bytes());
    buf.extend_from_slice(
        b"\",\"qclass\":1,\"qclass_name\":\"C_INTERNET\",\"qtype\":1,\"qtype_name\":\"A\",",
    );
    if failed {
        buf.extend_from_slice(b"\"rcode\":2,\"rcode_name\":\"SERVFAIL\",\"AA\":false,\"TC\":false,\"RD\":true,\"RA\":true,\"Z\":0,\"rejected\":false}\n");
    } else {
        buf.extend_from_slice(b"\"rcode\":0,\"rcode_name\":\"NOERROR\",\"AA\":false,\"TC\":false,\"RD\":true,\"RA\":true,\"Z\":0,\"answers\":[\"");
        ip(buf, svc.addr);
        buf.extend_from_slice(b"\"],\"TTLs\":[60.0],\"rejected\":false}\n");
    }
}

pub fn object_name(log: Log, to_ms: i64) -> String {
    let ext = match log {
        Log::Conn | Log::Http => "log",
        Log::Dns | Log::Ssl => "json",
    };
    format!("zeek_{}.{}.{ext}", log.name(), fmt::compact_time(to_ms))
}
