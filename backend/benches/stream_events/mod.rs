//! Synthetic event records for the stream engine's benchmarks (`window_agg`, `stream_e2e`):
//! several thousand entities over L2, L3, L4 and L7, event time mostly increasing with some
//! out-of-order jitter and a few records late enough to be dropped, a fifth of the records
//! with a latency. Deterministic (xorshift), cheap enough to run inside a producer loop.

use chrono::{TimeZone, Utc};
use layercast_shared::{ErrorClass, Event, OsiLayer};

/// xorshift64*.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const LAYERS: [OsiLayer; 4] = [OsiLayer::L2, OsiLayer::L3, OsiLayer::L4, OsiLayer::L7];

/// Entity `i`: its layer and a name as the parsers would give it.
pub fn entity(i: u64) -> (OsiLayer, String) {
    let layer = LAYERS[(i % 4) as usize];
    let name = match layer {
        OsiLayer::L2 => format!("sw{}-eth{}", i / 48, i % 48),
        OsiLayer::L3 => format!("10.{}.{}.0/24>10.200.{}.0/24", i % 7, i / 7 % 256, i / 1792),
        OsiLayer::L4 => format!("10.1.{}.{}>10.2.0.1:443/tcp", i / 256 % 256, i % 256),
        _ => format!("alb/web-{}>10.3.{}.{}:8080", i % 20, i / 256 % 256, i % 256),
    };
    (layer, name)
}

pub struct EventGen {
    rng: Rng,
    names: Vec<(OsiLayer, String)>,
    hot: u64,
    start_ms: i64,
    per_second: i64,
    /// Out-of-order records are up to this far behind the newest.
    pub jitter_ms: u64,
    /// Late records (one in 2,000) are this far behind the newest.
    pub late_ms: i64,
    n: i64,
}

impl EventGen {
    /// Event time starts at `start_ms` and advances by one second every `per_second` records.
    pub fn new(
        entities: u64,
        start_ms: i64,
        per_second: u64,
        jitter_ms: u64,
        late_ms: i64,
    ) -> Self {
        EventGen {
            rng: Rng(0x9E37_79B9_7F4A_7C15),
            names: (0..entities.max(1)).map(entity).collect(),
            hot: (entities / 5).max(1),
            start_ms,
            per_second: per_second.max(1) as i64,
            jitter_ms: jitter_ms.max(1),
            late_ms,
            n: 0,
        }
    }

    pub fn next_event(&mut self) -> Event {
        let newest = self.start_ms + self.n * 1000 / self.per_second;
        self.n += 1;
        let rng = &mut self.rng;
        let r = rng.below(10_000);
        let ts = if r < 5 {
            newest - self.late_ms
        } else if r < 1_000 {
            newest - rng.below(self.jitter_ms) as i64
        } else {
            newest
        };
        // Half the records go to the busiest fifth of the entities.
        let entities = self.names.len() as u64;
        let e = if rng.below(2) == 0 {
            rng.below(self.hot)
        } else {
            rng.below(entities)
        };
        let (layer, name) = &self.names[e as usize];
        let bytes = 40 + rng.below(1_500 * 8);
        let with_latency = *layer == OsiLayer::L7 || rng.below(15) == 0;
        let errors = u64::from(rng.below(100) < 3);
        Event {
            ts: Utc.timestamp_millis_opt(ts).single().expect("in range"),
            layer: *layer,
            entity: name.clone(),
            bytes,
            packets: 1 + bytes / 1_000,
            connections: u64::from(*layer == OsiLayer::L4),
            requests: u64::from(*layer == OsiLayer::L7),
            errors,
            latency_ms: with_latency.then(|| 0.5 + rng.below(20_000) as f64 / 100.0),
            error_class: (errors > 0).then_some(ErrorClass::ServerError),
        }
    }
}
