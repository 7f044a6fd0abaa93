//! `layercast replay`: the parsers, event-time windows and detectors over files, offline, with
//! a JSON report.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use layercast_shared::{LayerTotals, OsiLayer, ReplayErrorSample, ReplayInput, ReplayReport};

use crate::analysis::anomaly::AnomalyConfig;
use crate::ingest::object;
use crate::ingest::parse::{Format, Measurement, Sink};

mod findings;

pub use findings::{Capacity, CapacityError};

/// Window width the detectors run over by default: a minute, the first roll-up planners look
/// at, and fine enough to place an incident within minutes.
pub const DEFAULT_WINDOW_SECS: u64 = 60;

/// What `layercast replay` is asked to do besides reading.
#[derive(Debug, Clone)]
pub struct ReplayOptions {
    /// Every input's format; `None`: detected per file.
    pub format: Option<Format>,
    pub window_secs: u64,
    /// Series whose runway to compute.
    pub capacities: Vec<Capacity>,
    pub anomaly: AnomalyConfig,
    /// Alert rules run over the windows (`--rules`).
    pub rules: crate::analysis::RuleSet,
}

impl Default for ReplayOptions {
    fn default() -> Self {
        ReplayOptions {
            format: None,
            window_secs: DEFAULT_WINDOW_SECS,
            capacities: Vec::new(),
            anomaly: AnomalyConfig::default(),
            rules: crate::analysis::RuleSet::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Sums measurements per layer, and into windows per series for the detectors.
#[derive(Debug)]
struct LayerSink {
    layers: BTreeMap<OsiLayer, LayerTotals>,
    windows: findings::WindowSink,
}

impl Sink for LayerSink {
    fn measurement(&mut self, m: &Measurement<'_>) {
        self.windows.measurement(m);
        let t = self.layers.entry(m.layer).or_default();
        t.events += 1;
        t.bytes += m.bytes;
        t.packets += m.packets;
        t.connections += m.connections;
        t.requests += m.requests;
        t.errors += m.errors;
    }
}

/// The files under `inputs`: each file itself, each folder walked recursively (names sorted,
/// hidden entries left out).
pub fn collect_files(inputs: &[PathBuf]) -> Result<Vec<PathBuf>, ReplayError> {
    let mut files = Vec::new();
    for input in inputs {
        walk(input, &mut files)?;
    }
    Ok(files)
}

fn walk(path: &Path, files: &mut Vec<PathBuf>) -> Result<(), ReplayError> {
    let read_err = |source| ReplayError::Read {
        path: path.to_owned(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(read_err)?;
    if !meta.is_dir() {
        files.push(path.to_owned());
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(read_err)?
        .filter_map(Result::ok)
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .map(|e| e.path())
        .collect();
    entries.sort();
    for entry in entries {
        walk(&entry, files)?;
    }
    Ok(())
}

/// Reads every file (with `options.format`, or each file's detected one), runs the windows
/// and detectors, and reports. Files that cannot be read are returned apart, after the others
/// were read.
pub fn replay(files: &[PathBuf], options: &ReplayOptions) -> (ReplayReport, Vec<ReplayError>) {
    let format = options.format;
    let started = Instant::now();
    let total_bytes: u64 = files
        .iter()
        .filter_map(|f| std::fs::metadata(f).ok())
        .map(|m| m.len())
        .sum();
    let progress = ProgressBar::new(total_bytes);
    progress.set_style(
        ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {bytes_per_sec} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut sink = LayerSink {
        layers: BTreeMap::new(),
        windows: findings::WindowSink::new(options.window_secs),
    };
    // Files are read in name order, so a source's counter objects continue one another.
    let mut reader = object::Reader::new();
    let mut inputs = Vec::new();
    let mut samples = Vec::new();
    let mut failures = Vec::new();
    for file in files {
        let path = file.display().to_string();
        progress.set_message(path.clone());
        let raw = match std::fs::read(file) {
            Ok(raw) => raw,
            Err(source) => {
                failures.push(ReplayError::Read {
                    path: file.clone(),
                    source,
                });
                continue;
            }
        };
        let size = raw.len() as u64;
        let (bytes, broken) = object::decode(raw);
        let mut input = ReplayInput {
            path: path.clone(),
            format: "auto".into(),
            bytes: size,
            records: 0,
            skipped: 0,
            errors: 0,
        };
        match format.or_else(|| object::detect(&bytes)) {
            Some(format) => {
                let report = reader.parse(format, &bytes, &mut sink);
                input.format = format.name().into();
                input.records = report.records;
                input.skipped = report.skipped;
                input.errors = report.error_count;
                samples.extend(report.errors.into_iter().map(|e| ReplayErrorSample {
                    path: path.clone(),
                    line: e.line,
                    reason: e.reason,
                }));
            }
            None => {
                input.errors = 1;
                samples.push(ReplayErrorSample {
                    path: path.clone(),
                    line: 1,
                    reason: "format not recognised; name it with --format".into(),
                });
            }
        }
        if let Some(reason) = broken {
            input.errors += 1;
            samples.push(ReplayErrorSample {
                path: path.clone(),
                line: input.records + input.skipped + input.errors,
                reason,
            });
        }
        inputs.push(input);
        progress.inc(size);
    }
    progress.finish_and_clear();
    let layers = OsiLayer::ALL
        .iter()
        .map(|l| (*l, sink.layers.remove(l).unwrap_or_default()))
        .collect();
    let found = findings::find(
        sink.windows,
        &options.capacities,
        &options.anomaly,
        &options.rules,
    );
    let report = ReplayReport {
        records_total: inputs.iter().map(|i| i.records).sum(),
        errors_total: inputs.iter().map(|i| i.errors).sum(),
        inputs,
        layers,
        error_samples: samples,
        window_secs: options.window_secs,
        incidents: found.incidents,
        runway: found.runway,
        trends: found.trends,
        alerts: found.alerts,
        elapsed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    };
    (report, failures)
}

#[cfg(test)]
mod incident_tests;

#[cfg(test)]
mod runway_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_every_file_with_its_format_counts_and_bad_lines() {
        let dir = tempfile::tempdir().expect("dir");
        let nested = dir.path().join("a/b");
        std::fs::create_dir_all(&nested).expect("mkdir");
        std::fs::write(
            nested.join("x.ndjson"),
            "{\"ts\":1,\"layer\":\"L3\",\"entity\":\"a\",\"bytes\":7}\nbroken\n{\"ts\":2,\"layer\":\"L7\",\"entity\":\"s\",\"requests\":1}\n",
        )
        .expect("write");
        std::fs::write(dir.path().join("garbage.bin"), b"\x00\x01\x02\x03").expect("write");
        let files = collect_files(&[dir.path().to_owned()]).expect("walk");
        assert_eq!(files.len(), 2);
        let (report, failures) = replay(&files, &ReplayOptions::default());
        assert!(failures.is_empty());
        let x = report
            .inputs
            .iter()
            .find(|i| i.path.ends_with("x.ndjson"))
            .expect("x");
        assert_eq!((x.format.as_str(), x.records, x.errors), ("ndjson", 2, 1));
        assert_eq!(report.layers[&OsiLayer::L3].bytes, 7);
        assert_eq!(report.layers[&OsiLayer::L7].requests, 1);
        assert_eq!(report.layers.len(), 7);
        assert!(report
            .error_samples
            .iter()
            .any(|s| s.path.ends_with("x.ndjson") && s.line == 2));
        let garbage = report
            .inputs
            .iter()
            .find(|i| i.path.ends_with("garbage.bin"))
            .expect("garbage");
        assert_eq!(garbage.format, "auto");
    }

    #[test]
    fn a_missing_input_is_an_error() {
        assert!(collect_files(&[PathBuf::from("/nonexistent/layercast")]).is_err());
    }

    #[test]
    fn every_real_log_file_is_recognised_and_read_without_refused_lines() {
        let data = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata"));
        let files = collect_files(&[data.join("aws"), data.join("zeek")]).expect("testdata/");
        let (report, failures) = replay(&files, &ReplayOptions::default());
        assert!(failures.is_empty());
        // Not logs (licences, expected outputs, test-case tables), or logs that cannot be read
        // without outside knowledge: a deliberately invalid file, and a custom flow-log format
        // without its header line.
        let not_readable = |p: &str| {
            [".txt", ".json", ".jsonl", ".md", ".config", "LICENSE"]
                .iter()
                .any(|s| p.ends_with(s))
                || p.ends_with("elastic-beats/bad.log")
                || p.ends_with("custom-transit-gateway.log")
        };
        for input in report.inputs.iter().filter(|i| !not_readable(&i.path)) {
            assert_ne!(input.format, "auto", "{} not recognised", input.path);
            assert_eq!(
                input.errors,
                0,
                "{}: {:?}",
                input.path,
                report.error_samples.iter().find(|s| s.path == input.path)
            );
            assert!(input.records + input.skipped > 0, "{}", input.path);
        }
        for layer in [
            OsiLayer::L3,
            OsiLayer::L4,
            OsiLayer::L5,
            OsiLayer::L6,
            OsiLayer::L7,
        ] {
            assert!(
                report.layers[&layer].events > 0,
                "{layer} measured by the real logs"
            );
        }
    }
}
