//! The events stage's group: one partition actor per assigned partition of the events topic
//! (membership, resume positions and routing are `group`'s, shared with the layer stage).

use std::sync::Arc;

use actix::dev::ArbiterHandle;
use actix::prelude::*;
use rdkafka::error::KafkaError;

use super::findings::{AnalysisWriters, Analyst, AnalystDeps};
use super::group::{self, Delivered, GroupHandle, GroupLink, GroupSettings, Worker, Workers};
use super::layers::LayerFeed;
use super::outputs::{LateSink, UpdatePublisher};
use super::partition::{FlushAndStop, PartitionActor, PartitionDeps, Records};
use crate::config::EventTime;
use crate::kafka::Broker;
use crate::metrics::{Metrics, PartitionLabel};
use crate::store::offsets::Position;
use crate::store::{Aggregator, Db};

pub use super::group::{Committer, Control};

/// The running events stage.
pub type StreamHandle = GroupHandle;

/// Settings of the stream stage.
#[derive(Debug, Clone)]
pub struct StreamSettings {
    pub events_topic: String,
    pub group_id: String,
    pub node: String,
    pub event_time: EventTime,
    /// How long the group waits for a silent node before giving its partitions to others.
    pub session_timeout_ms: u32,
    /// How long a rebalance waits for members to rejoin (`max.poll.interval.ms`).
    pub rebalance_timeout_ms: u32,
    pub metrics: Arc<Metrics>,
    /// Where the partition actors send their windows summed per layer (the layer stage's
    /// input).
    pub layers: LayerFeed,
    /// The broker's log began with this process (embedded mode).
    pub fresh_log: bool,
    /// Capacities, rules and groups (`stream::inputs::follow`).
    pub inputs: tokio::sync::watch::Receiver<Arc<crate::analysis::Inputs>>,
    /// Where the partitions' analysts wait for their writes (`AnalystDeps::thread`).
    pub analysis_thread: ArbiterHandle,
}

impl Worker for Addr<PartitionActor> {
    async fn deliver(&self, records: Vec<Delivered>) -> bool {
        group::enqueue(self, Records(records)).await
    }

    async fn stop(&self) {
        // Waits for the final write; a stopped actor answers with an error, fine too.
        let _ = self.send(FlushAndStop).await;
    }

    fn stop_soon(&self) {
        self.do_send(FlushAndStop);
    }
}

/// Starts a partition actor for every partition of the events topic this node is assigned.
struct PartitionActors {
    writers: StreamWriters,
    updates: UpdatePublisher,
    late: LateSink,
    settings: StreamSettings,
}

impl Workers for PartitionActors {
    type Worker = Addr<PartitionActor>;

    fn start(
        &mut self,
        partition: i32,
        position: Position,
        after_seek: bool,
        group: &GroupLink,
    ) -> Addr<PartitionActor> {
        let deps = PartitionDeps {
            topic: self.settings.events_topic.clone(),
            node: self.settings.node.clone(),
            event_time: self.settings.event_time.clone(),
            writer: self.writers.windows.clone(),
            analyst: Analyst::start(AnalystDeps {
                len_ms: self.settings.event_time.len_ms,
                inputs: self.settings.inputs.clone(),
                writers: AnalysisWriters {
                    findings: self.writers.analysis.clone().recipient(),
                    trackers: self.writers.trackers.clone().recipient(),
                },
                updates: self.updates.clone(),
                thread: self.settings.analysis_thread.clone(),
                partition,
                metrics: self.settings.metrics.clone(),
            }),
            late: self.late.clone(),
            layers: self.settings.layers.clone(),
            fresh_log: self.settings.fresh_log,
            committer: group.committer.clone(),
            updates: self.updates.clone(),
            control: group.control.clone(),
            metrics: self.settings.metrics.clone(),
        };
        PartitionActor::new(partition, position, after_seek, deps).start()
    }
}

/// The database writers of the partition actors.
pub struct StreamWriters {
    /// Window batches, each with its partition's position.
    pub windows: Addr<Aggregator>,
    /// The anomalies and alerts the analysis finds in closed windows: a pool of its own, so
    /// that an alert is not queued behind the next close's window rows.
    pub analysis: Addr<Aggregator>,
    /// What the analysis' trackers make of a close (trends, runways, states): thousands of
    /// rows at a bucket's end, on a writer of their own so that the alerts do not queue behind
    /// them.
    pub trackers: Addr<Aggregator>,
}

/// Subscribes to the events topic and starts supervising. Call from inside an actix system.
pub fn start(
    broker: &Broker,
    db: Db,
    writers: StreamWriters,
    updates: UpdatePublisher,
    late: LateSink,
    settings: StreamSettings,
) -> Result<StreamHandle, KafkaError> {
    let (metrics, topic) = (settings.metrics.clone(), settings.events_topic.clone());
    // librdkafka's statistics: the log end offset and lag of every assigned partition of the
    // events topic (-1 where nothing is known yet).
    let on_stats: group::StatsHook = Box::new(move |statistics| {
        let Some(topic) = statistics.topics.get(&topic) else {
            return;
        };
        for p in topic
            .partitions
            .values()
            .filter(|p| p.partition >= 0 && p.fetch_state == "active")
        {
            let label = PartitionLabel {
                partition: p.partition,
            };
            metrics
                .log_end_offset
                .get_or_create(&label)
                .set(p.hi_offset);
            // The committed offset trails by the open windows (it is where a new owner would
            // replay from), so lag counts from the stored position: what is not taken yet.
            let taken = metrics.durable_offset.get_or_create(&label).get();
            let lag = if taken > 0 && p.hi_offset >= 0 {
                (p.hi_offset - taken).max(0)
            } else {
                p.consumer_lag
            };
            metrics.consumer_lag.get_or_create(&label).set(lag);
        }
    });
    let group_settings = GroupSettings {
        topic: settings.events_topic.clone(),
        group_id: settings.group_id.clone(),
        node: settings.node.clone(),
        session_timeout_ms: settings.session_timeout_ms,
        rebalance_timeout_ms: settings.rebalance_timeout_ms,
    };
    group::join(
        broker,
        db,
        group_settings,
        Some(on_stats),
        PartitionActors {
            writers,
            updates,
            late,
            settings,
        },
    )
}
