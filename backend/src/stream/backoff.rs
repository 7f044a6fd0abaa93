//! The wait before trying a failed write again: the stream's writers (window batches, layer
//! windows, the analysis' findings) all wait the same way.

use std::time::Duration;

const FIRST: Duration = Duration::from_millis(250);
const MAX: Duration = Duration::from_secs(8);

/// Doubles from a quarter of a second to 8 s with each failure in a row; a success starts it
/// over.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff { next: FIRST }
    }
}

impl Backoff {
    /// A try failed: how long to wait before the next.
    pub fn failed(&mut self) -> Duration {
        let wait = self.next;
        self.next = (self.next * 2).min(MAX);
        wait
    }

    pub fn succeeded(&mut self) {
        self.next = FIRST;
    }

    /// Whether the last try failed.
    pub fn failing(&self) -> bool {
        self.next > FIRST
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_up_to_eight_seconds_and_start_over_after_a_success() {
        let mut b = Backoff::default();
        assert!(!b.failing());
        let waits: Vec<u128> = (0..8).map(|_| b.failed().as_millis()).collect();
        assert_eq!(waits, [250, 500, 1_000, 2_000, 4_000, 8_000, 8_000, 8_000]);
        assert!(b.failing());
        b.succeeded();
        assert!(!b.failing());
        assert_eq!(b.failed(), Duration::from_millis(250));
    }
}
