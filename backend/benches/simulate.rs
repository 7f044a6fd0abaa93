//! The simulator's speed on one thread: the default scenario (ten times its request rates, so
//! that objects are large as in a benchmark feed) for `--hours` of simulated time, generated
//! in memory (`generate`, best of three) and, once, written to a folder with gzip (`write`).
//!
//! ```text
//! cargo bench -p layercast --bench simulate -- --hours 6
//! ```
//!
//! Output is `key=value` lines on stdout.

use std::time::Instant;

use anyhow::{bail, Context, Result};
use layercast::simulate::{self, Options, Simulation, Speed};

/// 2026-11-23T00:00:00Z, a Monday.
const START_MS: i64 = 1_795_392_000_000;
const MS_PER_HOUR: i64 = 3_600_000;
const RATE_SCALE: f64 = 10.0;
/// Generation runs; the best counts (the machine is shared).
const RUNS: u32 = 3;

fn network() -> Result<simulate::model::Network> {
    let mut net = simulate::parse_scenario(simulate::DEFAULT_SCENARIO)?;
    net.services
        .iter_mut()
        .for_each(|s| s.requests_per_s *= RATE_SCALE);
    net.resolvers
        .iter_mut()
        .for_each(|r| r.queries_per_s *= RATE_SCALE);
    Ok(net)
}

fn main() -> Result<()> {
    let mut hours: i64 = 6;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--bench" => {}
            "--hours" => hours = it.next().context("--hours needs a number")?.parse()?,
            other => bail!("unknown argument `{other}` (--hours N)"),
        }
    }
    let end = START_MS + hours * MS_PER_HOUR;

    let (mut records, mut bytes, mut secs) = (0_u64, 0_u64, f64::INFINITY);
    for _ in 0..RUNS {
        let started = Instant::now();
        let mut sim = Simulation::new(network()?, START_MS, Some(end), 1);
        (records, bytes) = (0, 0);
        while let Some(o) = sim.next_object() {
            records += o.records;
            bytes += o.bytes.len() as u64;
        }
        secs = secs.min(started.elapsed().as_secs_f64());
    }
    println!("generate_records={records}");
    println!("generate_bytes={bytes}");
    println!("generate_s={secs:.3}");
    println!("generate_records_per_s={:.0}", records as f64 / secs);
    println!("generate_mb_per_s={:.1}", bytes as f64 / 1e6 / secs);

    let dir = tempfile::tempdir()?;
    let options = Options {
        out: dir.path().to_owned(),
        truth: None,
        speed: Speed::Max,
        start_ms: START_MS,
        duration_ms: Some(hours * MS_PER_HOUR),
        seed: 1,
    };
    let started = Instant::now();
    let summary = simulate::run(network()?, &options, &|| false)?;
    let secs = started.elapsed().as_secs_f64();
    println!("write_records={}", summary.records);
    println!("write_s={secs:.3}");
    println!("write_records_per_s={:.0}", summary.records as f64 / secs);
    Ok(())
}
