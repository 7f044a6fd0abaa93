//! The anomaly detector on the Numenta Anomaly Benchmark (the part of the corpus in
//! `testdata/nab`, or `--nab DIR`): NAB score per profile and per data group, then the cost,
//! points per second through one detector on one thread and bytes of state per series.
//!
//! ```text
//! cargo bench -p layercast --bench detect_nab -- [--nab DIR] [--points N] [--runs N]
//! ```
//!
//! `scripts/bench` runs it. Prints a summary on stdout; exits non-zero when the standard
//! profile scores below the issue's bar of 60. `LAYERCAST_BENCH_FILES=1` adds each file's raw
//! score; `LAYERCAST_BENCH_DUMP=DIR` writes each file's `value,score` rows to `DIR` (first line:
//! `# name first-last ...`, the labelled windows as point indices) for looking at where the
//! detector fires.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use layercast::analysis::anomaly::{AnomalyConfig, AnomalyDetector};
use layercast::detect::corpus;

/// The issue's bar for the standard profile.
const BAR: f64 = 60.0;
/// Spacing of the synthetic throughput series, ms (NAB's usual five minutes).
const STEP_MS: i64 = 300_000;

struct Args {
    nab: PathBuf,
    points: usize,
    runs: u32,
}

fn args() -> Result<Args> {
    let mut out = Args {
        nab: PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/nab")),
        points: 20_000_000,
        runs: 3,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            // `cargo bench` passes this to every bench binary.
            "--bench" => {}
            "--nab" => out.nab = it.next().context("--nab needs a folder")?.into(),
            "--points" => out.points = it.next().context("--points needs a number")?.parse()?,
            "--runs" => out.runs = it.next().context("--runs needs a number")?.parse()?,
            other => bail!("unknown argument `{other}` (--nab DIR --points N --runs N)"),
        }
    }
    if out.runs == 0 || out.points == 0 {
        bail!("--runs and --points must be at least 1");
    }
    Ok(out)
}

fn main() -> Result<()> {
    let args = args()?;
    let config = AnomalyConfig::default();
    let files = corpus::load(&args.nab)?;
    if files.is_empty() {
        bail!("no NAB files under {}", args.nab.display());
    }
    let scores = files
        .iter()
        .map(|f| corpus::detect_file(f, config))
        .collect::<Result<Vec<_>, _>>()?;
    let results = corpus::score(&files, &scores);
    // Per-file scores for inspection (see the module doc).
    if let Some(dir) = std::env::var_os("LAYERCAST_BENCH_DUMP") {
        let dir = PathBuf::from(dir);
        std::fs::create_dir_all(&dir)?;
        for (f, s) in files.iter().zip(&scores) {
            let w: Vec<String> = f
                .windows
                .iter()
                .map(|w| format!("{}-{}", w.first, w.last))
                .collect();
            let mut out = format!("# {} {}\n", f.name, w.join(" "));
            for (v, x) in f.values.iter().zip(s) {
                out.push_str(&format!("{v},{x}\n"));
            }
            std::fs::write(dir.join(f.name.replace('/', "__")), out)?;
        }
    }
    let points: usize = files.iter().map(|f| f.values.len()).sum();
    println!(
        "NAB: {} files, {} points, {} labelled windows ({})",
        files.len(),
        points,
        files.iter().map(|f| f.windows.len()).sum::<usize>(),
        args.nab.display()
    );
    println!(
        "Detector: sensitivity {}, cooldown {} points",
        config.sensitivity, config.cooldown_points
    );
    println!();
    println!(
        "| {:<20} | {:>6} | {:>10} | {:>8} | {:>4} |",
        "Profile", "Score", "Threshold", "Detected", "FP"
    );
    println!(
        "|{:-<22}|{:-<8}|{:-<12}|{:-<10}|{:-<6}|",
        "", "", "", "", ""
    );
    for r in &results {
        let c = &r.corpus;
        println!(
            "| {:<20} | {:>6.1} | {:>10.4} | {:>4}/{:<3} | {:>4} |",
            r.profile.name,
            c.normalized,
            c.threshold,
            c.detected_windows,
            c.windows,
            c.false_positives
        );
    }
    println!();
    println!("Per group at each profile's corpus threshold (normalised score; raw sum where a group has no windows):");
    for r in &results {
        let mut groups: BTreeMap<&str, (usize, f64)> = BTreeMap::new();
        for ((name, windows, raw), file) in r.files.iter().zip(&files) {
            debug_assert_eq!(name, &file.name);
            let g = groups.entry(file.group()).or_default();
            g.0 += windows;
            g.1 += raw;
        }
        let line: Vec<String> = groups
            .iter()
            .map(|(g, &(w, raw))| {
                if w == 0 {
                    format!("{g} raw {raw:+.2}")
                } else {
                    let (null, perfect) = (
                        -(w as f64) * r.profile.fn_weight,
                        w as f64 * r.profile.tp_weight,
                    );
                    format!("{g} {:.1}", 100.0 * (raw - null) / (perfect - null))
                }
            })
            .collect();
        println!("  {:<20} {}", r.profile.name, line.join(", "));
    }
    if std::env::var_os("LAYERCAST_BENCH_FILES").is_some() {
        println!();
        for (name, windows, raw) in &results[0].files {
            println!("  {name:<60} windows {windows} raw {raw:+.3}");
        }
    }

    // Cost: the corpus values end to end, repeated up to --points, through one detector.
    let series: Vec<f64> = files
        .iter()
        .flat_map(|f| f.values.iter().copied())
        .cycle()
        .take(args.points)
        .collect();
    let mut best = f64::INFINITY;
    let mut checksum = 0.0;
    for _ in 0..args.runs {
        let mut detector = AnomalyDetector::new(config)?;
        let start = Instant::now();
        let mut sum = 0.0;
        for (i, &v) in series.iter().enumerate() {
            sum += detector
                .push(black_box(i as i64 * STEP_MS), black_box(v))
                .score;
        }
        best = best.min(start.elapsed().as_secs_f64());
        checksum = sum;
    }
    println!();
    println!("Cost: {} points through one detector on one thread, best of {}: {:.3} s, {:.1} M points/s \
        (score sum {:.1}); state {} bytes per series",
        args.points, args.runs, best, args.points as f64 / best / 1e6, checksum, AnomalyDetector::STATE_BYTES);

    let standard = results
        .iter()
        .find(|r| r.profile.name == "standard")
        .context("standard profile")?;
    if standard.corpus.normalized >= BAR {
        println!(
            "PASS: standard profile {:.1} >= {BAR}",
            standard.corpus.normalized
        );
        Ok(())
    } else {
        bail!(
            "standard profile {:.1} is below the bar of {BAR}",
            standard.corpus.normalized
        )
    }
}
