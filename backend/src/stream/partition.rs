//! One actor per assigned partition of the events topic.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::ops::Range;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use layercast_shared::{EventMsg, LayerPartial, OsiLayer, SeriesWindow};
use tokio::sync::mpsc::UnboundedSender;
use tokio::sync::watch;

use super::backoff::Backoff;
use super::cursor::{Cursor, Taken};
use super::findings::Analyst;
use super::group::{Delivered, MAX_BATCH};
use super::layers::{partials_of, LayerFeed};
use super::origins::Origins;
use super::outputs::{LateRecord, LateSink, UpdatePublisher};
use super::supervisor::{Committer, Control};
use super::watermark::Watermark;
use super::window::{
    roll_up, series_window, window_start, Purpose, TumblingWindows, Window, WindowAgg,
};
use crate::config::EventTime;
use crate::metrics::{Metrics, PartitionLabel};
use crate::store::late::LateDrop;
use crate::store::offsets::Position;
use crate::store::{
    Aggregator, DeliveredFirst, LoadAnalysis, LoadHistory, LoadOpenWindows, LoadPendingRollups,
    StoreError, WriteBatch,
};

/// How often the actor looks at its clock: idleness, windows due to close, writes due.
const TICK_EVERY: Duration = Duration::from_millis(250);
/// Between window closes, late records and the position are written this often.
const WRITE_EVERY: Duration = Duration::from_secs(1);
/// Provisional values of open windows go to the live feed (and the layer stage) this often,
/// from memory...
const PUBLISH_EVERY: Duration = Duration::from_secs(1);
/// ... and to the database this often: each is a row rewritten, the largest part of the
/// database's work, and only the REST API and the dashboards' first snapshot read them. A
/// window opened less than this ago is left for the next save: when event time runs faster
/// than the wall clock (a backlog, a replay) windows close within a second or two, and
/// saving them first doubled the rows written. So is a window the watermark will close
/// within this much event time: its final row comes about as soon, and in live traffic that
/// save came just before the close and made the close wait for the database.
const SAVE_EVERY: Duration = Duration::from_secs(5);
/// Records queued in the mailbox (in batches of at most `MAX_BATCH`) before the group's task
/// waits. An actor handles its whole mailbox in one turn of the node's stream thread, and that
/// thread looks at its timers and at wake-ups from other threads (write completions, Kafka
/// deliveries) only between batches of about 60 turns (tokio's `LocalSet`): with 1,024 records
/// a turn took ~5 ms under load, the thread answered 170 ms late on average (up to half a
/// second), and a close waited half a second for Kafka deliveries acknowledged in 5 ms. 128
/// cut that lag to ~15 ms and the close delay from 1.3 s to 0.26 s, at no cost in throughput
/// (BENCHMARKS.md; `layercast_stream_thread_lag_seconds` shows it).
const MAILBOX_RECORDS: usize = 128;
const MAILBOX_CAPACITY: usize = MAILBOX_RECORDS / MAX_BATCH;
/// Bins of windows held beyond those the watermark keeps open before the actor stops taking
/// records until its write in flight is done: the backpressure that keeps a slow database from
/// filling memory with windows closed but not yet written.
const SLACK_BINS: usize = 4;
/// Closed windows per series a node taking a partition over replays into its detectors: the
/// anomaly detector needs an hour to warm up, so an hour and a half of 10-s windows.
const WARMUP_WINDOWS: i64 = 540;
/// Rows of history read at most, whatever the number of series.
const WARMUP_ROWS: i64 = 200_000;

/// Consecutive records of the partition, in offset order: one message for many records,
/// because a message per record (its envelope, its turn of the mailbox) cost more than the
/// window's work on the record.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Records(pub Vec<Delivered>);

/// Write what is pending, then stop: the partition was revoked or the node is shutting down.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct FlushAndStop;

pub struct PartitionActor {
    topic: String,
    partition: i32,
    node: String,
    time: EventTime,
    clock: Watermark,
    /// Which records are copies of ones counted before (a source resumed mid-object).
    origins: Origins,
    /// The position stored with the windows in the database.
    durable: Position,
    /// Where the next record must be.
    cursor: Cursor,
    /// Records before this offset were taken by an earlier owner (or an earlier actor of this
    /// node): replayed to rebuild the windows still open then. Those that fall into windows
    /// already closed are in the database and are skipped without a word.
    replayed_until: i64,
    /// The clock the watermark reads idleness on: the time since the actor started, less the
    /// time it spent waiting for a write or to retry one. It took no records then, so that
    /// time does not count as a source being quiet (a database outage must not look like a
    /// quiet link and push the watermark past records still to come).
    started_at: Instant,
    stalled: Duration,
    /// That clock as last read, at each tick: reading it per record cost more than the rest of
    /// the watermark's work on this machine's virtual clock, and idle timeouts are seconds.
    now_ms: i64,
    /// The open base windows, whole: they are written final once, when they close.
    open: TumblingWindows,
    /// Per open base window (by start), the offset of its first record: the oldest of them is
    /// where a new owner has to replay from.
    first_offset: BTreeMap<i64, i64>,
    /// Late records since the last durable write, per series, and the records themselves.
    late: HashMap<(OsiLayer, String), (u64, i64)>,
    late_records: Vec<LateRecord>,
    last_write: Instant,
    last_publish: Instant,
    last_save: Instant,
    /// The latest window end the last periodic save passed over as closing soon.
    passed_over_through: Option<i64>,
    /// The newest base window start made final in the database.
    closed_through: Option<i64>,
    /// The newest base window start the analysis has taken: it takes windows as they become
    /// due to close, not once written.
    analysed_through: Option<i64>,
    /// When the watermark first closed a window that is not yet final in the database.
    close_due_since: Option<(Instant, i64)>,
    /// When each newest window start due to close not yet durable became due, oldest first: a
    /// window that becomes due while a close is being written has its own close time, not the
    /// end of that write.
    due_at: VecDeque<Due>,
    /// The pause after a failed write: the actor takes no records while it waits, nor while
    /// the write after it is in flight, so the consumer stops and memory stays flat while the
    /// database is away.
    retry: Backoff,
    /// The write in flight: one at a time, each from the position the one before left. The
    /// actor goes on taking records meanwhile (the write carries closed windows only, which
    /// later records cannot change).
    pending: Option<PendingWrite>,
    writes_started: u64,
    /// Since when the actor has been waiting for the write in flight instead of taking records.
    blocked_since: Option<Instant>,
    /// Open bins past which it does so (see `SLACK_BINS`).
    max_bins: usize,
    /// The partition is being handed back: the last write is under way, no other may start.
    stopping: bool,
    /// Records whose payload was not a valid `EventMsg`; skipped, counted, logged.
    malformed: u64,
    writer: Addr<Aggregator>,
    /// The detectors, trends, forecasts, runways and alert rules of the partition's series,
    /// off this thread; their rows go to the database beside the window batches.
    analyst: Analyst,
    committer: Committer,
    updates: UpdatePublisher,
    late_sink: LateSink,
    /// The open roll-up windows whole: what the closed base windows have added so far. They
    /// have no rows: once the close that ends one is durable, the write after it (at once)
    /// writes it, final, from here, and a node taking the partition over rebuilds them from
    /// the final rows below them. Summed per layer, they are the partition's contribution to
    /// the layer stage's roll-ups.
    rollups: HashMap<RollupKey, WindowAgg>,
    /// Roll-ups whose last base window is durable wait for the next write; when that close
    /// was first due (wall clock, ms), or `None` when it is unknown (taken over).
    rollups_due: Option<Option<i64>>,
    layers: LayerFeed,
    /// Take the partition's saved open windows over before the first record.
    adopt_open: bool,
    control: UnboundedSender<Control>,
    metrics: Arc<Metrics>,
}

pub struct PartitionDeps {
    pub topic: String,
    pub node: String,
    pub event_time: EventTime,
    pub writer: Addr<Aggregator>,
    pub analyst: Analyst,
    pub committer: Committer,
    pub updates: UpdatePublisher,
    pub late: LateSink,
    pub layers: LayerFeed,
    /// The broker's log starts afresh with this process (embedded mode): the records of the
    /// windows open when the last process stopped are gone, and their saved rows are all
    /// there is of them.
    pub fresh_log: bool,
    pub control: UnboundedSender<Control>,
    pub metrics: Arc<Metrics>,
}

/// (length, start, layer, entity) of a roll-up window.
type RollupKey = (i64, i64, OsiLayer, String);

fn rollup_key(w: &Window) -> RollupKey {
    (w.len_ms, w.start_ms, w.layer, w.entity.clone())
}

/// A write under way, in a task of its own so that the actor can wait for it (`ctx.wait`
/// blocks the actor's own futures) or go on without.
struct PendingWrite {
    seq: u64,
    batch: InFlight,
    result: Rc<RefCell<Option<Result<(), WriteFailure>>>>,
    done: watch::Receiver<bool>,
}

/// What a batch in flight carries back: to publish when it is durable, to take back when it
/// failed.
struct InFlight {
    closed: Vec<Window>,
    open: Vec<Window>,
    late: Vec<LateDrop>,
    late_records: usize,
    position: Position,
    closed_at_ms: i64,
    /// The newest base window start made final.
    close: Option<i64>,
    /// What `closed` adds to the open roll-ups, to add to `rollups` once durable.
    rollup_deltas: Vec<Window>,
    /// The roll-ups made final, whole, and when the close that ended them was due.
    rollup_finals: Vec<Window>,
    rollups_closed_at_ms: i64,
}

/// When the watermark closed the windows up to a start, the analysis took them then.
#[derive(Debug, Clone, Copy)]
struct Due {
    /// The newest base window start due to close.
    through: i64,
    at: Instant,
    /// `at` on the wall clock, ms: the windows' `closed_at_ms`.
    at_ms: i64,
}

fn wall_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl PartitionActor {
    /// `after_seek`: the consumer was just sought to `start.replay_from`.
    pub fn new(partition: i32, start: Position, after_seek: bool, deps: PartitionDeps) -> Self {
        let clock = Watermark::resume(deps.event_time.clone(), &start, 0);
        let len_ms = deps.event_time.len_ms;
        // Open bins the watermark keeps: those from its closed edge to the newest event time.
        let held =
            (deps.event_time.max_out_of_order_ms() + deps.event_time.grace_ms) / len_ms.max(1) + 2;
        let mut actor = PartitionActor {
            topic: deps.topic,
            partition,
            node: deps.node,
            open: TumblingWindows::new(len_ms),
            time: deps.event_time,
            clock,
            origins: Origins::resume(&start.origins, start.next_offset),
            durable: start.clone(),
            cursor: Cursor::new(start.replay_from, after_seek),
            replayed_until: start.next_offset,
            started_at: Instant::now(),
            stalled: Duration::ZERO,
            now_ms: 0,
            first_offset: BTreeMap::new(),
            late: HashMap::new(),
            late_records: Vec::new(),
            last_write: Instant::now(),
            last_publish: Instant::now(),
            last_save: Instant::now(),
            passed_over_through: None,
            closed_through: None,
            analysed_through: None,
            close_due_since: None,
            due_at: VecDeque::new(),
            retry: Backoff::default(),
            pending: None,
            writes_started: 0,
            blocked_since: None,
            max_bins: usize::try_from(held)
                .unwrap_or(usize::MAX)
                .saturating_add(SLACK_BINS),
            stopping: false,
            malformed: 0,
            writer: deps.writer,
            analyst: deps.analyst,
            committer: deps.committer,
            updates: deps.updates,
            late_sink: deps.late,
            rollups: HashMap::new(),
            rollups_due: None,
            layers: deps.layers,
            // Only before this process wrote the partition: later the rows hold what the log
            // replays too.
            adopt_open: deps.fresh_log && start.next_offset == 0,
            control: deps.control,
            metrics: deps.metrics,
        };
        actor.closed_through = actor.clock.closed_through(len_ms);
        actor
    }

    /// Whether records taken before (by this owner or an earlier one) are being read again.
    /// Until they all are, the open windows hold only part of what their stored rows and the
    /// dashboards already show: saved or published, they would set them back (a partition
    /// revoked in the middle of its replay left its open rows at a third of their totals).
    fn replaying(&self) -> bool {
        self.cursor.next_offset() < self.replayed_until
    }

    /// See `started_at`.
    fn clock_ms(&self) -> i64 {
        i64::try_from(
            self.started_at
                .elapsed()
                .saturating_sub(self.stalled)
                .as_millis(),
        )
        .unwrap_or(i64::MAX)
    }

    fn label(&self) -> PartitionLabel {
        PartitionLabel {
            partition: self.partition,
        }
    }

    /// Per window length, the newest window made final once the base windows through
    /// `base_through` are: a roll-up is final when the last base window in it is.
    fn closes_of(&self, base_through: Option<i64>) -> Vec<(i64, i64)> {
        let Some(through) = base_through else {
            return Vec::new();
        };
        let base = self.time.len_ms;
        std::iter::once((base, through))
            .chain(
                self.time
                    .rollups_ms
                    .iter()
                    .map(|&len| (len, window_start(through + base - len, len))),
            )
            .collect()
    }

    fn take(&mut self, record: Delivered) -> Taken {
        let taken = self.cursor.take(record.offset);
        if taken != Taken::Yes {
            return taken;
        }
        let decoded = record
            .payload
            .as_deref()
            .ok_or_else(|| "empty payload".to_owned())
            .and_then(|p| serde_json::from_slice::<EventMsg>(p).map_err(|e| e.to_string()));
        let replayed = record.offset < self.replayed_until;
        match decoded {
            // Before the watermark: a copy must not move the clock, nor be dead-lettered.
            Ok(msg) if !self.origins.admit(record.offset, msg.origin.as_ref()) => {
                if !replayed {
                    self.metrics.duplicate_records.inc();
                }
            }
            Ok(msg) => {
                let e = msg.event;
                let ts_ms = e.ts.timestamp_millis();
                if self.clock.admit(ts_ms, msg.source.as_deref(), self.now_ms) {
                    let start = self.open.insert_at(ts_ms, &e);
                    self.first_offset.entry(start).or_insert(record.offset);
                    self.metrics.events.inc();
                    self.note_closes();
                } else if !replayed {
                    self.metrics.late_records.inc();
                    let entry = self.late.entry((e.layer, e.entity)).or_insert((0, ts_ms));
                    entry.0 += 1;
                    entry.1 = entry.1.max(ts_ms);
                    self.late_records.push(LateRecord {
                        partition: self.partition,
                        offset: record.offset,
                        key: record.key,
                        payload: record.payload.unwrap_or_default(),
                        event_ms: ts_ms,
                        watermark_ms: self.clock.watermark_ms().unwrap_or(i64::MIN),
                    });
                }
            }
            // A malformed record was logged when it was first taken.
            Err(_) if replayed => {}
            Err(reason) => {
                self.malformed += 1;
                self.metrics.malformed_records.inc();
                tracing::warn!(partition = self.partition, offset = record.offset, %reason, malformed = self.malformed, "skipping a malformed event record");
            }
        }
        Taken::Yes
    }

    /// The base windows the watermark has closed that the database does not yet have as final.
    fn close_due(&self) -> Option<i64> {
        let len = self.time.len_ms;
        let through = self.clock.closed_through(len)?;
        (self.closed_through != Some(through)).then_some(through)
    }

    /// Remembers when a window first became due to close: the start of its close delay.
    fn note_closes(&mut self) {
        self.analyse_due();
        if self.close_due_since.is_none() && self.close_due().is_some() {
            self.close_due_since = Some(
                self.due_at
                    .front()
                    .map_or_else(|| (Instant::now(), wall_ms()), |d| (d.at, d.at_ms)),
            );
        }
    }

    /// When the window starting at `start_ms` became due to close (wall clock, ms), not before
    /// the earliest close of its batch.
    fn due_ms(&self, start_ms: i64, earliest_ms: i64) -> i64 {
        self.due_at
            .iter()
            .find(|d| d.through >= start_ms)
            .map_or(earliest_ms, |d| d.at_ms.max(earliest_ms))
    }

    /// Feeds the windows due to close that the analysis has not taken yet to it, at once: their
    /// values are final (a record for them now is late), and their alerts need not wait for a
    /// write in flight, nor for their own.
    /// A close written again after a failure is not analysed twice (`analysed_through`; a
    /// replay is not either: each series skips the windows it has seen), and a later owner
    /// analyses what this one could not store (see `Analyst`).
    fn analyse_due(&mut self) {
        let Some(through) = self.close_due() else {
            return;
        };
        if self.analysed_through.is_some_and(|done| done >= through) {
            return;
        }
        let (closed, closed_at_ms) = (Instant::now(), wall_ms());
        self.due_at.push_back(Due {
            through,
            at: closed,
            at_ms: closed_at_ms,
        });
        let after = self.analysed_through.unwrap_or(i64::MIN);
        let finals = self.open.closing_as(
            through + self.time.len_ms,
            after,
            |layer, entity, start, len, agg| {
                series_window(layer, entity, start, len, agg, true, Some(closed_at_ms))
            },
        );
        self.analysed_through = Some(through);
        self.analyst.close(finals, closed);
    }

    /// Publishes what is due and starts the write of what is due, unless one is in flight.
    fn flush(&mut self, ctx: &mut Context<Self>) {
        self.now_ms = self.clock_ms();
        self.clock.idle(self.now_ms);
        self.note_closes();
        self.metrics
            .open_windows
            .get_or_create(&self.label())
            .set(self.open.open() as i64);
        if let Some(w) = self.clock.watermark_ms() {
            self.metrics
                .watermark_seconds
                .get_or_create(&self.label())
                .set(w as f64 / 1000.0);
        }
        if self.last_publish.elapsed() >= PUBLISH_EVERY && !self.replaying() {
            self.publish_provisional();
        }
        // One write at a time: a second from the same position would race the first, and the
        // fence would throw the loser's records away. (`ctx.waiting()` too: actix's
        // `run_interval` fires every missed tick at once after a wait.)
        if self.pending.is_some() || self.stopping || ctx.waiting() {
            return;
        }
        let closing = self.close_due().is_some() || self.rollups_due.is_some();
        if closing || self.last_write.elapsed() >= WRITE_EVERY {
            // A close goes alone: its final values are what the dashboards wait for, and the
            // rewrite of every open window would make its transaction many times larger.
            let save = if !closing && self.last_save.elapsed() >= SAVE_EVERY {
                Save::Periodic
            } else {
                Save::Nothing
            };
            if self.write_pending(save) {
                if self.retry.failing() {
                    // The last write failed: no records until this one has answered.
                    self.block_on_write(ctx);
                } else {
                    ctx.spawn(self.completion());
                }
            }
        }
    }

    /// Stops taking records (and everything else) until the write in flight has answered.
    fn block_on_write(&mut self, ctx: &mut Context<Self>) {
        self.blocked_since.get_or_insert_with(Instant::now);
        ctx.wait(self.completion());
    }

    /// Resolves when the write in flight (if any, as of now) has answered, and handles its
    /// answer. May be both spawned and waited for: only the first to run takes the answer.
    fn completion(&self) -> Pin<Box<dyn ActorFuture<Self, Output = ()>>> {
        let pending = self.pending.as_ref().map(|p| (p.seq, p.done.clone()));
        let seq = pending.as_ref().map(|(seq, _)| *seq);
        Box::pin(
            actix::fut::wrap_future(async move {
                if let Some((_, mut done)) = pending {
                    // An error only when the write's task is gone, which `finish_write` sees.
                    let _ = done.wait_for(|finished| *finished).await;
                }
            })
            .map(move |(), act: &mut Self, ctx| {
                if let Some(seq) = seq {
                    act.finish_write(seq, ctx);
                }
            }),
        )
    }

    fn finish_write(&mut self, seq: u64, ctx: &mut Context<Self>) {
        // A completion of a write already handled (it was both spawned and waited for).
        let Some(pending) = self.pending.take_if(|p| p.seq == seq) else {
            return;
        };
        if let Some(since) = self.blocked_since.take() {
            self.stalled += since.elapsed();
        }
        let result = pending
            .result
            .borrow_mut()
            .take()
            .unwrap_or(Err(WriteFailure::Abandoned));
        self.after_write(result, pending.batch, ctx);
    }

    /// The open windows that changed, to the live feed and (summed per layer) to the layer
    /// stage: provisional values, from memory.
    fn publish_provisional(&mut self) {
        self.last_publish = Instant::now();
        let changed =
            self.open
                .take_changed_as(Purpose::Publish, |layer, entity, start, len, agg| {
                    series_window(layer, entity, start, len, agg, false, None)
                });
        if changed.is_empty() {
            return;
        }
        self.send_provisional_layers(changed.iter().map(|w| w.start_ms).collect());
        self.updates.publish(&[], &changed);
    }

    /// The window ends a periodic save passes over: those the watermark closes within
    /// `SAVE_EVERY` of event time (once it passes their end by the grace period). Each is
    /// passed over once at most: if the watermark stalls (no records, a long idle timeout), the
    /// next save writes it after all.
    fn closing_soon(&mut self) -> Range<i64> {
        let Some(watermark) = self.clock.watermark_ms() else {
            return 0..0;
        };
        let ahead = i64::try_from(SAVE_EVERY.as_millis()).unwrap_or(i64::MAX);
        let end = watermark
            .saturating_add(ahead)
            .saturating_sub(self.time.grace_ms);
        let from = self
            .passed_over_through
            .map_or(i64::MIN, |before| before.saturating_add(1));
        self.passed_over_through = Some(end);
        from..end.saturating_add(1)
    }

    /// Starts the write of everything due, in a task of its own, with the provisional values of
    /// the open windows that changed as `save` says; `false` when the database already has it
    /// all.
    fn write_pending(&mut self, save: Save) -> bool {
        let base = self.time.len_ms;
        // Whatever became due without a record or a tick noting it (a hand-back).
        self.analyse_due();
        let through = self.close_due();
        let closed = through
            .map(|t| self.open.close_until(t + base))
            .unwrap_or_default();
        let open = match save {
            _ if self.replaying() => Vec::new(),
            Save::Nothing => Vec::new(),
            Save::Everything => {
                self.last_save = Instant::now();
                self.open.take_changed(Purpose::Save)
            }
            Save::Periodic => {
                self.last_save = Instant::now();
                let passed_over = self.closing_soon();
                self.open
                    .take_changed_older(Purpose::Save, SAVE_EVERY, passed_over)
            }
        };
        // Records come in offset order but not in event-time order: the oldest record still
        // open may sit in any open window, not only in the oldest.
        let still_open = through.map_or(i64::MIN, |t| t + 1);
        let replay_from = self
            .first_offset
            .range(still_open..)
            .map(|(_, o)| *o)
            .min()
            .unwrap_or(self.cursor.next_offset());
        // While replaying, the records not yet read again were taken before: the stored
        // position must not move back over them, or a later owner would take the late ones
        // among them as new and count them twice.
        let mut position = self.clock.position(
            self.cursor.next_offset().max(self.replayed_until),
            replay_from,
        );
        position.origins = self.origins.state(replay_from);
        self.last_write = Instant::now();
        // Only the roll-ups whose last base window is durable are written, and by the write
        // after that close rather than with it: the open ones are the sum of rows below them,
        // and a close that also wrote the minute it ends took twice as long, which every
        // window of that close waited for (the dashboards, the alerts).
        let rollups = self.complete_rollups();
        if rollups.is_empty() {
            self.rollups_due = None;
        }
        if position == self.durable
            && closed.is_empty()
            && open.is_empty()
            && self.late.is_empty()
            && rollups.is_empty()
        {
            return false;
        }
        let rollups_closed_at_ms = self.rollups_due.flatten().unwrap_or_else(wall_ms);
        let mut rollup_deltas = Vec::new();
        for &len in &self.time.rollups_ms {
            rollup_deltas.extend(roll_up(&closed, len));
        }
        let late: Vec<LateDrop> = self
            .late
            .drain()
            .map(|((layer, entity), (dropped, last_event_ms))| LateDrop {
                layer,
                entity,
                dropped,
                last_event_ms,
            })
            .collect();
        let late_records = self.late_records.clone();
        let layer_finals = self.layer_contributions(through, &closed);
        let closed_at_ms = self.close_due_since.map_or_else(wall_ms, |(_, ms)| ms);
        if let (Some(_), Some((since, _))) = (through, self.close_due_since) {
            self.metrics
                .window_close_queued_seconds
                .observe(since.elapsed().as_secs_f64());
        }
        let (delivered, delivered_first) = if late_records.is_empty() && layer_finals.is_empty() {
            (None, None)
        } else {
            let (sender, answer) = DeliveredFirst::channel();
            (Some(sender), Some(answer))
        };
        let batch = WriteBatch {
            topic: self.topic.clone(),
            partition: self.partition,
            expected_offset: self.durable.next_offset,
            position: position.clone(),
            closed: closed.clone(),
            closed_at_ms,
            open: open.clone(),
            rollups: rollups.clone(),
            rollups_closed_at_ms,
            late: late.clone(),
            node: self.node.clone(),
            delivered_first,
        };
        let in_flight = InFlight {
            closed,
            open,
            late,
            late_records: late_records.len(),
            position,
            closed_at_ms,
            close: through,
            rollup_deltas,
            rollup_finals: rollups,
            rollups_closed_at_ms,
        };
        let writer = self.writer.clone();
        let late_sink = self.late_sink.clone();
        let layers = self.layers.clone();
        let write = async move {
            // Late records and layer contributions are on Kafka before the transaction
            // commits: once the position passes them nobody would send them again. The writer
            // writes the rows meanwhile and waits for this answer to commit.
            let deliveries = async move {
                let late = async {
                    if !late_records.is_empty() {
                        late_sink
                            .deliver(late_records)
                            .await
                            .map_err(WriteFailure::LateDelivery)?;
                    }
                    Ok::<(), WriteFailure>(())
                };
                let layer = async {
                    if !layer_finals.is_empty() {
                        layers
                            .deliver(layer_finals)
                            .await
                            .map_err(WriteFailure::LayerDelivery)?;
                    }
                    Ok::<(), WriteFailure>(())
                };
                let result = futures::future::try_join(late, layer).await.map(|_| ());
                if let Some(delivered) = delivered {
                    let _ = delivered.send(result.is_ok());
                }
                result
            };
            let store = async move {
                match writer.send(batch).await {
                    Ok(Ok(())) => Ok(()),
                    Ok(Err(e)) => Err(WriteFailure::Store(e)),
                    Err(e) => Err(WriteFailure::Writer(e)),
                }
            };
            let (delivered, stored) = futures::future::join(deliveries, store).await;
            delivered.and(stored)
        };
        self.writes_started += 1;
        let result = Rc::new(RefCell::new(None));
        let (finished, done) = watch::channel(false);
        let slot = result.clone();
        actix::spawn(async move {
            let outcome = write.await;
            *slot.borrow_mut() = Some(outcome);
            let _ = finished.send(true);
        });
        self.pending = Some(PendingWrite {
            seq: self.writes_started,
            batch: in_flight,
            result,
            done,
        });
        true
    }

    fn after_write(
        &mut self,
        result: Result<(), WriteFailure>,
        done: InFlight,
        ctx: &mut Context<Self>,
    ) {
        match result {
            Ok(()) => {
                self.retry.succeeded();
                self.durable = done.position.clone();
                self.late_records
                    .drain(..done.late_records.min(self.late_records.len()));
                // What the live feed gets, each window with the moment it became due (the
                // batch's rows carry the earliest: the close delay of the batch).
                let mut finals: Vec<SeriesWindow> = done
                    .closed
                    .iter()
                    .map(|w| {
                        let due_ms = self.due_ms(w.start_ms, done.closed_at_ms);
                        w.to_series_window(true, Some(due_ms))
                    })
                    .collect();
                if let Some(through) = done.close {
                    self.closed_through = Some(through);
                    self.first_offset = self.first_offset.split_off(&(through + 1));
                    if let Some((since, _)) = self.close_due_since.take() {
                        self.metrics
                            .window_close_delay_seconds
                            .observe(since.elapsed().as_secs_f64());
                    }
                    while self.due_at.front().is_some_and(|d| d.through <= through) {
                        self.due_at.pop_front();
                    }
                    // Windows may have become due while this write was in flight.
                    self.note_closes();
                }
                // Roll-ups made final with this batch are not held any more.
                for w in &done.rollup_finals {
                    self.rollups.remove(&rollup_key(w));
                }
                if !done.rollup_finals.is_empty() {
                    self.rollups_due = None;
                }
                for delta in done.rollup_deltas {
                    self.rollups
                        .entry(rollup_key(&delta))
                        .or_default()
                        .merge(&delta.agg);
                }
                // Only a close moves the base windows' edge, and with it what is whole.
                if done.close.is_some() && self.rollups_due.is_none() && self.has_complete_rollups()
                {
                    self.rollups_due = Some(Some(done.closed_at_ms));
                }
                self.metrics
                    .durable_offset
                    .get_or_create(&self.label())
                    .set(done.position.next_offset);
                self.committer
                    .commit(self.partition, done.position.replay_from);
                finals.extend(
                    done.rollup_finals
                        .iter()
                        .map(|w| w.to_series_window(true, Some(done.rollups_closed_at_ms))),
                );
                if !finals.is_empty() {
                    self.updates.publish(&[], &finals);
                }
                // The next close, if one became due meanwhile, and the roll-ups this one ended,
                // without waiting for a tick.
                if self.close_due_since.is_some() || self.rollups_due.is_some() {
                    self.flush(ctx);
                }
            }
            Err(WriteFailure::Store(e)) if !e.is_retryable() => {
                // Another node wrote this partition since we read its offset: our view is
                // stale. Drop it; the supervisor re-reads the offset and starts afresh.
                tracing::warn!(partition = self.partition, error = %e, "partition state is stale, resynchronising");
                let _ = self.control.send(Control::Resync {
                    partition: self.partition,
                });
                ctx.stop();
            }
            Err(failed) => {
                let wait = self.retry.failed();
                tracing::warn!(partition = self.partition, reason = %failed, retry_in = ?wait, "window write failed; taking no records until it is retried");
                for w in done.closed {
                    self.open.restore(w);
                }
                for w in &done.open {
                    self.open.mark_changed(w, Purpose::Save);
                }
                for d in done.late {
                    let entry = self
                        .late
                        .entry((d.layer, d.entity))
                        .or_insert((0, d.last_event_ms));
                    entry.0 += d.dropped;
                    entry.1 = entry.1.max(d.last_event_ms);
                }
                self.stalled += wait;
                ctx.wait(actix::fut::wrap_future(tokio::time::sleep(wait)));
            }
        }
    }
}

impl PartitionActor {
    /// Takes the partition's alerts and trackers as the last owner stored them, before the
    /// history warms them (the windows after the stored state).
    fn load_analysis(&mut self, ctx: &mut Context<Self>) {
        let read = self.writer.send(LoadAnalysis {
            partition: self.partition,
        });
        ctx.wait(read.into_actor(self).map(|result, act, _| match result {
            Ok(Ok((alerts, states))) => {
                tracing::info!(partition = act.partition, alerts = alerts.len(), series = states.len(), "analysis state taken over");
                act.analyst.restore(alerts, states);
            }
            Ok(Err(e)) => tracing::warn!(partition = act.partition, error = %e, "no stored analysis state; series learn afresh"),
            Err(e) => tracing::warn!(partition = act.partition, error = %e, "no stored analysis state; series learn afresh"),
        }));
    }

    /// Whether a roll-up window is whole: its last base window is final in the database.
    fn is_complete(&self, len_ms: i64, start_ms: i64) -> bool {
        self.closed_through
            .is_some_and(|through| start_ms + len_ms <= through + self.time.len_ms)
    }

    fn has_complete_rollups(&self) -> bool {
        self.rollups
            .keys()
            .any(|&(len, start, ..)| self.is_complete(len, start))
    }

    /// The roll-ups to write final: whole, and held since no write has made them durable.
    fn complete_rollups(&self) -> Vec<Window> {
        if self.rollups_due.is_none() {
            return Vec::new();
        }
        self.rollups
            .iter()
            .filter(|((len, start, ..), _)| self.is_complete(*len, *start))
            .map(|((len_ms, start_ms, layer, entity), agg)| Window {
                layer: *layer,
                entity: entity.clone(),
                start_ms: *start_ms,
                len_ms: *len_ms,
                agg: agg.clone(),
            })
            .collect()
    }

    /// What the windows closing now contribute to the layer stage: the base windows summed per
    /// layer, final, and the roll-ups with what the base windows add to them (absolute sums,
    /// final for those that close), with how far this partition has closed each length. One
    /// message per layer: the commit waits for their delivery, and one round of requests to
    /// the broker costs less than two.
    fn layer_contributions(&self, through: Option<i64>, closed: &[Window]) -> Vec<LayerPartial> {
        let Some(through) = through else {
            return Vec::new();
        };
        let mut rollups: HashMap<(OsiLayer, i64, i64), WindowAgg> = HashMap::new();
        // Those already whole were sent final with the close that ended them.
        for (&(len, start, layer, _), agg) in self
            .rollups
            .iter()
            .filter(|((len, start, ..), _)| !self.is_complete(*len, *start))
        {
            rollups
                .entry((layer, len, start))
                .or_default()
                .merge_sums(agg);
        }
        for w in closed {
            for &len in &self.time.rollups_ms {
                rollups
                    .entry((w.layer, len, window_start(w.start_ms, len)))
                    .or_default()
                    .merge_sums(&w.agg);
            }
        }
        let closes = self.closes_of(Some(through));
        let mut windows: Vec<Window> = rollups
            .into_iter()
            .map(|((layer, len_ms, start_ms), agg)| Window {
                layer,
                entity: String::new(),
                start_ms,
                len_ms,
                agg,
            })
            .collect();
        windows.extend_from_slice(closed);
        let is_final = |len: i64, start: i64| closes.iter().any(|&(l, t)| l == len && start <= t);
        partials_of(self.partition, &closes, &windows, is_final)
    }

    /// The open base windows that changed, summed per layer over every series of the
    /// partition (absolute values, as the stage keeps the last one per source).
    fn send_provisional_layers(&self, starts: std::collections::BTreeSet<i64>) {
        let mut sums: HashMap<(OsiLayer, i64), WindowAgg> = HashMap::new();
        for &start in &starts {
            for (layer, agg) in self.open.series_in(start) {
                sums.entry((layer, start)).or_default().merge_sums(agg);
            }
        }
        if sums.is_empty() {
            return;
        }
        let windows: Vec<Window> = sums
            .into_iter()
            .map(|((layer, start_ms), agg)| Window {
                layer,
                entity: String::new(),
                start_ms,
                len_ms: self.time.len_ms,
                agg,
            })
            .collect();
        self.layers
            .send(partials_of(self.partition, &[], &windows, |_, _| false));
    }

    /// Rebuilds the partition's open roll-ups (what its closed base windows have added to them,
    /// by an earlier owner too) before taking records: closes write them whole, and the layer
    /// stage is sent their sums per layer, absolute values.
    fn load_rollups(&mut self, ctx: &mut Context<Self>) {
        let levels = std::iter::once(self.time.len_ms)
            .chain(self.time.rollups_ms.iter().copied())
            .collect();
        let load = LoadPendingRollups {
            partition: self.partition,
            levels,
        };
        let read = self.writer.send(load);
        ctx.wait(read.into_actor(self).map(|result, act, ctx| {
            let failure = match result {
                Ok(Ok(windows)) => {
                    act.rollups = windows.into_iter().map(|w| (rollup_key(&w), w.agg)).collect();
                    // Whole ones the last owner made final below them but did not write.
                    if act.has_complete_rollups() {
                        act.rollups_due = Some(None);
                    }
                    return;
                }
                Ok(Err(e)) => e.to_string(),
                Err(e) => e.to_string(),
            };
            // Without them the layer stage would get wrong roll-ups: start again later.
            tracing::warn!(partition = act.partition, error = %failure, "cannot read the open roll-ups; resynchronising");
            let _ = act.control.send(Control::Resync { partition: act.partition });
            ctx.stop();
        }));
    }

    /// Takes the open windows an earlier process saved (embedded mode, on a broker that starts
    /// empty) so that new records add to them instead of replacing them.
    fn adopt_open_windows(&mut self, ctx: &mut Context<Self>) {
        let read = self.writer.send(LoadOpenWindows {
            partition: self.partition,
            len_ms: self.time.len_ms,
        });
        ctx.wait(read.into_actor(self).map(|result, act, ctx| {
            let failure = match result {
                Ok(Ok(windows)) => {
                    tracing::info!(partition = act.partition, windows = windows.len(), "open windows of the last run taken over");
                    for w in windows {
                        // Published again: the layer stage starts afresh with the broker too,
                        // and needs every partition's share of the windows.
                        act.open.restore(w.clone());
                        act.open.mark_changed(&w, Purpose::Publish);
                    }
                    return;
                }
                Ok(Err(e)) => e.to_string(),
                Err(e) => e.to_string(),
            };
            tracing::warn!(partition = act.partition, error = %failure, "cannot read the saved open windows; resynchronising");
            let _ = act.control.send(Control::Resync { partition: act.partition });
            ctx.stop();
        }));
    }

    /// Warms the detectors with the partition's recent final windows before taking records,
    /// so a takeover does not restart every series' learning.
    fn warm_detectors(&mut self, ctx: &mut Context<Self>) {
        let Some(through) = self.clock.closed_through(self.time.len_ms) else {
            return;
        };
        let load = LoadHistory {
            partition: self.partition,
            len_ms: self.time.len_ms,
            since_ms: through - WARMUP_WINDOWS * self.time.len_ms,
            limit: WARMUP_ROWS,
        };
        let read = self.writer.send(load);
        ctx.wait(read.into_actor(self).map(|result, act, _| match result {
            Ok(Ok(history)) => {
                tracing::info!(partition = act.partition, windows = history.len(), "detectors warming");
                act.analyst.warm(history);
            }
            Ok(Err(e)) => tracing::warn!(partition = act.partition, error = %e, "no detector history; series learn afresh"),
            Err(e) => tracing::warn!(partition = act.partition, error = %e, "no detector history; series learn afresh"),
        }));
    }
}

/// Which provisional values of open windows a write saves.
#[derive(Debug, Clone, Copy)]
enum Save {
    Nothing,
    /// Those that changed, of windows opened at least `SAVE_EVERY` ago and not closing
    /// within `SAVE_EVERY` of event time.
    Periodic,
    /// Every one that changed: the partition is handed back.
    Everything,
}

/// Why a write did not become durable.
#[derive(Debug, thiserror::Error)]
enum WriteFailure {
    #[error(transparent)]
    Store(StoreError),
    #[error("late records not delivered: {0}")]
    LateDelivery(rdkafka::error::KafkaError),
    #[error("layer contributions not delivered: {0}")]
    LayerDelivery(rdkafka::error::KafkaError),
    #[error("the writer is gone: {0}")]
    Writer(actix::MailboxError),
    #[error("the write's task ended without an answer")]
    Abandoned,
}

impl Actor for PartitionActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(MAILBOX_CAPACITY);
        self.load_rollups(ctx);
        if self.adopt_open {
            self.adopt_open_windows(ctx);
        }
        self.load_analysis(ctx);
        self.warm_detectors(ctx);
        ctx.run_interval(TICK_EVERY, |act, ctx| act.flush(ctx));
        tracing::info!(partition = self.partition, offset = self.cursor.next_offset(), watermark = ?self.clock.watermark_ms(), "partition actor started");
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        self.metrics.forget_partition(self.partition);
        tracing::info!(
            partition = self.partition,
            offset = self.durable.next_offset,
            "partition actor stopped"
        );
    }
}

impl Handler<Records> for PartitionActor {
    type Result = ();

    fn handle(&mut self, Records(records): Records, ctx: &mut Context<Self>) {
        for record in records {
            if !self.handle_record(record, ctx) {
                // The rest is replayed from the stored position by the actor after this one.
                break;
            }
        }
    }
}

impl PartitionActor {
    /// Takes one record, and writes or waits as its windows ask; `false` once the actor is
    /// stopping for a resynchronisation.
    fn handle_record(&mut self, record: Delivered, ctx: &mut Context<Self>) -> bool {
        match self.take(record) {
            Taken::Yes => {
                if self.pending.is_some() {
                    if self.open.bins() > self.max_bins && !ctx.waiting() {
                        self.block_on_write(ctx);
                    }
                } else if self.close_due_since.is_some() {
                    // A window that just closed is written at once: its close delay is what
                    // the dashboard's final values wait for.
                    self.flush(ctx);
                }
            }
            Taken::Duplicate => {}
            Taken::Gap { got } => {
                tracing::warn!(
                    partition = self.partition,
                    expected = self.cursor.next_offset(),
                    got,
                    "consumer is past our position, resynchronising"
                );
                // The open windows are dropped with the actor: the resync replays them from the
                // position in the database. A write in flight is let finish first, so that the
                // final values it makes durable are also published.
                let _ = self.control.send(Control::Resync {
                    partition: self.partition,
                });
                self.stopping = true;
                ctx.wait(
                    self.completion()
                        .map(|(), _, ctx: &mut Context<Self>| ctx.stop()),
                );
                return false;
            }
        }
        true
    }
}

impl Handler<FlushAndStop> for PartitionActor {
    type Result = AtomicResponse<Self, ()>;

    /// Answers only after the last write has answered, so the supervisor knows the partition's
    /// state is durable (or left for the next owner to replay) before it moves on.
    fn handle(&mut self, _: FlushAndStop, _: &mut Context<Self>) -> Self::Result {
        self.stopping = true;
        // The write in flight first: the last one goes from the position it leaves.
        let last = self.completion().then(|(), act: &mut Self, _| {
            // Every open window: the next owner may have nothing else of them (embedded mode).
            act.write_pending(Save::Everything);
            act.completion()
        });
        AtomicResponse::new(Box::pin(
            last.map(|(), _, ctx: &mut Context<Self>| ctx.stop()),
        ))
    }
}
