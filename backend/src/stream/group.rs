//! Membership of a consumer group whose partitions each have one worker actor: what the events
//! stage and the layer stage share. The group's rebalances (cooperative-sticky, so only the
//! partitions that move stop), the position every partition resumes from (the database's,
//! stored with what the partition produced, never Kafka's committed offset), seeks and
//! resynchronisation, and the task that routes records to the workers.

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::FutureExt as _;

use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, RebalanceProtocol, StreamConsumer,
};
use rdkafka::error::KafkaError;
use rdkafka::message::Message as _;
use rdkafka::statistics::Statistics;
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use tokio::sync::oneshot;

use crate::kafka::Broker;
use crate::store::offsets::{self, Position};
use crate::store::{Db, StoreError};

/// How long a seek may wait for the broker; only used on the rare resynchronisation path.
const SEEK_TIMEOUT: Duration = Duration::from_secs(5);
/// Pause before reading a partition's offset again when the database did not answer.
const RESYNC_RETRY: Duration = Duration::from_secs(1);
/// How often librdkafka reports offsets and lag (for /metrics), milliseconds.
const STATISTICS_INTERVAL_MS: u32 = 1_000;
/// Records the group's task takes from the consumer's queue before it hands them to the
/// workers, as many as are there already (it never waits to fill a batch). The workers'
/// mailboxes are sized in batches of this many.
pub const MAX_BATCH: usize = 64;

/// What the rebalance callback and the workers tell the group's task.
#[derive(Debug)]
pub enum Control {
    /// Partitions now ours, each with the position the database says it resumes from (`None`
    /// when the database could not be read during the rebalance).
    Assigned {
        partitions: Vec<(i32, Option<Position>)>,
    },
    Revoked {
        partitions: Vec<i32>,
    },
    /// The partition's worker found its state stale (or never had one): re-read the offset
    /// from the database, seek there and start a new worker.
    Resync {
        partition: i32,
    },
}

/// librdkafka's statistics, every second, for a stage's metrics.
pub type StatsHook = Box<dyn Fn(&Statistics) + Send + Sync>;

/// Reads the resume offsets from the database during a rebalance and reports the new
/// assignment to the group's task.
pub struct GroupContext {
    db: Db,
    topic: String,
    node: String,
    control: UnboundedSender<Control>,
    on_stats: Option<StatsHook>,
}

impl ClientContext for GroupContext {
    fn stats(&self, statistics: Statistics) {
        if let Some(hook) = &self.on_stats {
            hook(&statistics);
        }
    }
}

impl ConsumerContext for GroupContext {
    /// Overridden (not just pre/post hooks) to start every assigned partition at the offset
    /// stored in the database, which is where the data really is; Kafka's committed offset is
    /// only kept for lag monitoring. With the cooperative-sticky assignor the assignment must
    /// go through `incremental_assign`/`incremental_unassign` (rust-rdkafka issue 363).
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        let cooperative = matches!(
            consumer.rebalance_protocol(),
            RebalanceProtocol::Cooperative
        );
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                let mut partitions = Vec::new();
                let elements: Vec<(String, i32)> = tpl
                    .elements()
                    .iter()
                    .map(|e| (e.topic().to_owned(), e.partition()))
                    .collect();
                for (topic, partition) in elements {
                    // Blocking, on purpose: the assignment must carry the offsets, and
                    // rebalances are rare and short.
                    let stored = self.db.conn().and_then(|mut c| {
                        Ok(offsets::resume(&mut c, &self.topic, partition, &self.node)?)
                    });
                    let offset = match stored {
                        Ok(position) => {
                            let offset = Offset::Offset(position.replay_from);
                            if let Err(e) = tpl.set_partition_offset(&topic, partition, offset) {
                                tracing::error!(%topic, partition, error = %e, "cannot set the resume offset");
                            }
                            Some(position)
                        }
                        Err(e) => {
                            tracing::error!(%topic, partition, error = %e, "cannot read the resume offset; will retry");
                            None
                        }
                    };
                    partitions.push((partition, offset));
                }
                let assigned = if cooperative {
                    consumer.incremental_assign(tpl)
                } else {
                    consumer.assign(tpl)
                };
                if let Err(e) = assigned {
                    tracing::error!(topic = %self.topic, error = %e, "assignment failed");
                }
                tracing::info!(topic = %self.topic, ?partitions, "partitions assigned");
                let _ = self.control.send(Control::Assigned { partitions });
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                let partitions: Vec<i32> = tpl.elements().iter().map(|e| e.partition()).collect();
                tracing::info!(topic = %self.topic, ?partitions, "partitions revoked");
                let _ = self.control.send(Control::Revoked { partitions });
                let unassigned = if cooperative {
                    consumer.incremental_unassign(tpl)
                } else {
                    consumer.unassign()
                };
                if let Err(e) = unassigned {
                    tracing::error!(topic = %self.topic, error = %e, "unassignment failed");
                }
            }
            other => {
                tracing::error!(topic = %self.topic, error = ?other, "rebalance error; dropping the assignment");
                let partitions: Vec<i32> = tpl.elements().iter().map(|e| e.partition()).collect();
                let _ = self.control.send(Control::Revoked { partitions });
                if let Err(e) = consumer.unassign() {
                    tracing::error!(topic = %self.topic, error = %e, "unassignment failed");
                }
            }
        }
    }
}

pub type GroupConsumer = StreamConsumer<GroupContext>;

/// Commits a partition's offset to Kafka once the database holds everything before it. Only
/// for lag monitoring and tooling: resumption reads the database.
#[derive(Clone)]
pub struct Committer {
    consumer: Arc<GroupConsumer>,
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

/// A record of the group's topic, as a worker receives it.
#[derive(Debug)]
pub struct Delivered {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub payload: Option<Vec<u8>>,
}

/// Queues `msg` in the actor's mailbox and returns at once; waits only while the mailbox is
/// full (the backpressure), and then until the actor has handled it. `false` when the actor has
/// stopped. Unlike `send().await` for every record, this does not wait for each record to be
/// handled: the group's task and the workers share one thread, and a round trip per record
/// (and a worker's write holding the task up) cost more than the work on the record.
pub async fn enqueue<A, M>(addr: &actix::Addr<A>, msg: M) -> bool
where
    A: actix::Actor + actix::Handler<M>,
    A::Context: actix::dev::ToEnvelope<A, M>,
    M: actix::Message + Send + 'static,
    M::Result: Send,
{
    match addr.try_send(msg) {
        Ok(()) => true,
        Err(actix::dev::SendError::Full(msg)) => addr.send(msg).await.is_ok(),
        Err(actix::dev::SendError::Closed(_)) => false,
    }
}

/// Records taken from the consumer and not yet handed to the workers, per partition in the
/// order they came (offset order within a partition).
#[derive(Debug, Default)]
struct Batch {
    partitions: Vec<(i32, Vec<Delivered>)>,
}

impl Batch {
    fn push(&mut self, record: Delivered) {
        // A linear search: a node owns a handful of partitions.
        match self
            .partitions
            .iter_mut()
            .find(|(p, _)| *p == record.partition)
        {
            Some((_, records)) => records.push(record),
            None => self.partitions.push((record.partition, vec![record])),
        }
    }

    fn take(&mut self) -> Vec<(i32, Vec<Delivered>)> {
        std::mem::take(&mut self.partitions)
    }
}

/// The handle of a running worker, one per assigned partition.
pub trait Worker {
    /// Hands consecutive records of the partition to the worker, waiting while its mailbox is
    /// full (the backpressure); `false` when the worker has stopped.
    fn deliver(&self, records: Vec<Delivered>) -> impl Future<Output = bool>;
    /// Makes what the worker holds durable (or leaves it for the next owner to replay), then
    /// stops it; resolves when it has answered.
    fn stop(&self) -> impl Future<Output = ()>;
    /// Asks a replaced worker to stop, without waiting.
    fn stop_soon(&self);
}

/// What a stage starts for each partition it is assigned.
pub trait Workers {
    type Worker: Worker;
    /// `after_seek`: the consumer was just sought to `position.replay_from`.
    fn start(
        &mut self,
        partition: i32,
        position: Position,
        after_seek: bool,
        group: &GroupLink,
    ) -> Self::Worker;
    /// The partition is no longer ours (metrics to forget, ...).
    fn stopped(&mut self, _partition: i32) {}
}

/// What a worker needs of its group: to commit offsets and to ask for a resynchronisation.
#[derive(Clone)]
pub struct GroupLink {
    pub committer: Committer,
    pub control: UnboundedSender<Control>,
}

/// The settings of one group.
#[derive(Debug, Clone)]
pub struct GroupSettings {
    pub topic: String,
    pub group_id: String,
    /// This node's name: the consumer's `client.id` and the owner written with positions.
    pub node: String,
    /// How long the group waits for a silent node before giving its partitions to others.
    pub session_timeout_ms: u32,
    /// How long a rebalance waits for members to rejoin (`max.poll.interval.ms`).
    pub rebalance_timeout_ms: u32,
}

/// A running group: its partitions' workers and the task that feeds them.
pub struct GroupHandle {
    owned: Arc<Mutex<BTreeSet<i32>>>,
    shutdown: Option<oneshot::Sender<()>>,
    done: Option<tokio::task::JoinHandle<()>>,
}

impl GroupHandle {
    /// Partitions this node owns now, kept current by the group's task.
    pub fn owned_view(&self) -> Arc<Mutex<BTreeSet<i32>>> {
        self.owned.clone()
    }

    /// Makes what every worker holds durable, then leaves the group.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(done) = self.done.take() {
            let _ = done.await;
        }
    }
}

/// Joins the group, subscribes to its topic and starts the task that runs `workers`. Call
/// from inside an actix system.
pub fn join<W: Workers + 'static>(
    broker: &Broker,
    db: Db,
    settings: GroupSettings,
    on_stats: Option<StatsHook>,
    workers: W,
) -> Result<GroupHandle, KafkaError> {
    let (control_tx, control_rx) = unbounded_channel();
    let context = GroupContext {
        db: db.clone(),
        topic: settings.topic.clone(),
        node: settings.node.clone(),
        control: control_tx.clone(),
        on_stats,
    };
    let consumer: GroupConsumer = broker
        .group_consumer_config()
        .set("group.id", &settings.group_id)
        .set("client.id", &settings.node)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("partition.assignment.strategy", "cooperative-sticky")
        .set(
            "session.timeout.ms",
            settings.session_timeout_ms.to_string(),
        )
        .set(
            "heartbeat.interval.ms",
            (settings.session_timeout_ms / 5).max(100).to_string(),
        )
        .set(
            "max.poll.interval.ms",
            settings.rebalance_timeout_ms.to_string(),
        )
        // Log end offsets and lag per partition for /metrics, through `stats`.
        .set("statistics.interval.ms", STATISTICS_INTERVAL_MS.to_string())
        .create_with_context(context)?;
    consumer.subscribe(&[&settings.topic])?;
    let consumer = Arc::new(consumer);
    let owned = Arc::new(Mutex::new(BTreeSet::new()));
    let (shutdown_tx, shutdown_rx) = oneshot::channel();
    let link = GroupLink {
        committer: Committer {
            consumer: consumer.clone(),
            topic: settings.topic.clone(),
        },
        control: control_tx,
    };
    let group = Group {
        consumer,
        db,
        settings,
        link,
        workers,
        running: HashMap::new(),
        owned: owned.clone(),
    };
    let done = actix::spawn(group.run(control_rx, shutdown_rx));
    Ok(GroupHandle {
        owned,
        shutdown: Some(shutdown_tx),
        done: Some(done),
    })
}

/// A task rather than an actor: it spends its life awaiting the consumer and the workers'
/// mailboxes (`send().await` is the backpressure), which an actor's handlers cannot.
struct Group<W: Workers> {
    consumer: Arc<GroupConsumer>,
    db: Db,
    settings: GroupSettings,
    link: GroupLink,
    workers: W,
    running: HashMap<i32, W::Worker>,
    owned: Arc<Mutex<BTreeSet<i32>>>,
}

impl<W: Workers> Group<W> {
    async fn run(
        mut self,
        mut control: UnboundedReceiver<Control>,
        mut shutdown: oneshot::Receiver<()>,
    ) {
        let consumer = self.consumer.clone();
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                Some(msg) = control.recv() => self.on_control(msg).await,
                received = consumer.recv() => {
                    let mut batch = Batch::default();
                    let (mut next, mut taken) = (Some(received), 1);
                    while let Some(received) = next.take() {
                        let record = match received {
                            Ok(message) => Some(Delivered {
                                partition: message.partition(),
                                offset: message.offset(),
                                key: message.key().map(<[u8]>::to_vec),
                                payload: message.payload().map(<[u8]>::to_vec),
                            }),
                            Err(e) => {
                                tracing::warn!(topic = %self.settings.topic, error = %e, "consumer error");
                                None
                            }
                        };
                        // The rebalance callback runs inside `recv`, so its news may be queued
                        // behind this very record: what came before goes to the workers of
                        // before, then the news is applied.
                        if !control.is_empty() {
                            self.deliver(&mut batch).await;
                            while let Ok(msg) = control.try_recv() {
                                self.on_control(msg).await;
                            }
                        }
                        if let Some(record) = record {
                            batch.push(record);
                        }
                        if taken < MAX_BATCH {
                            next = consumer.recv().now_or_never();
                            taken += 1;
                        }
                    }
                    self.deliver(&mut batch).await;
                }
            }
        }
        let all: Vec<i32> = self.running.keys().copied().collect();
        self.stop_workers(&all).await;
        consumer.unsubscribe();
    }

    /// Hands every partition's records of the batch to its worker, and empties the batch.
    async fn deliver(&mut self, batch: &mut Batch) {
        for (partition, records) in batch.take() {
            match self.running.get(&partition) {
                Some(worker) => {
                    if !worker.deliver(records).await {
                        tracing::debug!(
                            partition,
                            "records for a stopped worker dropped; they are replayed after resync"
                        );
                    }
                }
                None => {
                    tracing::debug!(partition, "records for a partition we do not own dropped")
                }
            }
        }
    }

    async fn on_control(&mut self, msg: Control) {
        match msg {
            Control::Assigned { partitions } => {
                for (partition, position) in partitions {
                    match position {
                        Some(position) => self.start_worker(partition, position, false),
                        None => self.resync(partition).await,
                    }
                }
            }
            Control::Revoked { partitions } => self.stop_workers(&partitions).await,
            Control::Resync { partition } => {
                self.stop_workers(&[partition]).await;
                self.resync(partition).await;
            }
        }
    }

    fn start_worker(&mut self, partition: i32, position: Position, after_seek: bool) {
        let worker = self
            .workers
            .start(partition, position, after_seek, &self.link);
        if let Some(old) = self.running.insert(partition, worker) {
            old.stop_soon();
        }
        if let Ok(mut owned) = self.owned.lock() {
            owned.insert(partition);
        }
    }

    async fn stop_workers(&mut self, partitions: &[i32]) {
        for &partition in partitions {
            if let Some(worker) = self.running.remove(&partition) {
                worker.stop().await;
                self.workers.stopped(partition);
            }
            if let Ok(mut owned) = self.owned.lock() {
                owned.remove(&partition);
            }
        }
    }

    /// Re-reads the partition's offset from the database, seeks the consumer there and starts
    /// a fresh worker. Retries after a pause if the database is away.
    async fn resync(&mut self, partition: i32) {
        let db = self.db.clone();
        let topic = self.settings.topic.clone();
        let node = self.settings.node.clone();
        let stored = tokio::task::spawn_blocking(move || {
            let mut conn = db.conn()?;
            Ok::<_, StoreError>(offsets::resume(&mut conn, &topic, partition, &node)?)
        })
        .await;
        let position = match stored {
            Ok(Ok(position)) => position,
            Ok(Err(e)) => {
                tracing::error!(topic = %self.settings.topic, partition, error = %e, "cannot read the resume offset; retrying");
                let control = self.link.control.clone();
                actix::spawn(async move {
                    tokio::time::sleep(RESYNC_RETRY).await;
                    let _ = control.send(Control::Resync { partition });
                });
                return;
            }
            Err(e) => {
                tracing::error!(topic = %self.settings.topic, partition, error = %e, "resume offset task failed");
                return;
            }
        };
        let offset = Offset::Offset(position.replay_from);
        if let Err(e) = self
            .consumer
            .seek(&self.settings.topic, partition, offset, SEEK_TIMEOUT)
        {
            tracing::warn!(topic = %self.settings.topic, partition, error = %e, "seek failed; the partition may have moved");
        }
        self.start_worker(partition, position, true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(partition: i32, offset: i64) -> Delivered {
        Delivered {
            partition,
            offset,
            key: None,
            payload: None,
        }
    }

    #[test]
    fn a_batch_keeps_each_partitions_records_in_the_order_they_came() {
        let mut batch = Batch::default();
        for (partition, offset) in [(2, 10), (0, 5), (2, 11), (2, 12), (0, 6)] {
            batch.push(record(partition, offset));
        }
        let taken: Vec<(i32, Vec<i64>)> = batch
            .take()
            .into_iter()
            .map(|(p, records)| (p, records.iter().map(|r| r.offset).collect()))
            .collect();
        assert_eq!(taken, vec![(2, vec![10, 11, 12]), (0, vec![5, 6])]);
        assert!(batch.take().is_empty(), "taking empties the batch");
    }
}
