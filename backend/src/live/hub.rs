use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use layercast_shared::{
    Alert, LayerWindow, OsiLayer, SeriesRunway, SeriesTrend, SeriesWindow, ServerMsg, UpdateMsg,
    WindowAnomaly, UPDATE_VERSION,
};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Headers as _, Message as KafkaMessage};
use rdkafka::{Offset, TopicPartitionList};

use super::clients::{Clients, Cuts, SWEEP_EVERY};
use super::update::Update;
use crate::config::LiveConfig;
use crate::kafka::Broker;
use crate::metrics::Metrics;

const METADATA_TIMEOUT: Duration = Duration::from_secs(10);

/// The Kafka header naming the process that published an update: its own live hub had it
/// straight away and skips the copy it reads back from the topic.
pub const ORIGIN_HEADER: &str = "layercast-origin";

/// This process's live hub, for its publishers to hand their updates to directly, and the
/// origin those updates carry on the topic.
#[derive(Clone)]
pub struct LocalHub {
    pub origin: String,
    pub hub: Recipient<Broadcast>,
}

/// A message for one client.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct Push(pub ServerMsg);

#[derive(Message)]
#[rtype(result = "u64")]
pub struct Connect {
    pub client: Recipient<Push>,
}

#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Disconnect {
    pub id: u64,
}

/// New totals of windows, from `layercast.updates`.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Broadcast {
    pub windows: Vec<LayerWindow>,
    pub series: Vec<SeriesWindow>,
    pub anomalies: Vec<WindowAnomaly>,
    pub alerts: Vec<Alert>,
    pub trends: Vec<SeriesTrend>,
    pub runways: Vec<SeriesRunway>,
}

impl From<UpdateMsg> for Broadcast {
    fn from(u: UpdateMsg) -> Self {
        Broadcast {
            windows: u.windows,
            series: u.series,
            anomalies: u.anomalies,
            alerts: u.alerts,
            trends: u.trends,
            runways: u.runways,
        }
    }
}

/// A client asks for series windows (`ClientMsg::Subscribe`).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Subscribe {
    pub id: u64,
    pub filter: SeriesFilter,
}

/// Which series windows a client receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeriesFilter {
    /// Empty: every layer.
    pub layers: Vec<OsiLayer>,
    pub final_only: bool,
}

impl SeriesFilter {
    fn wants(&self, w: &SeriesWindow) -> bool {
        (self.layers.is_empty() || self.layers.contains(&w.layer))
            && (w.is_final || !self.final_only)
    }
}

/// How far back (before the newest window seen) the hub remembers what it sent.
const REMEMBER_MS: i64 = 3_600_000;

/// Knows every connected client and hands each update to all of them: protocol-1 sessions
/// through their mailbox, protocol-2 clients through their queue ([`Clients`]).
pub struct Hub {
    sessions: HashMap<u64, Recipient<Push>>,
    /// Sessions that asked for series windows, and which.
    series_filters: HashMap<u64, SeriesFilter>,
    next_id: u64,
    /// The totals last sent per (layer, window start), and whether they were final. A layer
    /// window's updates come from the one layer-stage actor that owns the layer, in order;
    /// after a takeover its successor may send a provisional value again that is older than
    /// what was shown. Totals of an open window never go down (sources only add), so a
    /// provisional total below the one sent is stale and dropped; a final one is always shown
    /// once, and nothing provisional after it.
    sent: HashMap<(OsiLayer, i64), (u64, u64, bool)>,
    newest_start_ms: i64,
    /// Protocol 2: numbered updates, the ring, every client's subscription and queue.
    pub(super) v2: Clients,
    metrics: Arc<Metrics>,
}

impl Hub {
    pub fn new(metrics: Arc<Metrics>, config: LiveConfig) -> Self {
        Hub {
            sessions: HashMap::new(),
            series_filters: HashMap::new(),
            next_id: 0,
            sent: HashMap::new(),
            newest_start_ms: 0,
            v2: Clients::new(config),
            metrics,
        }
    }

    /// The `layercast_ws_clients` gauge, after a client came or went.
    pub(super) fn count_clients(&self) {
        let n = self.sessions.len() + self.v2.len();
        self.metrics
            .ws_clients
            .set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    pub(super) fn count_cuts(&self, cuts: Cuts) {
        self.metrics.ws_slow_clients_cut.inc_by(cuts.slow);
        self.metrics.ws_dead_clients_dropped.inc_by(cuts.dead);
    }

    /// Whether `w` is newer than what was sent for its window; remembers it if so.
    fn is_news(&mut self, w: &LayerWindow) -> bool {
        let key = (w.layer, w.start_ms);
        let totals = (w.events, w.bytes);
        if let Some(&(events, bytes, was_final)) = self.sent.get(&key) {
            let stale = if w.is_final {
                was_final && (events, bytes) == totals
            } else {
                was_final || (events, bytes) >= totals
            };
            if stale {
                return false;
            }
        }
        self.sent.insert(key, (w.events, w.bytes, w.is_final));
        if w.start_ms > self.newest_start_ms {
            self.newest_start_ms = w.start_ms;
            let horizon = self.newest_start_ms - REMEMBER_MS;
            self.sent.retain(|(_, start), _| *start >= horizon);
        }
        true
    }
}

impl Actor for Hub {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(SWEEP_EVERY, |hub, _| {
            let before = hub.v2.len();
            let cuts = hub.v2.sweep();
            hub.count_cuts(cuts);
            if hub.v2.len() != before {
                hub.count_clients();
            }
        });
    }
}

impl Handler<Connect> for Hub {
    type Result = u64;

    fn handle(&mut self, msg: Connect, _: &mut Context<Self>) -> u64 {
        self.next_id += 1;
        self.sessions.insert(self.next_id, msg.client);
        self.count_clients();
        self.next_id
    }
}

impl Handler<Disconnect> for Hub {
    type Result = ();

    fn handle(&mut self, msg: Disconnect, _: &mut Context<Self>) {
        self.sessions.remove(&msg.id);
        self.series_filters.remove(&msg.id);
        self.count_clients();
    }
}

impl Handler<Subscribe> for Hub {
    type Result = ();

    fn handle(&mut self, msg: Subscribe, _: &mut Context<Self>) {
        if self.sessions.contains_key(&msg.id) {
            self.series_filters.insert(msg.id, msg.filter);
        }
    }
}

impl Handler<Broadcast> for Hub {
    type Result = ();

    fn handle(&mut self, msg: Broadcast, _: &mut Context<Self>) {
        let mut cuts = Cuts::default();
        let mut add = |c: Cuts| {
            cuts.slow += c.slow;
            cuts.dead += c.dead;
        };
        for window in msg.windows {
            if !self.is_news(&window) {
                continue;
            }
            add(self
                .v2
                .publish(|seq, epoch| Update::layer(seq, epoch, window.clone())));
            let push = Push(ServerMsg::Window { window });
            // `do_send`: a slow browser must not hold up the others; its session drops
            // what it cannot send when the socket is gone.
            for client in self.sessions.values() {
                client.do_send(push.clone());
            }
        }
        for anomaly in &msg.anomalies {
            add(self
                .v2
                .publish(|seq, epoch| Update::anomaly(seq, epoch, anomaly.clone())));
        }
        if !msg.anomalies.is_empty() {
            let push = Push(ServerMsg::Anomalies {
                anomalies: msg.anomalies,
            });
            for client in self.sessions.values() {
                client.do_send(push.clone());
            }
        }
        for window in &msg.series {
            add(self
                .v2
                .publish(|seq, epoch| Update::series(seq, epoch, window.clone())));
        }
        for alert in msg.alerts {
            add(self
                .v2
                .publish(|seq, epoch| Update::alert(seq, epoch, alert.clone())));
        }
        for trend in msg.trends {
            add(self
                .v2
                .publish(|seq, epoch| Update::trend(seq, epoch, trend.clone())));
        }
        for runway in msg.runways {
            add(self
                .v2
                .publish(|seq, epoch| Update::runway(seq, epoch, runway.clone())));
        }
        self.v2.published_through();
        self.count_cuts(cuts);
        if msg.series.is_empty() {
            return;
        }
        let now_ms = chrono::Utc::now().timestamp_millis();
        for closed_at_ms in msg
            .series
            .iter()
            .filter(|w| w.is_final)
            .filter_map(|w| w.closed_at_ms)
        {
            self.metrics
                .live_final_delay_seconds
                .observe((now_ms - closed_at_ms).max(0) as f64 / 1000.0);
        }
        for (id, filter) in &self.series_filters {
            let Some(client) = self.sessions.get(id) else {
                continue;
            };
            let windows: Vec<SeriesWindow> = msg
                .series
                .iter()
                .filter(|w| filter.wants(w))
                .cloned()
                .collect();
            if !windows.is_empty() {
                client.do_send(Push(ServerMsg::Series { windows }));
            }
        }
    }
}

/// Reads every partition of the updates topic from its end, without a consumer group: each
/// node needs all updates, and joining a group would delay the first ones by a rebalance.
/// Updates this process published (`origin` in their header) are skipped: its publishers
/// handed them to the hub already.
pub fn follow_updates(
    broker: &Broker,
    topic: &str,
    hub: Addr<Hub>,
    origin: String,
) -> Result<(), KafkaError> {
    let consumer: StreamConsumer = broker
        .updates_consumer_config()
        .set("group.id", "layercast-live")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .create()?;
    let partitions = {
        let metadata = consumer.fetch_metadata(Some(topic), METADATA_TIMEOUT)?;
        metadata
            .topics()
            .first()
            .map(|t| t.partitions().len())
            .unwrap_or(0)
    };
    let mut tpl = TopicPartitionList::new();
    for partition in 0..partitions {
        tpl.add_partition_offset(topic, partition as i32, Offset::End)?;
    }
    consumer.assign(&tpl)?;
    actix::spawn(async move {
        loop {
            let message = match consumer.recv().await {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!(error = %e, "updates consumer error");
                    continue;
                }
            };
            if is_from(&message, &origin) {
                continue;
            }
            let decoded = message.payload().map(serde_json::from_slice::<UpdateMsg>);
            let hub_alive = match decoded {
                Some(Ok(update)) if update.v == UPDATE_VERSION => {
                    hub.send(Broadcast::from(update)).await.is_ok()
                }
                Some(Ok(update)) => {
                    tracing::warn!(version = update.v, "update of an unknown version skipped");
                    true
                }
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "malformed update skipped");
                    true
                }
                None => true,
            };
            if !hub_alive {
                break;
            }
        }
    });
    Ok(())
}

fn is_from(message: &impl KafkaMessage, origin: &str) -> bool {
    message
        .headers()
        .and_then(|headers| headers.iter().find(|h| h.key == ORIGIN_HEADER))
        .is_some_and(|h| h.value == Some(origin.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(start_ms: i64, events: u64) -> LayerWindow {
        LayerWindow {
            layer: OsiLayer::L3,
            start_ms,
            end_ms: start_ms + 10_000,
            events,
            bytes: events * 10,
            packets: 0,
            connections: 0,
            requests: 0,
            errors: 0,
            error_rate: None,
            error_classes: Default::default(),
            latency: None,
            is_final: false,
        }
    }

    #[test]
    fn a_final_total_is_shown_once_and_nothing_provisional_after_it() {
        let mut hub = Hub::new(Metrics::new(), LiveConfig::default());
        assert!(hub.is_news(&window(0, 42)));
        let last = LayerWindow {
            is_final: true,
            ..window(0, 42)
        };
        assert!(hub.is_news(&last), "the same totals, now final");
        assert!(!hub.is_news(&last), "sent already");
        assert!(
            !hub.is_news(&window(0, 50)),
            "a provisional value after the final one is stale"
        );
    }

    #[test]
    fn a_total_older_than_one_sent_is_dropped() {
        let mut hub = Hub::new(Metrics::new(), LiveConfig::default());
        assert!(hub.is_news(&window(0, 26)));
        assert!(hub.is_news(&window(0, 42)));
        assert!(!hub.is_news(&window(0, 35)), "arrived late, read earlier");
        assert!(!hub.is_news(&window(0, 42)), "nothing new");
        assert!(hub.is_news(&window(10_000, 1)), "another window");
    }

    fn series(layer: OsiLayer, is_final: bool) -> SeriesWindow {
        SeriesWindow {
            layer,
            entity: "e".into(),
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
        }
    }

    #[test]
    fn a_series_filter_takes_its_layers_and_with_final_only_just_closed_windows() {
        let all = SeriesFilter {
            layers: vec![],
            final_only: false,
        };
        let l7_final = SeriesFilter {
            layers: vec![OsiLayer::L7],
            final_only: true,
        };
        assert!(all.wants(&series(OsiLayer::L3, false)));
        assert!(l7_final.wants(&series(OsiLayer::L7, true)));
        assert!(!l7_final.wants(&series(OsiLayer::L7, false)), "provisional");
        assert!(
            !l7_final.wants(&series(OsiLayer::L3, true)),
            "another layer"
        );
    }

    #[test]
    fn only_updates_of_this_process_are_recognised_as_its_own() {
        use rdkafka::message::{Header, OwnedHeaders, OwnedMessage, Timestamp};
        let message = |origin: Option<&str>| {
            let headers = origin.map(|o| {
                OwnedHeaders::new().insert(Header {
                    key: ORIGIN_HEADER,
                    value: Some(o),
                })
            });
            OwnedMessage::new(
                Some(b"{}".to_vec()),
                None,
                "updates".into(),
                Timestamp::NotAvailable,
                0,
                0,
                headers,
            )
        };
        assert!(is_from(&message(Some("node-a/7/1")), "node-a/7/1"));
        assert!(
            !is_from(&message(Some("node-a/8/2")), "node-a/7/1"),
            "the same node id in another process"
        );
        assert!(
            !is_from(&message(None), "node-a/7/1"),
            "an update without an origin"
        );
    }

    #[test]
    fn old_windows_are_forgotten() {
        let mut hub = Hub::new(Metrics::new(), LiveConfig::default());
        hub.is_news(&window(0, 5));
        hub.is_news(&window(REMEMBER_MS + 10_000, 1));
        assert_eq!(hub.sent.len(), 1);
    }
}
