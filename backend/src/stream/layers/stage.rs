//! The layer stage's group: its own consumer group on the layers topic, one [`LayerActor`]
//! per assigned partition (membership, positions and routing are `group`'s, as for the
//! events stage).

use std::sync::Arc;

use actix::prelude::*;
use rdkafka::error::KafkaError;

use super::actor::{state_partition, FlushAndStop, LayerActor, LayerDeps, LayerRecord};
use crate::kafka::Broker;
use crate::metrics::{Metrics, PartitionLabel};
use crate::store::offsets::Position;
use crate::store::{Db, LayerWriter};
use crate::stream::findings::{AnalysisWriters, Analyst, AnalystDeps};
use crate::stream::group::{
    self, Delivered, GroupHandle, GroupLink, GroupSettings, Worker, Workers,
};
use crate::stream::UpdatePublisher;

/// Settings of the layer stage.
#[derive(Debug, Clone)]
pub struct LayerStageSettings {
    pub layers_topic: String,
    /// The stage's own consumer group (`<kafka.group_id>.layers`): its partitions are shared
    /// among the nodes independently of the events topic's.
    pub group_id: String,
    pub node: String,
    /// Partitions of the events topic: the sources every layer window waits for.
    pub sources: i32,
    /// Partitions of the layers topic, as the feed maps layers to them.
    pub partitions: i32,
    pub base_len_ms: i64,
    /// A source silent this long (wall clock) no longer holds windows open.
    pub idle_timeout_ms: i64,
    pub session_timeout_ms: u32,
    pub rebalance_timeout_ms: u32,
    pub metrics: Arc<Metrics>,
    /// Capacities, rules and groups: the layer-wide series (entity `""`) are analysed too.
    pub inputs: tokio::sync::watch::Receiver<Arc<crate::analysis::Inputs>>,
    /// Where the actors' analysts wait for their writes (`AnalystDeps::thread`).
    pub analysis_thread: actix::dev::ArbiterHandle,
}

impl Worker for Addr<LayerActor> {
    /// A message per record: the layers topic carries a few records per window close.
    async fn deliver(&self, records: Vec<Delivered>) -> bool {
        for r in records {
            let record = LayerRecord {
                offset: r.offset,
                payload: r.payload,
            };
            if !group::enqueue(self, record).await {
                return false;
            }
        }
        true
    }

    async fn stop(&self) {
        let _ = self.send(FlushAndStop).await;
    }

    fn stop_soon(&self) {
        self.do_send(FlushAndStop);
    }
}

struct LayerActors {
    writer: Addr<LayerWriter>,
    updates: UpdatePublisher,
    settings: LayerStageSettings,
}

impl Workers for LayerActors {
    type Worker = Addr<LayerActor>;

    fn start(
        &mut self,
        partition: i32,
        position: Position,
        after_seek: bool,
        group: &GroupLink,
    ) -> Addr<LayerActor> {
        let s = &self.settings;
        let deps = LayerDeps {
            topic: s.layers_topic.clone(),
            node: s.node.clone(),
            sources: s.sources,
            partitions: s.partitions,
            base_len_ms: s.base_len_ms,
            idle_timeout_ms: s.idle_timeout_ms,
            writer: self.writer.clone(),
            updates: self.updates.clone(),
            group: group.clone(),
            metrics: s.metrics.clone(),
            analyst: Analyst::start(AnalystDeps {
                len_ms: s.base_len_ms,
                inputs: s.inputs.clone(),
                writers: AnalysisWriters {
                    findings: self.writer.clone().recipient(),
                    trackers: self.writer.clone().recipient(),
                },
                updates: self.updates.clone(),
                thread: s.analysis_thread.clone(),
                partition: state_partition(partition),
                metrics: s.metrics.clone(),
            }),
        };
        LayerActor::new(partition, position.next_offset, after_seek, deps).start()
    }
}

/// Joins the layer stage's group and starts its actors. Call from inside an actix system.
pub fn start(
    broker: &Broker,
    db: Db,
    writer: Addr<LayerWriter>,
    updates: UpdatePublisher,
    settings: LayerStageSettings,
) -> Result<GroupHandle, KafkaError> {
    let (metrics, topic) = (settings.metrics.clone(), settings.layers_topic.clone());
    // Records between the log end and the committed offset, which is the oldest record still
    // needed by an open layer window: it includes the span of the windows still open, not
    // only what is unread.
    let on_stats: group::StatsHook = Box::new(move |statistics| {
        let Some(topic) = statistics.topics.get(&topic) else {
            return;
        };
        for p in topic
            .partitions
            .values()
            .filter(|p| p.partition >= 0 && p.fetch_state == "active")
        {
            metrics
                .layer_stage_lag
                .get_or_create(&PartitionLabel {
                    partition: p.partition,
                })
                .set(p.consumer_lag);
        }
    });
    let group_settings = GroupSettings {
        topic: settings.layers_topic.clone(),
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
        LayerActors {
            writer,
            updates,
            settings,
        },
    )
}
