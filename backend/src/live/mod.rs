//! The live stage: a hub actor that follows `layercast.updates` and fans every change out to
//! the WebSocket session actors, one per connected client. The only place that knows of
//! actix-web-actors (deprecated upstream in favour of actix-ws), so a later swap stays here.

mod hub;
mod session;

pub use hub::{follow_updates, Broadcast, Hub, LocalHub, ORIGIN_HEADER};
pub use session::{ws_route, SnapshotSource};
