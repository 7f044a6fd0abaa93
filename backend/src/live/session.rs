use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use actix_web::{web, HttpRequest, HttpResponse};
use actix_web_actors::ws;
use layercast_shared::v2::PROTOCOL as PROTOCOL_V2;
use layercast_shared::{ApiErrorBody, ClientMsg, LayerWindow, ServerMsg, PROTOCOL_VERSION};

use super::clients::ClientShared;
use super::hub::{Connect, Disconnect, Hub, Push, SeriesFilter, Subscribe};
use super::session_v2::SessionV2;
use super::socket::ConnSocket;

/// How often the server pings, and how long a client may stay silent before it is dropped.
const HEARTBEAT: Duration = Duration::from_secs(5);
const CLIENT_TIMEOUT: Duration = Duration::from_secs(15);

/// Where a session gets the current state from (the store, in the server). Blocking: called
/// on a blocking thread.
pub type SnapshotSource = Arc<dyn Fn() -> Result<Vec<LayerWindow>, String> + Send + Sync>;

/// One connected client.
struct Session {
    id: u64,
    node: String,
    hub: Addr<Hub>,
    snapshot: SnapshotSource,
    last_heard: Instant,
}

impl Session {
    fn send(ctx: &mut ws::WebsocketContext<Self>, msg: &ServerMsg) {
        match serde_json::to_string(msg) {
            Ok(text) => ctx.text(text),
            Err(e) => tracing::error!(error = %e, "cannot encode a server message"),
        }
    }

    fn send_snapshot(&self, ctx: &mut ws::WebsocketContext<Self>) {
        let source = self.snapshot.clone();
        let load = async move { web::block(move || source()).await };
        ctx.wait(load.into_actor(self).map(|result, _, ctx| match result {
            Ok(Ok(windows)) => Self::send(ctx, &ServerMsg::Snapshot { windows }),
            Ok(Err(e)) => tracing::warn!(error = %e, "snapshot failed"),
            Err(e) => tracing::warn!(error = %e, "snapshot task failed"),
        }));
    }
}

impl Actor for Session {
    type Context = ws::WebsocketContext<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        Self::send(
            ctx,
            &ServerMsg::Hello {
                protocol: PROTOCOL_VERSION,
                node: self.node.clone(),
            },
        );
        // Register before loading the snapshot: an update that lands in between is then sent
        // after the snapshot at worst, and updates carry totals, so the newer value wins.
        self.hub
            .send(Connect {
                client: ctx.address().recipient(),
            })
            .into_actor(self)
            .then(|id, act, ctx| {
                match id {
                    Ok(id) => act.id = id,
                    Err(_) => ctx.stop(),
                }
                actix::fut::ready(())
            })
            .wait(ctx);
        self.send_snapshot(ctx);
        ctx.run_interval(HEARTBEAT, |act, ctx| {
            if act.last_heard.elapsed() > CLIENT_TIMEOUT {
                ctx.stop();
            } else {
                ctx.ping(b"");
            }
        });
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        self.hub.do_send(Disconnect { id: self.id });
    }
}

impl Handler<Push> for Session {
    type Result = ();

    fn handle(&mut self, msg: Push, ctx: &mut Self::Context) {
        Self::send(ctx, &msg.0);
    }
}

impl StreamHandler<Result<ws::Message, ws::ProtocolError>> for Session {
    fn handle(&mut self, msg: Result<ws::Message, ws::ProtocolError>, ctx: &mut Self::Context) {
        self.last_heard = Instant::now();
        match msg {
            Ok(ws::Message::Ping(bytes)) => ctx.pong(&bytes),
            Ok(ws::Message::Text(text)) => match serde_json::from_str::<ClientMsg>(&text) {
                Ok(ClientMsg::Resync) => self.send_snapshot(ctx),
                Ok(ClientMsg::Subscribe { layers, final_only }) => {
                    self.hub.do_send(Subscribe {
                        id: self.id,
                        filter: SeriesFilter { layers, final_only },
                    });
                }
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

/// `GET /ws`: upgrades to a WebSocket session of protocol 1, or of protocol 2 with `?v=2`.
pub async fn ws_route(
    req: HttpRequest,
    stream: web::Payload,
    hub: web::Data<Addr<Hub>>,
    snapshot: web::Data<SnapshotSource>,
    node: web::Data<crate::NodeId>,
) -> Result<HttpResponse, actix_web::Error> {
    match requested_version(req.query_string()) {
        Some(1) => {}
        Some(PROTOCOL_V2) => {
            let socket = req.conn_data::<ConnSocket>().map(|s| s.0.clone());
            let session = SessionV2::new(
                node.0.clone(),
                hub.get_ref().clone(),
                snapshot.get_ref().clone(),
                Arc::new(ClientShared::new(socket)),
            );
            return ws::start(session, &req, stream);
        }
        other => {
            let body = ApiErrorBody {
                error: match other {
                    Some(v) => format!(
                        "unknown WebSocket protocol version {v}; this server speaks 1 and 2"
                    ),
                    None => "the protocol version v must be a number (1 or 2)".into(),
                },
            };
            return Ok(HttpResponse::BadRequest().json(body));
        }
    }
    let session = Session {
        id: 0,
        node: node.0.clone(),
        hub: hub.get_ref().clone(),
        snapshot: snapshot.get_ref().clone(),
        last_heard: Instant::now(),
    };
    ws::start(session, &req, stream)
}

/// The `v` of the query: 1 when absent, `None` when not a number.
fn requested_version(query: &str) -> Option<u16> {
    match query
        .split('&')
        .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
        .find(|(k, _)| *k == "v")
    {
        Some((_, v)) => v.parse().ok(),
        None => Some(1),
    }
}

#[cfg(test)]
mod tests {
    use super::requested_version;

    #[test]
    fn the_version_comes_from_v_and_defaults_to_one() {
        assert_eq!(requested_version(""), Some(1));
        assert_eq!(requested_version("v=2"), Some(2));
        assert_eq!(requested_version("token=x&v=2"), Some(2));
        assert_eq!(requested_version("v=two"), None);
        assert_eq!(requested_version("v"), None);
    }
}
