//! The NAB corpus on disk (`data/<group>/<file>.csv` and `labels/combined_windows.json`), run
//! through the detector and scored with [`crate::analysis::nab`], for the benchmark and the
//! regression test.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use crate::analysis::anomaly::{AnomalyConfig, AnomalyDetector};
use crate::analysis::nab::{self, CorpusScore, CostProfile, FileSweep, Window};

use super::{for_each_row, parse_timestamp, DetectError};

#[derive(Debug, thiserror::Error)]
pub enum CorpusError {
    #[error("cannot read {path}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot parse the labels in {path}")]
    Labels {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("cannot read the series in {path}")]
    Data { path: PathBuf, source: DetectError },
    #[error("{file}: window bound `{value}` is not a timestamp")]
    Window { file: String, value: String },
}

/// One labelled series of the corpus.
#[derive(Debug, Clone)]
pub struct NabFile {
    /// Path under `data/`, e.g. `realAWSCloudwatch/ec2_cpu_utilization_24ae8d.csv`.
    pub name: String,
    pub timestamps: Vec<i64>,
    pub values: Vec<f64>,
    /// Labelled windows as point indices.
    pub windows: Vec<Window>,
}

impl NabFile {
    /// The folder the file is in (NAB's data group).
    pub fn group(&self) -> &str {
        self.name.split_once('/').map_or("", |(g, _)| g)
    }
}

/// Loads every file listed in `root/labels/combined_windows.json` that exists under
/// `root/data/` (the corpus may be a subset), sorted by name.
pub fn load(root: &Path) -> Result<Vec<NabFile>, CorpusError> {
    let labels_path = root.join("labels").join("combined_windows.json");
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| CorpusError::Io { path, source }
    };
    let labels_file = File::open(&labels_path).map_err(io(&labels_path))?;
    let labels: BTreeMap<String, Vec<[String; 2]>> =
        serde_json::from_reader(BufReader::new(labels_file)).map_err(|source| {
            CorpusError::Labels {
                path: labels_path.clone(),
                source,
            }
        })?;
    let mut files = Vec::new();
    for (name, bounds) in labels {
        let path = root.join("data").join(&name);
        if !path.is_file() {
            continue;
        }
        let (mut timestamps, mut values) = (Vec::new(), Vec::new());
        let reader = BufReader::new(File::open(&path).map_err(io(&path))?);
        for_each_row(reader, |row| {
            timestamps.push(row.ts_ms);
            values.push(row.value.ok_or_else(|| DetectError::Value {
                line: row.line,
                value: String::new(),
            })?);
            Ok(())
        })
        .map_err(|source| CorpusError::Data {
            path: path.clone(),
            source,
        })?;
        let mut windows = Vec::with_capacity(bounds.len());
        for [start, end] in bounds {
            let ts = |value: String| {
                parse_timestamp(&value).ok_or(CorpusError::Window {
                    file: name.clone(),
                    value,
                })
            };
            let (start, end) = (ts(start)?, ts(end)?);
            let first = timestamps.partition_point(|&t| t < start);
            let after = timestamps.partition_point(|&t| t <= end);
            if after > first {
                windows.push(Window {
                    first,
                    last: after - 1,
                });
            }
        }
        files.push(NabFile {
            name,
            timestamps,
            values,
            windows,
        });
    }
    Ok(files)
}

/// Anomaly scores of every point of `file`, from a fresh detector.
pub fn detect_file(
    file: &NabFile,
    config: AnomalyConfig,
) -> Result<Vec<f64>, crate::analysis::anomaly::AnomalyError> {
    let mut detector = AnomalyDetector::new(config)?;
    Ok(file
        .timestamps
        .iter()
        .zip(&file.values)
        .map(|(&t, &v)| detector.push(t, v).score)
        .collect())
}

/// The corpus score of one profile, and each file's raw score at the corpus threshold.
#[derive(Debug, Clone)]
pub struct ProfileResult {
    pub profile: CostProfile,
    pub corpus: CorpusScore,
    /// (file name, windows, raw score at the corpus threshold), in corpus order.
    pub files: Vec<(String, usize, f64)>,
}

/// Scores precomputed anomaly `scores` (one vector per file, in `files` order) with every NAB
/// profile.
pub fn score(files: &[NabFile], scores: &[Vec<f64>]) -> Vec<ProfileResult> {
    let sweeps: Vec<FileSweep> = files
        .iter()
        .zip(scores)
        .map(|(f, s)| FileSweep::new(s, &f.windows))
        .collect();
    CostProfile::ALL
        .iter()
        .map(|profile| {
            let corpus = nab::optimise(&sweeps, profile);
            let per_file = files
                .iter()
                .zip(&sweeps)
                .map(|(f, s)| {
                    (
                        f.name.clone(),
                        s.windows(),
                        nab::raw_score(s, corpus.threshold, profile),
                    )
                })
                .collect();
            ProfileResult {
                profile: *profile,
                corpus,
                files: per_file,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn corpus() -> Vec<NabFile> {
        let root = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/nab"));
        load(root).expect("the NAB subset in testdata/ loads")
    }

    #[test]
    fn loads_the_subset_with_its_windows() {
        let files = corpus();
        assert!(files.len() >= 20, "{} files", files.len());
        let f = files
            .iter()
            .find(|f| f.name == "artificialWithAnomaly/art_daily_jumpsup.csv")
            .expect("present");
        assert_eq!(f.values.len(), 4032);
        assert_eq!(f.windows.len(), 1);
        // 2014-04-10 16:15 is 9 days 16 h 15 min (2,787 five-minute steps) after 2014-04-01 00:00.
        assert_eq!(f.windows[0].first, 2787);
    }

    /// Regression guard on the part of the corpus we have: the bar of 60 (the detector
    /// measures 62.0 on this subset, BENCHMARKS.md). Raise it with the detector.
    const STANDARD_FLOOR: f64 = 60.0;

    #[test]
    fn standard_profile_holds_its_measured_level_on_the_subset() {
        let files = corpus();
        let scores: Vec<Vec<f64>> = files
            .iter()
            .map(|f| detect_file(f, AnomalyConfig::default()).expect("default config"))
            .collect();
        let results = score(&files, &scores);
        let standard = results
            .iter()
            .find(|r| r.profile.name == "standard")
            .expect("standard profile");
        let score = standard.corpus.normalized;
        assert!(
            score >= STANDARD_FLOOR,
            "standard score {score:.1} < {STANDARD_FLOOR}"
        );
    }
}
