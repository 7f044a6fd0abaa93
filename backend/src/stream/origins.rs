//! Records produced twice are counted once.
//!
//! A source that stops in the middle of an object (a node killed, a claim lost) is resumed,
//! by whichever node takes the object over, from the last record the broker had acknowledged
//! when its progress was saved. The records after that may be on the topic already: they are
//! produced again. Every record of LayerCast's own sources carries its origin (object,
//! sequence number). Within one partition an object's records come in sequence order: one
//! producer at a time sends an object, in order, idempotently, and a resumed reading starts at
//! or before where the last one stopped. So a record whose sequence is not above the highest
//! counted for its object is a copy, and is dropped.
//!
//! The highest sequences are stored with the partition's position, in the transaction of its
//! windows, as of the position's `next_offset` (D). A new owner replays the records from the
//! position's `replay_from` (R < D) to rebuild the open windows; those records were judged by
//! the old owner against sequences that D's state already includes, so for them it repeats the
//! old owner's decisions, kept as the offsets of the copies dropped from R on, and judges
//! afresh only from D.
//!
//! Pure state: offsets and origins in, decisions out.

use std::collections::{BTreeSet, HashMap};

use layercast_shared::Origin;

use crate::store::offsets::{OriginSeen, OriginState};

/// Objects remembered per partition, the most recently seen ones: each is a few dozen bytes of
/// the state written with every position. A copy comes within a claim's lease of the original
/// (the reader that stopped is taken over once its lease runs out), so an object that this
/// many others have followed through the partition since its last record is done.
pub const MAX_OBJECTS: usize = 256;

#[derive(Debug, Default)]
pub struct Origins {
    highest: HashMap<String, OriginSeen>,
    /// Offsets of the copies dropped, from the replay point on (older ones pruned by `state`).
    dropped: BTreeSet<i64>,
    /// Records before this offset were judged by an earlier owner (or an earlier actor).
    judged_until: i64,
}

impl Origins {
    /// The state stored at `next_offset`.
    pub fn resume(stored: &OriginState, next_offset: i64) -> Self {
        Origins {
            highest: stored
                .highest
                .iter()
                .map(|(k, v)| (k.clone(), *v))
                .collect(),
            dropped: stored.dropped.iter().copied().collect(),
            judged_until: next_offset,
        }
    }

    /// Whether the record at `offset` counts: `false` for a copy of one counted before.
    /// Records are taken in offset order.
    pub fn admit(&mut self, offset: i64, origin: Option<&Origin>) -> bool {
        let Some(origin) = origin else {
            return true;
        };
        if offset < self.judged_until {
            return !self.dropped.contains(&offset);
        }
        match self.highest.get_mut(&origin.object) {
            Some(seen) if origin.seq <= seen.seq => {
                self.dropped.insert(offset);
                false
            }
            Some(seen) => {
                *seen = OriginSeen {
                    seq: origin.seq,
                    offset,
                };
                true
            }
            None => {
                self.highest.insert(
                    origin.object.clone(),
                    OriginSeen {
                        seq: origin.seq,
                        offset,
                    },
                );
                true
            }
        }
    }

    /// The state to store with a position replaying from `replay_from`: the copies dropped
    /// from there on, and the [`MAX_OBJECTS`] objects seen last (pruned here too).
    pub fn state(&mut self, replay_from: i64) -> OriginState {
        self.dropped = self.dropped.split_off(&replay_from);
        if self.highest.len() > MAX_OBJECTS {
            let mut by_offset: Vec<i64> = self.highest.values().map(|s| s.offset).collect();
            by_offset.sort_unstable();
            let keep_from = by_offset[by_offset.len() - MAX_OBJECTS];
            self.highest.retain(|_, seen| seen.offset >= keep_from);
        }
        OriginState {
            highest: self.highest.iter().map(|(k, v)| (k.clone(), *v)).collect(),
            dropped: self.dropped.iter().copied().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(object: &str, seq: u64) -> Origin {
        Origin {
            object: object.to_owned(),
            seq,
        }
    }

    /// One partition's log: (offset, object, seq).
    fn judge(origins: &mut Origins, log: &[(i64, &str, u64)]) -> Vec<i64> {
        log.iter()
            .filter(|(offset, object, seq)| origins.admit(*offset, Some(&from(object, *seq))))
            .map(|(offset, ..)| *offset)
            .collect()
    }

    #[test]
    fn a_resumed_object_counts_each_record_once_and_others_are_untouched() {
        let mut origins = Origins::default();
        // `a` is read to seq 5, its reader dies, and the next one resumes at seq 3.
        let log = [
            (0, "a", 1),
            (1, "b", 0),
            (2, "a", 3),
            (3, "a", 5),
            (4, "a", 3),
            (5, "b", 2),
            (6, "a", 5),
            (7, "a", 8),
        ];
        assert_eq!(judge(&mut origins, &log), vec![0, 1, 2, 3, 5, 7]);
        assert!(
            origins.admit(8, None),
            "records without an origin always count"
        );
    }

    #[test]
    fn a_new_owner_replaying_from_the_stored_state_decides_as_the_old_one_did() {
        let log = [
            (0, "a", 0),
            (1, "a", 4),
            (2, "a", 2),
            (3, "a", 4),
            (4, "a", 5),
            (5, "a", 1),
            (6, "a", 6),
        ];
        let mut old = Origins::default();
        let counted = judge(&mut old, &log[..4]);
        // Stored at D = 4 while the window of offset 2 is still open: replay from 2.
        let stored = old.state(2);
        assert_eq!(stored.dropped, vec![2, 3]);
        let counted_after: Vec<i64> = judge(&mut old, &log[4..]);

        let mut new = Origins::resume(&stored, 4);
        let replayed = judge(&mut new, &log[2..4]);
        assert_eq!(
            replayed,
            Vec::<i64>::new(),
            "the copies the old owner dropped"
        );
        assert_eq!(judge(&mut new, &log[4..]), counted_after);
        assert_eq!(counted, vec![0, 1]);
        assert_eq!(counted_after, vec![4, 6]);
    }

    #[test]
    fn the_state_keeps_the_objects_seen_last_and_the_copies_from_the_replay_point() {
        let mut origins = Origins::default();
        for i in 0..(MAX_OBJECTS as i64 + 10) {
            assert!(origins.admit(i, Some(&from(&format!("f{i}"), 0))));
        }
        let big = MAX_OBJECTS as i64 + 10;
        assert!(!origins.admit(big, Some(&from("f20", 0))));
        assert!(!origins.admit(big + 1, Some(&from("f30", 0))));
        let state = origins.state(big + 1);
        assert_eq!(state.highest.len(), MAX_OBJECTS);
        assert!(!state.highest.contains_key("f0"), "the oldest objects go");
        assert!(state.highest.contains_key(&format!("f{}", big - 1)));
        assert_eq!(state.dropped, vec![big + 1]);
    }
}
