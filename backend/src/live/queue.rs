//! What waits for one protocol-2 client: a queue in send order, bounded in bytes, where a newer
//! value of a window replaces the queued one. Pure: the hub pushes, the session pops.
//!
//! Items wait here only while the client is behind: the session takes them as fast as its
//! socket takes frames. So replacing the queued value of a key is the coalescing of the
//! protocol (the newest value wins), and the byte bound is the most a slow client can make
//! the server hold for it.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use bytestring::ByteString;
use layercast_shared::v2::SnapshotCause;

use super::update::{ByKey, Filter, Update};

/// One thing to send.
#[derive(Debug, Clone)]
pub enum Queued {
    Update(Arc<Update>),
    /// A control frame (`resumed`, `subscribed`, `too_slow`), encoded, and its `seq`.
    Control {
        seq: u64,
        text: ByteString,
        then: AfterControl,
    },
    /// Here goes a snapshot, numbered `seq`: the session loads it when it gets here, and sends
    /// what follows only after it.
    Snapshot {
        seq: u64,
        cause: SnapshotCause,
        filter: Box<Filter>,
    },
}

/// What the session does once it sent a control frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterControl {
    Nothing,
    /// The client is in sync from here (`resumed`): its position is this frame's `seq`.
    Synced,
    /// Close the connection (`too_slow`).
    Close,
}

/// Bytes counted for a snapshot marker and a control frame besides their text.
const ITEM_OVERHEAD: usize = 64;

impl Queued {
    fn bytes(&self) -> usize {
        match self {
            Queued::Update(u) => u.bytes(),
            Queued::Control { text, .. } => text.len() + ITEM_OVERHEAD,
            Queued::Snapshot { .. } => ITEM_OVERHEAD,
        }
    }
}

/// What [`ClientQueue::push`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    /// Added at the end.
    Added,
    /// Added at the end, and the queued older value of its key dropped.
    Replaced,
}

#[derive(Debug, Default)]
pub struct ClientQueue {
    /// Items by their place in the send order.
    items: BTreeMap<u64, Queued>,
    /// The place of the newest queued value of each key.
    newest: HashMap<ByKey, u64>,
    next_place: u64,
    bytes: usize,
}

impl ClientQueue {
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Queues an update at the end. With `coalesce`, a queued value of the same key is
    /// dropped: moved to the end rather than replaced where it stood, so the client still
    /// sees sequence numbers increase.
    pub fn push_update(&mut self, update: Arc<Update>, coalesce: bool) -> Pushed {
        let key = ByKey(update.clone());
        let mut pushed = Pushed::Added;
        if coalesce {
            if let Some(old) = self.newest.get(&key).copied() {
                if let Some(item) = self.items.remove(&old) {
                    self.bytes -= item.bytes();
                    pushed = Pushed::Replaced;
                }
            }
        }
        let place = self.add(Queued::Update(update));
        self.newest.insert(key, place);
        pushed
    }

    /// Queues a control frame or a snapshot marker at the end.
    pub fn push(&mut self, item: Queued) {
        self.add(item);
    }

    fn add(&mut self, item: Queued) -> u64 {
        let place = self.next_place;
        self.next_place += 1;
        self.bytes += item.bytes();
        self.items.insert(place, item);
        place
    }

    /// The first item, without taking it.
    pub fn front(&self) -> Option<&Queued> {
        self.items.values().next()
    }

    pub fn pop(&mut self) -> Option<Queued> {
        let (place, item) = self.items.pop_first()?;
        self.bytes -= item.bytes();
        if let Queued::Update(u) = &item {
            let key = ByKey(u.clone());
            if self.newest.get(&key) == Some(&place) {
                self.newest.remove(&key);
            }
        }
        Some(item)
    }

    /// Drops everything (a client that is cut).
    pub fn clear(&mut self) {
        self.items.clear();
        self.newest.clear();
        self.bytes = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use layercast_shared::{LayerWindow, OsiLayer};

    fn update(seq: u64, start_ms: i64, events: u64) -> Arc<Update> {
        let window = LayerWindow {
            layer: OsiLayer::L3,
            start_ms,
            end_ms: start_ms + 10_000,
            events,
            bytes: events,
            packets: 0,
            connections: 0,
            requests: 0,
            errors: 0,
            error_rate: None,
            error_classes: Default::default(),
            latency: None,
            is_final: false,
        };
        Arc::new(Update::layer(seq, 1, window).expect("encodes"))
    }

    fn seqs(q: &mut ClientQueue) -> Vec<u64> {
        let mut out = Vec::new();
        while let Some(item) = q.pop() {
            if let Queued::Update(u) = item {
                out.push(u.seq);
            }
        }
        out
    }

    #[test]
    fn a_newer_value_of_a_window_replaces_the_queued_one_at_the_end() {
        let mut q = ClientQueue::default();
        assert_eq!(q.push_update(update(1, 0, 1), true), Pushed::Added);
        q.push_update(update(2, 10_000, 1), true);
        assert_eq!(q.push_update(update(3, 0, 2), true), Pushed::Replaced);
        assert_eq!(q.len(), 2);
        assert_eq!(seqs(&mut q), vec![2, 3], "sequence numbers still increase");
        assert_eq!(q.bytes(), 0);
    }

    #[test]
    fn without_coalescing_every_value_stays_and_a_later_one_replaces_the_newest() {
        let mut q = ClientQueue::default();
        q.push_update(update(1, 0, 1), false);
        q.push_update(update(2, 0, 2), false);
        q.push_update(update(3, 0, 3), true);
        assert_eq!(seqs(&mut q), vec![1, 3]);
    }

    #[test]
    fn bytes_follow_what_is_queued() {
        let mut q = ClientQueue::default();
        let u = update(1, 0, 1);
        let one = u.bytes();
        q.push_update(u, true);
        q.push(Queued::Control {
            seq: 0,
            text: ByteString::from_static("{}"),
            then: AfterControl::Nothing,
        });
        assert_eq!(q.bytes(), one + 2 + ITEM_OVERHEAD);
        assert!(matches!(q.pop(), Some(Queued::Update(_))));
        assert_eq!(q.bytes(), 2 + ITEM_OVERHEAD);
        q.clear();
        assert!(q.is_empty() && q.bytes() == 0);
    }
}
