//! Window aggregation in memory, one thread: decoded events into `TumblingWindows`, the way a
//! partition actor takes them (without the Kafka record and the JSON). The bar: at least
//! 5 million events per second per core.
//!
//! ```text
//! cargo bench -p layercast --bench window_agg -- [--events 10000000] [--entities 5000]
//!     [--per-second 20000] [--drain-every 20000] [--runs 3]
//! ```
//!
//! The events are generated first (untimed): `--entities` series spread over L2, L3, L4 and L7
//! (a fifth of the entities take half the records), event time advancing by `--per-second`
//! records per second of event time, 10% of records up to 3 s behind the newest, 0.05% two
//! minutes behind (late for the default watermark), 20% with a latency (L7 ones always).
//!
//! Two timed loops, best of `--runs` each:
//! - `insert`: `TumblingWindows::insert` of every event;
//! - `admit_insert`: `Watermark::admit` (default settings: 60 s out-of-orderness, 30 s grace)
//!   and, for the records on time, `insert_at`, as the partition actor does per record.
//!
//! Both do what the actor does at each write (every `--drain-every` records, a second of event
//! time by default): once a second of wall time `take_changed` (the provisional values of open
//! windows for the live feed, and every fifth second for the database), and `close_until`
//! the watermark (60 s out-of-orderness and 30 s grace behind the newest event, the clock's
//! own in `admit_insert`) and `roll_up` of the closed windows to 60 s and 3600 s (the time of
//! this is also reported on its own). Output is `key=value` lines on stdout.

use std::time::{Duration, Instant};

use anyhow::Result;
use bench_args::arg;
use layercast::config::EventTime;
use layercast::store::offsets::Position;
use layercast::stream::watermark::Watermark;
use layercast::stream::window::{roll_up, series_window, Purpose, TumblingWindows, Window};
use layercast_shared::Event;

#[path = "bench_args/mod.rs"]
mod bench_args;
#[path = "stream_events/mod.rs"]
mod stream_events;
use stream_events::EventGen;

const WINDOW_MS: i64 = 10_000;
const ROLLUPS_MS: [i64; 2] = [60_000, 3_600_000];
const START_MS: i64 = 1_795_600_800_000;
const BAR_EVENTS_PER_SECOND: f64 = 5_000_000.0;

fn generate(events: u64, entities: u64, per_second: u64) -> Vec<Event> {
    let mut source = EventGen::new(entities, START_MS, per_second, 3_000, 120_000);
    (0..events).map(|_| source.next_event()).collect()
}

#[derive(Default, Clone, Copy)]
struct RunStats {
    total: Duration,
    /// The writes' work: provisional copies, closes and roll-ups.
    drain: Duration,
    /// Of `drain`, the roll-ups (made and dropped).
    rollup: Duration,
    /// Base windows closed, roll-up windows made of them, provisional copies handed out.
    windows: u64,
    rollups: u64,
    provisional: u64,
    late: u64,
}

/// When the actor last handed out provisional values: it does so by the wall clock (every
/// second for the live feed, every fifth for the database), not by event time.
struct Provisional {
    last_publish: Instant,
    publishes: u64,
}

/// What the actor does at a write: copies of the windows that changed (when a second of wall
/// time has passed), the windows the watermark closed, and what they add to the roll-ups.
fn write_tick(
    open: &mut TumblingWindows,
    closed_through: Option<i64>,
    provisional: &mut Provisional,
    stats: &mut RunStats,
) {
    let started = Instant::now();
    let (mut published, mut saved) = (Vec::new(), Vec::new());
    if provisional.last_publish.elapsed() >= Duration::from_secs(1) {
        provisional.last_publish = Instant::now();
        provisional.publishes += 1;
        published = open.take_changed_as(Purpose::Publish, |layer, entity, start, len, agg| {
            series_window(layer, entity, start, len, agg, false, None)
        });
        if provisional.publishes.is_multiple_of(5) {
            saved = open.take_changed(Purpose::Save);
        }
    }
    let closed: Vec<Window> = closed_through
        .map(|t| open.close_until(t + WINDOW_MS))
        .unwrap_or_default();
    let mut n = 0;
    let rolling = Instant::now();
    for len in ROLLUPS_MS {
        n += roll_up(&closed, len).len() as u64;
    }
    stats.rollup += rolling.elapsed();
    stats.windows += closed.len() as u64;
    stats.provisional += (published.len() + saved.len()) as u64;
    stats.rollups += n;
    std::hint::black_box((&published, &saved, &closed));
    stats.drain += started.elapsed();
}

const OUT_OF_ORDER_MS: i64 = 60_000;
const GRACE_MS: i64 = 30_000;

fn run_insert(events: &[Event], drain_every: usize) -> RunStats {
    let mut stats = RunStats::default();
    let mut open = TumblingWindows::new(WINDOW_MS);
    let mut newest = i64::MIN;
    let started = Instant::now();
    let mut provisional = Provisional {
        last_publish: Instant::now(),
        publishes: 0,
    };
    for chunk in events.chunks(drain_every) {
        for e in chunk {
            open.insert(e);
        }
        newest = chunk
            .iter()
            .map(|e| e.ts.timestamp_millis())
            .fold(newest, i64::max);
        let through =
            (newest - OUT_OF_ORDER_MS - GRACE_MS - WINDOW_MS).div_euclid(WINDOW_MS) * WINDOW_MS;
        write_tick(&mut open, Some(through), &mut provisional, &mut stats);
    }
    stats.total = started.elapsed();
    stats
}

fn run_admit_insert(events: &[Event], drain_every: usize) -> RunStats {
    let time = EventTime {
        len_ms: WINDOW_MS,
        rollups_ms: ROLLUPS_MS.to_vec(),
        out_of_order_ms: OUT_OF_ORDER_MS,
        grace_ms: GRACE_MS,
        idle_timeout_ms: 60_000,
        sources: Default::default(),
    };
    let mut clock = Watermark::resume(time, &Position::default(), 0);
    let mut stats = RunStats::default();
    let mut open = TumblingWindows::new(WINDOW_MS);
    let started = Instant::now();
    let mut provisional = Provisional {
        last_publish: Instant::now(),
        publishes: 0,
    };
    for chunk in events.chunks(drain_every) {
        // As a partition actor does: the idleness clock read once per tick, not per record.
        let now_ms = started.elapsed().as_millis() as i64;
        clock.idle(now_ms);
        for e in chunk {
            let ts_ms = e.ts.timestamp_millis();
            if clock.admit(ts_ms, None, now_ms) {
                open.insert_at(ts_ms, e);
            } else {
                stats.late += 1;
            }
        }
        write_tick(
            &mut open,
            clock.closed_through(WINDOW_MS),
            &mut provisional,
            &mut stats,
        );
    }
    stats.total = started.elapsed();
    stats
}

fn best(runs: u64, mut f: impl FnMut() -> RunStats) -> RunStats {
    (0..runs.max(1))
        .map(|_| f())
        .min_by_key(|s| s.total)
        .expect("one run")
}

fn report(name: &str, n: u64, s: &RunStats) -> f64 {
    let rate = n as f64 / s.total.as_secs_f64();
    let inserting = s.total.saturating_sub(s.drain);
    println!("{name}_seconds={:.4}", s.total.as_secs_f64());
    println!("{name}_events_per_second={rate:.0}");
    println!(
        "{name}_ns_per_event={:.1}",
        s.total.as_nanos() as f64 / n as f64
    );
    println!(
        "{name}_insert_ns_per_event={:.1}",
        inserting.as_nanos() as f64 / n as f64
    );
    println!(
        "{name}_write_work_ns_per_event={:.1}",
        s.drain.as_nanos() as f64 / n as f64
    );
    println!(
        "{name}_rollup_ns_per_event={:.1}",
        s.rollup.as_nanos() as f64 / n as f64
    );
    println!(
        "{name}_write_work_share={:.3}",
        s.drain.as_secs_f64() / s.total.as_secs_f64()
    );
    println!("{name}_closed_windows={}", s.windows);
    println!("{name}_provisional_windows={}", s.provisional);
    println!("{name}_rollup_windows={}", s.rollups);
    println!("{name}_late={}", s.late);
    rate
}

fn main() -> Result<()> {
    let n = arg("--events", 10_000_000)?;
    let entities = arg("--entities", 5_000)?.max(1);
    let per_second = arg("--per-second", 20_000)?.max(1);
    let drain_every = arg("--drain-every", 20_000)?.max(1) as usize;
    let runs = arg("--runs", 3)?;
    let only = std::env::args().skip_while(|a| a != "--only").nth(1);

    let started = Instant::now();
    let events = generate(n, entities, per_second);
    eprintln!(
        "generated {n} events in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    println!("events={n}");
    println!("entities={entities}");
    println!("event_time_records_per_second={per_second}");
    println!("drain_every={drain_every}");
    println!("runs={runs}");

    let mut failed = false;
    if only.as_deref().is_none_or(|o| o == "insert") {
        let s = best(runs, || run_insert(&events, drain_every));
        failed |= report("insert", n, &s) < BAR_EVENTS_PER_SECOND;
    }
    if only.as_deref().is_none_or(|o| o == "admit_insert") {
        let s = best(runs, || run_admit_insert(&events, drain_every));
        failed |= report("admit_insert", n, &s) < BAR_EVENTS_PER_SECOND;
    }
    println!("bar_events_per_second={BAR_EVENTS_PER_SECOND:.0}");
    println!("bar_met={}", !failed);
    Ok(())
}
