//! The live feed: the one WebSocket to the backend's `/ws`, turned into signals.
//!
//! [`provide_live_feed`] opens the socket, decodes every text frame straight into
//! [`ServerMsg`] and puts a [`LiveFeed`] of read-only signals in context for the components.
//! When the server goes away it reconnects by itself, first after [`FIRST_RETRY`], then
//! twice as long after each failed attempt, up to [`MAX_RETRY`]. On every connection the
//! server's snapshot replaces all that the page holds: window values are totals keyed by
//! (layer, start), so there is nothing to merge across a gap, and no sequence number to
//! resume from yet.

use std::cell::RefCell;
use std::rc::{Rc, Weak};
use std::time::Duration;

use layercast_shared::{OsiLayer, ServerMsg, PROTOCOL_VERSION};
use leptos::logging::{error, log, warn};
use leptos::prelude::*;
use send_wrapper::SendWrapper;
use wasm_bindgen::prelude::*;
use web_sys::{CloseEvent, MessageEvent, WebSocket};

use crate::history::{self, LayerHistory, LAYER_COUNT};

/// Wait before the first reconnection attempt: short, because a restarting server is usually
/// back within a second.
const FIRST_RETRY: Duration = Duration::from_millis(250);
/// Longest wait between attempts, so a page left open notices a returning server quickly
/// without hammering one that stays down.
const MAX_RETRY: Duration = Duration::from_secs(5);
/// Path of the WebSocket endpoint, on the origin that served the page.
const WS_PATH: &str = "/ws";

/// Where the feed stands, as the connection indicator shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionState {
    /// Never in sync yet since the page loaded.
    Connecting,
    /// The server's snapshot arrived: what the page shows is live.
    Connected,
    /// The connection was lost; the page shows the last data it had and keeps trying.
    Reconnecting,
}

impl ConnectionState {
    /// The indicator's text and `data-state` (the e2e tests read both).
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionState::Connecting => "connecting",
            ConnectionState::Connected => "connected",
            ConnectionState::Reconnecting => "reconnecting",
        }
    }
}

/// What the components read, put in context by [`provide_live_feed`]. Read-only on purpose:
/// only the socket writes, so a component cannot make the page disagree with the server.
#[derive(Debug, Clone, Copy)]
pub struct LiveFeed {
    pub state: ReadSignal<ConnectionState>,
    /// Name of the backend node that serves this connection, from its `hello`.
    pub node: ReadSignal<Option<String>>,
    /// One signal per layer, so that an update of L3 re-renders the L3 card only.
    layers: [ReadSignal<LayerHistory>; LAYER_COUNT],
    /// Anomalies pushed since the page opened: a count, for lists that reload on news.
    pub anomalies_seen: ReadSignal<u64>,
}

impl LiveFeed {
    pub fn history(&self, layer: OsiLayer) -> ReadSignal<LayerHistory> {
        self.layers[history::slot(layer)]
    }
}

/// The feed that [`provide_live_feed`] put in context.
pub fn use_live_feed() -> LiveFeed {
    expect_context::<LiveFeed>()
}

/// Opens the live feed, puts it in context and closes it when the calling owner is cleaned up.
pub fn provide_live_feed() -> LiveFeed {
    let (state, set_state) = signal(ConnectionState::Connecting);
    let (node, set_node) = signal(None);
    let layers = OsiLayer::ALL.map(|_| signal(LayerHistory::default()));
    let (anomalies_seen, set_anomalies_seen) = signal(0_u64);
    let feed = LiveFeed {
        state,
        node,
        layers: layers.map(|(read, _)| read),
        anomalies_seen,
    };
    let sinks = Sinks {
        state: set_state,
        node: set_node,
        layers: layers.map(|(_, write)| write),
        anomalies_seen: set_anomalies_seen,
    };
    provide_context(feed);

    let connection = Rc::new(RefCell::new(Connection::new(sinks)));
    connect(&connection);
    // `on_cleanup` asks for Send + Sync because the reactive graph can live on several
    // threads on a server. A browser page has one thread, and SendWrapper checks that.
    let connection = SendWrapper::new(connection);
    on_cleanup(move || connection.borrow_mut().stop());
    feed
}

/// The write ends of the signals in [`LiveFeed`].
#[derive(Clone, Copy)]
struct Sinks {
    state: WriteSignal<ConnectionState>,
    node: WriteSignal<Option<String>>,
    layers: [WriteSignal<LayerHistory>; LAYER_COUNT],
    anomalies_seen: WriteSignal<u64>,
}

/// The socket and its retry schedule. Shared as `Rc<RefCell<_>>` between the socket's event
/// handlers, the retry timer and the cleanup; a handler holds it weakly, so the socket and
/// its handlers do not keep each other alive.
struct Connection {
    sinks: Sinks,
    socket: Option<WebSocket>,
    /// The JS callbacks registered on `socket`. Kept alive as long as the socket can call
    /// them, and dropped only from outside them (at the next attempt or at cleanup), since a
    /// wasm-bindgen closure must not be freed while it runs.
    handlers: Option<Handlers>,
    /// The pending reconnection attempt, cancelled at cleanup.
    retry_timer: Option<TimeoutHandle>,
    /// Wait before the next attempt; back to [`FIRST_RETRY`] once a snapshot arrives.
    next_delay: Duration,
    /// Whether a snapshot ever arrived: from then on a lost connection reads `reconnecting`.
    ever_synced: bool,
    /// Set at cleanup: no more attempts, and a late event changes nothing.
    stopped: bool,
}

struct Handlers {
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_close: Closure<dyn FnMut(CloseEvent)>,
}

impl Connection {
    fn new(sinks: Sinks) -> Self {
        Connection {
            sinks,
            socket: None,
            handlers: None,
            retry_timer: None,
            next_delay: FIRST_RETRY,
            ever_synced: false,
            stopped: false,
        }
    }

    /// Closes the socket for good.
    fn stop(&mut self) {
        self.stopped = true;
        if let Some(timer) = self.retry_timer.take() {
            timer.clear();
        }
        if let Some(socket) = self.socket.take() {
            // Unhook first: `close` fires `onclose` later, when its closure is gone.
            detach(&socket);
            if let Err(err) = socket.close() {
                warn!("live feed: closing the socket failed: {err:?}");
            }
        }
        self.handlers = None;
    }
}

/// Opens a new socket; on failure, schedules the next attempt.
fn connect(connection: &Rc<RefCell<Connection>>) {
    if connection.borrow().stopped {
        return;
    }
    let socket = match ws_url().and_then(|url| WebSocket::new(&url)) {
        Ok(socket) => socket,
        Err(err) => {
            error!("live feed: cannot open the WebSocket: {err:?}");
            on_lost(connection);
            return;
        }
    };

    let weak = Rc::downgrade(connection);
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
        if let Some(connection) = weak.upgrade() {
            on_message(&connection, &event);
        }
    });
    let weak = Rc::downgrade(connection);
    let on_close = Closure::<dyn FnMut(CloseEvent)>::new(move |event: CloseEvent| {
        log!(
            "live feed: connection closed (code {}, {:?})",
            event.code(),
            event.reason()
        );
        if let Some(connection) = weak.upgrade() {
            on_lost(&connection);
        }
    });
    // No `onerror`: a failed or broken socket always fires `close` after `error`, and
    // handling both would schedule two attempts.
    socket.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    socket.set_onclose(Some(on_close.as_ref().unchecked_ref()));

    let mut conn = connection.borrow_mut();
    if let Some(old) = conn.socket.take() {
        detach(&old);
    }
    conn.socket = Some(socket);
    // Frees the previous socket's closures: safe, as `connect` runs at start or from the
    // retry timer, never inside one of them.
    conn.handlers = Some(Handlers {
        _on_message: on_message,
        _on_close: on_close,
    });
}

/// `ws://` or `wss://` (as the page was loaded), the page's host, `/ws`.
fn ws_url() -> Result<String, JsValue> {
    let location = window().location();
    let scheme = if location.protocol()? == "https:" {
        "wss"
    } else {
        "ws"
    };
    Ok(format!("{scheme}://{}{WS_PATH}", location.host()?))
}

fn detach(socket: &WebSocket) {
    socket.set_onmessage(None);
    socket.set_onclose(None);
}

fn on_message(connection: &Rc<RefCell<Connection>>, event: &MessageEvent) {
    let Some(text) = event.data().as_string() else {
        warn!("live feed: ignoring a binary frame; the protocol is JSON text");
        return;
    };
    match serde_json::from_str::<ServerMsg>(&text) {
        Ok(msg) => apply(connection, msg),
        // A message this build does not know (a newer server) is skipped, not fatal: the
        // next snapshot brings the page back in line.
        Err(err) => error!("live feed: cannot decode {text:?}: {err}"),
    }
}

fn apply(connection: &Rc<RefCell<Connection>>, msg: ServerMsg) {
    // Copy the sinks out instead of setting signals under the borrow, so that nothing the
    // signals trigger can find the connection borrowed.
    let sinks = connection.borrow().sinks;
    match msg {
        ServerMsg::Hello { protocol, node } => {
            if protocol != PROTOCOL_VERSION {
                warn!("live feed: server speaks protocol {protocol}, this page {PROTOCOL_VERSION}");
            }
            sinks.node.set(Some(node));
        }
        ServerMsg::Snapshot { windows } => {
            let layers = history::from_snapshot(windows);
            for (sink, layer) in sinks.layers.iter().zip(layers) {
                sink.set(layer);
            }
            {
                let mut conn = connection.borrow_mut();
                conn.next_delay = FIRST_RETRY;
                conn.ever_synced = true;
            }
            sinks.state.set(ConnectionState::Connected);
        }
        ServerMsg::Window { window } => {
            sinks.layers[history::slot(window.layer)].update(|h| h.apply(window));
        }
        ServerMsg::Anomalies { anomalies } => {
            sinks
                .anomalies_seen
                .update(|n| *n += anomalies.len() as u64);
        }
        // Only sent to clients that subscribe to series windows; this page does not.
        ServerMsg::Series { .. } => {}
    }
}

/// The socket closed or could not open: show it, and try again after the current delay.
fn on_lost(connection: &Rc<RefCell<Connection>>) {
    let (sinks, delay, state) = {
        let mut conn = connection.borrow_mut();
        if conn.stopped {
            return;
        }
        let delay = conn.next_delay;
        conn.next_delay = (delay * 2).min(MAX_RETRY);
        let state = if conn.ever_synced {
            ConnectionState::Reconnecting
        } else {
            ConnectionState::Connecting
        };
        (conn.sinks, delay, state)
    };
    sinks.state.set(state);

    let weak: Weak<RefCell<Connection>> = Rc::downgrade(connection);
    let retry = move || {
        if let Some(connection) = weak.upgrade() {
            connection.borrow_mut().retry_timer = None;
            connect(&connection);
        }
    };
    match set_timeout_with_handle(retry, delay) {
        Ok(timer) => connection.borrow_mut().retry_timer = Some(timer),
        Err(err) => error!("live feed: cannot schedule a reconnection: {err:?}"),
    }
}
