//! LayerCast's VPC flow log parse + classify on one thread, against the file DuckDB reads in
//! `scripts/bench`.
//!
//! Generates a deterministic v2 flow log (no header line, as CloudWatch Logs delivers it, so
//! that DuckDB's `read_csv(header=false)` reads the same bytes) if the file is missing, reads
//! it into memory, then times [`parse_object`] over it with a sink that sums bytes, packets
//! and rejects per (interface, 10-second window): what the DuckDB query computes. Best of
//! `--runs`; the totals are printed so the work cannot be optimised away and so the script
//! can check them against DuckDB's.
//!
//! ```text
//! cargo bench -p layercast --bench parse_vpc -- --file /tmp/vpc.log --lines 3000000 --runs 3
//! ```
//!
//! Output is `key=value` lines on stdout (`scripts/bench` reads them), progress on stderr.

use std::collections::HashMap;
use std::fs;
use std::hash::{BuildHasherDefault, Hasher};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use layercast::ingest::parse::vpc_flow::VpcFlowParser;
use layercast::ingest::parse::{parse_object, Measurement, Sink};
use layercast_shared::OsiLayer;

/// Window length, seconds.
const WINDOW_S: i64 = 10;
/// Start of the generated hour (2025-11-25T10:00:00Z).
const T0: u64 = 1_764_064_800;
const INTERFACES: u64 = 200;

struct Args {
    file: PathBuf,
    lines: u64,
    runs: u32,
}

fn args() -> Result<Args> {
    let mut out = Args { file: PathBuf::from("vpc-flow.log"), lines: 3_000_000, runs: 3 };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            // `cargo bench` passes this to every bench binary.
            "--bench" => {}
            "--file" => out.file = it.next().context("--file needs a path")?.into(),
            "--lines" => out.lines = it.next().context("--lines needs a number")?.parse()?,
            "--runs" => out.runs = it.next().context("--runs needs a number")?.parse()?,
            other => bail!("unknown argument `{other}` (--file PATH --lines N --runs N)"),
        }
    }
    if out.runs == 0 {
        bail!("--runs must be at least 1");
    }
    Ok(out)
}

/// splitmix64: small, fast and the same on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next()) * u128::from(n)) >> 64) as u64
    }

    fn private_addr(&mut self) -> String {
        let r = self.next();
        let (a, b, c, d) = (r & 0xff, (r >> 8) & 0xff, (r >> 16) & 0xff, 1 + (r >> 24) % 254);
        match (r >> 40) % 3 {
            0 => format!("10.{a}.{b}.{d}"),
            1 => format!("172.{}.{c}.{d}", 16 + a % 16),
            _ => format!("192.168.{b}.{d}"),
        }
    }
}

const SERVICE_PORTS: [u64; 10] = [443, 80, 22, 53, 5432, 3306, 6379, 8080, 9092, 123];

/// Writes `lines` records to `path` (through a temporary file, so an interrupted run leaves
/// no half file behind).
fn generate(path: &Path, lines: u64) -> Result<()> {
    let mut rng = Rng(0x1a7e_c457);
    let enis: Vec<String> =
        (0..INTERFACES).map(|_| format!("eni-0{:016x}", rng.next())).collect();
    let tmp = path.with_extension("tmp");
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    let mut w = BufWriter::with_capacity(1 << 20, fs::File::create(&tmp)?);
    for _ in 0..lines {
        // Some interfaces are much busier than others, as in a real VPC.
        let eni = &enis[(rng.below(INTERFACES) * rng.below(INTERFACES) / INTERFACES) as usize];
        let start = T0 + rng.below(3600);
        let end = start + rng.below(61);
        let roll = rng.below(1000);
        if roll < 5 {
            writeln!(w, "2 123456789012 {eni} - - - - - - - {start} {end} - NODATA")?;
            continue;
        }
        let action = if roll < 35 { "REJECT" } else { "ACCEPT" };
        let (src, dst) = (rng.private_addr(), rng.private_addr());
        let proto = match rng.below(100) {
            0..=69 => 6,
            70..=94 => 17,
            _ => 1,
        };
        let (sport, dport) = if proto == 1 {
            (0, 0)
        } else {
            let service = SERVICE_PORTS[rng.below(SERVICE_PORTS.len() as u64) as usize];
            let ephemeral = 32_768 + rng.below(28_232);
            if rng.below(2) == 0 { (ephemeral, service) } else { (service, ephemeral) }
        };
        // Packets spread over four orders of magnitude, 40–1500 bytes each.
        let magnitude = 10_u64.pow(1 + rng.below(4) as u32);
        let packets = 1 + rng.below(magnitude);
        let bytes = packets * (40 + rng.below(1461));
        writeln!(
            w,
            "2 123456789012 {eni} {src} {dst} {sport} {dport} {proto} {packets} {bytes} \
             {start} {end} {action} OK"
        )?;
    }
    w.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    fs::rename(&tmp, path)?;
    Ok(())
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
    packets: u64,
    rejects: u64,
}

/// Sums L3 measurements per (interface, window). Interface names are interned once, so a
/// record costs two hash lookups and no allocation.
#[derive(Default)]
struct WindowSums {
    ids: FxHashMap<Box<str>, u32>,
    windows: FxHashMap<(u32, i64), Sums>,
    /// L4 measurements seen (not summed: the DuckDB query has no per-port view).
    l4: u64,
}

impl Sink for WindowSums {
    fn measurement(&mut self, m: &Measurement<'_>) {
        if m.layer != OsiLayer::L3 {
            self.l4 += 1;
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
        s.packets += m.packets;
        s.rejects += m.errors;
    }
}

impl WindowSums {
    fn totals(&self) -> Sums {
        self.windows.values().fold(Sums::default(), |a, s| Sums {
            bytes: a.bytes + s.bytes,
            packets: a.packets + s.packets,
            rejects: a.rejects + s.rejects,
        })
    }
}

fn main() -> Result<()> {
    let args = args()?;
    if !args.file.exists() {
        eprintln!("generating {} lines into {}", args.lines, args.file.display());
        let t = Instant::now();
        generate(&args.file, args.lines)?;
        eprintln!("generated in {:.1} s", t.elapsed().as_secs_f64());
    }
    let data = fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?;

    let mut best = Duration::MAX;
    let mut last = None;
    for run in 1..=args.runs {
        let t = Instant::now();
        let mut sink = WindowSums::default();
        let report = parse_object(&mut VpcFlowParser::new(), &data, &mut sink);
        let took = t.elapsed();
        eprintln!(
            "run {run}: {:.3} s, {:.0} MB/s",
            took.as_secs_f64(),
            data.len() as f64 / took.as_secs_f64() / 1e6
        );
        best = best.min(took);
        last = Some((report, sink));
    }
    let Some((report, sink)) = last else { bail!("no run") };
    if report.error_count > 0 {
        bail!("{} lines refused, first: {:?}", report.error_count, report.errors.first());
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
    println!("l4_measurements={}", sink.l4);
    println!("sum_bytes={}", totals.bytes);
    println!("sum_packets={}", totals.packets);
    println!("sum_rejects={}", totals.rejects);
    Ok(())
}
