//! The live feed: the one WebSocket to the backend's `/ws?v=2`, turned into signals.
//!
//! [`provide_live_feed`] opens the socket, decodes every text frame straight into a
//! [`Frame`] of protocol 2 and puts a [`LiveFeed`] of read-only signals in context for the
//! components. What to send, how a frame changes the page, when to ping and how long to wait
//! before reconnecting is decided by [`Feed`] (`feed.rs`, with native tests); this file owns
//! the socket and the timers and does what it says. On a reconnection the page resumes from
//! the last update it had: the server sends what it missed, or a snapshot saying why not.

use std::cell::RefCell;
use std::rc::{Rc, Weak};
use std::time::Duration;

use layercast_shared::v2::{ClientMsg, Frame};
use layercast_shared::{OsiLayer, SeriesRunway, SeriesTrend};
use leptos::logging::{error, log, warn};
use leptos::prelude::*;
use send_wrapper::SendWrapper;
use std::collections::BTreeMap;
use wasm_bindgen::prelude::*;
use web_sys::{CloseEvent, Event, MessageEvent, WebSocket};

pub use crate::feed::ConnectionState;
use crate::feed::{Effect, Feed, Tick};
use crate::history::{self, LayerHistory, LAYER_COUNT};
use crate::model::alerts::AlertBoard;

/// Key of a series' trend or runway in the live maps: `L3/core-1/bytes_per_s`.
pub fn series_key(layer: OsiLayer, entity: &str, metric: &str) -> String {
    format!("{layer}/{entity}/{metric}")
}

/// Path of the WebSocket endpoint, on the origin that served the page: protocol 2.
const WS_PATH: &str = "/ws?v=2";
/// How often the page checks whether to ping or to give a silent server up.
const TICK: Duration = Duration::from_secs(1);

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
    /// Every alert change pushed since the page opened, newest per alert: pages lay it over
    /// what `/api/alerts` gave them ([`AlertBoard::merged`]).
    pub alerts: ReadSignal<AlertBoard>,
    /// Trend and runway changes pushed since the page opened, by [`series_key`].
    pub trends: ReadSignal<BTreeMap<String, SeriesTrend>>,
    pub runway: ReadSignal<BTreeMap<String, SeriesRunway>>,
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
    let (alerts, set_alerts) = signal(AlertBoard::default());
    let (trends, set_trends) = signal(BTreeMap::new());
    let (runway, set_runway) = signal(BTreeMap::new());
    let feed = LiveFeed {
        state,
        node,
        layers: layers.map(|(read, _)| read),
        anomalies_seen,
        alerts,
        trends,
        runway,
    };
    let sinks = Sinks {
        state: set_state,
        node: set_node,
        layers: layers.map(|(_, write)| write),
        anomalies_seen: set_anomalies_seen,
        alerts: set_alerts,
        trends: set_trends,
        runway: set_runway,
    };
    provide_context(feed);

    let connection = Rc::new(RefCell::new(Connection::new(sinks)));
    connect(&connection);
    start_ticking(&connection);
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
    alerts: WriteSignal<AlertBoard>,
    trends: WriteSignal<BTreeMap<String, SeriesTrend>>,
    runway: WriteSignal<BTreeMap<String, SeriesRunway>>,
}

/// The socket, its protocol state and its timers. Shared as `Rc<RefCell<_>>` between the
/// socket's event handlers, the timers and the cleanup; a handler holds it weakly, so the
/// socket and its handlers do not keep each other alive.
struct Connection {
    sinks: Sinks,
    feed: Feed,
    socket: Option<WebSocket>,
    /// The JS callbacks registered on `socket`. Kept alive as long as the socket can call
    /// them, and dropped only from outside them (at the next attempt or at cleanup), since a
    /// wasm-bindgen closure must not be freed while it runs.
    handlers: Option<Handlers>,
    /// The pending reconnection attempt, cancelled at cleanup.
    retry_timer: Option<TimeoutHandle>,
    /// The ping and silence check, cancelled at cleanup.
    ticker: Option<IntervalHandle>,
    /// Set at cleanup: no more attempts, and a late event changes nothing.
    stopped: bool,
}

struct Handlers {
    _on_open: Closure<dyn FnMut(Event)>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_close: Closure<dyn FnMut(CloseEvent)>,
}

impl Connection {
    fn new(sinks: Sinks) -> Self {
        Connection {
            sinks,
            feed: Feed::default(),
            socket: None,
            handlers: None,
            retry_timer: None,
            ticker: None,
            stopped: false,
        }
    }

    /// Closes the socket for good.
    fn stop(&mut self) {
        self.stopped = true;
        if let Some(timer) = self.retry_timer.take() {
            timer.clear();
        }
        if let Some(ticker) = self.ticker.take() {
            ticker.clear();
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

    /// Sends messages on the open socket; a failure shows up as a close, which reconnects.
    fn send(&self, msgs: &[ClientMsg]) {
        let Some(socket) = &self.socket else { return };
        for msg in msgs {
            match serde_json::to_string(msg) {
                Ok(text) => {
                    if let Err(err) = socket.send_with_str(&text) {
                        warn!("live feed: cannot send {text}: {err:?}");
                    }
                }
                Err(err) => error!("live feed: cannot encode {msg:?}: {err}"),
            }
        }
    }
}

/// The page's clock, in ms.
fn now_ms() -> f64 {
    js_sys::Date::now()
}

/// Every [`TICK`]: a ping when one is due, a new connection when the server went silent.
fn start_ticking(connection: &Rc<RefCell<Connection>>) {
    let weak = Rc::downgrade(connection);
    let tick = move || {
        let Some(connection) = weak.upgrade() else {
            return;
        };
        let action = {
            let mut conn = connection.borrow_mut();
            if conn.socket.is_none() || conn.stopped {
                return;
            }
            conn.feed.on_tick(now_ms())
        };
        match action {
            Tick::Nothing => {}
            Tick::Ping => connection.borrow().send(&[ClientMsg::Ping]),
            Tick::Reconnect => {
                warn!("live feed: the server went silent; reconnecting");
                // `onclose` follows and schedules the next attempt.
                if let Some(socket) = &connection.borrow().socket {
                    let _ = socket.close();
                }
            }
        }
    };
    match set_interval_with_handle(tick, TICK) {
        Ok(handle) => connection.borrow_mut().ticker = Some(handle),
        Err(err) => error!("live feed: cannot start the ping timer: {err:?}"),
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
    let on_open = Closure::<dyn FnMut(Event)>::new(move |_: Event| {
        if let Some(connection) = weak.upgrade() {
            connection.borrow_mut().feed.on_open(now_ms());
        }
    });
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
    socket.set_onopen(Some(on_open.as_ref().unchecked_ref()));
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
        _on_open: on_open,
        _on_message: on_message,
        _on_close: on_close,
    });
}

/// `ws://` or `wss://` (as the page was loaded), the page's host, [`WS_PATH`].
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
    socket.set_onopen(None);
    socket.set_onmessage(None);
    socket.set_onclose(None);
}

fn on_message(connection: &Rc<RefCell<Connection>>, event: &MessageEvent) {
    let Some(text) = event.data().as_string() else {
        warn!("live feed: ignoring a binary frame; the protocol is JSON text");
        return;
    };
    match serde_json::from_str::<Frame>(&text) {
        Ok(frame) => apply(connection, frame),
        // A message this build does not know (a newer server) is skipped, not fatal: the
        // next snapshot brings the page back in line.
        Err(err) => error!("live feed: cannot decode {text:?}: {err}"),
    }
}

fn apply(connection: &Rc<RefCell<Connection>>, frame: Frame) {
    if let layercast_shared::v2::ServerMsg::Hello { node, .. } = &frame.msg {
        connection.borrow().sinks.node.set(Some(node.clone()));
    }
    let (effect, state, sinks) = {
        let mut conn = connection.borrow_mut();
        let effect = conn.feed.on_frame(frame, now_ms());
        (effect, conn.feed.state(), conn.sinks)
    };
    // Signals are set outside the borrow, so that nothing they trigger can find the
    // connection borrowed.
    match effect {
        Effect::Send(msgs) => connection.borrow().send(&msgs),
        Effect::Replace(windows) => {
            let layers = history::from_snapshot(windows);
            for (sink, layer) in sinks.layers.iter().zip(layers) {
                sink.set(layer);
            }
        }
        Effect::Apply(window) => {
            sinks.layers[history::slot(window.layer)].update(|h| h.apply(window));
        }
        Effect::Anomaly(_) => sinks.anomalies_seen.update(|n| *n += 1),
        Effect::Alert(alert) => sinks.alerts.update(|board| board.apply(alert)),
        Effect::Trend(trend) => sinks.trends.update(|map| {
            map.insert(series_key(trend.layer, &trend.entity, &trend.metric), trend);
        }),
        Effect::Runway(runway) => sinks.runway.update(|map| {
            map.insert(
                series_key(runway.layer, &runway.entity, &runway.metric),
                runway,
            );
        }),
        Effect::None => {}
    }
    // Only a change notifies: most frames leave the state as it is.
    sinks.state.maybe_update(|shown| {
        let changed = *shown != state;
        *shown = state;
        changed
    });
}

/// The socket closed or could not open: show it, and try again after the feed's delay.
fn on_lost(connection: &Rc<RefCell<Connection>>) {
    let (sinks, delay, state) = {
        let mut conn = connection.borrow_mut();
        if conn.stopped {
            return;
        }
        // Uniform in [0, 1): spreads the reconnections of many pages.
        let delay = conn.feed.on_close(js_sys::Math::random());
        (conn.sinks, delay, conn.feed.state())
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
