//! The supervisor: owns the consumer of the events topic, follows the group's rebalances and
//! routes every record to the actor of its partition.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::prelude::*;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, RebalanceProtocol, StreamConsumer,
};
use rdkafka::error::KafkaError;
use rdkafka::message::Message as _;
use rdkafka::types::RDKafkaRespErr;
use rdkafka::statistics::Statistics;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use tokio::sync::oneshot;

use super::outputs::{LateSink, UpdatePublisher};
use super::partition::{FlushAndStop, PartitionActor, PartitionDeps, Record};
use crate::kafka::Broker;
use crate::metrics::{Metrics, PartitionLabel};
use crate::config::EventTime;
use crate::store::offsets::Position;
use crate::store::{offsets, Aggregator, Db};

/// How long a seek may wait for the broker; only used on the rare resynchronisation path.
const SEEK_TIMEOUT: Duration = Duration::from_secs(5);
/// Pause before reading a partition's offset again when the database did not answer.
const RESYNC_RETRY: Duration = Duration::from_secs(1);
/// How often librdkafka reports offsets and lag (for /metrics), milliseconds.
const STATISTICS_INTERVAL_MS: u32 = 1_000;

/// What the rebalance callback and the partition actors tell the supervisor.
#[derive(Debug)]
pub enum Control {
    /// Partitions now ours, each with the position the database says it resumes from (`None`
    /// when the database could not be read during the rebalance).
    Assigned { partitions: Vec<(i32, Option<Position>)> },
    Revoked { partitions: Vec<i32> },
    /// The partition's actor found its state stale (or never had one): re-read the offset
    /// from the database, seek there and start a new actor.
    Resync { partition: i32 },
}

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
}

/// Reads the resume offsets from the database during a rebalance and reports the new
/// assignment to the supervisor.
pub struct RebalanceContext {
    db: Db,
    topic: String,
    node: String,
    control: UnboundedSender<Control>,
    metrics: Arc<Metrics>,
}

impl ClientContext for RebalanceContext {
    /// librdkafka's statistics: the log end offset and lag of every assigned partition of the
    /// events topic (-1 where nothing is known yet).
    fn stats(&self, statistics: Statistics) {
        let Some(topic) = statistics.topics.get(&self.topic) else { return };
        for p in topic.partitions.values().filter(|p| p.partition >= 0 && p.fetch_state == "active") {
            let label = PartitionLabel { partition: p.partition };
            self.metrics.log_end_offset.get_or_create(&label).set(p.hi_offset);
            // The committed offset trails by the open windows (it is where a new owner would
            // replay from), so lag counts from the stored position: what is not taken yet.
            let taken = self.metrics.durable_offset.get_or_create(&label).get();
            let lag = if taken > 0 && p.hi_offset >= 0 { (p.hi_offset - taken).max(0) } else { p.consumer_lag };
            self.metrics.consumer_lag.get_or_create(&label).set(lag);
        }
    }
}

impl ConsumerContext for RebalanceContext {
    /// Overridden (not just pre/post hooks) to start every assigned partition at the offset
    /// stored with its windows in the database, which is where the data really is; Kafka's
    /// committed offset is only kept for lag monitoring. With the cooperative-sticky assignor
    /// the assignment must go through `incremental_assign`/`incremental_unassign`.
    fn rebalance(&self, consumer: &BaseConsumer<Self>, err: RDKafkaRespErr, tpl: &mut TopicPartitionList) {
        let cooperative = matches!(consumer.rebalance_protocol(), RebalanceProtocol::Cooperative);
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                let mut partitions = Vec::new();
                let elements: Vec<(String, i32)> =
                    tpl.elements().iter().map(|e| (e.topic().to_owned(), e.partition())).collect();
                for (topic, partition) in elements {
                    // Blocking, on purpose: the assignment must carry the offsets, and
                    // rebalances are rare and short.
                    let stored = self
                        .db
                        .conn()
                        .and_then(|mut c| Ok(offsets::resume(&mut c, &self.topic, partition, &self.node)?));
                    let offset = match stored {
                        Ok(position) => {
                            let offset = Offset::Offset(position.replay_from);
                            if let Err(e) = tpl.set_partition_offset(&topic, partition, offset) {
                                tracing::error!(partition, error = %e, "cannot set the resume offset");
                            }
                            Some(position)
                        }
                        Err(e) => {
                            tracing::error!(partition, error = %e, "cannot read the resume offset; will retry");
                            None
                        }
                    };
                    partitions.push((partition, offset));
                }
                let assigned = if cooperative { consumer.incremental_assign(tpl) } else { consumer.assign(tpl) };
                if let Err(e) = assigned {
                    tracing::error!(error = %e, "assignment failed");
                }
                tracing::info!(?partitions, "partitions assigned");
                let _ = self.control.send(Control::Assigned { partitions });
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                let partitions: Vec<i32> = tpl.elements().iter().map(|e| e.partition()).collect();
                tracing::info!(?partitions, "partitions revoked");
                let _ = self.control.send(Control::Revoked { partitions });
                let unassigned = if cooperative { consumer.incremental_unassign(tpl) } else { consumer.unassign() };
                if let Err(e) = unassigned {
                    tracing::error!(error = %e, "unassignment failed");
                }
            }
            other => {
                tracing::error!(error = ?other, "rebalance error; dropping the assignment");
                let partitions: Vec<i32> = tpl.elements().iter().map(|e| e.partition()).collect();
                let _ = self.control.send(Control::Revoked { partitions });
                if let Err(e) = consumer.unassign() {
                    tracing::error!(error = %e, "unassignment failed");
                }
            }
        }
    }
}

type EventsConsumer = StreamConsumer<RebalanceContext>;

/// Commits a partition's offset to Kafka once the database holds everything before it. Only
/// for lag monitoring and tooling: resumption reads the database.
#[derive(Clone)]
pub struct Committer {
    consumer: Arc<EventsConsumer>,
    topic: String,
}

impl Committer {
    pub fn commit(&self, partition: i32, next_offset: i64) {
        let mut tpl = TopicPartitionList::new();
        let committed = tpl
            .add_partition_offset(&self.topic, partition, Offset::Offset(next_offset))
            .and_then(|_| self.consumer.commit(&tpl, CommitMode::Async));
        if let Err(e) = committed {
            // After a revocation this fails; the database offset is what counts.
            tracing::debug!(partition, error = %e, "offset commit to Kafka failed");
        }
    }
}

/// The running stream stage.
pub struct StreamHandle {
    owned: Arc<Mutex<BTreeSet<i32>>>,
    shutdown: Option<oneshot::Sender<()>>,
    done: Option<tokio::task::JoinHandle<()>>,
}

impl StreamHandle {
    /// Partitions this node owns now, kept current by the supervisor.
    pub fn owned_view(&self) -> Arc<Mutex<BTreeSet<i32>>> {
        self.owned.clone()
    }

    /// Writes what every partition actor holds, then leaves the group.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(done) = self.done.take() {
            let _ = done.await;
        }
    }
}

/// Subscribes to the events topic and starts supervising. Call from inside an actix system.
pub fn start(
    broker: &Broker,
    db: Db,
    writer: Addr<Aggregator>,
    updates: UpdatePublisher,
    late: LateSink,
    settings: StreamSettings,
) -> Result<StreamHandle, KafkaError> {
    let (control_tx, control_rx) = unbounded_channel();
    let context = RebalanceContext {
        db: db.clone(),
        topic: settings.events_topic.clone(),
        node: settings.node.clone(),
        control: control_tx.clone(),
        metrics: settings.metrics.clone(),
    };
    let consumer: EventsConsumer = broker
        .client_config()
        .set("group.id", &settings.group_id)
        .set("client.id", &settings.node)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("partition.assignment.strategy", "cooperative-sticky")
        .set("session.timeout.ms", settings.session_timeout_ms.to_string())
        .set("heartbeat.interval.ms", (settings.session_timeout_ms / 5).max(100).to_string())
        .set("max.poll.interval.ms", settings.rebalance_timeout_ms.to_string())
        // Log end offsets and lag per partition for /metrics, through `stats`.
        .set("statistics.interval.ms", STATISTICS_INTERVAL_MS.to_string())
        .create_with_context(context)?;
    consumer.subscribe(&[&settings.events_topic])?;
    let consumer = Arc::new(consumer);
    let owned = Arc::new(Mutex::new(BTreeSet::new()));
    let (shutdown_tx, shutdown_rx) = oneshot::channel();
    let supervisor = Supervisor {
        deps: Deps {
            committer: Committer { consumer: consumer.clone(), topic: settings.events_topic.clone() },
            consumer,
            db,
            writer,
            updates,
            late,
            control: control_tx,
            settings,
        },
        actors: HashMap::new(),
        owned: owned.clone(),
    };
    let done = actix::spawn(supervisor.run(control_rx, shutdown_rx));
    Ok(StreamHandle { owned, shutdown: Some(shutdown_tx), done: Some(done) })
}

struct Deps {
    consumer: Arc<EventsConsumer>,
    committer: Committer,
    db: Db,
    writer: Addr<Aggregator>,
    updates: UpdatePublisher,
    late: LateSink,
    control: UnboundedSender<Control>,
    settings: StreamSettings,
}

/// A task rather than an actor: it spends its life awaiting the consumer and the partition
/// actors' mailboxes (`send().await` is the backpressure), which an actor's handlers cannot.
struct Supervisor {
    deps: Deps,
    actors: HashMap<i32, Addr<PartitionActor>>,
    owned: Arc<Mutex<BTreeSet<i32>>>,
}

impl Supervisor {
    async fn run(mut self, mut control: UnboundedReceiver<Control>, mut shutdown: oneshot::Receiver<()>) {
        let consumer = self.deps.consumer.clone();
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                Some(msg) = control.recv() => self.on_control(msg).await,
                received = consumer.recv() => {
                    let message = match received {
                        Ok(m) => m,
                        Err(e) => {
                            tracing::warn!(error = %e, "consumer error");
                            continue;
                        }
                    };
                    let partition = message.partition();
                    let record = Record {
                        offset: message.offset(),
                        key: message.key().map(<[u8]>::to_vec),
                        payload: message.payload().map(<[u8]>::to_vec),
                    };
                    drop(message);
                    // The rebalance callback runs inside `recv`, so its news may be queued
                    // behind this very record: apply it first.
                    while let Ok(msg) = control.try_recv() {
                        self.on_control(msg).await;
                    }
                    match self.actors.get(&partition) {
                        Some(actor) => {
                            if actor.send(record).await.is_err() {
                                tracing::debug!(partition, "record for a stopped partition actor dropped; it is replayed after resync");
                            }
                        }
                        None => tracing::debug!(partition, "record for a partition we do not own dropped"),
                    }
                }
            }
        }
        let all: Vec<i32> = self.actors.keys().copied().collect();
        self.stop_actors(&all).await;
        consumer.unsubscribe();
    }

    async fn on_control(&mut self, msg: Control) {
        match msg {
            Control::Assigned { partitions } => {
                for (partition, position) in partitions {
                    match position {
                        Some(position) => self.start_actor(partition, position, false),
                        None => self.resync(partition).await,
                    }
                }
            }
            Control::Revoked { partitions } => self.stop_actors(&partitions).await,
            Control::Resync { partition } => {
                self.stop_actors(&[partition]).await;
                self.resync(partition).await;
            }
        }
    }

    fn start_actor(&mut self, partition: i32, position: Position, after_seek: bool) {
        let deps = PartitionDeps {
            topic: self.deps.settings.events_topic.clone(),
            node: self.deps.settings.node.clone(),
            event_time: self.deps.settings.event_time.clone(),
            writer: self.deps.writer.clone(),
            late: self.deps.late.clone(),
            committer: self.deps.committer.clone(),
            updates: self.deps.updates.clone(),
            control: self.deps.control.clone(),
            metrics: self.deps.settings.metrics.clone(),
        };
        let actor = PartitionActor::new(partition, position, after_seek, deps).start();
        if let Some(old) = self.actors.insert(partition, actor) {
            old.do_send(FlushAndStop);
        }
        if let Ok(mut owned) = self.owned.lock() {
            owned.insert(partition);
        }
    }

    async fn stop_actors(&mut self, partitions: &[i32]) {
        for partition in partitions {
            if let Some(actor) = self.actors.remove(partition) {
                // Waits for the final write; a stopped actor answers with an error, fine too.
                let _ = actor.send(FlushAndStop).await;
            }
            if let Ok(mut owned) = self.owned.lock() {
                owned.remove(partition);
            }
        }
    }

    /// Re-reads the partition's offset from the database, seeks the consumer there and starts
    /// a fresh actor. Retries on the next record if the database is away.
    async fn resync(&mut self, partition: i32) {
        let db = self.deps.db.clone();
        let topic = self.deps.settings.events_topic.clone();
        let node = self.deps.settings.node.clone();
        let stored = tokio::task::spawn_blocking(move || {
            let mut conn = db.conn()?;
            Ok::<_, crate::store::StoreError>(offsets::resume(&mut conn, &topic, partition, &node)?)
        })
        .await;
        let position = match stored {
            Ok(Ok(position)) => position,
            Ok(Err(e)) => {
                tracing::error!(partition, error = %e, "cannot read the resume offset; retrying");
                let control = self.deps.control.clone();
                actix::spawn(async move {
                    tokio::time::sleep(RESYNC_RETRY).await;
                    let _ = control.send(Control::Resync { partition });
                });
                return;
            }
            Err(e) => {
                tracing::error!(partition, error = %e, "resume offset task failed");
                return;
            }
        };
        let offset = Offset::Offset(position.replay_from);
        let seek = self.deps.consumer.seek(&self.deps.settings.events_topic, partition, offset, SEEK_TIMEOUT);
        if let Err(e) = seek {
            tracing::warn!(partition, error = %e, "seek failed; the partition may have moved");
        }
        self.start_actor(partition, position, true);
    }
}
