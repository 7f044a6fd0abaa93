//! A partition's event-time clock: which records are on time, and which windows have closed.
//! Pure state; the caller passes the wall clock in.

use std::collections::BTreeMap;

use crate::config::{EventTime, SourceTime};
use crate::store::offsets::Position;

use super::window::window_start;

/// The watermark of one partition: per source, its newest event time minus its allowed
/// out-of-orderness; the watermark is the lowest of these over the sources not idle, and
/// never moves back. A window `[s, s + len)` is closed once the watermark reaches
/// `s + len + grace`; a record for a closed window is late.
///
/// Time since a source's last record is read on the caller's clock (`now_ms`), which must
/// not advance while the partition takes no records for reasons of its own (a database
/// outage is not a quiet link).
#[derive(Debug, Clone)]
pub struct Watermark {
    time: EventTime,
    max_event_ms: Option<i64>,
    watermark_ms: Option<i64>,
    /// The sources seen, by name ("" for records without one). A handful per partition.
    sources: Vec<SourceClock>,
}

#[derive(Debug, Clone)]
struct SourceClock {
    name: String,
    time: SourceTime,
    /// `None` for a configured source not seen yet: it holds the watermark back until it
    /// sends or its idle timeout passes, so that its first batch is not late.
    max_event_ms: Option<i64>,
    /// When its last record came, late or not, on the caller's clock.
    seen_at_ms: i64,
}

impl SourceClock {
    fn edge(&self) -> Option<i64> {
        Some(self.max_event_ms?.saturating_sub(self.time.out_of_order_ms))
    }
}

impl Watermark {
    /// Resumes where the partition's stored position left it, so that a node taking over a
    /// partition calls the replayed records late or on time exactly as the old owner did.
    /// Every stored or configured source counts as just seen: it holds the watermark until its
    /// idle timeout.
    pub fn resume(time: EventTime, at: &Position, now_ms: i64) -> Self {
        let mut sources: Vec<SourceClock> = at
            .sources
            .iter()
            .map(|(name, &max)| SourceClock {
                name: name.clone(),
                time: time.source(Some(name)),
                max_event_ms: Some(max),
                seen_at_ms: now_ms,
            })
            .collect();
        for (name, &source_time) in &time.sources {
            if !sources.iter().any(|c| &c.name == name) {
                sources.push(SourceClock {
                    name: name.clone(),
                    time: source_time,
                    max_event_ms: None,
                    seen_at_ms: now_ms,
                });
            }
        }
        Watermark {
            time,
            max_event_ms: at.max_event_ms,
            watermark_ms: at.watermark_ms,
            sources,
        }
    }

    pub fn watermark_ms(&self) -> Option<i64> {
        self.watermark_ms
    }

    pub fn max_event_ms(&self) -> Option<i64> {
        self.max_event_ms
    }

    /// Takes a record's event time: `true` when its window is still open (the record counts),
    /// `false` when it is late (the window closed before it came). Only on-time records move
    /// the clock: a late record says nothing about where the partition is now. Yet any record
    /// of a known source shows that source is not idle: a link that sends only late records
    /// (a batch replayed from hours ago) is still talking.
    pub fn admit(&mut self, ts_ms: i64, source: Option<&str>, now_ms: i64) -> bool {
        let late = self.is_closed(window_start(ts_ms, self.time.len_ms), self.time.len_ms);
        // Records without a source are nearly all there is in most deployments: no string
        // comparison for them.
        let is_ours = |c: &&mut SourceClock| match source {
            None => c.name.is_empty(),
            Some(name) => c.name == name,
        };
        let moved = match self.sources.iter_mut().find(is_ours) {
            Some(clock) => {
                clock.seen_at_ms = now_ms;
                if late {
                    return false;
                }
                let moved = clock.max_event_ms.is_none_or(|m| ts_ms > m);
                if moved {
                    clock.max_event_ms = Some(ts_ms);
                }
                moved
            }
            // A source first heard through a late record has no clock to give: it joins with
            // its first on-time one.
            None if late => return false,
            None => {
                let time = self.time.source(source);
                let name = source.unwrap_or("").to_owned();
                self.sources.push(SourceClock {
                    name,
                    time,
                    max_event_ms: Some(ts_ms),
                    seen_at_ms: now_ms,
                });
                true
            }
        };
        self.max_event_ms = Some(self.max_event_ms.map_or(ts_ms, |m| m.max(ts_ms)));
        // The watermark only rises, and only a source's newest event time can raise it here
        // (the passing of time is `idle`'s): most records are behind their source's newest.
        if moved {
            self.advance(now_ms);
        }
        true
    }

    /// Called on the caller's clock between records. A source quiet past its idle timeout no
    /// longer holds the watermark back; when every source is, the watermark moves on as if
    /// event time kept passing with the wall clock, so the last windows of a quiet partition
    /// close (Flink's idleness, Arroyo's idle timeout).
    pub fn idle(&mut self, now_ms: i64) {
        self.advance(now_ms);
    }

    fn advance(&mut self, now_ms: i64) {
        let mut active = self
            .sources
            .iter()
            .filter(|c| now_ms.saturating_sub(c.seen_at_ms) < c.time.idle_timeout_ms)
            .peekable();
        if active.peek().is_some() {
            // A source not seen yet (`None`) is the lowest of all: nothing moves.
            if let Some(lowest) = active.map(SourceClock::edge).min().flatten() {
                self.raise(lowest);
            }
            return;
        }
        let heard = self.sources.iter().filter(|c| c.max_event_ms.is_some());
        let (Some(highest), Some(last_seen)) = (
            heard.clone().filter_map(SourceClock::edge).max(),
            heard.map(|c| c.seen_at_ms).max(),
        ) else {
            return;
        };
        self.raise(highest.saturating_add(now_ms.saturating_sub(last_seen)));
    }

    fn raise(&mut self, to: i64) {
        self.watermark_ms = Some(self.watermark_ms.map_or(to, |w| w.max(to)));
    }

    fn is_closed(&self, start_ms: i64, len_ms: i64) -> bool {
        self.watermark_ms.is_some_and(|w| {
            start_ms
                .saturating_add(len_ms)
                .saturating_add(self.time.grace_ms)
                <= w
        })
    }

    /// The start of the newest closed window of length `len_ms`, if any window has closed.
    pub fn closed_through(&self, len_ms: i64) -> Option<i64> {
        let w = self.watermark_ms?;
        // The newest start `s` with `s + len + grace <= w`, aligned to the epoch.
        Some(window_start(
            w.saturating_sub(self.time.grace_ms).saturating_sub(len_ms),
            len_ms,
        ))
    }

    /// The position to store with an offset.
    pub fn position(&self, next_offset: i64, replay_from: i64) -> Position {
        let sources: BTreeMap<String, i64> = self
            .sources
            .iter()
            .filter_map(|c| Some((c.name.clone(), c.max_event_ms?)))
            .collect();
        Position {
            next_offset,
            replay_from,
            max_event_ms: self.max_event_ms,
            watermark_ms: self.watermark_ms,
            sources,
            origins: Default::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn time() -> EventTime {
        EventTime {
            len_ms: 10_000,
            rollups_ms: vec![60_000],
            out_of_order_ms: 5_000,
            grace_ms: 2_000,
            idle_timeout_ms: 30_000,
            sources: BTreeMap::new(),
        }
    }

    fn clock() -> Watermark {
        Watermark::resume(time(), &Position::default(), 0)
    }

    /// Flow logs come in batches minutes late; counters are read every few seconds.
    fn two_sources() -> Watermark {
        let mut time = time();
        time.sources.insert(
            "vpc-flow".into(),
            SourceTime {
                out_of_order_ms: 600_000,
                idle_timeout_ms: 900_000,
            },
        );
        Watermark::resume(time, &Position::default(), 0)
    }

    #[test]
    fn out_of_order_within_the_bound_and_late_within_grace_both_count() {
        let mut c = clock();
        assert!(c.admit(100_000, None, 0));
        assert_eq!(c.watermark_ms(), Some(95_000));
        assert!(
            c.admit(91_000, None, 0),
            "behind the newest record by less than the out-of-orderness"
        );
        assert!(c.admit(112_000, None, 0));
        // Watermark 107 s: [90 s, 100 s) ends at 100 s and takes records until 102 s.
        assert_eq!(c.watermark_ms(), Some(107_000));
        assert!(
            !c.admit(99_999, None, 0),
            "the window of 99.999 s closed at 102 s"
        );
        assert!(
            c.admit(100_000, None, 0),
            "[100 s, 110 s) is open until 112 s"
        );
        assert_eq!(c.closed_through(10_000), Some(90_000));
        assert_eq!(
            c.closed_through(60_000),
            Some(0),
            "[60 s, 120 s) is still open"
        );
    }

    #[test]
    fn late_records_do_not_move_the_clock() {
        let mut c = clock();
        assert!(c.admit(200_000, None, 0));
        let before = c.watermark_ms();
        assert!(!c.admit(10_000, None, 0));
        assert_eq!(
            (c.watermark_ms(), c.max_event_ms()),
            (before, Some(200_000))
        );
    }

    #[test]
    fn an_idle_partition_advances_with_the_wall_clock_after_the_timeout() {
        let mut c = clock();
        assert!(c.admit(100_000, None, 1_000));
        c.idle(30_999);
        assert_eq!(c.watermark_ms(), Some(95_000), "not idle yet");
        c.idle(31_000);
        assert_eq!(c.watermark_ms(), Some(125_000));
        assert_eq!(
            c.closed_through(10_000),
            Some(110_000),
            "the last record's window [100 s, 110 s) is final"
        );
        c.idle(11_000);
        assert_eq!(c.watermark_ms(), Some(125_000), "never moves back");
    }

    #[test]
    fn a_source_sending_only_late_records_is_not_idle() {
        let mut c = clock();
        assert!(c.admit(100_000, None, 0));
        assert!(!c.admit(10_000, None, 29_000), "late");
        c.idle(31_000);
        assert_eq!(c.watermark_ms(), Some(95_000), "heard 2 s ago: not idle");
        c.idle(59_000);
        assert_eq!(
            c.watermark_ms(),
            Some(125_000),
            "idle since the late record, 30 s ago"
        );
    }

    #[test]
    fn nothing_is_closed_before_the_first_record_and_the_clock_survives_a_restart() {
        let mut c = clock();
        assert_eq!(c.closed_through(10_000), None);
        c.idle(1_000_000);
        assert_eq!(c.watermark_ms(), None, "no event time to advance from");
        assert!(c.admit(50_000, None, 0));
        let stored = c.position(42, 40);
        let resumed = Watermark::resume(c.time.clone(), &stored, 0);
        assert_eq!(
            (resumed.watermark_ms(), resumed.max_event_ms()),
            (Some(45_000), Some(50_000))
        );
    }

    #[test]
    fn windows_before_the_epoch_close_too() {
        let mut c = clock();
        assert!(c.admit(-50_000, None, 0));
        assert_eq!(c.closed_through(10_000), Some(-70_000));
    }

    #[test]
    fn a_source_minutes_behind_holds_the_watermark_for_its_own_records() {
        let mut c = two_sources();
        // Counters are at 1,000 s; the flow logs' first batch, read later, reached 700 s. A
        // configured source holds the watermark from the start, until it sends.
        assert!(c.admit(1_000_000, None, 0));
        assert_eq!(c.watermark_ms(), None, "the flow logs have not sent yet");
        assert!(c.admit(700_000, Some("vpc-flow"), 10_000));
        assert_eq!(c.watermark_ms(), Some(100_000));
        let mut c = two_sources();
        assert!(c.admit(700_000, Some("vpc-flow"), 0));
        assert!(c.admit(1_000_000, None, 0));
        assert_eq!(
            c.watermark_ms(),
            Some(100_000),
            "700 s less the flow logs' 10 minutes"
        );
        assert!(
            c.admit(650_000, Some("vpc-flow"), 0),
            "a flow record 50 s behind its batch is on time"
        );
        assert!(c.admit(990_000, None, 0));
        // One source alone: the counters' 5 s would have made the flow record late.
        let mut alone = clock();
        assert!(alone.admit(1_000_000, None, 0));
        assert!(!alone.admit(650_000, Some("vpc-flow"), 0));
        // A source nobody configured is first seen when it sends: late if the watermark passed.
        let mut c = two_sources();
        assert!(c.admit(700_000, Some("vpc-flow"), 0));
        assert!(c.admit(1_000_000, None, 0));
        assert!(
            !c.admit(50_000, Some("syslog"), 0),
            "the watermark is at 100 s"
        );
    }

    #[test]
    fn a_configured_source_that_never_sends_holds_nothing_after_its_timeout() {
        let mut c = two_sources();
        assert!(c.admit(1_000_000, None, 0));
        c.idle(899_999);
        assert_eq!(c.watermark_ms(), None);
        // The counters are quiet by then too: the whole partition moves with the wall clock.
        c.idle(900_000);
        assert_eq!(c.watermark_ms(), Some(995_000 + 900_000));
    }

    #[test]
    fn a_quiet_source_stops_holding_the_watermark_after_its_own_timeout() {
        let mut c = two_sources();
        assert!(c.admit(700_000, Some("vpc-flow"), 0));
        assert!(c.admit(1_000_000, None, 0));
        assert!(c.admit(1_100_000, None, 899_999));
        assert_eq!(
            c.watermark_ms(),
            Some(100_000),
            "the flow logs may still send"
        );
        c.idle(900_000);
        assert_eq!(
            c.watermark_ms(),
            Some(1_095_000),
            "15 minutes without a flow record"
        );
    }

    #[test]
    fn a_takeover_keeps_every_sources_clock() {
        let mut c = two_sources();
        assert!(c.admit(700_000, Some("vpc-flow"), 0));
        assert!(c.admit(1_000_000, None, 0));
        let stored = c.position(10, 0);
        assert_eq!(stored.sources.get("vpc-flow"), Some(&700_000));
        let mut resumed = Watermark::resume(c.time.clone(), &stored, 5_000_000);
        assert!(resumed.admit(1_200_000, None, 5_000_001));
        assert_eq!(
            resumed.watermark_ms(),
            Some(100_000),
            "the flow logs hold it as they did before the takeover"
        );
        assert!(resumed.admit(690_000, Some("vpc-flow"), 5_000_002));
    }
}
