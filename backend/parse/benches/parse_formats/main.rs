//! LayerCast's parse + classify on one thread, against the file DuckDB reads in
//! `scripts/bench`, for each format DuckDB can read: VPC flow logs, Zeek conn logs (TSV and
//! JSON) and ALB access logs.
//!
//! Generates a deterministic log of the format (`generate.rs`) if the file is missing, reads
//! it into memory, then times [`parse_object`] over it with a sink that sums, per (entity,
//! 10-second window) of one layer, what the DuckDB query sums: bytes, a count (packets, or
//! requests for ALB) and errors. Best of `--runs`; the totals are printed so that the work
//! cannot be optimised away and so that the script can check them against DuckDB's.
//!
//! ```text
//! cargo bench -p layercast-parse --bench parse_formats -- \
//!     --format vpc-flow --file /tmp/vpc.log --lines 3000000 --runs 3
//! ```
//!
//! Output is `key=value` lines on stdout (`scripts/bench` reads them), progress on stderr.

use std::collections::HashMap;
use std::fs;
use std::hash::{BuildHasherDefault, Hasher};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use layercast_parse::{parse_object, parser_for, Format, Measurement, Sink};
use layercast_shared::OsiLayer;

mod generate;

/// Window length, seconds.
const WINDOW_S: i64 = 10;

/// The files the benchmark knows how to generate and sum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BenchFormat {
    VpcFlow,
    ZeekTsv,
    ZeekJson,
    Alb,
}

impl BenchFormat {
    fn parse(name: &str) -> Result<Self> {
        Ok(match name {
            "vpc-flow" => BenchFormat::VpcFlow,
            "zeek-tsv" => BenchFormat::ZeekTsv,
            "zeek-json" => BenchFormat::ZeekJson,
            "alb" => BenchFormat::Alb,
            other => bail!("unknown format `{other}` (vpc-flow, zeek-tsv, zeek-json, alb)"),
        })
    }

    fn parser_format(self) -> Format {
        match self {
            BenchFormat::VpcFlow => Format::VpcFlow,
            BenchFormat::ZeekTsv | BenchFormat::ZeekJson => Format::Zeek,
            BenchFormat::Alb => Format::Alb,
        }
    }

    /// The layer whose measurements the DuckDB query's sums correspond to.
    fn layer(self) -> OsiLayer {
        match self {
            BenchFormat::VpcFlow | BenchFormat::ZeekTsv | BenchFormat::ZeekJson => OsiLayer::L3,
            BenchFormat::Alb => OsiLayer::L7,
        }
    }
}

struct Args {
    format: BenchFormat,
    file: PathBuf,
    lines: u64,
    runs: u32,
}

fn args() -> Result<Args> {
    let mut out = Args {
        format: BenchFormat::VpcFlow,
        file: PathBuf::from("vpc-flow.log"),
        lines: 3_000_000,
        runs: 3,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            // `cargo bench` passes this to every bench binary.
            "--bench" => {}
            "--format" => {
                out.format = BenchFormat::parse(&it.next().context("--format needs a name")?)?
            }
            "--file" => out.file = it.next().context("--file needs a path")?.into(),
            "--lines" => out.lines = it.next().context("--lines needs a number")?.parse()?,
            "--runs" => out.runs = it.next().context("--runs needs a number")?.parse()?,
            other => {
                bail!("unknown argument `{other}` (--format F --file PATH --lines N --runs N)")
            }
        }
    }
    if out.runs == 0 {
        bail!("--runs must be at least 1");
    }
    Ok(out)
}

/// The Fx hash (rustc's): a multiply and a rotate per word. The keys are our own, so no
/// defence against flooding is needed; SipHash would be a third of the sink's time.
#[derive(Default)]
struct FxHasher(u64);

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0; 8];
            w.copy_from_slice(c);
            self.write_u64(u64::from_le_bytes(w));
        }
        for &b in chunks.remainder() {
            self.write_u64(u64::from(b));
        }
    }
    fn write_u8(&mut self, i: u8) {
        self.write_u64(u64::from(i));
    }
    fn write_u32(&mut self, i: u32) {
        self.write_u64(u64::from(i));
    }
    fn write_u64(&mut self, i: u64) {
        self.0 = (self.0.rotate_left(5) ^ i).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn write_i64(&mut self, i: i64) {
        self.write_u64(i as u64);
    }
    fn write_usize(&mut self, i: usize) {
        self.write_u64(i as u64);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

type FxHashMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Sums {
    bytes: u64,
    /// Packets (network layers) or requests (L7).
    count: u64,
    errors: u64,
}

/// Sums one layer's measurements per (entity, window). Entity names are interned once, so a
/// record costs two hash lookups and no allocation.
struct WindowSums {
    layer: OsiLayer,
    ids: FxHashMap<Box<str>, u32>,
    windows: FxHashMap<(u32, i64), Sums>,
    /// Measurements of the other layers (built by the parser, counted and dropped here:
    /// the DuckDB query has no such view).
    other_layers: u64,
}

impl WindowSums {
    fn new(layer: OsiLayer) -> Self {
        WindowSums {
            layer,
            ids: FxHashMap::default(),
            windows: FxHashMap::default(),
            other_layers: 0,
        }
    }
}

impl Sink for WindowSums {
    fn measurement(&mut self, m: &Measurement<'_>) {
        if m.layer != self.layer {
            self.other_layers += 1;
            return;
        }
        let id = match self.ids.get(m.entity) {
            Some(&id) => id,
            None => {
                let id = self.ids.len() as u32;
                self.ids.insert(m.entity.into(), id);
                id
            }
        };
        let window = m.ts_ms.div_euclid(1000 * WINDOW_S) * WINDOW_S;
        let s = self.windows.entry((id, window)).or_default();
        s.bytes += m.bytes;
        s.count += m.packets + m.requests;
        s.errors += m.errors;
    }
}

impl WindowSums {
    fn totals(&self) -> Sums {
        self.windows.values().fold(Sums::default(), |a, s| Sums {
            bytes: a.bytes + s.bytes,
            count: a.count + s.count,
            errors: a.errors + s.errors,
        })
    }
}

fn main() -> Result<()> {
    let args = args()?;
    if !args.file.exists() {
        eprintln!(
            "generating {} lines into {}",
            args.lines,
            args.file.display()
        );
        let t = Instant::now();
        generate::generate(args.format, &args.file, args.lines)?;
        eprintln!("generated in {:.1} s", t.elapsed().as_secs_f64());
    }
    let data = fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?;

    let mut best = Duration::MAX;
    let mut last = None;
    for run in 1..=args.runs {
        let t = Instant::now();
        let mut sink = WindowSums::new(args.format.layer());
        let mut parser = parser_for(args.format.parser_format());
        let report = parse_object(parser.as_mut(), &data, &mut sink);
        let took = t.elapsed();
        eprintln!(
            "run {run}: {:.3} s, {:.0} MB/s",
            took.as_secs_f64(),
            data.len() as f64 / took.as_secs_f64() / 1e6
        );
        best = best.min(took);
        last = Some((report, sink));
    }
    let Some((report, sink)) = last else {
        bail!("no run")
    };
    if report.error_count > 0 {
        bail!(
            "{} lines refused, first: {:?}",
            report.error_count,
            report.errors.first()
        );
    }
    let totals = sink.totals();
    let secs = best.as_secs_f64();
    println!("engine=layercast");
    println!("threads=1");
    println!("file_bytes={}", data.len());
    println!("records={}", report.records);
    println!("best_s={secs:.4}");
    println!("mb_per_s={:.1}", data.len() as f64 / secs / 1e6);
    println!("records_per_s={:.0}", report.records as f64 / secs);
    println!("groups={}", sink.windows.len());
    println!("other_layer_measurements={}", sink.other_layers);
    println!("sum_bytes={}", totals.bytes);
    println!("sum_count={}", totals.count);
    println!("sum_errors={}", totals.errors);
    Ok(())
}
