//! The hub's side of protocol 2: numbering updates, the ring of recent ones for clients that
//! resume, each client's subscription and queue, and cutting the clients that fall behind or
//! go silent.
//!
//! The hub never waits on a client: it appends to the client's queue (a `std` mutex, held
//! for an append and never across an await) and, when the queue was idle, sends the session
//! one [`Wake`]. A session whose socket is full is not even polled by actix-http, so the queue
//! is the only place where a slow client's backlog grows, and the hub sees its size there.

use std::collections::{HashMap, VecDeque};
use std::net::Shutdown;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use actix::prelude::*;
use layercast_shared::v2::{Kind, ServerMsg, SnapshotCause, Subscription};

use super::hub::Hub;
use super::queue::{AfterControl, ClientQueue, Queued};
use super::update::{encode_frame, Filter, Update};
use crate::config::LiveConfig;

/// How long a cut client's session gets to send `too_slow` and close before the hub shuts its
/// socket (a client that reads nothing never lets the session run again).
const CUT_GRACE: Duration = Duration::from_secs(2);
/// How often the hub looks for cut and silent clients.
pub const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// Tells a session that its queue has something (sent once until the session takes it).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Wake;

/// What a client's session and the hub share.
#[derive(Debug)]
pub struct ClientShared {
    pub queue: Mutex<ClientQueue>,
    /// A [`Wake`] is on its way: the hub sends no other until the session takes it.
    pub wake_sent: AtomicBool,
    /// When the client last sent anything, for the hub's check of sessions that cannot run.
    pub last_heard: Mutex<Instant>,
    /// A second handle on the client's TCP socket, to shut it when its session cannot run
    /// (see [`super::socket`]); `None` when the server did not record one.
    pub socket: Option<Arc<std::net::TcpStream>>,
}

impl ClientShared {
    pub fn new(socket: Option<Arc<std::net::TcpStream>>) -> Self {
        ClientShared {
            queue: Mutex::new(ClientQueue::default()),
            wake_sent: AtomicBool::new(false),
            last_heard: Mutex::new(Instant::now()),
            socket,
        }
    }

    /// The queue; a poisoned lock (a panic while holding it) still holds a consistent queue,
    /// since every method of it leaves it whole before it could panic.
    pub fn queue(&self) -> MutexGuard<'_, ClientQueue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn heard(&self) {
        *self.last_heard.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
    }

    fn silent_for(&self) -> Duration {
        self.last_heard
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .elapsed()
    }

    fn shut(&self) {
        if let Some(socket) = &self.socket {
            // Fails only when the socket is gone already, which is what we want.
            let _ = socket.shutdown(Shutdown::Both);
        }
    }
}

/// A session introduces itself; the answer is its id and the newest update number.
#[derive(Message)]
#[rtype(result = "Registered")]
pub struct Register {
    pub shared: Arc<ClientShared>,
    pub wake: Recipient<Wake>,
}

#[derive(Debug, Clone, MessageResponse)]
pub struct Registered {
    pub id: u64,
    /// The newest update number now, for `hello`.
    pub seq: u64,
    pub epoch: u64,
    /// See [`Clients::published`].
    pub published: Arc<AtomicU64>,
    /// How often the session pings, and how long the client may stay silent.
    pub heartbeat: Duration,
    pub client_timeout: Duration,
}

/// A session dropped its client for silence (counted in the metrics).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Dropped;

/// `resume` (with `resume`) or `resync` (without): the client starts, or starts again, to
/// receive updates.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Attach {
    pub id: u64,
    /// (epoch, last_seq) of a `resume`.
    pub resume: Option<(u64, u64)>,
}

/// `subscribe` or `unsubscribe`: the client's new subscription.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct SetSubscription {
    pub id: u64,
    pub change: SubscriptionChange,
}

#[derive(Debug)]
pub enum SubscriptionChange {
    Replace(Subscription),
    /// Stop these kinds (empty: all).
    Drop(Vec<Kind>),
}

/// The session is gone.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Detach {
    pub id: u64,
}

/// One protocol-2 client, as the hub knows it.
struct Client {
    shared: Arc<ClientShared>,
    wake: Recipient<Wake>,
    filter: Filter,
    /// Receives updates (after its first `resync` or `resume`).
    attached: bool,
    /// Had a snapshot or a resume: a later `resync` is `requested`, not `initial`.
    synced: bool,
    /// Cut (too slow or silent) at this time; the socket is shut after [`CUT_GRACE`].
    cut_at: Option<Instant>,
}

impl Client {
    fn wake(&self) {
        if !self.shared.wake_sent.swap(true, Ordering::AcqRel) {
            self.wake.do_send(Wake);
        }
    }
}

/// What happened to the clients in a sweep or a publish, for the metrics.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Cuts {
    pub slow: u64,
    pub dead: u64,
}

/// The protocol-2 state of the hub.
pub struct Clients {
    clients: HashMap<u64, Client>,
    next_id: u64,
    /// Random per process: numbers from another process's hub mean nothing here.
    epoch: u64,
    /// The number of the newest update.
    seq: u64,
    /// `seq` as sessions may read it: stored after an update is in every queue that wants
    /// it, so a session that sees its queue empty afterwards is in sync up to this number.
    published: Arc<AtomicU64>,
    ring: VecDeque<Arc<Update>>,
    config: LiveConfig,
}

impl Clients {
    pub fn new(config: LiveConfig) -> Self {
        Clients {
            clients: HashMap::new(),
            next_id: 0,
            epoch: new_epoch(),
            seq: 0,
            published: Arc::new(AtomicU64::new(0)),
            ring: VecDeque::with_capacity(config.ring_updates),
            config,
        }
    }

    pub fn len(&self) -> usize {
        self.clients.len()
    }

    #[cfg(test)]
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    fn register(&mut self, shared: Arc<ClientShared>, wake: Recipient<Wake>) -> Registered {
        self.next_id += 1;
        self.clients.insert(
            self.next_id,
            Client {
                shared,
                wake,
                filter: Filter::new(Subscription::default()),
                attached: false,
                synced: false,
                cut_at: None,
            },
        );
        Registered {
            id: self.next_id,
            seq: self.seq,
            epoch: self.epoch,
            published: self.published.clone(),
            heartbeat: Duration::from_secs(self.config.heartbeat_secs),
            client_timeout: Duration::from_secs(self.config.client_timeout_secs),
        }
    }

    fn attach(&mut self, id: u64, resume: Option<(u64, u64)>) {
        let (epoch, seq) = (self.epoch, self.seq);
        let oldest = self.ring.front().map(|u| u.seq);
        let Some(client) = self.clients.get_mut(&id) else {
            return;
        };
        if client.cut_at.is_some() {
            return;
        }
        let cause = match resume {
            None if client.synced => Some(SnapshotCause::Requested),
            None => Some(SnapshotCause::Initial),
            Some((e, _)) if e != epoch => Some(SnapshotCause::EpochChanged),
            // Every update after `last_seq` must still be in the ring (or there is none).
            Some((_, last))
                if last > seq || (last < seq && oldest.is_none_or(|o| o > last + 1)) =>
            {
                Some(SnapshotCause::TooFarBehind)
            }
            Some(_) => None,
        };
        client.attached = true;
        client.synced = true;
        let mut queue = client.shared.queue();
        match (cause, resume) {
            (Some(cause), _) => queue.push(Queued::Snapshot {
                seq,
                cause,
                filter: Box::new(client.filter.clone()),
            }),
            (None, Some((_, last))) => {
                let missed: Vec<&Arc<Update>> = self
                    .ring
                    .iter()
                    .filter(|u| u.seq > last && client.filter.wants(u))
                    .collect();
                if let Some(text) = encode_frame(
                    last,
                    epoch,
                    ServerMsg::Resumed {
                        missed: missed.len() as u64,
                    },
                ) {
                    queue.push(Queued::Control {
                        seq: last,
                        text,
                        then: AfterControl::Synced,
                    });
                }
                // Exactly what was missed, each value: a resume is not the client being slow.
                for u in missed {
                    queue.push_update(u.clone(), false);
                }
            }
            (None, None) => {}
        }
        drop(queue);
        client.wake();
    }

    fn set_subscription(&mut self, id: u64, change: SubscriptionChange) {
        let (epoch, seq) = (self.epoch, self.seq);
        let Some(client) = self.clients.get_mut(&id) else {
            return;
        };
        let subscription = match change {
            SubscriptionChange::Replace(s) => s,
            SubscriptionChange::Drop(kinds) => {
                let mut s = client.filter.subscription.clone();
                if kinds.is_empty() {
                    s.kinds.clear();
                } else {
                    s.kinds.retain(|k| !kinds.contains(k));
                }
                s
            }
        };
        client.filter = Filter::new(subscription.clone());
        if let Some(text) = encode_frame(seq, epoch, ServerMsg::Subscribed { subscription }) {
            client.shared.queue().push(Queued::Control {
                seq,
                text,
                then: AfterControl::Nothing,
            });
            client.wake();
        }
    }

    /// Numbers and encodes an update, keeps it in the ring and queues it for every attached
    /// client that wants it; cuts the clients whose queue passes the bound.
    pub fn publish(&mut self, make: impl FnOnce(u64, u64) -> Option<Update>) -> Cuts {
        let Some(update) = make(self.seq + 1, self.epoch) else {
            return Cuts::default();
        };
        self.seq += 1;
        let update = Arc::new(update);
        if self.ring.len() == self.config.ring_updates {
            self.ring.pop_front();
        }
        self.ring.push_back(update.clone());
        let mut cuts = Cuts::default();
        let (epoch, seq) = (self.epoch, self.seq);
        let bound = self.config.client_queue_bytes;
        for client in self.clients.values_mut() {
            if !client.attached || client.cut_at.is_some() || !client.filter.wants(&update) {
                continue;
            }
            let mut queue = client.shared.queue();
            queue.push_update(update.clone(), true);
            if queue.bytes() > bound {
                queue.clear();
                if let Some(text) = encode_frame(seq, epoch, ServerMsg::TooSlow) {
                    queue.push(Queued::Control {
                        seq,
                        text,
                        then: AfterControl::Close,
                    });
                }
                client.cut_at = Some(Instant::now());
                client.attached = false;
                cuts.slow += 1;
                tracing::info!(
                    bound,
                    "a WebSocket client fell too far behind: told too_slow and cut"
                );
            }
            drop(queue);
            client.wake();
        }
        cuts
    }

    /// After a batch of `publish`: sessions may now take `seq` as where they are in sync.
    pub fn published_through(&self) {
        self.published.store(self.seq, Ordering::Release);
    }

    /// Shuts the sockets of clients cut a while ago whose session did not close (it cannot
    /// run while its socket is full) and of clients silent past the timeout (their session
    /// drops them itself when it runs; this catches those that cannot).
    pub fn sweep(&mut self) -> Cuts {
        // Two sweeps later than the session's own check, which runs every second when the
        // session can run: the hub only catches those that cannot.
        let timeout = Duration::from_secs(self.config.client_timeout_secs) + 2 * SWEEP_EVERY;
        let mut cuts = Cuts::default();
        self.clients.retain(|_, client| {
            let cut_long_ago = client.cut_at.is_some_and(|at| at.elapsed() > CUT_GRACE);
            let silent = client.shared.silent_for() > timeout;
            if !(cut_long_ago || silent) {
                return true;
            }
            if silent && client.cut_at.is_none() {
                cuts.dead += 1;
                tracing::info!("a silent WebSocket client whose session cannot run is dropped");
            }
            client.shared.shut();
            client.shared.queue().clear();
            // Forgotten here either way: its session, if it ever runs again, finds an empty
            // queue and closes (the socket is shut, or its own heartbeat check drops it).
            false
        });
        cuts
    }

    fn detach(&mut self, id: u64) {
        self.clients.remove(&id);
    }
}

/// A random number below 2^53, different for every process: the std hasher's keys are drawn
/// from the operating system's randomness, once per `RandomState`.
fn new_epoch() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    hasher.write_u32(std::process::id());
    // At least 1, so that 0 never names a process.
    (hasher.finish() >> 11).max(1)
}

impl Handler<Register> for Hub {
    type Result = Registered;

    fn handle(&mut self, msg: Register, _: &mut Context<Self>) -> Registered {
        let registered = self.v2.register(msg.shared, msg.wake);
        self.count_clients();
        registered
    }
}

impl Handler<Attach> for Hub {
    type Result = ();

    fn handle(&mut self, msg: Attach, _: &mut Context<Self>) {
        self.v2.attach(msg.id, msg.resume);
    }
}

impl Handler<SetSubscription> for Hub {
    type Result = ();

    fn handle(&mut self, msg: SetSubscription, _: &mut Context<Self>) {
        self.v2.set_subscription(msg.id, msg.change);
    }
}

impl Handler<Dropped> for Hub {
    type Result = ();

    fn handle(&mut self, _: Dropped, _: &mut Context<Self>) {
        self.count_cuts(Cuts { slow: 0, dead: 1 });
    }
}

impl Handler<Detach> for Hub {
    type Result = ();

    fn handle(&mut self, msg: Detach, _: &mut Context<Self>) {
        self.v2.detach(msg.id);
        self.count_clients();
    }
}

#[cfg(test)]
#[path = "clients_tests.rs"]
mod tests;
