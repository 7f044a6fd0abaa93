//! What `/metrics` shows, in the Prometheus (OpenMetrics) text format: one set of metrics per
//! node, shared by the stages that count (partition actors, aggregators, the inbox, the
//! consumer's statistics) and rendered on request.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::ingest::stats::{Discovery, SourceKind, SourceStats};

/// A partition of the events topic, as a label.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PartitionLabel {
    pub partition: i32,
}

/// A layer, as a label.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LayerLabel {
    pub layer: String,
}

/// A series' metric, as labels.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SeriesMetricLabel {
    pub layer: String,
    pub entity: String,
    pub metric: String,
}

/// An alert rule on a layer, as labels.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RuleLabel {
    pub rule: String,
    pub layer: String,
}

/// A layer and a window length, as labels.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LayerLenLabel {
    pub layer: String,
    pub len_ms: i64,
}

/// A source (`[[sources]]`, the inbox), as a label.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SourceLabel {
    pub source: String,
}

/// A source and a state of its objects (`pending`, `reading`, `done`, `failed`), as labels.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SourceStateLabel {
    pub source: String,
    pub state: String,
}

/// What a source is (`s3`, `inbox`) and how it learns of objects (`listing`, `sqs`, `folder`).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SourceInfoLabel {
    pub source: String,
    pub kind: String,
    pub discovery: String,
}

/// Durations from 1 ms to about 16 s, doubling: every histogram of the node (batches, delays,
/// lags) spans that range.
const SECONDS_START: f64 = 0.001;
const SECONDS_BUCKETS: u16 = 15;

fn seconds_histogram() -> Histogram {
    Histogram::new(exponential_buckets(SECONDS_START, 2.0, SECONDS_BUCKETS))
}

/// The node's metrics. Cheap to update from any thread (atomics); cloned handles share them.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Event records taken into windows by this node's partition actors.
    pub events: Counter,
    /// Event records whose payload was not an event (skipped).
    pub malformed_records: Counter,
    /// Per owned partition: windows with deltas not yet durable.
    pub open_windows: Family<PartitionLabel, Gauge>,
    /// Records that came after their window closed: not in any window, kept on the late topic.
    pub late_records: Counter,
    /// Copies of records counted before (a source resumed mid-object): dropped.
    pub duplicate_records: Counter,
    /// Per owned partition: the event-time watermark, seconds since the epoch.
    pub watermark_seconds: Family<PartitionLabel, Gauge<f64, AtomicU64>>,
    /// From the watermark passing a window's end plus grace to the window's final row being
    /// durable.
    pub window_close_delay_seconds: Histogram,
    /// The part of that delay before the close's write starts: the partition's write in
    /// flight (one at a time) finishing first.
    pub window_close_queued_seconds: Histogram,
    /// From a window's close to its final value reaching this node's live hub, which hands it
    /// to every WebSocket session at once.
    pub live_final_delay_seconds: Histogram,
    /// Time the live analysis (detectors, trends, forecasts, alert rules) took over one close's
    /// windows of one owner (a partition, a layer partition).
    pub analysis_seconds: Histogram,
    /// Final windows the live analysis took: with `analysis_seconds`' sum, its cost a window.
    pub analysed_windows: Counter,
    /// Final windows handed to the live analysis and not taken yet: it runs beside the stream,
    /// and a queue that grows means alerts that come later and memory that grows with them.
    pub analysis_queued_windows: Gauge,
    /// From the watermark closing a window to the alert changes it caused reaching this
    /// node's live hub, stored: one observation per change.
    pub alert_delay_seconds: Histogram,
    /// Per owned partition: the offset stored with the windows (where a new owner resumes).
    pub durable_offset: Family<PartitionLabel, Gauge>,
    /// Per assigned partition, from the consumer's statistics: the log end offset and the
    /// records between it and the committed offset.
    pub log_end_offset: Family<PartitionLabel, Gauge>,
    pub consumer_lag: Family<PartitionLabel, Gauge>,
    /// How late the node's stream thread (partition actors, live hub) wakes a timer: how long
    /// anything waiting on that thread waits beyond its time.
    pub stream_thread_lag_seconds: Histogram,
    /// Time of one batch write (window deltas and offset in one transaction).
    pub db_batch_seconds: Histogram,
    pub db_batch_failures: Counter,
    /// How long a batch, its rows written, waited for the Kafka deliveries that must precede
    /// its commit (late records, layer contributions). Not part of `db_batch_seconds`.
    pub delivery_wait_seconds: Histogram,
    /// Layer stage, per layer and window length this node's actors own: every window of the
    /// layer starting at or before this (seconds since the epoch) is final.
    pub layer_final_through_seconds: Family<LayerLenLabel, Gauge<f64, AtomicU64>>,
    /// Layer stage, per owned layer: source partitions treated as idle (they hold no window
    /// open but those they sent a provisional value of).
    pub layer_idle_sources: Family<LayerLabel, Gauge>,
    /// Layer stage, per owned partition of the layers topic: the stored position (the oldest
    /// record an open layer window needs) and the records between the log end and it.
    pub layer_durable_offset: Family<PartitionLabel, Gauge>,
    pub layer_stage_lag: Family<PartitionLabel, Gauge>,
    /// Contributions to layer windows already final (replays after a takeover, sources back
    /// from idleness about old windows): skipped.
    pub layer_skipped_contributions: Counter,
    /// Files the inbox took, the events it published, the lines it refused.
    pub inbox_files: Counter,
    pub inbox_events: Counter,
    pub inbox_malformed_lines: Counter,
    /// Per source (`ingest::stats`): 1, labelled with its kind and discovery.
    pub source_info: Family<SourceInfoLabel, Gauge>,
    /// Per source and state: objects pending, being read, done and failed on this node.
    pub source_objects: Family<SourceStateLabel, Gauge>,
    /// Per source: bytes of objects read, records the broker acknowledged.
    pub source_bytes: Family<SourceLabel, Counter>,
    pub source_records: Family<SourceLabel, Counter>,
    /// Per source: from the LastModified of the object finished last (and the most of any) to
    /// its last record acknowledged by the broker.
    pub source_lag_seconds: Family<SourceLabel, Gauge<f64, AtomicU64>>,
    pub source_lag_max_seconds: Family<SourceLabel, Gauge<f64, AtomicU64>>,
    /// Per source: queue messages that were not S3 event notifications.
    pub source_malformed_messages: Family<SourceLabel, Counter>,
    /// Every source's figures by name, for `/api/ingest`. A std mutex: held for a lookup only.
    sources: Mutex<BTreeMap<String, Arc<SourceStats>>>,
    /// WebSocket clients connected now (both protocol versions).
    pub ws_clients: Gauge,
    /// Version-2 clients cut because they fell further behind than their queue's bound.
    pub ws_slow_clients_cut: Counter,
    /// Version-2 clients dropped because they stayed silent past the timeout.
    pub ws_dead_clients_dropped: Counter,
    /// Alert notifications delivered and failed sends by this node, and those not yet
    /// delivered (by any node).
    pub notifications_sent: Counter,
    pub notifications_failed: Counter,
    pub notifications_pending: Gauge,
    /// Per series with a capacity: seconds until full at its trend (from the database, so
    /// every node reports every series; +Inf when it does not fill).
    pub series_runway_seconds: Family<SeriesMetricLabel, Gauge<f64, AtomicU64>>,
    /// Per rule and layer: alerts firing now (from the database).
    pub alerts_firing: Family<RuleLabel, Gauge>,
}

impl Metrics {
    pub fn new() -> Arc<Self> {
        let mut registry = Registry::with_prefix("layercast");
        let m = Metrics {
            events: Counter::default(),
            malformed_records: Counter::default(),
            open_windows: Family::default(),
            late_records: Counter::default(),
            duplicate_records: Counter::default(),
            watermark_seconds: Family::default(),
            window_close_delay_seconds: seconds_histogram(),
            window_close_queued_seconds: seconds_histogram(),
            live_final_delay_seconds: seconds_histogram(),
            analysis_seconds: seconds_histogram(),
            analysed_windows: Counter::default(),
            analysis_queued_windows: Gauge::default(),
            alert_delay_seconds: seconds_histogram(),
            durable_offset: Family::default(),
            log_end_offset: Family::default(),
            consumer_lag: Family::default(),
            stream_thread_lag_seconds: seconds_histogram(),
            db_batch_seconds: seconds_histogram(),
            db_batch_failures: Counter::default(),
            delivery_wait_seconds: seconds_histogram(),
            layer_final_through_seconds: Family::default(),
            layer_idle_sources: Family::default(),
            layer_durable_offset: Family::default(),
            layer_stage_lag: Family::default(),
            layer_skipped_contributions: Counter::default(),
            inbox_files: Counter::default(),
            inbox_events: Counter::default(),
            inbox_malformed_lines: Counter::default(),
            source_info: Family::default(),
            source_objects: Family::default(),
            source_bytes: Family::default(),
            source_records: Family::default(),
            source_lag_seconds: Family::default(),
            source_lag_max_seconds: Family::default(),
            source_malformed_messages: Family::default(),
            sources: Mutex::default(),
            ws_clients: Gauge::default(),
            ws_slow_clients_cut: Counter::default(),
            ws_dead_clients_dropped: Counter::default(),
            notifications_sent: Counter::default(),
            notifications_failed: Counter::default(),
            notifications_pending: Gauge::default(),
            series_runway_seconds: Family::default(),
            alerts_firing: Family::default(),
            registry: Registry::default(),
        };
        registry.register(
            "events",
            "Event records taken into windows",
            m.events.clone(),
        );
        registry.register(
            "malformed_records",
            "Event records skipped because their payload is not an event",
            m.malformed_records.clone(),
        );
        registry.register(
            "open_windows",
            "Windows with deltas not yet durable, per owned partition",
            m.open_windows.clone(),
        );
        registry.register(
            "duplicate_records",
            "Records dropped as copies of records counted before: a source resumed an object where its broker acknowledgements were last saved",
            m.duplicate_records.clone(),
        );
        registry.register(
            "late_records",
            "Records later than their window's close plus grace: dropped from windows, kept on the late topic",
            m.late_records.clone(),
        );
        registry.register(
            "watermark_seconds",
            "Event-time watermark per owned partition, seconds since the epoch",
            m.watermark_seconds.clone(),
        );
        registry.register(
            "window_close_delay_seconds",
            "From the watermark closing a window to its final row being durable",
            m.window_close_delay_seconds.clone(),
        );
        registry.register(
            "window_close_queued_seconds",
            "From the watermark closing a window to the start of its write (behind the write in flight)",
            m.window_close_queued_seconds.clone(),
        );
        registry.register(
            "live_final_delay_seconds",
            "From the watermark closing a window to its final value reaching the live hub",
            m.live_final_delay_seconds.clone(),
        );
        registry.register(
            "analysis_seconds",
            "Time of the live analysis (detectors, trends, forecasts, alert rules) over one close's windows of one owner",
            m.analysis_seconds.clone(),
        );
        registry.register(
            "analysed_windows",
            "Final windows taken by the live analysis",
            m.analysed_windows.clone(),
        );
        registry.register(
            "analysis_queued_windows",
            "Final windows handed to the live analysis and not taken yet",
            m.analysis_queued_windows.clone(),
        );
        registry.register(
            "alert_delay_seconds",
            "From the watermark closing a window to the alert change it caused reaching the live hub, stored",
            m.alert_delay_seconds.clone(),
        );
        registry.register(
            "durable_offset",
            "Offset stored with the windows, per owned partition",
            m.durable_offset.clone(),
        );
        registry.register(
            "log_end_offset",
            "Log end offset of each assigned partition of the events topic",
            m.log_end_offset.clone(),
        );
        registry.register(
            "consumer_lag",
            "Records between the log end and the committed offset, per assigned partition",
            m.consumer_lag.clone(),
        );
        registry.register(
            "stream_thread_lag_seconds",
            "How late the stream thread wakes a timer (sampled every 100 ms)",
            m.stream_thread_lag_seconds.clone(),
        );
        registry.register(
            "db_batch_seconds",
            "Time of one window batch write (deltas and offset in one transaction)",
            m.db_batch_seconds.clone(),
        );
        registry.register(
            "db_batch_failures",
            "Window batch writes that failed",
            m.db_batch_failures.clone(),
        );
        registry.register(
            "delivery_wait_seconds",
            "Time a window batch waited, rows written, for the Kafka deliveries that precede its commit",
            m.delivery_wait_seconds.clone(),
        );
        registry.register(
            "layer_final_through_seconds",
            "Per layer and window length: windows starting at or before this (seconds since the epoch) are final (layer stage)",
            m.layer_final_through_seconds.clone(),
        );
        registry.register(
            "layer_idle_sources",
            "Per layer: source partitions silent past the idle timeout, not holding windows open",
            m.layer_idle_sources.clone(),
        );
        registry.register(
            "layer_durable_offset",
            "Stored position per owned partition of the layers topic (oldest record an open window needs)",
            m.layer_durable_offset.clone(),
        );
        registry.register(
            "layer_stage_lag",
            "Records between the log end and the committed offset, per assigned partition of the layers topic",
            m.layer_stage_lag.clone(),
        );
        registry.register(
            "layer_skipped_contributions",
            "Contributions to layer windows already final, skipped",
            m.layer_skipped_contributions.clone(),
        );
        registry.register("inbox_files", "Files the inbox took", m.inbox_files.clone());
        registry.register(
            "inbox_events",
            "Events the inbox published",
            m.inbox_events.clone(),
        );
        registry.register(
            "inbox_malformed_lines",
            "Lines the inbox refused (counted, kept with their reason)",
            m.inbox_malformed_lines.clone(),
        );
        registry.register(
            "source_info",
            "Per source: 1, with its kind (s3, inbox) and how it learns of objects (listing, sqs, folder)",
            m.source_info.clone(),
        );
        registry.register(
            "source_objects",
            "Per source: objects pending (known, not taken), reading (on this node now), done (read to their end here) and failed (last read here failed, retried)",
            m.source_objects.clone(),
        );
        registry.register(
            "source_bytes",
            "Per source: bytes of objects read from the store (gzip objects compressed)",
            m.source_bytes.clone(),
        );
        registry.register(
            "source_records",
            "Per source: records published and acknowledged by the broker",
            m.source_records.clone(),
        );
        registry.register(
            "source_lag_seconds",
            "Per source: from the LastModified of the object finished last to its last record acknowledged by the broker",
            m.source_lag_seconds.clone(),
        );
        registry.register(
            "source_lag_max_seconds",
            "Per source: the most of source_lag_seconds since the node started",
            m.source_lag_max_seconds.clone(),
        );
        registry.register(
            "source_malformed_messages",
            "Per source: queue messages that were not S3 event notifications (logged, deleted)",
            m.source_malformed_messages.clone(),
        );
        registry.register(
            "ws_clients",
            "WebSocket clients connected now (both protocol versions)",
            m.ws_clients.clone(),
        );
        registry.register(
            "ws_slow_clients_cut",
            "Version-2 WebSocket clients cut for falling behind past their queue's bound",
            m.ws_slow_clients_cut.clone(),
        );
        registry.register(
            "ws_dead_clients_dropped",
            "Version-2 WebSocket clients dropped for staying silent past the timeout",
            m.ws_dead_clients_dropped.clone(),
        );
        registry.register(
            "notifications_sent",
            "Alert notifications delivered to a receiver by this node",
            m.notifications_sent.clone(),
        );
        registry.register(
            "notifications_failed",
            "Alert notification sends that failed (retried with backoff)",
            m.notifications_failed.clone(),
        );
        registry.register(
            "notifications_pending",
            "Alert notifications not yet delivered",
            m.notifications_pending.clone(),
        );
        registry.register(
            "series_runway_seconds",
            "Time until a series reaches its capacity at its trend",
            m.series_runway_seconds.clone(),
        );
        registry.register(
            "alerts_firing",
            "Alerts firing now, per rule and layer",
            m.alerts_firing.clone(),
        );
        Arc::new(Metrics { registry, ..m })
    }

    /// The figures of source `name`, made at its first use; every user of a name shares them.
    pub fn source(&self, name: &str, kind: SourceKind, discovery: Discovery) -> Arc<SourceStats> {
        let mut sources = self.sources.lock().unwrap_or_else(PoisonError::into_inner);
        sources
            .entry(name.to_owned())
            .or_insert_with(|| Arc::new(SourceStats::new(self, name, kind, discovery)))
            .clone()
    }

    /// Leaves a source removed through `/api/sources` out of `/api/ingest` (its series stay in
    /// `/metrics`, where counters must not go back; a source added again continues them).
    pub fn forget_source(&self, name: &str) {
        let mut sources = self.sources.lock().unwrap_or_else(PoisonError::into_inner);
        sources.remove(name);
    }

    /// Every source's figures, by name.
    pub fn sources(&self) -> Vec<Arc<SourceStats>> {
        let sources = self.sources.lock().unwrap_or_else(PoisonError::into_inner);
        sources.values().cloned().collect()
    }

    /// The OpenMetrics text of every metric. Writing into a `String` cannot fail, and the
    /// standard metric types encode without errors; should one ever fail, the scrape gets a
    /// valid, empty exposition and the log says why.
    /// The Prometheus text format (0.0.4) of the same metrics, for scrapers and tools that do
    /// not ask for OpenMetrics (`promtool check metrics`, curl): there a counter's HELP and TYPE
    /// name its samples (`…_total`), and there is no `# UNIT` or `# EOF`.
    pub fn render_classic(&self) -> String {
        to_classic_text(&self.render())
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        match prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            Ok(()) => out,
            Err(e) => {
                tracing::error!(error = %e, "cannot render the metrics");
                "# EOF\n".to_owned()
            }
        }
    }

    /// Forgets a partition's gauges when this node no longer owns it, so that two nodes never
    /// both report it.
    pub fn forget_partition(&self, partition: i32) {
        let label = PartitionLabel { partition };
        for family in [
            &self.open_windows,
            &self.durable_offset,
            &self.log_end_offset,
            &self.consumer_lag,
        ] {
            family.remove(&label);
        }
        self.watermark_seconds.remove(&label);
    }

    pub fn observe_batch(&self, took: Duration, ok: bool) {
        self.db_batch_seconds.observe(took.as_secs_f64());
        if !ok {
            self.db_batch_failures.inc();
        }
    }
}

/// How often the stream thread's lag is sampled.
const LAG_SAMPLE_EVERY: Duration = Duration::from_millis(100);

/// Samples, for as long as the thread runs, how late the current thread (an actix arbiter:
/// call it from the stream thread) wakes a timer. A thread whose tasks run long between
/// yields answers everything late: write completions, Kafka deliveries, the live feed.
pub fn watch_thread_lag(metrics: Arc<Metrics>) {
    actix::spawn(async move {
        loop {
            let started = tokio::time::Instant::now();
            tokio::time::sleep(LAG_SAMPLE_EVERY).await;
            let lag = started.elapsed().saturating_sub(LAG_SAMPLE_EVERY);
            metrics.stream_thread_lag_seconds.observe(lag.as_secs_f64());
        }
    });
}

/// OpenMetrics text to the Prometheus text format: see [`Metrics::render_classic`].
fn to_classic_text(open_metrics: &str) -> String {
    let counters: std::collections::BTreeSet<&str> = open_metrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(open_metrics.len());
    for line in open_metrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let renamed = ["# HELP ", "# TYPE "].iter().find_map(|prefix| {
            let rest = line.strip_prefix(prefix)?;
            let (name, tail) = rest.split_once(' ')?;
            counters
                .contains(name)
                .then(|| format!("{prefix}{name}_total {tail}"))
        });
        match renamed {
            Some(l) => out.push_str(&l),
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_gauges_per_partition_and_the_batch_histogram() {
        let m = Metrics::new();
        m.events.inc_by(42);
        m.consumer_lag
            .get_or_create(&PartitionLabel { partition: 3 })
            .set(7);
        m.observe_batch(Duration::from_millis(3), true);
        let text = m.render();
        assert!(text.contains("layercast_events_total 42"), "{text}");
        assert!(
            text.contains("layercast_consumer_lag{partition=\"3\"} 7"),
            "{text}"
        );
        assert!(
            text.contains("layercast_db_batch_seconds_count 1"),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"));
        let classic = m.render_classic();
        assert!(
            classic.contains("# HELP layercast_events_total "),
            "{classic}"
        );
        assert!(
            classic.contains("# TYPE layercast_events_total counter"),
            "{classic}"
        );
        assert!(classic.contains("layercast_events_total 42"), "{classic}");
        assert!(!classic.contains("# EOF"));
        m.forget_partition(3);
        assert!(!m.render().contains("partition=\"3\""));
    }
}
