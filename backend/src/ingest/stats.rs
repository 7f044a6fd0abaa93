//! Per-source statistics: what `GET /api/ingest` shows in `sources[]` and `/metrics` exports as
//! `layercast_source_*`, from the same numbers. Every count is this node's since it started:
//! nodes sharing a source share its objects, so a deployment's figures are sums over nodes.
//!
//! The counters are the Prometheus ones themselves (cloned handles of the families in
//! [`Metrics`], atomics), so the API and a scrape cannot disagree; the API's per-second rates
//! come from samples of those counters ([`RateWindow`]).

use std::collections::{BTreeSet, VecDeque};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use layercast_shared::{IngestSource, SourceObjects};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;

use super::s3::SourceBoard;
use crate::metrics::{Metrics, SourceInfoLabel, SourceLabel, SourceStateLabel};

/// The span the API's rates average over.
const RATE_WINDOW_MS: i64 = 10_000;
/// Samples of the counters are taken at most this often (while reading, at every chunk).
const SAMPLE_EVERY_MS: i64 = 1_000;

/// What a source reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    S3,
    Inbox,
}

impl SourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::S3 => "s3",
            SourceKind::Inbox => "inbox",
        }
    }
}

/// How a source learns of new objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Discovery {
    /// ListObjectsV2 in key order.
    Listing,
    /// S3 event notifications through an SQS queue.
    Sqs,
    /// The inbox folder's listing.
    Folder,
}

impl Discovery {
    pub fn as_str(self) -> &'static str {
        match self {
            Discovery::Listing => "listing",
            Discovery::Sqs => "sqs",
            Discovery::Folder => "folder",
        }
    }
}

/// Per-second rates of two counters over about the last [`RATE_WINDOW_MS`], from samples
/// `(ms, bytes, records)`. Pure: time comes in as an argument.
#[derive(Debug, Default)]
pub struct RateWindow {
    samples: VecDeque<(i64, u64, u64)>,
}

impl RateWindow {
    /// Takes a sample unless the last one is newer than [`SAMPLE_EVERY_MS`]; keeps the newest
    /// sample at or before the window's start as the base of the rates.
    pub fn sample(&mut self, now_ms: i64, bytes: u64, records: u64) {
        if self
            .samples
            .back()
            .is_some_and(|(at, _, _)| now_ms - at < SAMPLE_EVERY_MS)
        {
            return;
        }
        self.samples.push_back((now_ms, bytes, records));
        while self.samples.len() > 2 && self.samples[1].0 <= now_ms - RATE_WINDOW_MS {
            self.samples.pop_front();
        }
    }

    /// (bytes, records) per second from the oldest kept sample to `now_ms` and the counters'
    /// values now; zero before there is a base.
    pub fn rates(&self, now_ms: i64, bytes: u64, records: u64) -> (f64, f64) {
        match self.samples.front() {
            Some(&(at, b, r)) if now_ms > at => {
                let secs = (now_ms - at) as f64 / 1_000.0;
                (
                    bytes.saturating_sub(b) as f64 / secs,
                    records.saturating_sub(r) as f64 / secs,
                )
            }
            _ => (0.0, 0.0),
        }
    }
}

/// One source's figures on this node; cheap to update from any thread.
#[derive(Debug)]
pub struct SourceStats {
    pub name: String,
    pub kind: SourceKind,
    pub discovery: Discovery,
    pending: Gauge,
    reading: Gauge,
    done: Gauge,
    failed: Gauge,
    bytes: Counter,
    records: Counter,
    lag_seconds: Gauge<f64, AtomicU64>,
    lag_max_seconds: Gauge<f64, AtomicU64>,
    malformed_messages: Counter,
    /// Objects finished here, for the lag's "none yet".
    finished: Counter,
    /// Objects whose last read here failed, by ledger name: a set, so that an object failing
    /// round after round counts once. A std mutex: nothing awaits while it is held.
    failing: Mutex<BTreeSet<String>>,
    rates: Mutex<RateWindow>,
}

fn wall_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl SourceStats {
    /// The figures of source `name`, registered in `metrics`' families.
    pub fn new(metrics: &Metrics, name: &str, kind: SourceKind, discovery: Discovery) -> Self {
        let label = SourceLabel {
            source: name.to_owned(),
        };
        let state = |state: &str| {
            metrics
                .source_objects
                .get_or_create(&SourceStateLabel {
                    source: name.to_owned(),
                    state: state.to_owned(),
                })
                .clone()
        };
        metrics
            .source_info
            .get_or_create(&SourceInfoLabel {
                source: name.to_owned(),
                kind: kind.as_str().to_owned(),
                discovery: discovery.as_str().to_owned(),
            })
            .set(1);
        SourceStats {
            name: name.to_owned(),
            kind,
            discovery,
            pending: state("pending"),
            reading: state("reading"),
            done: state("done"),
            failed: state("failed"),
            bytes: metrics.source_bytes.get_or_create(&label).clone(),
            records: metrics.source_records.get_or_create(&label).clone(),
            lag_seconds: metrics.source_lag_seconds.get_or_create(&label).clone(),
            lag_max_seconds: metrics.source_lag_max_seconds.get_or_create(&label).clone(),
            malformed_messages: metrics
                .source_malformed_messages
                .get_or_create(&label)
                .clone(),
            finished: Counter::default(),
            failing: Mutex::default(),
            rates: Mutex::default(),
        }
    }

    /// Objects known and not taken yet.
    pub fn set_pending(&self, n: usize) {
        self.pending.set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    /// One more object read now; one less when the guard drops (however the read ends).
    pub fn reading(self: &Arc<Self>) -> ReadingGuard {
        self.reading.inc();
        ReadingGuard(self.clone())
    }

    /// Bytes of an object read from the store.
    pub fn add_bytes(&self, n: u64) {
        self.bytes.inc_by(n);
        self.sample(wall_ms());
    }

    /// Records the broker acknowledged.
    pub fn add_records(&self, n: u64) {
        self.records.inc_by(n);
    }

    /// An object read to its end here, last modified at `modified_ms` (ms since the epoch).
    pub fn finished(&self, object: &str, modified_ms: Option<i64>) {
        self.done.inc();
        self.finished.inc();
        self.clear(object);
        if let Some(modified_ms) = modified_ms {
            let lag = Duration::from_millis(u64::try_from(wall_ms() - modified_ms).unwrap_or(0))
                .as_secs_f64();
            self.lag_seconds.set(lag);
            if lag > self.lag_max_seconds.get() {
                self.lag_max_seconds.set(lag);
            }
        }
    }

    /// An object that needs nothing more from this node (done before, another node's now).
    pub fn clear(&self, object: &str) {
        let mut failing = self.failing.lock().unwrap_or_else(PoisonError::into_inner);
        if failing.remove(object) {
            self.failed.set(to_gauge(failing.len()));
        }
    }

    /// An object whose read failed here; it is tried again later.
    pub fn failed(&self, object: &str) {
        let mut failing = self.failing.lock().unwrap_or_else(PoisonError::into_inner);
        failing.insert(object.to_owned());
        self.failed.set(to_gauge(failing.len()));
    }

    /// A queue message that was not an S3 event notification.
    pub fn malformed_message(&self) {
        self.malformed_messages.inc();
    }

    fn sample(&self, now_ms: i64) {
        self.rates
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .sample(now_ms, self.bytes.get(), self.records.get());
    }

    /// Fills `status`'s figures (the rest, its name and state, is the source actor's).
    pub fn fill(&self, status: &mut IngestSource) {
        let now_ms = wall_ms();
        self.sample(now_ms);
        let (bytes, records) = (self.bytes.get(), self.records.get());
        let (bytes_per_sec, records_per_sec) = self
            .rates
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .rates(now_ms, bytes, records);
        let count = |g: &Gauge| u64::try_from(g.get()).unwrap_or(0);
        let lag = (self.finished.get() > 0).then_some(());
        status.kind = self.kind.as_str().to_owned();
        status.discovery = self.discovery.as_str().to_owned();
        status.objects = SourceObjects {
            pending: count(&self.pending),
            reading: count(&self.reading),
            done: count(&self.done),
            failed: count(&self.failed),
        };
        status.bytes_total = bytes;
        status.records_total = records;
        status.bytes_per_sec = bytes_per_sec;
        status.records_per_sec = records_per_sec;
        status.lag_last_secs = lag.map(|()| self.lag_seconds.get());
        status.lag_max_secs = lag.map(|()| self.lag_max_seconds.get());
        status.malformed_messages = self.malformed_messages.get();
    }
}

fn to_gauge(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Holds a source's `reading` count up while an object is read.
pub struct ReadingGuard(Arc<SourceStats>);

impl Drop for ReadingGuard {
    fn drop(&mut self) {
        self.0.reading.dec();
    }
}

/// `sources[]` of `GET /api/ingest`: every source of this node with its figures, the S3
/// sources' state from their actors' board, the inbox always `ok` (a folder it cannot list is
/// logged and retried at every poll).
pub fn report(board: &SourceBoard, metrics: &Metrics) -> Vec<IngestSource> {
    let board = board.lock().map(|board| board.clone()).unwrap_or_default();
    metrics
        .sources()
        .into_iter()
        .map(|stats| {
            let mut status = board.get(&stats.name).cloned().unwrap_or(IngestSource {
                name: stats.name.clone(),
                bucket: String::new(),
                prefix: String::new(),
                state: "ok".into(),
                last_error: None,
                objects_taken: 0,
                last_round_ms: None,
                kind: String::new(),
                discovery: String::new(),
                objects: SourceObjects::default(),
                bytes_total: 0,
                records_total: 0,
                bytes_per_sec: 0.0,
                records_per_sec: 0.0,
                lag_last_secs: None,
                lag_max_secs: None,
                malformed_messages: 0,
            });
            stats.fill(&mut status);
            status
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_average_over_about_the_last_ten_seconds() {
        let mut w = RateWindow::default();
        assert_eq!(w.rates(0, 0, 0), (0.0, 0.0));
        w.sample(0, 0, 0);
        // Samples closer than a second apart are not kept.
        w.sample(500, 10, 1);
        for s in 1..=30_i64 {
            let (bytes, records) = (s as u64 * 1_000, s as u64 * 10);
            w.sample(s * 1_000, bytes, records);
        }
        // The base is the sample at the window's start: 20 s, 20,000 bytes.
        let (b, r) = w.rates(30_000, 30_000, 300);
        assert!(
            (b - 1_000.0).abs() < 1e-9 && (r - 10.0).abs() < 1e-9,
            "{b} {r}"
        );
        // Idle for a minute: the rate falls to what that minute averages.
        w.sample(90_000, 30_000, 300);
        assert_eq!(w.rates(90_000, 30_000, 300), (0.0, 0.0));
    }

    #[test]
    fn an_object_failing_again_counts_once_and_the_lag_keeps_its_max() {
        let metrics = Metrics::new();
        let stats = metrics.source("flows", SourceKind::S3, Discovery::Listing);
        stats.failed("a");
        stats.failed("a");
        stats.failed("b");
        {
            let _reading = stats.reading();
            stats.add_bytes(100);
            stats.add_records(3);
        }
        let now = wall_ms();
        stats.finished("a", Some(now - 5_000));
        stats.finished("c", Some(now - 1_000));
        let mut status = report(&SourceBoard::default(), &metrics)
            .pop()
            .expect("the source");
        assert_eq!(
            (status.kind.as_str(), status.discovery.as_str()),
            ("s3", "listing")
        );
        assert_eq!(
            status.objects,
            SourceObjects {
                pending: 0,
                reading: 0,
                done: 2,
                failed: 1
            }
        );
        assert_eq!((status.bytes_total, status.records_total), (100, 3));
        let (last, max) = (
            status.lag_last_secs.take().expect("lag"),
            status.lag_max_secs.take().expect("max"),
        );
        assert!((1.0..5.0).contains(&last) && max >= 5.0, "{last} {max}");
        let text = metrics.render();
        for line in [
            "layercast_source_objects{source=\"flows\",state=\"done\"} 2",
            "layercast_source_objects{source=\"flows\",state=\"failed\"} 1",
            "layercast_source_bytes_total{source=\"flows\"} 100",
            "layercast_source_records_total{source=\"flows\"} 3",
            "layercast_source_info{source=\"flows\",kind=\"s3\",discovery=\"listing\"} 1",
        ] {
            assert!(text.contains(line), "{line} in {text}");
        }
        assert!(text.contains("layercast_source_lag_seconds{source=\"flows\"}"));
        assert!(text.contains("layercast_source_lag_max_seconds{source=\"flows\"}"));
    }
}
