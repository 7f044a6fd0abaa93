//! One writer per format: each turns the network's traffic over one interval into the bytes
//! of one object, exactly as the real producer lays it out.

pub mod alb;
pub mod counters;
pub mod vpc;
pub mod zeek;

use std::net::Ipv4Addr;

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::fmt::{self, Clock};
use super::model::Network;
use super::traffic;

/// Requests a client sends over one connection (HTTP keep-alive).
pub const REQUESTS_PER_CONNECTION: f64 = 4.0;
/// Lowest ephemeral port clients use (the Linux default range starts here).
const EPHEMERAL_PORT_MIN: u16 = 32_768;

/// What every writer needs: the network, when the simulation started, the shared RNG.
pub struct Ctx<'a> {
    pub net: &'a Network,
    /// Start of the simulation, ms since the epoch; incidents are offsets from it.
    pub start_ms: i64,
    pub rng: &'a mut ChaCha8Rng,
    pub clock: &'a mut Clock,
}

impl Ctx<'_> {
    /// Seasonal level with this interval's noise drawn once (an entity is busier or quieter
    /// for a whole object, as real traffic is, rather than jittering per second).
    pub fn level(&mut self, ts_ms: i64) -> f64 {
        traffic::seasonal(&self.net.profile, ts_ms)
            * traffic::noise_factor(self.rng, self.net.profile.noise)
    }

    /// Offset of `ts_ms` from the start, for the incidents.
    pub fn offset(&self, ts_ms: i64) -> i64 {
        ts_ms - self.start_ms
    }

    pub fn ephemeral_port(&mut self) -> u16 {
        self.rng.random_range(EPHEMERAL_PORT_MIN..=u16::MAX)
    }

    /// A client on the internet (TEST-NET-3 addresses: never a real host).
    pub fn public_client(&mut self) -> Ipv4Addr {
        Ipv4Addr::new(203, 0, 113, self.rng.random_range(1..=254))
    }

    /// A client inside the network.
    pub fn internal_client(&mut self) -> Ipv4Addr {
        Ipv4Addr::new(
            10,
            9,
            self.rng.random_range(0..=3),
            self.rng.random_range(1..=254),
        )
    }

    /// A random millisecond inside the second starting at `second_ms`.
    pub fn within_second(&mut self, second_ms: i64) -> i64 {
        second_ms + self.rng.random_range(0..traffic::MS_PER_S)
    }

    /// `n` random hex digits (trace ids, uids).
    pub fn hex(&mut self, buf: &mut Vec<u8>, n: usize) {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut bits = self.rng.random::<u64>();
        for i in 0..n {
            if i % 16 == 15 {
                bits = self.rng.random::<u64>();
            }
            buf.push(DIGITS[(bits & 0xf) as usize]);
            bits >>= 4;
        }
    }
}

pub fn ip(buf: &mut Vec<u8>, addr: Ipv4Addr) {
    for (i, octet) in addr.octets().into_iter().enumerate() {
        if i > 0 {
            buf.push(b'.');
        }
        fmt::u64(buf, u64::from(octet));
    }
}
