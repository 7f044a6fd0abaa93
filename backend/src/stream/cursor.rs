//! A worker's reading position in its partition: offsets of a topic written without
//! transactions have no gaps, so every record must be the next one, and one that is not says
//! the consumer is not where the database says the worker is.

/// Records from past our position skipped after a seek before the seek is taken as failed
/// and tried again.
const MAX_SKIPPED_AFTER_SEEK: u64 = 100_000;

/// What became of a record, by its offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Taken {
    /// The next record: take it.
    Yes,
    /// Before our position (already reflected in the database), or fetched before our seek
    /// took effect: it comes again.
    Duplicate,
    /// Past our position: the consumer is not where the database says we are, and taking it
    /// would lose the records in between. Resynchronise.
    Gap { got: i64 },
}

/// A worker's reading position: offsets of a topic written without transactions have no
/// gaps, so every record must be the next one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    next_offset: i64,
    /// Set while a seek to `next_offset` may not have taken effect yet: records from past our
    /// position are skipped (counted here) instead of starting another resynchronisation,
    /// which would restart the fetch and never let the seek land.
    awaiting_seek: Option<u64>,
}

impl Cursor {
    pub fn new(next_offset: i64, after_seek: bool) -> Self {
        Cursor {
            next_offset,
            awaiting_seek: after_seek.then_some(0),
        }
    }

    /// The offset after the last record taken.
    pub fn next_offset(&self) -> i64 {
        self.next_offset
    }

    pub fn take(&mut self, offset: i64) -> Taken {
        if offset < self.next_offset {
            return Taken::Duplicate;
        }
        if offset > self.next_offset {
            if let Some(skipped) = self.awaiting_seek.as_mut() {
                *skipped += 1;
                if *skipped < MAX_SKIPPED_AFTER_SEEK {
                    return Taken::Duplicate;
                }
            }
            return Taken::Gap { got: offset };
        }
        self.awaiting_seek = None;
        self.next_offset = offset + 1;
        Taken::Yes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_takes_the_next_record_only() {
        let mut c = Cursor::new(5, false);
        assert_eq!(c.take(4), Taken::Duplicate);
        assert_eq!(c.take(5), Taken::Yes);
        assert_eq!(c.take(7), Taken::Gap { got: 7 });
        let mut sought = Cursor::new(5, true);
        assert_eq!(
            sought.take(9),
            Taken::Duplicate,
            "fetched before the seek landed"
        );
        assert_eq!(sought.take(5), Taken::Yes);
        assert_eq!(
            sought.take(7),
            Taken::Gap { got: 7 },
            "after the seek a gap is a gap"
        );
        assert_eq!(sought.next_offset(), 6);
    }
}
