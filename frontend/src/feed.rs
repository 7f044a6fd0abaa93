//! The live feed's logic without a browser: what to send when a connection opens, how each
//! frame of protocol 2 changes the page, when to ping and when to give a silent server up,
//! and how long to wait before the next attempt. `live.rs` owns the socket and the timers and
//! does what this says; the unit tests here run natively.
//!
//! The rule: the page remembers the server's `epoch` and the `seq` it is in sync with. On a
//! new connection it asks to `resume` from there; the server answers `resumed` and the missed
//! updates, or a snapshot saying why it could not. A page that has nothing yet asks for one.

use std::time::Duration;

use layercast_shared::v2::{ClientMsg, Frame, Kind, ServerMsg, SnapshotCause, PROTOCOL};
use layercast_shared::{Alert, LayerWindow, SeriesRunway, SeriesTrend, WindowAnomaly};

/// Wait before the first reconnection attempt: short, because a restarting server is usually
/// back within a second.
pub const FIRST_RETRY: Duration = Duration::from_millis(250);
/// Longest wait between attempts, so a page left open notices a returning server quickly
/// without hammering one that stays down.
pub const MAX_RETRY: Duration = Duration::from_secs(5);
/// How often the page pings: browsers answer the server's pings themselves but never tell
/// the page, so the page learns that the server is alive from its own pings' answers.
pub const PING_EVERY: Duration = Duration::from_secs(10);
/// Silence after which the page takes the connection for dead and opens another: two missed
/// pongs and some.
pub const SILENCE_LIMIT: Duration = Duration::from_secs(25);

/// Where the feed stands, as the connection indicator shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionState {
    /// Never in sync yet since the page loaded.
    Connecting,
    /// In sync from the first snapshot on.
    Live,
    /// The connection was lost; the page shows the last data it had and keeps trying.
    Reconnecting,
    /// Back in sync after a reconnection, with every update missed meanwhile.
    Resumed,
    /// Back in sync after a reconnection through a fresh snapshot (the server restarted, or
    /// the page was away too long).
    Snapshot,
}

impl ConnectionState {
    /// The indicator's text and `data-state` (the e2e tests read both).
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionState::Connecting => "connecting",
            ConnectionState::Live => "live",
            ConnectionState::Reconnecting => "reconnecting",
            ConnectionState::Resumed => "resumed",
            ConnectionState::Snapshot => "snapshot",
        }
    }

    /// Whether what the page shows is current.
    pub fn is_live(self) -> bool {
        matches!(
            self,
            ConnectionState::Live | ConnectionState::Resumed | ConnectionState::Snapshot
        )
    }
}

/// What a frame asks the page to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Send these messages.
    Send(Vec<ClientMsg>),
    /// Replace every layer's windows.
    Replace(Vec<LayerWindow>),
    /// Apply one layer window's new totals.
    Apply(LayerWindow),
    /// New anomalies were found.
    Anomaly(WindowAnomaly),
    /// An alert changed state, or was acknowledged or silenced.
    Alert(Alert),
    /// A series' trend estimate changed.
    Trend(SeriesTrend),
    /// A series' days until full changed.
    Runway(SeriesRunway),
    /// Nothing to do.
    None,
}

/// What the page does at a tick of its timer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tick {
    Nothing,
    Ping,
    /// The server is silent past [`SILENCE_LIMIT`]: close and reconnect.
    Reconnect,
}

/// The feed's state across connections.
#[derive(Debug, Clone, PartialEq)]
pub struct Feed {
    state: ConnectionState,
    /// The server process (`epoch`) and update (`seq`) the page is in sync with.
    position: Option<(u64, u64)>,
    /// This connection has delivered its snapshot or `resumed`: from then on its frames move
    /// the position.
    in_sync: bool,
    /// Failed attempts since the page was last in sync.
    attempts: u32,
    /// When the page last heard the server and last pinged (ms on the page's clock).
    last_heard_ms: f64,
    last_ping_ms: f64,
}

impl Default for Feed {
    fn default() -> Self {
        Feed {
            state: ConnectionState::Connecting,
            position: None,
            in_sync: false,
            attempts: 0,
            last_heard_ms: 0.0,
            last_ping_ms: 0.0,
        }
    }
}

impl Feed {
    pub fn state(&self) -> ConnectionState {
        self.state
    }

    /// The (epoch, seq) the page is in sync with.
    #[cfg(test)]
    pub fn position(&self) -> Option<(u64, u64)> {
        self.position
    }

    /// A socket opened at `now_ms`.
    pub fn on_open(&mut self, now_ms: f64) {
        self.in_sync = false;
        self.last_heard_ms = now_ms;
        self.last_ping_ms = now_ms;
    }

    /// What the dashboard subscribes to: layer windows, anomalies, alerts, trends and runway
    /// of every layer. Series windows are left out: the pages that chart one entity fetch its
    /// history when its layer's window closes, rather than every page taking every series.
    /// A server without the analysis kinds ignores the whole message and keeps sending its
    /// default (layers and anomalies), so the page works with it too.
    pub fn subscribe() -> ClientMsg {
        ClientMsg::Subscribe {
            layers: Vec::new(),
            entities: None,
            kinds: vec![
                Kind::Layers,
                Kind::Anomalies,
                Kind::Alerts,
                Kind::Trends,
                Kind::Runway,
            ],
            final_only: false,
        }
    }

    /// A frame arrived at `now_ms`.
    pub fn on_frame(&mut self, frame: Frame, now_ms: f64) -> Effect {
        self.last_heard_ms = now_ms;
        let Frame { seq, epoch, msg } = frame;
        if self.in_sync {
            self.position = Some((epoch, seq.max(self.position.map_or(0, |(_, s)| s))));
        }
        match msg {
            ServerMsg::Hello { protocol, .. } => {
                if protocol != PROTOCOL {
                    return Effect::None;
                }
                let sync = match self.position {
                    Some((epoch, last_seq)) => ClientMsg::Resume { epoch, last_seq },
                    None => ClientMsg::Resync,
                };
                Effect::Send(vec![Self::subscribe(), sync])
            }
            ServerMsg::Snapshot { cause, windows } => {
                self.in_sync = true;
                self.position = Some((epoch, seq));
                self.attempts = 0;
                self.state = match (cause, self.state) {
                    (SnapshotCause::Initial, _) | (_, ConnectionState::Connecting) => {
                        ConnectionState::Live
                    }
                    (SnapshotCause::Requested, state) if state.is_live() => state,
                    _ => ConnectionState::Snapshot,
                };
                Effect::Replace(windows)
            }
            ServerMsg::Resumed { .. } => {
                self.in_sync = true;
                self.position = Some((epoch, seq));
                self.attempts = 0;
                self.state = ConnectionState::Resumed;
                Effect::None
            }
            ServerMsg::Layer { window } if self.in_sync => Effect::Apply(window),
            ServerMsg::Anomaly { anomaly } if self.in_sync => Effect::Anomaly(anomaly),
            ServerMsg::Alert { alert } if self.in_sync => Effect::Alert(alert),
            ServerMsg::Trend { trend } if self.in_sync => Effect::Trend(trend),
            ServerMsg::Runway { runway } if self.in_sync => Effect::Runway(runway),
            // The socket closes after it; the close handler reconnects and resumes.
            ServerMsg::TooSlow => Effect::None,
            _ => Effect::None,
        }
    }

    /// The socket closed (or could not open): returns how long to wait before the next
    /// attempt, given `jitter` drawn uniformly from [0, 1).
    pub fn on_close(&mut self, jitter: f64) -> Duration {
        self.in_sync = false;
        if self.state != ConnectionState::Connecting {
            self.state = ConnectionState::Reconnecting;
        }
        let delay = backoff(self.attempts, jitter);
        self.attempts = self.attempts.saturating_add(1);
        delay
    }

    /// The page's timer fired at `now_ms` (with the socket open).
    pub fn on_tick(&mut self, now_ms: f64) -> Tick {
        if now_ms - self.last_heard_ms > SILENCE_LIMIT.as_millis() as f64 {
            Tick::Reconnect
        } else if now_ms - self.last_ping_ms >= PING_EVERY.as_millis() as f64 {
            self.last_ping_ms = now_ms;
            Tick::Ping
        } else {
            Tick::Nothing
        }
    }
}

/// Exponential backoff with jitter: the `attempt`-th retry (from 0) waits between half and all
/// of [`FIRST_RETRY`] × 2^attempt, at most [`MAX_RETRY`]. The random half spreads the pages of
/// a wall of dashboards, so that a restarted server does not get them all in the same
/// millisecond.
pub fn backoff(attempt: u32, jitter: f64) -> Duration {
    let ceiling = FIRST_RETRY
        .saturating_mul(1_u32.checked_shl(attempt.min(16)).unwrap_or(u32::MAX))
        .min(MAX_RETRY);
    ceiling.mul_f64(0.5 + jitter.clamp(0.0, 1.0) / 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use layercast_shared::OsiLayer;

    fn frame(seq: u64, epoch: u64, msg: ServerMsg) -> Frame {
        Frame { seq, epoch, msg }
    }

    fn hello() -> ServerMsg {
        ServerMsg::Hello {
            protocol: PROTOCOL,
            node: "n".into(),
        }
    }

    fn window(events: u64) -> LayerWindow {
        // From JSON, so that fields added with a default need no change here.
        serde_json::from_value(serde_json::json!({
            "layer": "L3",
            "start_ms": 0,
            "end_ms": 10_000,
            "events": events,
            "bytes": events,
            "is_final": false,
        }))
        .expect("a layer window")
    }

    fn sent(effect: Effect) -> Vec<ClientMsg> {
        match effect {
            Effect::Send(msgs) => msgs,
            other => panic!("expected messages to send, got {other:?}"),
        }
    }

    #[test]
    fn a_fresh_page_asks_for_a_snapshot_and_goes_live() {
        let mut feed = Feed::default();
        feed.on_open(0.0);
        let msgs = sent(feed.on_frame(frame(5, 9, hello()), 1.0));
        assert_eq!(msgs[1], ClientMsg::Resync);
        let snapshot = ServerMsg::Snapshot {
            cause: SnapshotCause::Initial,
            windows: vec![window(1)],
        };
        assert_eq!(
            feed.on_frame(frame(5, 9, snapshot), 2.0),
            Effect::Replace(vec![window(1)])
        );
        assert_eq!(feed.state(), ConnectionState::Live);
        let update = ServerMsg::Layer { window: window(2) };
        assert_eq!(
            feed.on_frame(frame(6, 9, update), 3.0),
            Effect::Apply(window(2))
        );
        assert_eq!(feed.position(), Some((9, 6)));
    }

    #[test]
    fn a_reconnecting_page_resumes_from_its_last_seq() {
        let mut feed = Feed::default();
        feed.on_open(0.0);
        feed.on_frame(frame(0, 9, hello()), 0.0);
        feed.on_frame(
            frame(
                3,
                9,
                ServerMsg::Snapshot {
                    cause: SnapshotCause::Initial,
                    windows: vec![],
                },
            ),
            0.0,
        );
        feed.on_frame(frame(8, 9, ServerMsg::Layer { window: window(1) }), 0.0);
        feed.on_close(0.5);
        assert_eq!(feed.state(), ConnectionState::Reconnecting);
        feed.on_open(10.0);
        let msgs = sent(feed.on_frame(frame(12, 9, hello()), 10.0));
        assert_eq!(
            msgs[1],
            ClientMsg::Resume {
                epoch: 9,
                last_seq: 8
            }
        );
        assert_eq!(
            feed.on_frame(frame(8, 9, ServerMsg::Resumed { missed: 1 }), 11.0),
            Effect::None
        );
        assert_eq!(feed.state(), ConnectionState::Resumed);
        feed.on_frame(frame(10, 9, ServerMsg::Layer { window: window(2) }), 12.0);
        assert_eq!(feed.position(), Some((9, 10)));
    }

    #[test]
    fn a_snapshot_after_a_restart_says_so_and_takes_the_new_epoch() {
        let mut feed = Feed::default();
        feed.on_open(0.0);
        feed.on_frame(frame(0, 9, hello()), 0.0);
        let initial = ServerMsg::Snapshot {
            cause: SnapshotCause::Initial,
            windows: vec![],
        };
        feed.on_frame(frame(3, 9, initial), 0.0);
        feed.on_close(0.0);
        feed.on_open(1.0);
        feed.on_frame(frame(0, 77, hello()), 1.0);
        let fresh = ServerMsg::Snapshot {
            cause: SnapshotCause::EpochChanged,
            windows: vec![window(4)],
        };
        assert_eq!(
            feed.on_frame(frame(0, 77, fresh), 1.0),
            Effect::Replace(vec![window(4)])
        );
        assert_eq!(feed.state(), ConnectionState::Snapshot);
        assert_eq!(feed.position(), Some((77, 0)));
    }

    #[test]
    fn frames_before_the_sync_neither_apply_nor_move_the_position() {
        let mut feed = Feed::default();
        feed.on_open(0.0);
        assert_eq!(
            feed.on_frame(frame(4, 9, ServerMsg::Layer { window: window(1) }), 0.0),
            Effect::None
        );
        assert_eq!(feed.position(), None);
    }

    #[test]
    fn backoff_doubles_up_to_the_limit_with_jitter() {
        assert_eq!(backoff(0, 0.0), FIRST_RETRY / 2);
        assert_eq!(backoff(0, 0.999_999), FIRST_RETRY.mul_f64(0.999_999_5));
        assert_eq!(backoff(2, 1.0), FIRST_RETRY * 4);
        assert_eq!(backoff(30, 1.0), MAX_RETRY);
        assert!(backoff(30, 0.0) >= MAX_RETRY / 2);
        let mut feed = Feed::default();
        let waits: Vec<Duration> = (0..3).map(|_| feed.on_close(1.0)).collect();
        assert_eq!(waits, [FIRST_RETRY, FIRST_RETRY * 2, FIRST_RETRY * 4]);
        assert_eq!(feed.state(), ConnectionState::Connecting, "never in sync");
    }

    #[test]
    fn the_page_pings_and_gives_up_on_a_silent_server() {
        let mut feed = Feed::default();
        feed.on_open(0.0);
        assert_eq!(feed.on_tick(1_000.0), Tick::Nothing);
        assert_eq!(feed.on_tick(10_000.0), Tick::Ping);
        assert_eq!(feed.on_tick(11_000.0), Tick::Nothing);
        feed.on_frame(frame(0, 1, ServerMsg::Pong), 11_000.0);
        assert_eq!(feed.on_tick(30_000.0), Tick::Ping);
        assert_eq!(feed.on_tick(36_001.0), Tick::Reconnect);
    }

    #[test]
    fn the_page_subscribes_to_the_analysis_and_applies_its_updates() {
        let mut feed = Feed::default();
        feed.on_open(0.0);
        let msgs = sent(feed.on_frame(frame(0, 9, hello()), 0.0));
        let ClientMsg::Subscribe { kinds, .. } = &msgs[0] else {
            panic!("first a subscribe, got {msgs:?}");
        };
        for kind in [Kind::Alerts, Kind::Trends, Kind::Runway, Kind::Layers] {
            assert!(kinds.contains(&kind), "{kind:?}");
        }
        let runway = SeriesRunway {
            layer: OsiLayer::L3,
            entity: "core-1".into(),
            metric: "bytes_per_s".into(),
            capacity: 10.0,
            current: 5.0,
            days_until_full: Some(3.0),
            state: "filling".into(),
            at_ms: 0,
        };
        let update = ServerMsg::Runway {
            runway: runway.clone(),
        };
        assert_eq!(
            feed.on_frame(frame(1, 9, update.clone()), 0.0),
            Effect::None,
            "before the sync, nothing applies"
        );
        feed.on_frame(
            frame(
                2,
                9,
                ServerMsg::Snapshot {
                    cause: SnapshotCause::Initial,
                    windows: vec![],
                },
            ),
            0.0,
        );
        assert_eq!(
            feed.on_frame(frame(3, 9, update), 0.0),
            Effect::Runway(runway)
        );
        assert_eq!(feed.position(), Some((9, 3)));
    }
}
