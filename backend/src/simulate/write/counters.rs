//! Interface counters, one JSON sample per switch port per poll, as an SNMP/gNMI exporter
//! writes them: monotonic 64-bit counters.
//!
//! Objects continue one another, as an exporter's do: the inbox and `layercast replay` keep
//! the last sample of every interface from one object to the next, so only the very first
//! object's baseline sample measures nothing.

use super::Ctx;
use crate::simulate::fmt;
use crate::simulate::traffic::{self, MS_PER_S};

/// Average frame size on the wire, bytes: a mix of full-size and small frames.
const MEAN_FRAME_BYTES: f64 = 800.0;
/// Outbound traffic as a share of inbound on the simulated links.
const OUT_TO_IN: f64 = 0.8;
/// Frames in error per frame on a healthy link (a few a day at these rates).
const BASE_ERROR_RATIO: f64 = 1e-10;
/// Above this utilisation buffers overflow and frames are discarded, ...
const DISCARD_ONSET_UTILISATION: f64 = 0.9;
/// ... this share of the frames over it.
const DISCARD_RATIO_OVER_ONSET: f64 = 0.01;
const BITS_PER_BYTE: f64 = 8.0;

/// The counters of one port: in/out octets, in/out frames, in errors, in discards, CRC errors.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct PortCounters {
    in_octets: u64,
    out_octets: u64,
    in_pkts: u64,
    out_pkts: u64,
    in_errors: u64,
    in_discards: u64,
    crc_errors: u64,
}

/// What the exporter remembers between polls.
#[derive(Debug, Default)]
pub struct CountersState {
    ports: Vec<PortCounters>,
    /// Time of the last poll written.
    last_poll_ms: Option<i64>,
}

/// Inbound bits per second on a link at `ts_ms`, before noise (seasonality and growth).
pub fn inbound_bps(ctx: &Ctx<'_>, link: usize, ts_ms: i64) -> f64 {
    let l = &ctx.net.links[link];
    l.speed_bps
        * l.utilisation
        * traffic::seasonal(&ctx.net.profile, ts_ms)
        * traffic::growth(l.growth_per_week, ctx.offset(ts_ms))
}

/// Writes the polls in `(from_ms, to_ms]`; the first object also gets the baseline poll at
/// `from_ms`.
pub fn write(
    ctx: &mut Ctx<'_>,
    state: &mut CountersState,
    from_ms: i64,
    to_ms: i64,
    buf: &mut Vec<u8>,
) -> u64 {
    let net = ctx.net;
    let poll = net.rolls.counters_poll_ms;
    let mut lines = 0;
    if state.ports.len() != net.links.len() {
        state.ports = vec![PortCounters::default(); net.links.len()];
    }
    let first = match state.last_poll_ms {
        Some(last) => last,
        None => {
            for (i, c) in state.ports.iter().enumerate() {
                sample(ctx, i, from_ms, c, buf);
                lines += 1;
            }
            from_ms
        }
    };
    let mut ts = first + poll;
    while ts <= to_ms {
        let dt_s = poll as f64 / MS_PER_S as f64;
        for i in 0..net.links.len() {
            let l = &net.links[i];
            let in_bps = (inbound_bps(ctx, i, ts)
                * traffic::noise_factor(ctx.rng, net.profile.noise))
            .min(l.speed_bps);
            let out_bps = (in_bps * OUT_TO_IN).min(l.speed_bps);
            let in_octets = in_bps * dt_s / BITS_PER_BYTE;
            let out_octets = out_bps * dt_s / BITS_PER_BYTE;
            let in_frames = in_octets / MEAN_FRAME_BYTES;
            let over = (in_bps / l.speed_bps - DISCARD_ONSET_UTILISATION).max(0.0);
            let crc = traffic::count(ctx.rng, net.crc_errors_per_s(i, ctx.offset(ts)) * dt_s);
            let c = &mut state.ports[i];
            c.in_octets += in_octets as u64;
            c.out_octets += out_octets as u64;
            c.in_pkts += in_frames as u64;
            c.out_pkts += (out_octets / MEAN_FRAME_BYTES) as u64;
            c.crc_errors += crc;
            c.in_errors += crc + traffic::count(ctx.rng, in_frames * BASE_ERROR_RATIO);
            c.in_discards += traffic::count(ctx.rng, in_frames * over * DISCARD_RATIO_OVER_ONSET);
            let c = *c;
            sample(ctx, i, ts, &c, buf);
            lines += 1;
        }
        state.last_poll_ms = Some(ts);
        ts += poll;
    }
    lines
}

fn sample(ctx: &mut Ctx<'_>, link: usize, ts_ms: i64, c: &PortCounters, buf: &mut Vec<u8>) {
    let l = &ctx.net.links[link];
    buf.extend_from_slice(b"{\"ts\":\"");
    ctx.clock.iso(buf, ts_ms, false);
    buf.extend_from_slice(b"\",\"device\":\"");
    buf.extend_from_slice(l.switch.as_bytes());
    buf.extend_from_slice(b"\",\"interface\":\"");
    buf.extend_from_slice(l.port.as_bytes());
    buf.extend_from_slice(b"\",\"speed_bps\":");
    fmt::u64(buf, l.speed_bps as u64);
    buf.extend_from_slice(b",\"counter_bits\":64,\"in_octets\":");
    fmt::u64(buf, c.in_octets);
    buf.extend_from_slice(b",\"out_octets\":");
    fmt::u64(buf, c.out_octets);
    buf.extend_from_slice(b",\"in_pkts\":");
    fmt::u64(buf, c.in_pkts);
    buf.extend_from_slice(b",\"out_pkts\":");
    fmt::u64(buf, c.out_pkts);
    buf.extend_from_slice(b",\"in_errors\":");
    fmt::u64(buf, c.in_errors);
    buf.extend_from_slice(b",\"out_errors\":0,\"in_discards\":");
    fmt::u64(buf, c.in_discards);
    buf.extend_from_slice(b",\"out_discards\":0,\"crc_errors\":");
    fmt::u64(buf, c.crc_errors);
    buf.extend_from_slice(b",\"oper_status\":\"up\"}\n");
}

pub fn object_name(to_ms: i64) -> String {
    format!("counters_{}.jsonl", fmt::compact_time(to_ms))
}
