//! The simulation proper: producers that each roll an object every interval of simulated
//! time, taken in time order. Pure: time is the simulated clock, output is bytes in memory.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::fmt::{self, Clock};
use super::model::Network;
use super::write::{self, counters::CountersState, zeek::Log, Ctx};

/// One object, ready to be stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    /// File name; starts with the simulated time the object closes, so that names sort in
    /// time order (the inbox takes files in name order).
    pub name: String,
    /// When the real producer would deliver it: the end of its interval, ms since the epoch.
    pub due_ms: i64,
    /// Uncompressed content.
    pub bytes: Vec<u8>,
    /// The producer delivers it gzip-compressed (VPC flow logs and ALB logs in S3 are).
    pub gzip: bool,
    /// Records (lines that are not headers) in it.
    pub records: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Producer {
    Counters,
    Flow,
    Alb(usize),
    Zeek(Log),
}

/// Every producer of the network, with when its next object is due.
pub struct Simulation {
    net: Network,
    start_ms: i64,
    /// No object closes after this (ms since the epoch); `None`: forever.
    end_ms: Option<i64>,
    rng: ChaCha8Rng,
    clock: Clock,
    counters: CountersState,
    /// (producer, roll interval, next due time), in a fixed order that breaks ties.
    producers: Vec<(Producer, i64, i64)>,
}

impl Simulation {
    pub fn new(net: Network, start_ms: i64, end_ms: Option<i64>, seed: u64) -> Self {
        let r = net.rolls;
        let mut producers = vec![
            (Producer::Counters, r.counters_object_ms),
            (Producer::Flow, r.flow_object_ms),
        ];
        producers
            .extend((0..net.load_balancers.len()).map(|lb| (Producer::Alb(lb), r.alb_object_ms)));
        producers.extend(
            Log::ALL
                .iter()
                .map(|&log| (Producer::Zeek(log), r.zeek_object_ms)),
        );
        Simulation {
            net,
            start_ms,
            end_ms,
            rng: ChaCha8Rng::seed_from_u64(seed),
            clock: Clock::default(),
            counters: CountersState::default(),
            producers: producers
                .into_iter()
                .map(|(p, roll)| (p, roll, start_ms + roll))
                .collect(),
        }
    }

    pub fn network(&self) -> &Network {
        &self.net
    }

    /// The next object in simulated-time order, or `None` once the end is passed. Objects
    /// without a record (a log of an interval without traffic, headers only) are not
    /// delivered, as real producers deliver none.
    pub fn next_object(&mut self) -> Option<Object> {
        loop {
            let object = self.roll()?;
            if object.records > 0 {
                return Some(object);
            }
        }
    }

    /// The object of the producer due first, or `None` once the end is passed.
    fn roll(&mut self) -> Option<Object> {
        let (i, &(producer, roll, due)) =
            self.producers.iter().enumerate().min_by_key(|(_, p)| p.2)?;
        if self.end_ms.is_some_and(|end| due > end) {
            return None;
        }
        self.producers[i].2 = due + roll;
        let from = due - roll;
        let mut bytes = Vec::new();
        let mut ctx = Ctx {
            net: &self.net,
            start_ms: self.start_ms,
            rng: &mut self.rng,
            clock: &mut self.clock,
        };
        let (records, name, gzip) = match producer {
            Producer::Counters => (
                write::counters::write(&mut ctx, &mut self.counters, from, due, &mut bytes),
                write::counters::object_name(due),
                false,
            ),
            Producer::Flow => (
                write::vpc::write(&mut ctx, from, due, &mut bytes),
                write::vpc::object_name(due),
                true,
            ),
            Producer::Alb(lb) => (
                write::alb::write(&mut ctx, lb, from, due, &mut bytes),
                write::alb::object_name(&ctx, lb, due),
                true,
            ),
            Producer::Zeek(log) => (
                write::zeek::write(&mut ctx, log, from, due, &mut bytes),
                write::zeek::object_name(log, due),
                false,
            ),
        };
        Some(Object {
            name: format!("{}_{name}", fmt::compact_time(due)),
            due_ms: due,
            bytes,
            gzip,
            records,
        })
    }
}
