use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::OsiLayer;

/// Body of every 4xx/5xx answer of the REST API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiErrorBody {
    pub error: String,
}

/// `GET /api/health`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Health {
    /// `ok` when every component is up, `degraded` otherwise.
    pub status: String,
    /// `embedded` or `production`.
    pub mode: String,
    pub node: String,
    pub broker: ComponentHealth,
    pub database: ComponentHealth,
    /// Partitions of the events topic this node owns now.
    pub partitions: Vec<i32>,
}

/// `GET /api/partitions`: one entry per partition of the events topic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PartitionStatus {
    pub partition: i32,
    /// The node that last made the partition's windows durable; `None` before any has.
    pub owner: Option<String>,
    /// Whether the answering node owns it now.
    pub owned_here: bool,
    /// The offset stored with the windows: where a new owner resumes.
    pub durable_offset: Option<i64>,
    /// The partition's log end offset, from the broker; `None` when the broker did not answer.
    pub log_end_offset: Option<i64>,
    /// Records in the log not yet in durable windows: `log_end_offset - durable_offset`.
    pub lag: Option<i64>,
    /// The partition's event-time watermark (ms since the epoch): windows ending before it,
    /// plus the grace period, are closed. `None` before the partition saw a record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watermark_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ComponentHealth {
    pub ok: bool,
    pub detail: String,
}

/// One row of `GET /api/windows`, and a series update on `/ws`: the aggregates of one
/// (layer, entity) over one window. Sums are totals, not increments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SeriesWindow {
    pub layer: OsiLayer,
    pub entity: String,
    /// Window start, milliseconds since the Unix epoch (inclusive).
    pub start_ms: i64,
    /// Window end, milliseconds since the Unix epoch (exclusive).
    pub end_ms: i64,
    /// Records in the window (the count).
    pub events: u64,
    pub bytes: u64,
    #[serde(default)]
    pub packets: u64,
    #[serde(default)]
    pub connections: u64,
    #[serde(default)]
    pub requests: u64,
    #[serde(default)]
    pub errors: u64,
    /// Smallest and largest `bytes` of one record in the window.
    #[serde(default)]
    pub bytes_min: u64,
    #[serde(default)]
    pub bytes_max: u64,
    /// Bytes per second over the window's length.
    #[serde(default)]
    pub bytes_per_s: f64,
    /// Records per second over the window's length.
    #[serde(default)]
    pub events_per_s: f64,
    /// Latency of the records that carry one; `None` when none did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<LatencySummary>,
    /// `errors` out of what they are counted against on the layer (see [`crate::error_rate`]);
    /// `None` when the window has none of that.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_rate: Option<f64>,
    /// The errors per class (`failed_handshake`, `connection_reset`, `server_error`, ...), as
    /// the parsers classify them; classes without an error are left out.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub error_classes: BTreeMap<String, u64>,
    /// `true` once the watermark has passed the window's end plus the grace period: the values
    /// will not change again. `false` for a provisional value of a window still filling.
    #[serde(default, rename = "final")]
    pub is_final: bool,
    /// When the window closed (wall clock, ms since the epoch), for a final window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_at_ms: Option<i64>,
}

/// Latency over one window, from a mergeable relative-error sketch (DDSketch, 1% relative
/// accuracy), so that a 1-hour roll-up's p99 is the p99 of its records, not an average of p99s.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LatencySummary {
    pub count: u64,
    pub min_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
}

/// A window the anomaly detector found unusual for its series: `GET /api/anomalies`, and
/// pushed live on `/ws` as it is found (when the window closes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WindowAnomaly {
    pub layer: OsiLayer,
    pub entity: String,
    pub metric: WindowMetric,
    pub start_ms: i64,
    pub end_ms: i64,
    /// The window's value of the metric.
    pub value: f64,
    /// 0 (usual) to 1; an anomaly is at least the detector's alert score.
    pub score: f64,
}

/// What of a window the anomaly detector watches; as JSON `bytes_per_s`, `errors`,
/// `latency_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum WindowMetric {
    BytesPerS,
    Errors,
    LatencyMs,
}

impl WindowMetric {
    pub const ALL: [WindowMetric; 3] = [
        WindowMetric::BytesPerS,
        WindowMetric::Errors,
        WindowMetric::LatencyMs,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            WindowMetric::BytesPerS => "bytes_per_s",
            WindowMetric::Errors => "errors",
            WindowMetric::LatencyMs => "latency_ms",
        }
    }
}

impl std::str::FromStr for WindowMetric {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| format!("unknown window metric {s:?}"))
    }
}

/// `GET /api/late`: records that came after their window had closed (later than the allowed
/// out-of-orderness plus the grace period). They are not in any window; each is also kept on
/// the `layercast.late` topic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LateReport {
    pub total: u64,
    /// Per series, most drops first.
    pub series: Vec<LateSeries>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LateSeries {
    pub layer: OsiLayer,
    pub entity: String,
    pub dropped: u64,
    /// Event time of the newest dropped record, ms since the epoch.
    pub last_event_ms: i64,
}

/// `GET /api/ingest`: what the inbox reader took, and what it refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IngestReport {
    /// Every object of the ledger: the inbox's files by name, S3 objects as
    /// `s3://bucket/key@etag`.
    pub files: Vec<IngestFile>,
    pub records_total: u64,
    pub errors_total: u64,
    /// The most recent malformed lines, newest first.
    pub error_samples: Vec<IngestErrorSample>,
    /// The sources this node reads (its S3 sources and its inbox), and how they fare.
    #[serde(default)]
    pub sources: Vec<IngestSource>,
}

/// A source (an S3 bucket and prefix, or the inbox folder) as this node sees it. Every count
/// and rate is this node's since it started: the nodes sharing a source share its objects, so
/// a deployment's figures are the sums over its nodes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IngestSource {
    pub name: String,
    /// `""` for the inbox.
    pub bucket: String,
    pub prefix: String,
    /// `starting`, `ok`, or `failing` (the last round stopped on an error: the store away,
    /// wrong credentials, a missing bucket or queue; retried with backoff).
    pub state: String,
    pub last_error: Option<String>,
    /// Objects this node finished (or found finished) since it started.
    pub objects_taken: u64,
    /// When its last round of listing (or receiving from its queue) and taking ended (ms since
    /// the epoch).
    pub last_round_ms: Option<i64>,
    /// `s3` or `inbox`.
    #[serde(default)]
    pub kind: String,
    /// How it learns of new objects: `listing`, `sqs` (S3 event notifications through an SQS
    /// queue) or `folder` (the inbox).
    #[serde(default)]
    pub discovery: String,
    #[serde(default)]
    pub objects: SourceObjects,
    /// Bytes of objects read (as stored: gzip objects count compressed) and records the broker
    /// acknowledged, since the node started.
    #[serde(default)]
    pub bytes_total: u64,
    #[serde(default)]
    pub records_total: u64,
    /// The same per second, over about the last ten seconds.
    #[serde(default)]
    pub bytes_per_sec: f64,
    #[serde(default)]
    pub records_per_sec: f64,
    /// From an object's LastModified (an S3 event's time, a file's mtime) to its last record
    /// acknowledged by the broker, whence it reaches the windows exactly once: of the object
    /// finished last, and the most since the node started. `None` before the first.
    #[serde(default)]
    pub lag_last_secs: Option<f64>,
    #[serde(default)]
    pub lag_max_secs: Option<f64>,
    /// Queue messages that were not S3 event notifications (logged, counted, deleted).
    #[serde(default)]
    pub malformed_messages: u64,
}

/// A source's objects by state, as this node sees them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SourceObjects {
    /// Known (listed, announced, in the folder) and not taken yet.
    pub pending: u64,
    /// Being read by this node now.
    pub reading: u64,
    /// Read to their end by this node since it started.
    pub done: u64,
    /// Whose last read on this node failed (the store away, a broken body): tried again
    /// later, resuming where the broker's acknowledgements were saved.
    pub failed: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IngestFile {
    pub name: String,
    pub records: u64,
    pub errors: u64,
    /// `reading` while a node reads it, `done` after.
    pub status: String,
    /// The node that reads it (or read it).
    #[serde(default)]
    pub node: String,
    /// Records of it, in order, that the broker has acknowledged: where a node taking it over
    /// resumes.
    #[serde(default)]
    pub acked: u64,
    /// Its size in bytes, as stored (gzip objects compressed).
    #[serde(default)]
    pub size: u64,
    /// When a node first claimed it, and when its reading finished (ms since the epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claimed_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IngestErrorSample {
    pub file: String,
    pub line: u64,
    pub reason: String,
}

/// The JSON report of `layercast replay`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReplayReport {
    /// One entry per file read, in the order read.
    pub inputs: Vec<ReplayInput>,
    /// Keyed `L1`..`L7`; every layer is present.
    pub layers: std::collections::BTreeMap<OsiLayer, LayerTotals>,
    pub records_total: u64,
    pub errors_total: u64,
    /// The first refused lines of each input.
    pub error_samples: Vec<ReplayErrorSample>,
    /// Width of the windows the detectors ran over, seconds.
    pub window_secs: u64,
    /// What the anomaly detector raised, in time order: one entry per alert (an incident
    /// raises one alert per series and metric, then the detector cools down).
    pub incidents: Vec<ReplayIncident>,
    /// Days until full of every series given a capacity, soonest first.
    pub runway: Vec<ReplayRunway>,
    /// The latest trend of every series' metrics, as the live analysis reports them.
    #[serde(default)]
    pub trends: Vec<crate::SeriesTrend>,
    /// Every change of the alert rules given with `--rules`, in time order.
    #[serde(default)]
    pub alerts: Vec<crate::AlertChange>,
    pub elapsed_ms: u64,
}

/// An anomaly the detector raised on one series of windows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReplayIncident {
    pub layer: OsiLayer,
    pub entity: String,
    /// `errors`, `latency_ms` or `bytes_per_s`.
    pub metric: String,
    /// Start of the window that raised it, RFC 3339 and milliseconds since the epoch.
    pub at: String,
    pub at_ms: i64,
    /// The metric's value in that window.
    pub value: f64,
    /// Anomaly score, 0 to 1.
    pub score: f64,
}

/// Capacity runway of one series at the end of the replayed data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReplayRunway {
    pub layer: OsiLayer,
    pub entity: String,
    /// Always `bytes_per_s` for now.
    pub metric: String,
    pub capacity: f64,
    /// `reaches`, `never_at_this_trend`, `already_above` or `warming`.
    pub state: String,
    /// Days from the last replayed window until the forecast reaches capacity (0 when already
    /// above); `None` when it never does at this trend or the forecaster is still warming.
    pub days_until_full: Option<f64>,
    /// Days until the upper bound of the prediction interval does (the pessimistic case).
    pub upper_bound_days: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReplayInput {
    pub path: String,
    /// One of the names `--format` takes; `auto` when no format recognised the file.
    pub format: String,
    pub bytes: u64,
    pub records: u64,
    /// Lines that were neither records nor errors: headers, comments, blank lines.
    pub skipped: u64,
    pub errors: u64,
}

/// A row of `GET /api/layers`: the totals of one layer over one window, summed over every
/// entity by the layer stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LayerSeriesWindow {
    pub layer: OsiLayer,
    /// Window start, ms since the Unix epoch (inclusive).
    pub start_ms: i64,
    /// Window end (exclusive).
    pub end_ms: i64,
    pub events: u64,
    pub bytes: u64,
    pub packets: u64,
    pub connections: u64,
    pub requests: u64,
    pub errors: u64,
    pub bytes_per_s: f64,
    pub events_per_s: f64,
    /// `errors` out of requests (L7), connections (L4-L6) or packets (L1-L3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_rate: Option<f64>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub error_classes: BTreeMap<String, u64>,
    /// Latency over every entity of the layer (their sketches merged); final windows only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<LatencySummary>,
    /// Every partition of the events topic has closed the window; `false`: the sum of what
    /// they have sent so far.
    #[serde(rename = "final")]
    pub is_final: bool,
    /// When the layer stage made it final (wall clock, ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_at_ms: Option<i64>,
    /// How many partitions of the events topic contributed.
    pub sources: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LayerTotals {
    /// Measurements on this layer.
    pub events: u64,
    pub bytes: u64,
    pub packets: u64,
    pub connections: u64,
    pub requests: u64,
    pub errors: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReplayErrorSample {
    pub path: String,
    pub line: u64,
    pub reason: String,
}
