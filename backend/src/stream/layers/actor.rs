//! One actor per assigned partition of the layers topic: it owns the [`LayerState`] of the
//! partition's layers, makes final windows durable with its position, and publishes them.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use layercast_shared::{LayerPartial, LayerWindow, OsiLayer, SeriesWindow, LAYER_PARTIAL_VERSION};

use super::state::{LayerState, Pending};
use crate::metrics::{LayerLabel, LayerLenLabel, Metrics, PartitionLabel};
use crate::store::{LayerWriter, LoadAnalysis, LoadProgress, StoreError, WriteLayers};
use crate::stream::backoff::Backoff;
use crate::stream::cursor::{Cursor, Taken};
use crate::stream::findings::Analyst;
use crate::stream::group::{Control, GroupLink};
use crate::stream::UpdatePublisher;

/// How often the actor looks for windows to close. Short: it is part of how long a final
/// layer value takes to reach the dashboard.
const CLOSE_EVERY: Duration = Duration::from_millis(250);
/// Provisional values (and a position that moved without closing anything) are written and
/// published at most this often.
const PUBLISH_EVERY: Duration = Duration::from_secs(1);
/// Records queued in the mailbox before the group's `send` waits (backpressure).
const MAILBOX_CAPACITY: usize = 256;

/// A record of the layers topic, in offset order.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct LayerRecord {
    pub offset: i64,
    pub payload: Option<Vec<u8>>,
}

/// Write what is final, then stop: the partition was revoked or the node is shutting down.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct FlushAndStop;

/// What a layer actor is given.
pub struct LayerDeps {
    /// The layers topic.
    pub topic: String,
    pub node: String,
    /// Partitions of the events topic.
    pub sources: i32,
    /// Partitions of the layers topic: which layers this partition carries.
    pub partitions: i32,
    pub base_len_ms: i64,
    pub idle_timeout_ms: i64,
    pub writer: Addr<LayerWriter>,
    pub updates: UpdatePublisher,
    pub group: GroupLink,
    pub metrics: Arc<Metrics>,
    /// The layer-wide series' analysis.
    pub analyst: Analyst,
}

/// The analysis' stored state of a layer actor's series goes under this "partition" of the
/// layers topic: below zero, apart from the events topic's partitions.
pub(super) fn state_partition(layers_partition: i32) -> i32 {
    -1 - layers_partition
}

/// A final layer window as a series of the analysis: the layer as a whole (entity `""`).
fn layer_series(w: &LayerWindow) -> SeriesWindow {
    let len_s = (w.end_ms - w.start_ms).max(1) as f64 / 1000.0;
    SeriesWindow {
        layer: w.layer,
        entity: String::new(),
        start_ms: w.start_ms,
        end_ms: w.end_ms,
        events: w.events,
        bytes: w.bytes,
        packets: w.packets,
        connections: w.connections,
        requests: w.requests,
        errors: w.errors,
        bytes_min: 0,
        bytes_max: 0,
        bytes_per_s: w.bytes as f64 / len_s,
        events_per_s: w.events as f64 / len_s,
        latency: w.latency.clone(),
        error_rate: w.error_rate,
        error_classes: w.error_classes.clone(),
        is_final: w.is_final,
        closed_at_ms: None,
    }
}

pub struct LayerActor {
    partition: i32,
    layers: Vec<OsiLayer>,
    state: LayerState,
    cursor: Cursor,
    /// The position stored in the database: the fence of the next write.
    durable: i64,
    last_publish: Option<Instant>,
    /// The pause after a failed write; no records are taken meanwhile.
    retry: Backoff,
    /// Records whose payload was not a layer partial of our version; skipped, logged.
    malformed: u64,
    deps: LayerDeps,
}

fn wall_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl LayerActor {
    /// `after_seek`: the consumer was just sought to `position`.
    pub fn new(partition: i32, position: i64, after_seek: bool, deps: LayerDeps) -> Self {
        LayerActor {
            partition,
            layers: super::layers_of(partition, deps.partitions),
            state: LayerState::new(
                deps.sources,
                deps.idle_timeout_ms,
                deps.base_len_ms,
                position,
                wall_ms(),
            ),
            cursor: Cursor::new(position, after_seek),
            durable: position,
            last_publish: None,
            retry: Backoff::default(),
            malformed: 0,
            deps,
        }
    }

    /// The layer-wide series' analysis, as each base window becomes final.
    fn analyse(&mut self, finals: Vec<SeriesWindow>) {
        self.deps.analyst.close(finals, Instant::now());
    }

    /// The layer-wide series' alerts and trackers as the last owner stored them.
    fn load_analysis(&mut self, ctx: &mut Context<Self>) {
        let read = self.deps.writer.send(LoadAnalysis {
            partition: state_partition(self.partition),
        });
        ctx.wait(read.into_actor(self).map(|result, act, _| match result {
            Ok(Ok((alerts, states))) => act.deps.analyst.restore(alerts, states),
            Ok(Err(e)) => tracing::warn!(partition = act.partition, error = %e, "no stored layer analysis; layers learn afresh"),
            Err(e) => tracing::warn!(partition = act.partition, error = %e, "no stored layer analysis; layers learn afresh"),
        }));
    }

    fn take(&mut self, record: LayerRecord) {
        let decoded = record
            .payload
            .as_deref()
            .ok_or_else(|| "empty payload".to_owned())
            .and_then(|p| serde_json::from_slice::<LayerPartial>(p).map_err(|e| e.to_string()))
            .and_then(|p| {
                if p.v != LAYER_PARTIAL_VERSION {
                    Err(format!("unknown version {}", p.v))
                } else if !self.layers.contains(&p.layer) {
                    Err(format!(
                        "layer {} does not belong to this partition",
                        p.layer.as_str()
                    ))
                } else {
                    Ok(p)
                }
            });
        match decoded {
            Ok(partial) => {
                let took = self.state.take(record.offset, &partial, wall_ms());
                self.deps
                    .metrics
                    .layer_skipped_contributions
                    .inc_by(took.skipped as u64);
            }
            Err(reason) => {
                self.state.pass(record.offset);
                self.malformed += 1;
                tracing::warn!(partition = self.partition, offset = record.offset, %reason, malformed = self.malformed, "skipping a layer record");
            }
        }
    }

    fn publish_due(&self) -> bool {
        self.last_publish
            .is_none_or(|t| t.elapsed() >= PUBLISH_EVERY)
    }

    fn tick(&mut self, ctx: &mut Context<Self>) {
        // actix's `run_interval` fires every missed tick at once after a long wait, without
        // looking at `ctx.wait`: a second write from the same position would race the first.
        if ctx.waiting() {
            return;
        }
        let now = wall_ms();
        self.state.close(now);
        self.observe(now);
        if let Some(write) = self.write_pending(false) {
            ctx.wait(write);
        }
    }

    fn observe(&self, now: i64) {
        let m = &self.deps.metrics;
        for (layer, len_ms, through) in self.state.final_through() {
            m.layer_final_through_seconds
                .get_or_create(&LayerLenLabel {
                    layer: layer.as_str().into(),
                    len_ms,
                })
                .set(through as f64 / 1000.0);
        }
        for layer in &self.layers {
            let idle = self.state.idle_sources(*layer, now);
            m.layer_idle_sources
                .get_or_create(&LayerLabel {
                    layer: layer.as_str().into(),
                })
                .set(idle as i64);
        }
    }

    /// The write of what is pending, or `None` when there is nothing to write yet. The actor
    /// takes no other message until it has answered (`ctx.wait`), so the state cannot change
    /// under it: that is also the backpressure on the consumer.
    fn write_pending(
        &mut self,
        last: bool,
    ) -> Option<impl ActorFuture<Self, Output = ()> + 'static> {
        let due = last || self.publish_due();
        let pending = self.state.pending(due && self.state.has_changes());
        let moved = pending.position != self.durable;
        if pending.is_empty() && !(due && moved) {
            return None;
        }
        let write = WriteLayers {
            topic: self.deps.topic.clone(),
            partition: self.partition,
            expected_offset: self.durable,
            next_offset: pending.position,
            rows: pending.rows.clone(),
            progress: pending.progress.clone(),
            node: self.deps.node.clone(),
        };
        let sent = self.deps.writer.send(write);
        Some(
            sent.into_actor(self)
                .map(move |result, act, ctx| act.after_write(result, pending, ctx)),
        )
    }

    fn after_write(
        &mut self,
        result: Result<Result<(), StoreError>, MailboxError>,
        done: Pending,
        ctx: &mut Context<Self>,
    ) {
        match result {
            Ok(Ok(())) => {
                self.retry.succeeded();
                self.state.written(&done);
                self.durable = done.position;
                self.last_publish = Some(Instant::now());
                self.deps
                    .group
                    .committer
                    .commit(self.partition, done.position);
                self.deps
                    .metrics
                    .layer_durable_offset
                    .get_or_create(&self.label())
                    .set(done.position);
                if !done.publish.is_empty() {
                    self.deps.updates.publish(&done.publish, &[]);
                }
                let base = self.deps.base_len_ms;
                let mut finals: Vec<SeriesWindow> = done
                    .publish
                    .iter()
                    .filter(|w| w.is_final && w.end_ms - w.start_ms == base)
                    .map(layer_series)
                    .collect();
                finals.sort_by_key(|w| (w.start_ms, w.layer));
                if !finals.is_empty() {
                    self.analyse(finals);
                }
            }
            Ok(Err(e)) if !e.is_retryable() => {
                // Another node wrote this partition since we read its position: our view is
                // stale. The group re-reads it and starts a fresh actor.
                tracing::warn!(partition = self.partition, error = %e, "layer partition state is stale, resynchronising");
                let _ = self.deps.group.control.send(Control::Resync {
                    partition: self.partition,
                });
                ctx.stop();
            }
            failed => {
                let reason = match failed {
                    Ok(Err(e)) => e.to_string(),
                    Err(e) => e.to_string(),
                    Ok(Ok(())) => String::new(),
                };
                let wait = self.retry.failed();
                tracing::warn!(partition = self.partition, %reason, retry_in = ?wait, "layer write failed; taking no records until it is retried");
                ctx.wait(actix::fut::wrap_future(tokio::time::sleep(wait)));
            }
        }
    }

    fn label(&self) -> PartitionLabel {
        PartitionLabel {
            partition: self.partition,
        }
    }

    /// Takes over what the previous owner stored before taking records.
    fn restore(&mut self, ctx: &mut Context<Self>) {
        let load = self.deps.writer.send(LoadProgress {
            layers: self.layers.clone(),
        });
        ctx.wait(load.into_actor(self).map(|result, act, ctx| match result {
            Ok(Ok(progress)) => act.state.restore(&progress, wall_ms()),
            other => {
                let reason = match other {
                    Ok(Err(e)) => e.to_string(),
                    Err(e) => e.to_string(),
                    Ok(Ok(_)) => String::new(),
                };
                // Without it, windows a source closed before the takeover would wait for the
                // source to speak again, and replays could not be told from news: start over.
                tracing::warn!(partition = act.partition, %reason, "cannot read the layer progress; resynchronising");
                let _ = act.deps.group.control.send(Control::Resync { partition: act.partition });
                ctx.stop();
            }
        }));
    }
}

impl Actor for LayerActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(MAILBOX_CAPACITY);
        self.restore(ctx);
        self.load_analysis(ctx);
        ctx.run_interval(CLOSE_EVERY, |act, ctx| act.tick(ctx));
        tracing::info!(partition = self.partition, layers = ?self.layers, offset = self.durable, "layer actor started");
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        let m = &self.deps.metrics;
        m.layer_durable_offset.remove(&self.label());
        m.layer_stage_lag.remove(&self.label());
        for layer in &self.layers {
            m.layer_idle_sources.remove(&LayerLabel {
                layer: layer.as_str().into(),
            });
        }
        for (layer, len_ms, _) in self.state.final_through() {
            m.layer_final_through_seconds.remove(&LayerLenLabel {
                layer: layer.as_str().into(),
                len_ms,
            });
        }
        tracing::info!(
            partition = self.partition,
            offset = self.durable,
            "layer actor stopped"
        );
    }
}

impl Handler<LayerRecord> for LayerActor {
    type Result = ();

    fn handle(&mut self, record: LayerRecord, ctx: &mut Context<Self>) {
        match self.cursor.take(record.offset) {
            Taken::Yes => self.take(record),
            Taken::Duplicate => {}
            Taken::Gap { got } => {
                tracing::warn!(
                    partition = self.partition,
                    expected = self.cursor.next_offset(),
                    got,
                    "layers consumer is past our position, resynchronising"
                );
                let _ = self.deps.group.control.send(Control::Resync {
                    partition: self.partition,
                });
                ctx.stop();
            }
        }
    }
}

impl Handler<FlushAndStop> for LayerActor {
    type Result = AtomicResponse<Self, ()>;

    /// Answers only after the last write has answered, so the group knows the partition's
    /// state is durable (or left for the next owner to replay) before it moves on.
    fn handle(&mut self, _: FlushAndStop, _: &mut Context<Self>) -> Self::Result {
        let stop = |_, _: &mut Self, ctx: &mut Context<Self>| ctx.stop();
        self.state.close(wall_ms());
        match self.write_pending(true) {
            Some(write) => AtomicResponse::new(Box::pin(write.map(stop))),
            None => AtomicResponse::new(Box::pin(actix::fut::ready(()).map(stop))),
        }
    }
}
