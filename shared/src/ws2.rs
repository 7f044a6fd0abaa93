//! Version 2 of the WebSocket protocol, spoken on `/ws?v=2` (plain `/ws` keeps version 1, in
//! [`crate::ServerMsg`] and [`crate::ClientMsg`]).
//!
//! Every server message is a [`Frame`]: the message, tagged by `type`, next to the node's
//! `epoch` (random per process start) and a sequence number `seq`. Updates are numbered one by
//! one, per node, in increasing order; the other frames carry the number of the newest update
//! the client is in sync with. A client that comes back with `resume {epoch, last_seq}` gets
//! what it missed from the node's buffer, or a fresh snapshot saying why not.

use serde::{Deserialize, Serialize};

use crate::{Alert, LayerWindow, OsiLayer, SeriesRunway, SeriesTrend, SeriesWindow, WindowAnomaly};

/// The version number of this protocol, in [`ServerMsg::Hello`].
pub const PROTOCOL: u16 = 2;

/// One server message with its place in the node's stream of updates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Frame {
    /// For an update: its number, increasing by one per update the node sends to anyone (a
    /// client sees gaps: what its subscription leaves out, and values replaced by newer ones
    /// while it was behind). For any other frame: the newest update number the client is in
    /// sync with, which is what it sends back in [`ClientMsg::Resume`].
    pub seq: u64,
    /// Random per start of the node's process, below 2^53 so that JavaScript reads it exactly.
    /// A resume with another epoch cannot continue the numbering and gets a snapshot.
    pub epoch: u64,
    #[serde(flatten)]
    pub msg: ServerMsg,
}

/// Messages from the server, inside a [`Frame`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMsg {
    /// First message of every connection. Then the server waits for the client's `resync` or
    /// `resume` before it sends any update (a `subscribe` before them sets what they carry).
    Hello { protocol: u16, node: String },
    /// The current windows of every subscribed layer: replace what the client holds. Updates
    /// with a higher `seq` follow.
    Snapshot {
        cause: SnapshotCause,
        windows: Vec<LayerWindow>,
    },
    /// The resume worked: the next `missed` frames are the updates the client missed (those of
    /// its subscription), in order, then live updates follow.
    Resumed { missed: u64 },
    /// What the client now receives, after `subscribe` or `unsubscribe`. Updates before this
    /// frame were chosen by the previous subscription, those after it by this one.
    Subscribed { subscription: Subscription },
    /// Kind `layers`: a layer window's new totals (over every entity of the layer).
    Layer { window: LayerWindow },
    /// Kind `windows`: a series window's new values (one entity of a layer).
    Series { window: SeriesWindow },
    /// Kind `anomalies`: a window the anomaly detector found unusual, as it closes.
    Anomaly { anomaly: WindowAnomaly },
    /// Kind `alerts`: an alert changed state, or was acknowledged or silenced.
    Alert { alert: Alert },
    /// Kind `trends`: a series' trend estimate changed.
    Trend { trend: SeriesTrend },
    /// Kind `runway`: a series' days until full changed.
    Runway { runway: SeriesRunway },
    /// The answer to [`ClientMsg::Ping`].
    Pong,
    /// The client fell further behind than the server keeps for it; the connection closes
    /// (code 1008) after this frame. Reconnect and resume.
    TooSlow,
}

/// Why a snapshot was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SnapshotCause {
    /// The client asked for its first one (`resync` before any snapshot or resume).
    Initial,
    /// The client asked again (`resync`).
    Requested,
    /// The resume named another epoch: the node restarted (or it is another node).
    EpochChanged,
    /// The resume asked for updates the node no longer keeps (or never sent).
    TooFarBehind,
}

/// What a client can subscribe to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Series windows ([`ServerMsg::Series`]).
    Windows,
    /// Layer windows ([`ServerMsg::Layer`]).
    Layers,
    /// Anomalies ([`ServerMsg::Anomaly`]).
    Anomalies,
    /// Alerts ([`ServerMsg::Alert`]).
    Alerts,
    /// Trends ([`ServerMsg::Trend`]).
    Trends,
    /// Runway ([`ServerMsg::Runway`]).
    Runway,
}

impl Kind {
    pub const ALL: [Kind; 6] = [
        Kind::Windows,
        Kind::Layers,
        Kind::Anomalies,
        Kind::Alerts,
        Kind::Trends,
        Kind::Runway,
    ];
}

/// A client's subscription, as the server applies it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscription {
    /// Layers received; empty: every layer.
    #[serde(default)]
    pub layers: Vec<OsiLayer>,
    /// A glob pattern (`*` any run of characters, `?` one) over the entity of the updates that
    /// have one (windows, anomalies); `None`: every entity. Layer windows have no entity and
    /// are not filtered by it.
    #[serde(default)]
    pub entities: Option<String>,
    /// Kinds received.
    pub kinds: Vec<Kind>,
    /// Only final values of windows (layer and series); anomalies are of closed windows anyway.
    #[serde(default)]
    pub final_only: bool,
}

impl Default for Subscription {
    /// What a client receives before it subscribes: what version 1 sends every client, the
    /// layer windows and the anomalies of every layer.
    fn default() -> Self {
        Subscription {
            layers: Vec::new(),
            entities: None,
            kinds: vec![Kind::Layers, Kind::Anomalies],
            final_only: false,
        }
    }
}

/// Messages from the client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMsg {
    /// Replaces the subscription. An absent field means everything: `{"type":"subscribe"}`
    /// subscribes to every kind of every layer and entity.
    Subscribe {
        #[serde(default)]
        layers: Vec<OsiLayer>,
        #[serde(default)]
        entities: Option<String>,
        /// Absent or empty: every kind.
        #[serde(default)]
        kinds: Vec<Kind>,
        #[serde(default)]
        final_only: bool,
    },
    /// Stops these kinds (absent or empty: every kind, so nothing but control frames follows).
    Unsubscribe {
        #[serde(default)]
        kinds: Vec<Kind>,
    },
    /// Continue after the update `last_seq` of the process `epoch`.
    Resume { epoch: u64, last_seq: u64 },
    /// Send a snapshot and then the updates after it.
    Resync,
    /// Answered with [`ServerMsg::Pong`]; any message tells the server the client is alive.
    Ping,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_carry_seq_and_epoch_next_to_the_type() {
        let frame = Frame {
            seq: 7,
            epoch: 42,
            msg: ServerMsg::Snapshot {
                cause: SnapshotCause::EpochChanged,
                windows: vec![],
            },
        };
        let text = serde_json::to_string(&frame).expect("encode");
        assert_eq!(
            text,
            r#"{"seq":7,"epoch":42,"type":"snapshot","cause":"epoch_changed","windows":[]}"#
        );
        assert_eq!(serde_json::from_str::<Frame>(&text).expect("decode"), frame);
        let slow: Frame =
            serde_json::from_str(r#"{"type":"too_slow","seq":1,"epoch":2}"#).expect("decode");
        assert_eq!(slow.msg, ServerMsg::TooSlow);
    }

    #[test]
    fn a_bare_subscribe_means_everything() {
        let msg: ClientMsg = serde_json::from_str(r#"{"type":"subscribe"}"#).expect("decode");
        assert_eq!(
            msg,
            ClientMsg::Subscribe {
                layers: vec![],
                entities: None,
                kinds: vec![],
                final_only: false
            }
        );
        let resume: ClientMsg =
            serde_json::from_str(r#"{"type":"resume","epoch":3,"last_seq":9}"#).expect("decode");
        assert_eq!(
            resume,
            ClientMsg::Resume {
                epoch: 3,
                last_seq: 9
            }
        );
    }
}
