//! The live stage: a hub actor that follows `layercast.updates` and fans every change out to
//! the WebSocket session actors, one per connected client. The only place that knows of
//! actix-web-actors (deprecated upstream in favour of actix-ws), so a later swap stays here.

//!
//! Protocol 2 (`/ws?v=2`, docs/websocket.md): the hub numbers every update, keeps the newest
//! ones in a ring for clients that resume ([`clients`]), and queues for each client what its
//! subscription wants ([`update`]) in a queue bounded in bytes where newer values of a window
//! replace older ones ([`queue`]); the session ([`session_v2`]) writes from that queue as fast
//! as the socket takes it, and the hub cuts a client that falls past the bound ([`socket`]).

mod clients;
mod hub;
mod queue;
mod session;
mod session_v2;
mod socket;
mod update;

pub use hub::{follow_updates, Broadcast, Hub, LocalHub, ORIGIN_HEADER};
pub use session::{ws_route, SnapshotSource};
pub use socket::remember_socket;
