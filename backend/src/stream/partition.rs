//! One actor per assigned partition of the events topic.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use layercast_shared::EventMsg;
use tokio::sync::mpsc::UnboundedSender;

use super::outputs::UpdatePublisher;
use super::supervisor::{Committer, Control};
use super::window::{ClosedWindow, TumblingWindows};
use crate::metrics::{Metrics, PartitionLabel};
use crate::store::windows::WindowDelta;
use crate::store::{StoreError, WriteBatch};

/// How often pending window deltas are written, at the latest. Short, because it is also how
/// long a planner waits to see a record on the dashboard.
const FLUSH_EVERY: Duration = Duration::from_millis(250);
/// Records after which a batch is written without waiting for the tick.
const MAX_BATCH_RECORDS: usize = 20_000;
/// Records queued in the mailbox before the supervisor's `send` waits: the backpressure that
/// keeps a slow database from filling memory.
const MAILBOX_CAPACITY: usize = 1_024;
/// Records from past our position skipped after a seek before the seek is taken as failed
/// and tried again.
const MAX_SKIPPED_AFTER_SEEK: u64 = 100_000;

/// A record of the events topic, in offset order.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Record {
    pub offset: i64,
    pub payload: Option<Vec<u8>>,
}

/// What became of a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Taken {
    Yes,
    Duplicate,
    Gap { got: i64 },
}

/// Write what is pending, then stop: the partition was revoked or the node is shutting down.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct FlushAndStop;

pub struct PartitionActor {
    topic: String,
    partition: i32,
    node: String,
    /// The offset stored with the windows in the database: where the pending batch begins.
    durable_offset: i64,
    /// The offset after the last record taken into `pending`.
    next_offset: i64,
    /// Window deltas since the last durable write.
    pending: TumblingWindows,
    pending_records: usize,
    /// Records whose payload was not a valid `EventMsg`; skipped, counted, logged.
    malformed: u64,
    /// Set while a seek to `next_offset` may not have taken effect yet: records from past our
    /// position are skipped (counted here) instead of starting another resynchronisation,
    /// which would restart the fetch and never let the seek land.
    awaiting_seek: Option<u64>,
    writer: Recipient<WriteBatch>,
    committer: Committer,
    updates: UpdatePublisher,
    control: UnboundedSender<Control>,
    metrics: Arc<Metrics>,
}

pub struct PartitionDeps {
    pub topic: String,
    pub node: String,
    pub window_len_ms: i64,
    pub writer: Recipient<WriteBatch>,
    pub committer: Committer,
    pub updates: UpdatePublisher,
    pub control: UnboundedSender<Control>,
    pub metrics: Arc<Metrics>,
}

impl PartitionActor {
    /// `after_seek`: the consumer was just sought to `start_offset`.
    pub fn new(partition: i32, start_offset: i64, after_seek: bool, deps: PartitionDeps) -> Self {
        PartitionActor {
            topic: deps.topic,
            partition,
            node: deps.node,
            durable_offset: start_offset,
            next_offset: start_offset,
            pending: TumblingWindows::new(deps.window_len_ms),
            pending_records: 0,
            malformed: 0,
            awaiting_seek: after_seek.then_some(0),
            writer: deps.writer,
            committer: deps.committer,
            updates: deps.updates,
            control: deps.control,
            metrics: deps.metrics,
        }
    }

    fn label(&self) -> PartitionLabel {
        PartitionLabel { partition: self.partition }
    }

    fn take(&mut self, record: Record) -> Taken {
        // Records before our position were already made durable (they arrive again after a
        // seek, or from a prefetch of the previous owner's position).
        if record.offset < self.next_offset {
            return Taken::Duplicate;
        }
        // Offsets of a topic written without transactions have no gaps, so a record past our
        // position means the consumer is not where the database says we are (seen with tansu
        // after a takeover: the fetch began at the log end). Taking it would lose the records
        // in between.
        if record.offset > self.next_offset {
            if let Some(skipped) = self.awaiting_seek.as_mut() {
                // Fetched before our seek took effect: it comes again, in order, after it.
                *skipped += 1;
                if *skipped < MAX_SKIPPED_AFTER_SEEK {
                    return Taken::Duplicate;
                }
            }
            return Taken::Gap { got: record.offset };
        }
        self.awaiting_seek = None;
        self.next_offset = record.offset + 1;
        let decoded = record
            .payload
            .as_deref()
            .ok_or_else(|| "empty payload".to_owned())
            .and_then(|p| serde_json::from_slice::<EventMsg>(p).map_err(|e| e.to_string()));
        match decoded {
            Ok(msg) => {
                let e = msg.event;
                self.pending.insert(e.ts.timestamp_millis(), e.layer, &e.entity, e.bytes);
                self.pending_records += 1;
                self.metrics.events.inc();
            }
            Err(reason) => {
                self.malformed += 1;
                self.metrics.malformed_records.inc();
                tracing::warn!(partition = self.partition, offset = record.offset, %reason, malformed = self.malformed, "skipping a malformed event record");
            }
        }
        Taken::Yes
    }

    /// Writes the pending deltas and the new offset in one transaction; the actor takes no
    /// other message until the write has answered (`ctx.wait`), so its mailbox fills and the
    /// supervisor's `send` waits: that is the backpressure on the consumer.
    fn flush(&mut self, ctx: &mut Context<Self>) {
        self.metrics.open_windows.get_or_create(&self.label()).set(self.pending.open() as i64);
        if let Some(write) = self.write_pending() {
            ctx.wait(write);
        }
    }

    /// The write of everything pending, or `None` when the database already has it all.
    fn write_pending(&mut self) -> Option<impl ActorFuture<Self, Output = ()> + 'static> {
        if self.next_offset == self.durable_offset {
            return None;
        }
        let windows = self.pending.drain();
        self.pending_records = 0;
        let deltas = windows
            .iter()
            .map(|w| WindowDelta {
                layer: w.layer,
                entity: w.entity.clone(),
                start_ms: w.start_ms,
                events: w.agg.events,
                bytes: w.agg.bytes,
            })
            .collect();
        let batch = WriteBatch {
            topic: self.topic.clone(),
            partition: self.partition,
            expected_offset: self.durable_offset,
            next_offset: self.next_offset,
            window_len_ms: self.pending.len_ms(),
            deltas,
            node: self.node.clone(),
        };
        let next_offset = self.next_offset;
        Some(self.writer.send(batch).into_actor(self).map(move |result, act, ctx| {
            act.after_write(result, windows, next_offset, ctx)
        }))
    }

    fn after_write(
        &mut self,
        result: Result<Result<Vec<layercast_shared::LayerWindow>, StoreError>, MailboxError>,
        windows: Vec<ClosedWindow>,
        next_offset: i64,
        ctx: &mut Context<Self>,
    ) {
        match result {
            Ok(Ok(totals)) => {
                self.durable_offset = next_offset;
                self.metrics.durable_offset.get_or_create(&self.label()).set(next_offset);
                self.committer.commit(self.partition, next_offset);
                self.updates.publish(totals);
            }
            Ok(Err(e)) if !e.is_retryable() => {
                // Another node wrote this partition since we read its offset: our view is
                // stale. Drop it; the supervisor re-reads the offset and starts afresh.
                tracing::warn!(partition = self.partition, error = %e, "partition state is stale, resynchronising");
                let _ = self.control.send(Control::Resync { partition: self.partition });
                ctx.stop();
            }
            failed => {
                let reason = match failed {
                    Ok(Err(e)) => e.to_string(),
                    Err(e) => e.to_string(),
                    Ok(Ok(_)) => String::new(),
                };
                tracing::warn!(partition = self.partition, %reason, "window write failed, retrying on the next tick");
                for w in windows {
                    self.pending_records += usize::try_from(w.agg.events).unwrap_or(usize::MAX);
                    self.pending.restore(w);
                }
            }
        }
    }
}

impl Actor for PartitionActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(MAILBOX_CAPACITY);
        ctx.run_interval(FLUSH_EVERY, |act, ctx| act.flush(ctx));
        tracing::info!(partition = self.partition, offset = self.next_offset, "partition actor started");
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        self.metrics.forget_partition(self.partition);
        tracing::info!(partition = self.partition, offset = self.durable_offset, "partition actor stopped");
    }
}

impl Handler<Record> for PartitionActor {
    type Result = ();

    fn handle(&mut self, record: Record, ctx: &mut Context<Self>) {
        match self.take(record) {
            Taken::Yes => {
                if self.pending_records >= MAX_BATCH_RECORDS {
                    self.flush(ctx);
                }
            }
            Taken::Duplicate => {}
            Taken::Gap { got } => {
                tracing::warn!(partition = self.partition, expected = self.next_offset, got, "consumer is past our position, resynchronising");
                // What is pending is dropped with the actor: the offset it would have advanced
                // stays in the database, and the resync replays from there.
                let _ = self.control.send(Control::Resync { partition: self.partition });
                ctx.stop();
            }
        }
    }
}

impl Handler<FlushAndStop> for PartitionActor {
    type Result = AtomicResponse<Self, ()>;

    /// Answers only after the last write has answered, so the supervisor knows the partition's
    /// state is durable (or left for the next owner to replay) before it moves on.
    fn handle(&mut self, _: FlushAndStop, _: &mut Context<Self>) -> Self::Result {
        let stop = |_, _: &mut Self, ctx: &mut Context<Self>| ctx.stop();
        match self.write_pending() {
            Some(write) => AtomicResponse::new(Box::pin(write.map(stop))),
            None => AtomicResponse::new(Box::pin(actix::fut::ready(()).map(stop))),
        }
    }
}
