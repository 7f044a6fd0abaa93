//! Runs a simulation into a folder: objects written atomically (a dotfile renamed into place,
//! as the inbox expects), paced against the wall clock or as fast as possible, and the ground
//! truth beside them.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::model::Network;
use super::sim::{Object, Simulation};
use super::truth;

/// File name of the ground truth in the output folder: a dotfile, so that neither the inbox
/// nor `layercast replay` of the folder takes it for a log.
pub const TRUTH_FILE: &str = ".ground-truth.json";

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("--out {0}: S3 output is not supported yet; give a local folder")]
    S3Unsupported(String),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot encode the ground truth: {0}")]
    Truth(#[from] serde_json::Error),
}

/// How fast simulated time runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Speed {
    /// This many simulated seconds per wall-clock second.
    Times(f64),
    /// As fast as the machine writes.
    Max,
}

#[derive(Debug, Clone)]
pub struct Options {
    pub out: PathBuf,
    /// Where the ground truth goes; `None`: [`TRUTH_FILE`] in `out`.
    pub truth: Option<PathBuf>,
    pub speed: Speed,
    /// Start of simulated time, ms since the epoch.
    pub start_ms: i64,
    /// Simulated time to run; `None`: until stopped.
    pub duration_ms: Option<i64>,
    pub seed: u64,
}

/// What a run wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    pub objects: u64,
    pub records: u64,
    /// Bytes before compression.
    pub bytes: u64,
}

/// Waits until the wall clock catches up with simulated time: the only clock of the
/// simulator, kept here at the edge so that the simulation itself stays pure.
struct Pacer {
    wall_start: Instant,
    speed: Speed,
}

impl Pacer {
    fn wait_for(&self, sim_offset_ms: i64) {
        let Speed::Times(times) = self.speed else {
            return;
        };
        let due = Duration::from_secs_f64((sim_offset_ms.max(0) as f64 / 1000.0) / times);
        if let Some(left) = due.checked_sub(self.wall_start.elapsed()) {
            std::thread::sleep(left);
        }
    }
}

fn write_err(path: &Path) -> impl FnOnce(std::io::Error) -> SimError + '_ {
    move |source| SimError::Write {
        path: path.to_owned(),
        source,
    }
}

/// Writes `bytes` to `path` through a dotfile beside it, renamed into place when complete.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), SimError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, bytes).map_err(write_err(&tmp))?;
    std::fs::rename(&tmp, path).map_err(write_err(path))
}

/// The object as its producer delivers it: gzip-compressed or as it is.
fn encode(object: &Object) -> Result<std::borrow::Cow<'_, [u8]>, std::io::Error> {
    if !object.gzip {
        return Ok(std::borrow::Cow::Borrowed(&object.bytes));
    }
    // mtime stays 0 (flate2's default), so the same content gives the same bytes. Level 1:
    // compression is most of the cost of writing, and the inbox does not care about size.
    let mut gz = flate2::write::GzEncoder::new(
        Vec::with_capacity(object.bytes.len() / 4),
        flate2::Compression::fast(),
    );
    gz.write_all(&object.bytes)?;
    gz.finish().map(std::borrow::Cow::Owned)
}

/// Runs `net` with `options`: writes the ground truth, then every object in time order.
/// `stop` is asked before each object (Ctrl-C in the command, never in tests).
pub fn run(net: Network, options: &Options, stop: &dyn Fn() -> bool) -> Result<Summary, SimError> {
    let out_text = options.out.to_string_lossy();
    if out_text.starts_with("s3://") {
        return Err(SimError::S3Unsupported(out_text.into_owned()));
    }
    std::fs::create_dir_all(&options.out).map_err(write_err(&options.out))?;
    let end_ms = options.duration_ms.map(|d| options.start_ms + d);
    let truth = truth::ground_truth(&net, options.seed, options.start_ms, end_ms);
    let truth_path = options
        .truth
        .clone()
        .unwrap_or_else(|| options.out.join(TRUTH_FILE));
    write_atomic(&truth_path, &serde_json::to_vec_pretty(&truth)?)?;

    let pacer = Pacer {
        wall_start: Instant::now(),
        speed: options.speed,
    };
    let mut sim = Simulation::new(net, options.start_ms, end_ms, options.seed);
    let mut summary = Summary::default();
    while let Some(object) = sim.next_object() {
        if stop() {
            break;
        }
        pacer.wait_for(object.due_ms - options.start_ms);
        let path = options.out.join(&object.name);
        let bytes = encode(&object).map_err(write_err(&path))?;
        write_atomic(&path, &bytes)?;
        summary.objects += 1;
        summary.records += object.records;
        summary.bytes += object.bytes.len() as u64;
    }
    Ok(summary)
}
