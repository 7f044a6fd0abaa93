//! One protocol-2 client (`/ws?v=2`): reads its messages, and writes what the hub queued for
//! it, a slice at a time, as fast as its socket takes them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use actix_web::web;
use actix_web_actors::ws;
use layercast_shared::v2::{ClientMsg, Kind, ServerMsg, Subscription, PROTOCOL};
use layercast_shared::LayerWindow;

use super::clients::{
    Attach, ClientShared, Detach, Dropped, Register, SetSubscription, SubscriptionChange, Wake,
};
use super::hub::Hub;
use super::queue::{AfterControl, Queued};
use super::session::SnapshotSource;
use super::update::encode_frame;

/// Bytes written to the socket per turn of the session. actix-http polls the session again
/// only once its write buffer has room, so a client that reads slowly leaves the rest in the
/// queue, where newer values replace older ones and the hub sees the backlog.
const SLICE_BYTES: usize = 64 * 1024;
/// How often the session checks whether the client went silent.
const SILENCE_CHECK: Duration = Duration::from_secs(1);

pub(super) struct SessionV2 {
    id: u64,
    node: String,
    hub: Addr<Hub>,
    snapshot: SnapshotSource,
    shared: Arc<ClientShared>,
    /// The hub's newest update number once it is in every queue (see `Clients::published`).
    published: Arc<AtomicU64>,
    epoch: u64,
    /// The `seq` of the last frame written: what a `pong` carries.
    position: u64,
    /// Sent the snapshot or `resumed` of a `resync` or `resume`: from then on an empty queue
    /// means in sync up to `published`.
    attached: bool,
    /// A snapshot the queue's marker waits for, loaded.
    snapshot_ready: Option<Vec<LayerWindow>>,
    snapshot_loading: bool,
    /// A slice is written and the next one is due at the next turn.
    draining: bool,
    last_heard: Instant,
}

impl SessionV2 {
    pub(super) fn new(
        node: String,
        hub: Addr<Hub>,
        snapshot: SnapshotSource,
        shared: Arc<ClientShared>,
    ) -> Self {
        SessionV2 {
            id: 0,
            node,
            hub,
            snapshot,
            shared,
            published: Arc::default(),
            epoch: 0,
            position: 0,
            attached: false,
            snapshot_ready: None,
            snapshot_loading: false,
            draining: false,
            last_heard: Instant::now(),
        }
    }

    /// Writes a frame made here (not queued by the hub); returns its length.
    fn write(&mut self, ctx: &mut ws::WebsocketContext<Self>, seq: u64, msg: ServerMsg) -> usize {
        let Some(text) = encode_frame(seq, self.epoch, msg) else {
            return 0;
        };
        self.position = self.position.max(seq);
        let len = text.len();
        ctx.text(text);
        len
    }

    /// Writes queued frames, up to [`SLICE_BYTES`], and schedules the next slice.
    fn drain(&mut self, ctx: &mut ws::WebsocketContext<Self>) {
        let mut written = 0;
        let mut closing = false;
        loop {
            if written >= SLICE_BYTES {
                self.next_slice(ctx);
                return;
            }
            let item = {
                let mut queue = self.shared.queue();
                if let Some(Queued::Snapshot { .. }) = queue.front() {
                    if self.snapshot_ready.is_none() {
                        drop(queue);
                        self.load_snapshot(ctx);
                        return;
                    }
                }
                match queue.pop() {
                    Some(item) => item,
                    None => {
                        if self.attached {
                            // Every update up to `published` was queued (or filtered out)
                            // before it was stored, and the queue is empty: in sync up to it.
                            self.position =
                                self.position.max(self.published.load(Ordering::Acquire));
                        }
                        break;
                    }
                }
            };
            match item {
                Queued::Update(update) => {
                    written += update.text.len();
                    self.position = self.position.max(update.seq);
                    ctx.text(update.text.clone());
                }
                Queued::Control { seq, text, then } => {
                    written += text.len();
                    ctx.text(text);
                    match then {
                        AfterControl::Nothing => self.position = self.position.max(seq),
                        // In sync from `last_seq` on: the missed updates follow.
                        AfterControl::Synced => {
                            self.attached = true;
                            self.position = seq;
                        }
                        AfterControl::Close => {
                            closing = true;
                            break;
                        }
                    }
                }
                Queued::Snapshot { seq, cause, filter } => {
                    self.attached = true;
                    self.position = seq;
                    let windows: Vec<LayerWindow> = self
                        .snapshot_ready
                        .take()
                        .unwrap_or_default()
                        .into_iter()
                        .filter(|w| filter.wants_in_snapshot(w))
                        .collect();
                    written += self.write(ctx, seq, ServerMsg::Snapshot { cause, windows });
                }
            }
        }
        if closing {
            ctx.close(Some(ws::CloseReason {
                code: ws::CloseCode::Policy,
                description: Some("too slow".into()),
            }));
            ctx.stop();
        }
    }

    /// The next slice at the session's next turn: `yield_now` is pending once, so this turn
    /// ends and its frames go to actix-http, which polls the session again only when its
    /// write buffer has room.
    fn next_slice(&mut self, ctx: &mut ws::WebsocketContext<Self>) {
        if self.draining {
            return;
        }
        self.draining = true;
        ctx.spawn(
            tokio::task::yield_now()
                .into_actor(self)
                .map(|_, act, ctx| {
                    act.draining = false;
                    act.drain(ctx);
                }),
        );
    }

    fn load_snapshot(&mut self, ctx: &mut ws::WebsocketContext<Self>) {
        if self.snapshot_loading {
            return;
        }
        self.snapshot_loading = true;
        let source = self.snapshot.clone();
        let load = async move { web::block(move || source()).await };
        ctx.spawn(load.into_actor(self).map(|result, act, ctx| {
            act.snapshot_loading = false;
            act.snapshot_ready = Some(match result {
                Ok(Ok(windows)) => windows,
                // An empty snapshot still lets the updates behind it through; the client
                // can ask again with `resync`.
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "snapshot failed");
                    Vec::new()
                }
                Err(e) => {
                    tracing::warn!(error = %e, "snapshot task failed");
                    Vec::new()
                }
            });
            act.drain(ctx);
        }));
    }

    fn on_client_msg(&mut self, msg: ClientMsg, ctx: &mut ws::WebsocketContext<Self>) {
        match msg {
            ClientMsg::Subscribe {
                layers,
                entities,
                kinds,
                final_only,
            } => {
                let kinds = if kinds.is_empty() {
                    Kind::ALL.to_vec()
                } else {
                    kinds
                };
                let subscription = Subscription {
                    layers,
                    entities,
                    kinds,
                    final_only,
                };
                self.hub.do_send(SetSubscription {
                    id: self.id,
                    change: SubscriptionChange::Replace(subscription),
                });
            }
            ClientMsg::Unsubscribe { kinds } => self.hub.do_send(SetSubscription {
                id: self.id,
                change: SubscriptionChange::Drop(kinds),
            }),
            ClientMsg::Resume { epoch, last_seq } => {
                self.hub.do_send(Attach {
                    id: self.id,
                    resume: Some((epoch, last_seq)),
                });
            }
            ClientMsg::Resync => {
                self.hub.do_send(Attach {
                    id: self.id,
                    resume: None,
                });
            }
            ClientMsg::Ping => {
                let position = self.position;
                self.write(ctx, position, ServerMsg::Pong);
            }
        }
    }
}

impl Actor for SessionV2 {
    type Context = ws::WebsocketContext<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.hub
            .send(Register {
                shared: self.shared.clone(),
                wake: ctx.address().recipient(),
            })
            .into_actor(self)
            .then(|registered, act, ctx| {
                match registered {
                    Ok(r) => {
                        act.id = r.id;
                        act.epoch = r.epoch;
                        act.position = r.seq;
                        act.published = r.published;
                        let node = act.node.clone();
                        act.write(
                            ctx,
                            r.seq,
                            ServerMsg::Hello {
                                protocol: PROTOCOL,
                                node,
                            },
                        );
                        ctx.run_interval(r.heartbeat, |_, ctx| ctx.ping(b""));
                        let timeout = r.client_timeout;
                        ctx.run_interval(SILENCE_CHECK, move |act, ctx| {
                            if act.last_heard.elapsed() > timeout {
                                tracing::info!("a silent WebSocket client is dropped");
                                act.hub.do_send(Dropped);
                                ctx.stop();
                            }
                        });
                    }
                    Err(_) => ctx.stop(),
                }
                actix::fut::ready(())
            })
            .wait(ctx);
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        self.hub.do_send(Detach { id: self.id });
    }
}

impl Drop for SessionV2 {
    /// A session dropped without stopping (actix-http dropped the connection after the hub
    /// shut its socket) still leaves the hub. A second `Detach` changes nothing.
    fn drop(&mut self) {
        if self.id != 0 {
            self.hub.do_send(Detach { id: self.id });
        }
    }
}

impl Handler<Wake> for SessionV2 {
    type Result = ();

    fn handle(&mut self, _: Wake, ctx: &mut Self::Context) {
        // Cleared before taking from the queue: what the hub adds from now on sends a new
        // `Wake`, so nothing is left waiting.
        self.shared.wake_sent.store(false, Ordering::Release);
        self.drain(ctx);
    }
}

impl StreamHandler<Result<ws::Message, ws::ProtocolError>> for SessionV2 {
    fn handle(&mut self, msg: Result<ws::Message, ws::ProtocolError>, ctx: &mut Self::Context) {
        self.last_heard = Instant::now();
        self.shared.heard();
        match msg {
            Ok(ws::Message::Ping(bytes)) => ctx.pong(&bytes),
            Ok(ws::Message::Text(text)) => match serde_json::from_str::<ClientMsg>(&text) {
                Ok(msg) => self.on_client_msg(msg, ctx),
                Err(e) => tracing::debug!(error = %e, "unknown client message ignored"),
            },
            Ok(ws::Message::Close(reason)) => {
                ctx.close(reason);
                ctx.stop();
            }
            Ok(_) => {}
            Err(e) => {
                tracing::debug!(error = %e, "websocket protocol error");
                ctx.stop();
            }
        }
    }
}
