//! A partition's event-time clock: which records are on time, and which windows have closed.
//! Pure state; the caller passes the wall clock in.

use crate::config::EventTime;
use crate::store::offsets::Position;

use super::window::window_start;

/// The watermark of one partition: the newest event time seen minus the allowed
/// out-of-orderness, never moving back. A window `[s, s + len)` is closed once the watermark
/// reaches `s + len + grace`; a record for a closed window is late.
#[derive(Debug, Clone)]
pub struct Watermark {
    time: EventTime,
    max_event_ms: Option<i64>,
    watermark_ms: Option<i64>,
}

impl Watermark {
    /// Resumes where the partition's stored position left it, so that a node taking over a
    /// partition calls the replayed records late or on time exactly as the old owner did.
    pub fn resume(time: EventTime, at: Position) -> Self {
        Watermark { time, max_event_ms: at.max_event_ms, watermark_ms: at.watermark_ms }
    }

    pub fn watermark_ms(&self) -> Option<i64> {
        self.watermark_ms
    }

    pub fn max_event_ms(&self) -> Option<i64> {
        self.max_event_ms
    }

    /// Takes a record's event time: `true` when its window is still open (the record counts),
    /// `false` when it is late (the window closed before it came). Only on-time records move
    /// the clock: a late record says nothing about where the partition is now.
    pub fn admit(&mut self, ts_ms: i64) -> bool {
        if self.is_closed(window_start(ts_ms, self.time.len_ms), self.time.len_ms) {
            return false;
        }
        let max = self.max_event_ms.map_or(ts_ms, |m| m.max(ts_ms));
        self.max_event_ms = Some(max);
        self.raise(max.saturating_sub(self.time.out_of_order_ms));
        true
    }

    /// Called with the wall time since the partition's last record. Past the idle timeout the
    /// watermark moves on as if event time kept passing with the wall clock, so the last
    /// windows of a quiet partition close (Flink's idleness, Arroyo's idle timeout).
    pub fn idle(&mut self, idle_for_ms: i64) {
        if idle_for_ms < self.time.idle_timeout_ms {
            return;
        }
        if let Some(max) = self.max_event_ms {
            self.raise(max.saturating_sub(self.time.out_of_order_ms).saturating_add(idle_for_ms));
        }
    }

    fn raise(&mut self, to: i64) {
        self.watermark_ms = Some(self.watermark_ms.map_or(to, |w| w.max(to)));
    }

    fn is_closed(&self, start_ms: i64, len_ms: i64) -> bool {
        self.watermark_ms.is_some_and(|w| start_ms.saturating_add(len_ms).saturating_add(self.time.grace_ms) <= w)
    }

    /// The start of the newest closed window of length `len_ms`, if any window has closed.
    pub fn closed_through(&self, len_ms: i64) -> Option<i64> {
        let w = self.watermark_ms?;
        // The newest start `s` with `s + len + grace <= w`, aligned to the epoch.
        Some(window_start(w.saturating_sub(self.time.grace_ms).saturating_sub(len_ms), len_ms))
    }

    /// The position to store with an offset.
    pub fn position(&self, next_offset: i64, replay_from: i64) -> Position {
        Position { next_offset, replay_from, max_event_ms: self.max_event_ms, watermark_ms: self.watermark_ms }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clock() -> Watermark {
        let time = EventTime {
            len_ms: 10_000,
            rollups_ms: vec![60_000],
            out_of_order_ms: 5_000,
            grace_ms: 2_000,
            idle_timeout_ms: 30_000,
        };
        Watermark::resume(time, Position::default())
    }

    #[test]
    fn out_of_order_within_the_bound_and_late_within_grace_both_count() {
        let mut c = clock();
        assert!(c.admit(100_000));
        assert_eq!(c.watermark_ms(), Some(95_000));
        assert!(c.admit(91_000), "behind the newest record by less than the out-of-orderness");
        assert!(c.admit(112_000));
        // Watermark 107 s: [90 s, 100 s) ends at 100 s and takes records until 102 s.
        assert_eq!(c.watermark_ms(), Some(107_000));
        assert!(!c.admit(99_999), "the window of 99.999 s closed at 102 s");
        assert!(c.admit(100_000), "[100 s, 110 s) is open until 112 s");
        assert_eq!(c.closed_through(10_000), Some(90_000));
        assert_eq!(c.closed_through(60_000), Some(0), "[60 s, 120 s) is still open");
    }

    #[test]
    fn late_records_do_not_move_the_clock() {
        let mut c = clock();
        assert!(c.admit(200_000));
        let before = c.watermark_ms();
        assert!(!c.admit(10_000));
        assert_eq!((c.watermark_ms(), c.max_event_ms()), (before, Some(200_000)));
    }

    #[test]
    fn an_idle_partition_advances_with_the_wall_clock_after_the_timeout() {
        let mut c = clock();
        assert!(c.admit(100_000));
        c.idle(29_999);
        assert_eq!(c.watermark_ms(), Some(95_000), "not idle yet");
        c.idle(30_000);
        assert_eq!(c.watermark_ms(), Some(125_000));
        assert_eq!(c.closed_through(10_000), Some(110_000), "the last record's window [100 s, 110 s) is final");
        c.idle(10_000);
        assert_eq!(c.watermark_ms(), Some(125_000), "never moves back");
    }

    #[test]
    fn nothing_is_closed_before_the_first_record_and_the_clock_survives_a_restart() {
        let mut c = clock();
        assert_eq!(c.closed_through(10_000), None);
        c.idle(1_000_000);
        assert_eq!(c.watermark_ms(), None, "no event time to advance from");
        assert!(c.admit(50_000));
        let stored = c.position(42, 40);
        let resumed = Watermark::resume(c.time.clone(), stored);
        assert_eq!((resumed.watermark_ms(), resumed.max_event_ms()), (Some(45_000), Some(50_000)));
    }

    #[test]
    fn windows_before_the_epoch_close_too() {
        let mut c = clock();
        assert!(c.admit(-50_000));
        assert_eq!(c.closed_through(10_000), Some(-70_000));
    }
}
