//! VPC flow logs in a custom format with its header line, as AWS delivers them to S3: one
//! record per flow direction per aggregation interval on each service host's interface.
//!
//! A healthy connection is two records, the client's (`tcp-flags` 3: SYN, FIN) and the
//! server's (19: SYN-ACK, FIN). A handshake that fails during a CRC burst is one record of
//! retried bare SYNs (flags 2, 3 packets of 60 bytes) with no answer. Scanners knocking on
//! closed ports make a few `REJECT` records on every interface.

use rand::Rng;

use super::{ip, Ctx, REQUESTS_PER_CONNECTION};
use crate::simulate::fmt;
use crate::simulate::traffic::{self, MS_PER_S};

pub const HEADER: &[u8] = b"version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status tcp-flags\n";
const ACCOUNT: &str = "123456789012";
const TCP: u64 = 6;
/// Rejected probes per second per interface (port scans from the internet).
const SCANS_PER_S: f64 = 0.2;
const SCANNED_PORTS: [u16; 3] = [22, 3389, 23];
/// A SYN without payload, bytes, and how many a client sends before giving up.
const BARE_SYN_BYTES: u64 = 60;
const SYN_RETRIES: u64 = 3;
const FLAGS_CLIENT: u64 = 3;
const FLAGS_SERVER: u64 = 19;
const FLAGS_SYN: u64 = 2;

/// Writes the flows of `[from_ms, to_ms)`, one aggregation interval after the other.
pub fn write(ctx: &mut Ctx<'_>, from_ms: i64, to_ms: i64, buf: &mut Vec<u8>) -> u64 {
    let net = ctx.net;
    let agg = net.rolls.flow_aggregation_ms;
    buf.extend_from_slice(HEADER);
    let mut lines = 0;
    let mut window = from_ms;
    while window < to_ms {
        let end = (window + agg).min(to_ms);
        let secs = (end - window) as f64 / MS_PER_S as f64;
        for s in 0..net.services.len() {
            let svc = &net.services[s];
            let level = ctx.level(window);
            let conns = traffic::count(
                ctx.rng,
                svc.requests_per_s / REQUESTS_PER_CONNECTION * level * secs,
            );
            let failing = net.failed_handshake_ratio(s, ctx.offset(window));
            for _ in 0..conns {
                let client = ctx.public_client();
                let cport = u64::from(ctx.ephemeral_port());
                let sport = u64::from(svc.port);
                if traffic::chance(ctx.rng, failing) {
                    let packets = SYN_RETRIES;
                    record(
                        ctx,
                        s,
                        [client, svc.addr],
                        [cport, sport],
                        [packets, packets * BARE_SYN_BYTES],
                        [window, end],
                        true,
                        FLAGS_SYN,
                        buf,
                    );
                    lines += 1;
                    continue;
                }
                let up_pkts = ctx.rng.random_range(6..40_u64);
                let down_pkts = up_pkts + ctx.rng.random_range(2..60_u64);
                let up_bytes = up_pkts * ctx.rng.random_range(80..400_u64);
                let down_bytes = down_pkts * ctx.rng.random_range(400..1400_u64);
                record(
                    ctx,
                    s,
                    [client, svc.addr],
                    [cport, sport],
                    [up_pkts, up_bytes],
                    [window, end],
                    true,
                    FLAGS_CLIENT,
                    buf,
                );
                record(
                    ctx,
                    s,
                    [svc.addr, client],
                    [sport, cport],
                    [down_pkts, down_bytes],
                    [window, end],
                    true,
                    FLAGS_SERVER,
                    buf,
                );
                lines += 2;
            }
            for _ in 0..traffic::count(ctx.rng, SCANS_PER_S * secs) {
                let client = ctx.public_client();
                let cport = u64::from(ctx.ephemeral_port());
                let port = u64::from(SCANNED_PORTS[ctx.rng.random_range(0..SCANNED_PORTS.len())]);
                record(
                    ctx,
                    s,
                    [client, svc.addr],
                    [cport, port],
                    [1, BARE_SYN_BYTES - 16],
                    [window, end],
                    false,
                    FLAGS_SYN,
                    buf,
                );
                lines += 1;
            }
        }
        window = end;
    }
    lines
}

#[allow(clippy::too_many_arguments)]
fn record(
    ctx: &mut Ctx<'_>,
    s: usize,
    [src, dst]: [std::net::Ipv4Addr; 2],
    [sport, dport]: [u64; 2],
    [packets, bytes]: [u64; 2],
    [from, to]: [i64; 2],
    accept: bool,
    flags: u64,
    buf: &mut Vec<u8>,
) {
    buf.extend_from_slice(b"5 ");
    buf.extend_from_slice(ACCOUNT.as_bytes());
    buf.push(b' ');
    buf.extend_from_slice(ctx.net.services[s].eni.as_bytes());
    buf.push(b' ');
    ip(buf, src);
    buf.push(b' ');
    ip(buf, dst);
    for v in [
        sport,
        dport,
        TCP,
        packets,
        bytes,
        (from / MS_PER_S) as u64,
        (to / MS_PER_S) as u64,
    ] {
        buf.push(b' ');
        fmt::u64(buf, v);
    }
    buf.extend_from_slice(if accept {
        b" ACCEPT OK "
    } else {
        b" REJECT OK "
    });
    fmt::u64(buf, flags);
    buf.push(b'\n');
}

/// After AWS's `<account>_vpcflowlogs_<region>_<flow-log-id>_<end>_<hash>.log.gz`.
pub fn object_name(to_ms: i64) -> String {
    format!(
        "{ACCOUNT}_vpcflowlogs_eu-central-1_fl-0sim0000000000001_{}_sim.log.gz",
        fmt::compact_time(to_ms)
    )
}
