//! Settings, layered as built-in defaults (embedded mode) < TOML file < `LAYERCAST_*`
//! environment < command-line flags, validated once at start and passed down explicitly.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

use crate::store::DbUrl;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Load(#[from] Box<figment::Error>),
    #[error("configuration file {0} does not exist")]
    MissingFile(PathBuf),
    #[error("setting {setting}: {reason}")]
    Invalid {
        setting: &'static str,
        reason: String,
    },
}

/// Every setting of `layercast serve`. Field docs are the reference; the README repeats them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Folder for embedded-mode state: the SQLite file and the default inbox.
    pub data_dir: PathBuf,
    /// Name of this node in the API, the logs and the partition ledger. Default: host-pid.
    pub node_id: Option<String>,
    pub http: HttpConfig,
    pub kafka: KafkaConfig,
    pub database: DbConfig,
    pub windows: WindowConfig,
    pub ingest: IngestConfig,
    pub live: LiveConfig,
    /// S3 buckets (or S3-compatible stores) whose objects are read, `[[sources]]` in TOML.
    pub sources: Vec<S3SourceConfig>,
    pub auth: AuthConfig,
}

/// Who may see and change what: see docs/access.md.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Whether viewing (GET routes, the dashboard, `/ws`) is open to callers without a session
    /// or token. Unset: true in embedded mode (a laptop demo), false in production. Changes
    /// always need an admin.
    pub anonymous_viewer: Option<bool>,
    /// Whether `/metrics` answers without credentials (Prometheus scrapers rarely carry any).
    pub open_metrics: bool,
    /// Whether `/api/health` answers without credentials (load balancers' probes).
    pub open_health: bool,
    /// How long a browser session lasts after login, in hours.
    pub session_hours: u64,
    /// Failed logins allowed per user name, and per address, within `login_window_secs`
    /// before further attempts get 429 until the window has passed.
    pub login_failures: u32,
    pub login_window_secs: u64,
    /// The largest request body any route takes, in bytes (larger: 413).
    pub max_body_bytes: usize,
    /// Origins (`https://planner.example.com`) allowed to open `/ws` besides the server's
    /// own; a browser on any other page is refused before the upgrade.
    pub allowed_origins: Vec<String>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            anonymous_viewer: None,
            open_metrics: true,
            open_health: true,
            session_hours: 12,
            login_failures: 5,
            login_window_secs: 300,
            max_body_bytes: 1 << 20,
            allowed_origins: Vec::new(),
        }
    }
}

/// A bucket whose objects LayerCast reads: listed in key order (`start-after` the last key all
/// of whose predecessors are done), each object claimed, streamed and published once.
/// Credentials come from aws-config's default chain (environment, profile, web identity,
/// instance role); they are never in this file, the logs or the API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct S3SourceConfig {
    /// Its name in the API and the logs.
    pub name: String,
    pub bucket: String,
    /// Only the keys under this prefix ("": the whole bucket).
    #[serde(default)]
    pub prefix: String,
    /// The bucket's region. Unset: aws-config's (`AWS_REGION`, the profile).
    #[serde(default)]
    pub region: Option<String>,
    /// An S3-compatible store's address (MinIO, a local server): `http://host:port`.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Path-style addresses (`endpoint/bucket/key`), as most S3-compatible stores want.
    #[serde(default)]
    pub path_style: bool,
    /// The objects' format (`vpc-flow`, `alb`, `nlb`, `zeek`, `counters`, `ndjson`), or `auto`
    /// to detect each object's from its first lines.
    #[serde(default = "auto_format")]
    pub format: String,
    /// How often the bucket is listed for new objects, in milliseconds (with `queue_url`:
    /// unused, the queue is long-polled).
    #[serde(default = "default_source_poll_ms")]
    pub poll_ms: u64,
    /// An SQS queue that receives the bucket's S3 event notifications (`s3:ObjectCreated:*`):
    /// set, the source learns of new objects from it instead of listing the bucket. With
    /// `endpoint` set, the queue is reached at its URL's host (a local or compatible service);
    /// otherwise at the region's SQS endpoint.
    #[serde(default)]
    pub queue_url: Option<String>,
}

fn auto_format() -> String {
    "auto".to_owned()
}

fn default_source_poll_ms() -> u64 {
    10_000
}

impl S3SourceConfig {
    /// What serde cannot check; for the file and for `/api/sources` alike.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |setting, reason: &str| {
            Err(ConfigError::Invalid {
                setting,
                reason: reason.into(),
            })
        };
        let name_ok = !self.name.is_empty()
            && self.name.len() <= 64
            && self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
        if !name_ok {
            return invalid(
                "sources.name",
                "1 to 64 letters, digits or . - _, and every source needs a name of its own",
            );
        }
        if self.bucket.trim().is_empty() || self.bucket.len() > 255 {
            return invalid("sources.bucket", "must name a bucket");
        }
        if self.prefix.len() > 1024 {
            return invalid("sources.prefix", "at most 1024 bytes");
        }
        if self.format != "auto" && self.fixed_format().is_none() {
            return invalid(
                "sources.format",
                "must be auto, vpc-flow, alb, nlb, zeek, counters or ndjson",
            );
        }
        if !(MIN_SOURCE_POLL_MS..=86_400_000).contains(&self.poll_ms) {
            return invalid("sources.poll_ms", "must be between 100 ms and a day");
        }
        if let Some(queue) = &self.queue_url {
            if !(queue.starts_with("http://") || queue.starts_with("https://")) {
                return invalid(
                    "sources.queue_url",
                    "must be the queue's URL (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME)",
                );
            }
        }
        if let Some(endpoint) = &self.endpoint {
            if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
                return invalid("sources.endpoint", "must be an http:// or https:// address");
            }
        }
        Ok(())
    }

    /// The configured format, `None` for `auto`.
    pub fn fixed_format(&self) -> Option<layercast_parse::Format> {
        layercast_parse::Format::ALL
            .into_iter()
            .find(|f| f.name() == self.format)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Address the REST API, the WebSocket and the dashboard listen on.
    pub listen: SocketAddr,
    /// A built frontend (Trunk's `dist`) to serve at `/` instead of the one embedded in the
    /// binary. Unset (the default): the embedded one.
    pub static_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaConfig {
    /// Bootstrap servers (`host:port,...`). Unset: librdkafka's in-process broker (embedded).
    pub brokers: Option<String>,
    pub events_topic: String,
    pub updates_topic: String,
    /// Dead-letter topic of records that came after their window closed.
    pub late_topic: String,
    /// Per-partition contributions to the layer-wide windows, keyed by layer: the input of
    /// the layer stage (`stream::layers`).
    pub layers_topic: String,
    /// Consumer group of the partition actors; every node of one deployment shares it.
    pub group_id: String,
    /// Partitions of the events topic when LayerCast creates it (the most nodes that can share
    /// the work).
    pub partitions: i32,
    /// Extra librdkafka settings given to every client (TLS, SASL, `debug`, ...).
    pub client_options: std::collections::BTreeMap<String, String>,
    /// How long the group waits for a silent node before its partitions go to the others.
    pub session_timeout_ms: u32,
    /// How long a rebalance waits for every member to rejoin (librdkafka's
    /// `max.poll.interval.ms`). Some brokers (tansu) drop a crashed member only when this runs
    /// out, so it bounds how long a dead node's partitions stay idle there.
    pub rebalance_timeout_ms: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DbConfig {
    /// `mysql://user:password@host:port/database` or `sqlite://path`. Unset: a SQLite file in
    /// `data_dir` (embedded).
    pub url: Option<String>,
    /// Connections kept for HTTP handlers and the inbox reader.
    pub pool_size: u32,
    /// Writer threads (aggregator actors), each with its own connection. Four by default: with
    /// fewer than the partitions a node owns, a close waits for another partition's write
    /// (one node, 4 partitions: 175,000 events/s durable with 2, 201,000 with 4).
    pub writers: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WindowConfig {
    /// Length of the tumbling event-time windows, in seconds.
    pub length_secs: u64,
    /// How far behind the newest event time of a partition a record may be and still be on
    /// time: the watermark is the newest event time minus this. Log objects are delivered in
    /// batches (VPC flow logs, ALB and Zeek every 5 minutes, flow records up to their
    /// aggregation interval older than that), and one partition mixes sources, so 10 minutes.
    pub out_of_order_secs: u64,
    /// How long after the watermark passes a window's end the window still takes late
    /// records (each corrects the stored row). After that it is final, and later records are
    /// dropped: counted per series and kept on `kafka.late_topic`.
    pub grace_secs: u64,
    /// A partition without records for this long (wall clock) lets its watermark advance with
    /// the wall clock, so that a link that went quiet still gets its final windows.
    pub idle_timeout_secs: u64,
    /// How long rows of the base windows are kept, in days.
    pub retention_days: u64,
    /// Longer windows made from the base ones, each with its own retention.
    pub rollups: Vec<RollupConfig>,
    /// Per source (the log format of an inbox file, such as `vpc-flow`, or the `source` of a
    /// record a producer of its own writes), its own out-of-orderness and idle timeout. A
    /// partition's watermark is then the lowest over its sources that are not idle, so a
    /// source whose records come minutes late holds the windows open for itself instead of
    /// seeing them dropped as late.
    pub sources: BTreeMap<String, SourceConfig>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SourceConfig {
    /// Unset: `windows.out_of_order_secs`.
    pub out_of_order_secs: Option<u64>,
    /// Unset: `windows.idle_timeout_secs`. A source quiet for this long (wall clock) no longer
    /// holds the watermark back; batches that come every few minutes need a timeout longer
    /// than their interval.
    pub idle_timeout_secs: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RollupConfig {
    /// A multiple of the length before it (`windows.length_secs` for the first).
    pub length_secs: u64,
    pub retention_days: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngestConfig {
    /// Folder watched for new files. Unset: `<data_dir>/inbox`.
    pub inbox: Option<PathBuf>,
    /// How often the inbox is listed, in milliseconds.
    pub poll_ms: u64,
    /// How long a node holds a file it reads without renewing its claim, in milliseconds
    /// (renewed every quarter of it, with the reader's progress). When a reader dies, another
    /// node takes its file over this long after its last renewal and resumes it.
    pub claim_lease_ms: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("layercast-data"),
            node_id: None,
            http: HttpConfig::default(),
            kafka: KafkaConfig::default(),
            database: DbConfig::default(),
            windows: WindowConfig::default(),
            ingest: IngestConfig::default(),
            live: LiveConfig::default(),
            sources: Vec::new(),
            auth: AuthConfig::default(),
        }
    }
}

/// The WebSocket hub (`/ws`): what it keeps for clients that come back or fall behind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LiveConfig {
    /// Updates the hub keeps for clients that resume (protocol 2); older ones get a snapshot.
    pub ring_updates: usize,
    /// Bytes of updates queued for one client that is behind (newer values of a window
    /// replace older ones); past it the client is told `too_slow` and cut.
    pub client_queue_bytes: usize,
    /// Seconds between the server's pings.
    pub heartbeat_secs: u64,
    /// Seconds a client may stay silent (no message, no pong) before it is dropped.
    pub client_timeout_secs: u64,
}

impl Default for LiveConfig {
    fn default() -> Self {
        LiveConfig {
            ring_updates: 4_096,
            client_queue_bytes: 8 * 1024 * 1024,
            heartbeat_secs: 5,
            client_timeout_secs: 25,
        }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            static_dir: None,
        }
    }
}

impl Default for KafkaConfig {
    fn default() -> Self {
        KafkaConfig {
            brokers: None,
            events_topic: "layercast.events".into(),
            updates_topic: "layercast.updates".into(),
            late_topic: "layercast.late".into(),
            layers_topic: "layercast.layers".into(),
            group_id: "layercast".into(),
            partitions: 6,
            client_options: Default::default(),
            session_timeout_ms: 6_000,
            rebalance_timeout_ms: 10_000,
        }
    }
}

impl Default for DbConfig {
    fn default() -> Self {
        DbConfig {
            url: None,
            pool_size: 4,
            writers: 4,
        }
    }
}

impl Default for WindowConfig {
    fn default() -> Self {
        WindowConfig {
            length_secs: 10,
            out_of_order_secs: 600,
            grace_secs: 60,
            idle_timeout_secs: 60,
            retention_days: 2,
            rollups: vec![
                RollupConfig {
                    length_secs: 60,
                    retention_days: 30,
                },
                RollupConfig {
                    length_secs: 3_600,
                    retention_days: 730,
                },
            ],
            sources: BTreeMap::new(),
        }
    }
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            inbox: None,
            poll_ms: 500,
            claim_lease_ms: 20_000,
        }
    }
}

/// Below this a database round could outlast a quarter of the lease, and readers would lose
/// claims they are still using.
const MIN_CLAIM_LEASE_MS: u64 = 1_000;
/// Listing a bucket more often than this costs requests and finds nothing more.
const MIN_SOURCE_POLL_MS: u64 = 100;

fn secs_to_ms(secs: u64) -> i64 {
    i64::try_from(secs)
        .unwrap_or(i64::MAX / 1000)
        .saturating_mul(1000)
}

/// How event time is cut and when windows close; see [`WindowConfig`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventTime {
    pub len_ms: i64,
    pub rollups_ms: Vec<i64>,
    /// Of the records without a source, or of a source not in `sources`.
    pub out_of_order_ms: i64,
    pub grace_ms: i64,
    pub idle_timeout_ms: i64,
    pub sources: BTreeMap<String, SourceTime>,
}

/// One source's clock settings, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceTime {
    pub out_of_order_ms: i64,
    pub idle_timeout_ms: i64,
}

impl EventTime {
    /// The settings of `source` (`None`: a record without one).
    pub fn source(&self, source: Option<&str>) -> SourceTime {
        source
            .and_then(|name| self.sources.get(name))
            .copied()
            .unwrap_or(SourceTime {
                out_of_order_ms: self.out_of_order_ms,
                idle_timeout_ms: self.idle_timeout_ms,
            })
    }

    /// The largest out-of-orderness of any source: how far behind its newest event time a
    /// partition may hold windows open.
    pub fn max_out_of_order_ms(&self) -> i64 {
        self.sources
            .values()
            .map(|s| s.out_of_order_ms)
            .fold(self.out_of_order_ms, i64::max)
    }
}

/// Top-level keys that `LAYERCAST_<KEY>` may set directly; every other setting is nested
/// (`LAYERCAST_KAFKA__BROKERS`). Other `LAYERCAST_*` variables belong to scripts and tests and
/// are left alone rather than refused.
const TOP_LEVEL_ENV: [&str; 2] = ["data_dir", "node_id"];

impl Config {
    /// Loads defaults, then `file` (if given), then the environment.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            if !file.exists() {
                return Err(ConfigError::MissingFile(file.to_owned()));
            }
            figment = figment.merge(Toml::file(file));
        }
        let env = Env::prefixed("LAYERCAST_").split("__").filter(|key| {
            key.as_str().contains('.')
                || TOP_LEVEL_ENV
                    .iter()
                    .any(|k| key.as_str().eq_ignore_ascii_case(k))
        });
        figment
            .merge(env)
            .extract()
            .map_err(|e| ConfigError::Load(Box::new(e)))
    }

    /// Checks what serde cannot: ranges and URLs. Call after the CLI flags are applied.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |setting, reason: &str| {
            Err(ConfigError::Invalid {
                setting,
                reason: reason.into(),
            })
        };
        if self.live.ring_updates == 0 {
            return invalid("live.ring_updates", "must be at least 1");
        }
        if self.live.client_queue_bytes < 64 * 1024 {
            return invalid("live.client_queue_bytes", "must be at least 65536 bytes");
        }
        if self.live.heartbeat_secs == 0
            || self.live.client_timeout_secs <= self.live.heartbeat_secs
        {
            return invalid(
                "live.client_timeout_secs",
                "must be longer than live.heartbeat_secs, which must be at least 1",
            );
        }
        if self.windows.length_secs == 0 || self.windows.length_secs > 86_400 {
            return invalid("windows.length_secs", "must be between 1 and 86400 seconds");
        }
        // Each length a multiple of the one before: a roll-up is built from the final windows
        // one length down until its own row is written, final.
        let mut shorter = self.windows.length_secs;
        for r in &self.windows.rollups {
            if r.length_secs <= shorter || r.length_secs % shorter != 0 {
                return invalid(
                    "windows.rollups",
                    "listed from shortest to longest, every length_secs must be a multiple of the one before (the first of windows.length_secs), and longer",
                );
            }
            shorter = r.length_secs;
        }
        if self.windows.out_of_order_secs > 86_400 * 7 || self.windows.grace_secs > 86_400 * 7 {
            return invalid(
                "windows.out_of_order_secs",
                "out_of_order_secs and grace_secs must be at most 7 days",
            );
        }
        if self.windows.idle_timeout_secs == 0 {
            return invalid("windows.idle_timeout_secs", "must be at least 1 second");
        }
        for s in self.windows.sources.values() {
            if s.out_of_order_secs.is_some_and(|secs| secs > 86_400 * 7) {
                return invalid(
                    "windows.sources",
                    "every out_of_order_secs must be at most 7 days",
                );
            }
            if s.idle_timeout_secs == Some(0) {
                return invalid(
                    "windows.sources",
                    "every idle_timeout_secs must be at least 1 second",
                );
            }
        }
        if !(1_000..=300_000).contains(&self.kafka.session_timeout_ms) {
            return invalid(
                "kafka.session_timeout_ms",
                "must be between 1000 and 300000 ms",
            );
        }
        if self.kafka.rebalance_timeout_ms < self.kafka.session_timeout_ms {
            return invalid(
                "kafka.rebalance_timeout_ms",
                "must be at least kafka.session_timeout_ms",
            );
        }
        if !(1..=1024).contains(&self.kafka.partitions) {
            return invalid("kafka.partitions", "must be between 1 and 1024");
        }
        let topics = [
            &self.kafka.events_topic,
            &self.kafka.updates_topic,
            &self.kafka.late_topic,
            &self.kafka.layers_topic,
        ];
        if topics
            .iter()
            .enumerate()
            .any(|(i, t)| topics[..i].contains(t))
        {
            return invalid(
                "kafka.layers_topic",
                "events_topic, updates_topic, late_topic and layers_topic must all differ",
            );
        }
        if self
            .kafka
            .brokers
            .as_deref()
            .is_some_and(|b| b.trim().is_empty())
        {
            return invalid(
                "kafka.brokers",
                "is empty; leave it unset for the embedded broker",
            );
        }
        for (setting, topic) in [
            ("kafka.events_topic", &self.kafka.events_topic),
            ("kafka.updates_topic", &self.kafka.updates_topic),
            ("kafka.late_topic", &self.kafka.late_topic),
            ("kafka.layers_topic", &self.kafka.layers_topic),
            ("kafka.group_id", &self.kafka.group_id),
        ] {
            if topic.is_empty() || topic.len() > 249 {
                return invalid(setting, "must be 1 to 249 characters");
            }
        }
        if let Some(url) = &self.database.url {
            if let Err(e) = DbUrl::parse(url) {
                return Err(ConfigError::Invalid {
                    setting: "database.url",
                    reason: e.to_string(),
                });
            }
        }
        if self.database.pool_size == 0 || self.database.writers == 0 {
            return invalid(
                "database.pool_size",
                "pool_size and writers must be at least 1",
            );
        }
        if self.ingest.poll_ms == 0 {
            return invalid("ingest.poll_ms", "must be at least 1 ms");
        }
        let mut names = std::collections::BTreeSet::new();
        for source in &self.sources {
            source.validate()?;
            if !names.insert(source.name.as_str()) {
                return invalid("sources.name", "every source needs a name of its own");
            }
        }
        if !(1..=24 * 90).contains(&self.auth.session_hours) {
            return invalid("auth.session_hours", "must be between 1 and 2160 hours");
        }
        if self.auth.login_failures == 0 || self.auth.login_window_secs == 0 {
            return invalid(
                "auth.login_failures",
                "login_failures and login_window_secs must be at least 1",
            );
        }
        if !(1_024..=64 << 20).contains(&self.auth.max_body_bytes) {
            return invalid("auth.max_body_bytes", "must be between 1 KiB and 64 MiB");
        }
        if let Some(bad) =
            self.auth.allowed_origins.iter().find(|o| {
                !(o.starts_with("http://") || o.starts_with("https://")) || o.ends_with('/')
            })
        {
            return invalid(
                "auth.allowed_origins",
                &format!("{bad:?} is not an origin such as https://planner.example.com (scheme, host, optional port, no path)"),
            );
        }
        if self.ingest.claim_lease_ms < MIN_CLAIM_LEASE_MS {
            return invalid(
                "ingest.claim_lease_ms",
                "must be at least 1000 ms (the reader renews it every quarter of it)",
            );
        }
        Ok(())
    }

    pub fn is_embedded(&self) -> bool {
        self.kafka.brokers.is_none()
    }

    /// `auth.anonymous_viewer`, or its default for the mode.
    pub fn anonymous_viewer(&self) -> bool {
        self.auth.anonymous_viewer.unwrap_or(self.is_embedded())
    }

    pub fn db_url(&self) -> Result<DbUrl, ConfigError> {
        match &self.database.url {
            Some(url) => DbUrl::parse(url).map_err(|e| ConfigError::Invalid {
                setting: "database.url",
                reason: e.to_string(),
            }),
            None => Ok(DbUrl::Sqlite(self.data_dir.join("layercast.sqlite"))),
        }
    }

    pub fn inbox(&self) -> PathBuf {
        self.ingest
            .inbox
            .clone()
            .unwrap_or_else(|| self.data_dir.join("inbox"))
    }

    pub fn window_len_ms(&self) -> i64 {
        secs_to_ms(self.windows.length_secs)
    }

    /// The stream engine's clock settings, in milliseconds.
    pub fn event_time(&self) -> EventTime {
        let w = &self.windows;
        EventTime {
            len_ms: self.window_len_ms(),
            rollups_ms: w
                .rollups
                .iter()
                .map(|r| secs_to_ms(r.length_secs))
                .collect(),
            out_of_order_ms: secs_to_ms(w.out_of_order_secs),
            grace_ms: secs_to_ms(w.grace_secs),
            idle_timeout_ms: secs_to_ms(w.idle_timeout_secs),
            sources: w
                .sources
                .iter()
                .map(|(name, s)| {
                    let time = SourceTime {
                        out_of_order_ms: secs_to_ms(
                            s.out_of_order_secs.unwrap_or(w.out_of_order_secs),
                        ),
                        idle_timeout_ms: secs_to_ms(
                            s.idle_timeout_secs.unwrap_or(w.idle_timeout_secs),
                        ),
                    };
                    (name.clone(), time)
                })
                .collect(),
        }
    }

    /// (window length, retention) of the base windows and of every roll-up, in milliseconds.
    pub fn retention(&self) -> Vec<(i64, i64)> {
        let day = |d: u64| secs_to_ms(d.saturating_mul(86_400));
        std::iter::once((self.window_len_ms(), day(self.windows.retention_days)))
            .chain(
                self.windows
                    .rollups
                    .iter()
                    .map(|r| (secs_to_ms(r.length_secs), day(r.retention_days))),
            )
            .collect()
    }

    pub fn node_id(&self) -> String {
        self.node_id.clone().unwrap_or_else(|| {
            let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|h| h.trim().to_owned())
                .unwrap_or_else(|_| "node".into());
            format!("{host}-{}", std::process::id())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_embedded_mode_and_valid() {
        let config = Config::default();
        assert!(config.is_embedded());
        config.validate().expect("defaults validate");
        assert_eq!(
            config.db_url().expect("url"),
            DbUrl::Sqlite("layercast-data/layercast.sqlite".into())
        );
    }

    #[test]
    fn anonymous_viewing_is_on_in_embedded_mode_only_unless_set() {
        let mut config = Config::default();
        assert!(config.anonymous_viewer());
        config.kafka.brokers = Some("127.0.0.1:9092".into());
        assert!(!config.anonymous_viewer());
        config.auth.anonymous_viewer = Some(true);
        assert!(config.anonymous_viewer());
        config.auth.allowed_origins = vec!["https://wall.example.com/".into()];
        assert!(matches!(
            config.validate(),
            Err(ConfigError::Invalid {
                setting: "auth.allowed_origins",
                ..
            })
        ));
    }

    #[test]
    fn a_file_overrides_defaults_and_unknown_keys_are_named() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "[kafka]\nbrokers = \"127.0.0.1:9092\"\n[windows]\nlength_secs = 5\n",
        )
        .expect("write");
        let config = Config::load(Some(&path)).expect("load");
        assert_eq!(config.kafka.brokers.as_deref(), Some("127.0.0.1:9092"));
        assert_eq!(config.window_len_ms(), 5_000);

        std::fs::write(&path, "[kafka]\nbrokrs = \"x\"\n").expect("write");
        let err = Config::load(Some(&path))
            .expect_err("typo refused")
            .to_string();
        assert!(err.contains("brokrs"), "{err}");
    }

    #[test]
    fn bad_values_are_refused_with_the_setting_named() {
        let mut config = Config::default();
        config.windows.length_secs = 0;
        assert!(config
            .validate()
            .expect_err("zero")
            .to_string()
            .contains("windows.length_secs"));
        let mut config = Config::default();
        config.database.url = Some("postgres://x".into());
        assert!(config
            .validate()
            .expect_err("url")
            .to_string()
            .contains("database.url"));
        let mut config = Config::default();
        config.kafka.layers_topic = String::new();
        assert!(config
            .validate()
            .expect_err("empty")
            .to_string()
            .contains("kafka.layers_topic"));
        config.kafka.layers_topic = config.kafka.events_topic.clone();
        assert!(config
            .validate()
            .expect_err("shared")
            .to_string()
            .contains("must all differ"));
        let mut config = Config::default();
        config.windows.sources.insert(
            "alb".into(),
            SourceConfig {
                out_of_order_secs: None,
                idle_timeout_secs: Some(0),
            },
        );
        assert!(config
            .validate()
            .expect_err("idle 0")
            .to_string()
            .contains("windows.sources"));
        let mut config = Config::default();
        config.windows.rollups = vec![
            RollupConfig {
                length_secs: 60,
                retention_days: 1,
            },
            RollupConfig {
                length_secs: 90,
                retention_days: 1,
            },
        ];
        assert!(
            config
                .validate()
                .expect_err("not nested")
                .to_string()
                .contains("windows.rollups"),
            "90 s is not made of whole minutes"
        );
        config.windows.rollups.reverse();
        assert!(config.validate().is_err(), "longest first");
    }

    #[test]
    fn a_source_takes_the_defaults_it_does_not_set() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("c.toml");
        let text = "[windows]\nout_of_order_secs = 5\nidle_timeout_secs = 30\n\
                    [windows.sources.vpc-flow]\nout_of_order_secs = 600\nidle_timeout_secs = 900\n\
                    [windows.sources.alb]\nout_of_order_secs = 60\n";
        std::fs::write(&path, text).expect("write");
        let time = Config::load(Some(&path)).expect("load").event_time();
        assert_eq!(
            time.source(Some("vpc-flow")),
            SourceTime {
                out_of_order_ms: 600_000,
                idle_timeout_ms: 900_000
            }
        );
        assert_eq!(
            time.source(Some("alb")),
            SourceTime {
                out_of_order_ms: 60_000,
                idle_timeout_ms: 30_000
            }
        );
        assert_eq!(
            time.source(Some("zeek")),
            SourceTime {
                out_of_order_ms: 5_000,
                idle_timeout_ms: 30_000
            }
        );
        assert_eq!(time.source(None), time.source(Some("zeek")));
        assert_eq!(time.max_out_of_order_ms(), 600_000);
    }
}
