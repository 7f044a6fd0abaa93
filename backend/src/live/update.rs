//! One numbered update of protocol 2, encoded once for every client, and the subscription
//! filter that decides who gets it. Pure: no actors, no sockets.

use std::borrow::Cow;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use bytestring::ByteString;
use layercast_shared::v2::{Frame, Kind, ServerMsg, Subscription};
use layercast_shared::{
    Alert, LayerWindow, OsiLayer, SeriesRunway, SeriesTrend, SeriesWindow, WindowAnomaly,
};

/// What a newer update replaces while a client is behind: the same kind, layer, entity and
/// window (start and end, since roll-ups share starts with their base windows). Anomalies add
/// their metric, so that one metric's anomaly never hides another's.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key {
    pub kind: Kind,
    pub layer: OsiLayer,
    pub entity: String,
    pub start_ms: i64,
    pub end_ms: i64,
    /// What else tells two updates of a series apart: an anomaly's metric, an alert's id, a
    /// trend's or a runway's metric.
    pub detail: Cow<'static, str>,
}

/// A numbered update with its frame text, shared (`Arc`) by the ring and every client queue.
#[derive(Debug)]
pub struct Update {
    pub seq: u64,
    pub key: Key,
    /// For `final_only`: whether the value is a window's last (anomalies always are).
    pub is_final: bool,
    /// The encoded [`Frame`], sent as is to every client that wants it.
    pub text: ByteString,
}

impl Update {
    pub fn layer(seq: u64, epoch: u64, window: LayerWindow) -> Option<Update> {
        let key = Key {
            kind: Kind::Layers,
            layer: window.layer,
            entity: String::new(),
            start_ms: window.start_ms,
            end_ms: window.end_ms,
            detail: Cow::Borrowed(""),
        };
        let is_final = window.is_final;
        Self::encode(seq, epoch, key, is_final, ServerMsg::Layer { window })
    }

    pub fn series(seq: u64, epoch: u64, window: SeriesWindow) -> Option<Update> {
        let key = Key {
            kind: Kind::Windows,
            layer: window.layer,
            entity: window.entity.clone(),
            start_ms: window.start_ms,
            end_ms: window.end_ms,
            detail: Cow::Borrowed(""),
        };
        let is_final = window.is_final;
        Self::encode(seq, epoch, key, is_final, ServerMsg::Series { window })
    }

    pub fn anomaly(seq: u64, epoch: u64, anomaly: WindowAnomaly) -> Option<Update> {
        let key = Key {
            kind: Kind::Anomalies,
            layer: anomaly.layer,
            entity: anomaly.entity.clone(),
            start_ms: anomaly.start_ms,
            end_ms: anomaly.end_ms,
            detail: Cow::Borrowed(anomaly.metric.as_str()),
        };
        Self::encode(seq, epoch, key, true, ServerMsg::Anomaly { anomaly })
    }

    /// An alert's new state: a newer one replaces it in a slow client's queue.
    pub fn alert(seq: u64, epoch: u64, alert: Alert) -> Option<Update> {
        let key = Key {
            kind: Kind::Alerts,
            layer: alert.layer,
            entity: alert.entity.clone(),
            start_ms: 0,
            end_ms: 0,
            detail: Cow::Owned(alert.id.clone()),
        };
        Self::encode(seq, epoch, key, true, ServerMsg::Alert { alert })
    }

    pub fn trend(seq: u64, epoch: u64, trend: SeriesTrend) -> Option<Update> {
        let key = Key {
            kind: Kind::Trends,
            layer: trend.layer,
            entity: trend.entity.clone(),
            start_ms: 0,
            end_ms: 0,
            detail: Cow::Owned(trend.metric.clone()),
        };
        Self::encode(seq, epoch, key, true, ServerMsg::Trend { trend })
    }

    pub fn runway(seq: u64, epoch: u64, runway: SeriesRunway) -> Option<Update> {
        let key = Key {
            kind: Kind::Runway,
            layer: runway.layer,
            entity: runway.entity.clone(),
            start_ms: 0,
            end_ms: 0,
            detail: Cow::Owned(runway.metric.clone()),
        };
        Self::encode(seq, epoch, key, true, ServerMsg::Runway { runway })
    }

    fn encode(seq: u64, epoch: u64, key: Key, is_final: bool, msg: ServerMsg) -> Option<Update> {
        let text = encode_frame(seq, epoch, msg)?;
        Some(Update {
            seq,
            key,
            is_final,
            text,
        })
    }

    /// Bytes a queued copy holds, as counted against a client's bound: the text is shared,
    /// but a client that is behind keeps it alive on its own.
    pub fn bytes(&self) -> usize {
        self.text.len() + std::mem::size_of::<Update>() + self.key.entity.len()
    }
}

/// Encodes a frame; `None` (logged) when serde cannot, which plain data types never make it do.
pub fn encode_frame(seq: u64, epoch: u64, msg: ServerMsg) -> Option<ByteString> {
    match serde_json::to_string(&Frame { seq, epoch, msg }) {
        Ok(text) => Some(ByteString::from(text)),
        Err(e) => {
            tracing::error!(error = %e, "cannot encode a frame");
            None
        }
    }
}

/// Hashes and compares an `Arc<Update>` by its key, so that a queue indexes what it holds
/// without a copy of the key per client.
#[derive(Debug, Clone)]
pub struct ByKey(pub Arc<Update>);

impl PartialEq for ByKey {
    fn eq(&self, other: &Self) -> bool {
        self.0.key == other.0.key
    }
}

impl Eq for ByKey {}

impl Hash for ByKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.key.hash(state);
    }
}

/// A subscription made ready to test updates against.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    pub subscription: Subscription,
    pattern: Option<Vec<char>>,
}

impl Filter {
    pub fn new(subscription: Subscription) -> Filter {
        let pattern = subscription
            .entities
            .as_deref()
            .filter(|p| *p != "*")
            .map(|p| p.chars().collect());
        Filter {
            subscription,
            pattern,
        }
    }

    pub fn wants(&self, update: &Update) -> bool {
        let sub = &self.subscription;
        let key = &update.key;
        sub.kinds.contains(&key.kind)
            && (sub.layers.is_empty() || sub.layers.contains(&key.layer))
            && (update.is_final || !sub.final_only)
            && (key.kind == Kind::Layers
                || self
                    .pattern
                    .as_deref()
                    .is_none_or(|p| glob_match(p, &key.entity)))
    }

    /// Whether a snapshot for this subscription holds `window`.
    pub fn wants_in_snapshot(&self, window: &LayerWindow) -> bool {
        let sub = &self.subscription;
        (sub.layers.is_empty() || sub.layers.contains(&window.layer))
            && (window.is_final || !sub.final_only)
    }
}

/// `*` matches any run of characters (also none), `?` exactly one, anything else itself.
/// Backtracks to the last `*` only, which is enough for these two wildcards (linear in
/// practice, quadratic at worst).
pub fn glob_match(pattern: &[char], text: &str) -> bool {
    let text: Vec<char> = text.chars().collect();
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some('*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == '?' || c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p.min(pattern.len())..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn glob(p: &str, t: &str) -> bool {
        glob_match(&p.chars().collect::<Vec<_>>(), t)
    }

    #[test]
    fn globs_match_stars_and_question_marks() {
        assert!(glob("10.0.*", "10.0.0.1:443"));
        assert!(glob("*:443", "10.0.0.1:443"));
        assert!(!glob("*:443", "10.0.0.1:80"));
        assert!(glob("sw?-port*", "sw1-port12"));
        assert!(!glob("sw?-port*", "sw12-port1"));
        assert!(glob("*", ""));
        assert!(glob("a*b*c", "aXbYbZc"));
        assert!(!glob("a*b*c", "aXbYbZ"));
        assert!(glob("exact", "exact"));
        assert!(!glob("exact", "exactly"));
    }

    fn series(layer: OsiLayer, entity: &str, is_final: bool) -> Update {
        let window = SeriesWindow {
            layer,
            entity: entity.into(),
            start_ms: 0,
            end_ms: 10_000,
            events: 1,
            bytes: 1,
            packets: 0,
            connections: 0,
            requests: 0,
            errors: 0,
            bytes_min: 1,
            bytes_max: 1,
            bytes_per_s: 0.1,
            events_per_s: 0.1,
            latency: None,
            error_rate: None,
            error_classes: Default::default(),
            is_final,
            closed_at_ms: None,
        };
        Update::series(1, 1, window).expect("encodes")
    }

    #[test]
    fn a_filter_takes_kinds_layers_entities_and_final_only() {
        let all = Filter::new(Subscription {
            kinds: Kind::ALL.to_vec(),
            ..Subscription::default()
        });
        assert!(all.wants(&series(OsiLayer::L4, "a", false)));
        let picky = Filter::new(Subscription {
            layers: vec![OsiLayer::L7],
            entities: Some("api-*".into()),
            kinds: vec![Kind::Windows],
            final_only: true,
        });
        assert!(picky.wants(&series(OsiLayer::L7, "api-1", true)));
        assert!(!picky.wants(&series(OsiLayer::L7, "api-1", false)), "open");
        assert!(!picky.wants(&series(OsiLayer::L4, "api-1", true)), "layer");
        assert!(!picky.wants(&series(OsiLayer::L7, "web-1", true)), "entity");
        let default = Filter::new(Subscription::default());
        assert!(
            !default.wants(&series(OsiLayer::L7, "api-1", true)),
            "series windows need a subscription"
        );
    }

    #[test]
    fn an_update_is_a_frame_with_its_seq() {
        let u = series(OsiLayer::L3, "x", true);
        let frame: Frame = serde_json::from_str(&u.text).expect("a frame");
        assert_eq!((frame.seq, frame.epoch), (1, 1));
        assert!(matches!(frame.msg, ServerMsg::Series { .. }));
    }
}
