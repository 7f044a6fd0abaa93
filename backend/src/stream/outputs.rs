//! What the stream stage writes to Kafka besides the database: updates for every node's live
//! hub, and late records for the dead-letter topic.

use std::time::Duration;

use layercast_shared::{
    Alert, LayerWindow, SeriesRunway, SeriesTrend, SeriesWindow, UpdateMsg, WindowAnomaly,
    UPDATE_VERSION,
};
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};

use crate::live::{Broadcast, LocalHub, ORIGIN_HEADER};

/// Series windows per message: a message stays far below Kafka's default 1 MB limit.
const SERIES_PER_MESSAGE: usize = 500;
/// How long a late record may wait for the broker before the partition's write is retried.
const LATE_DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);

/// Publishes new window values on `layercast.updates`, keyed by layer so that one layer's
/// updates stay in order, and hands them to this process's own live hub directly: the round
/// trip through the broker is the slower part of a final value's way to a dashboard, and only
/// the other nodes need it.
#[derive(Clone)]
pub struct UpdatePublisher {
    producer: FutureProducer,
    topic: String,
    local: LocalHub,
}

impl UpdatePublisher {
    pub fn new(producer: FutureProducer, topic: String, local: LocalHub) -> Self {
        UpdatePublisher {
            producer,
            topic,
            local,
        }
    }

    /// Enqueues without waiting for delivery: an update is a notification of what is already
    /// durable in the database, so a lost one costs freshness, never data.
    pub fn publish(&self, windows: &[LayerWindow], series: &[SeriesWindow]) {
        for layer in layercast_shared::OsiLayer::ALL {
            let of_layer: Vec<LayerWindow> = windows
                .iter()
                .filter(|w| w.layer == layer)
                .cloned()
                .collect();
            let series_of_layer: Vec<&SeriesWindow> =
                series.iter().filter(|w| w.layer == layer).collect();
            if of_layer.is_empty() && series_of_layer.is_empty() {
                continue;
            }
            let mut chunks: Vec<Vec<SeriesWindow>> = series_of_layer
                .chunks(SERIES_PER_MESSAGE)
                .map(|chunk| chunk.iter().map(|&w| w.clone()).collect())
                .collect();
            if chunks.is_empty() {
                chunks.push(Vec::new());
            }
            // The layer totals ride with the first chunk.
            let mut totals = Some(of_layer);
            for chunk in chunks {
                let msg = UpdateMsg {
                    v: UPDATE_VERSION,
                    windows: totals.take().unwrap_or_default(),
                    series: chunk,
                    anomalies: Vec::new(),
                    ..UpdateMsg::default()
                };
                self.send(layer.as_str(), msg);
            }
        }
    }

    /// Anomalies found in windows that closed, after they are stored.
    pub fn publish_anomalies(&self, anomalies: Vec<WindowAnomaly>) {
        for layer in layercast_shared::OsiLayer::ALL {
            let of_layer: Vec<WindowAnomaly> = anomalies
                .iter()
                .filter(|a| a.layer == layer)
                .cloned()
                .collect();
            if !of_layer.is_empty() {
                let msg = UpdateMsg {
                    v: UPDATE_VERSION,
                    windows: Vec::new(),
                    series: Vec::new(),
                    anomalies: of_layer,
                    ..UpdateMsg::default()
                };
                self.send(layer.as_str(), msg);
            }
        }
    }

    /// Alerts as stored after their change, and trends and runways that changed, per layer.
    pub fn publish_findings(
        &self,
        alerts: Vec<Alert>,
        trends: Vec<SeriesTrend>,
        runways: Vec<SeriesRunway>,
    ) {
        for layer in layercast_shared::OsiLayer::ALL {
            let msg = UpdateMsg {
                v: UPDATE_VERSION,
                alerts: alerts
                    .iter()
                    .filter(|a| a.layer == layer)
                    .cloned()
                    .collect(),
                trends: trends
                    .iter()
                    .filter(|t| t.layer == layer)
                    .cloned()
                    .collect(),
                runways: runways
                    .iter()
                    .filter(|r| r.layer == layer)
                    .cloned()
                    .collect(),
                ..UpdateMsg::default()
            };
            if !(msg.alerts.is_empty() && msg.trends.is_empty() && msg.runways.is_empty()) {
                self.send(layer.as_str(), msg);
            }
        }
    }

    fn send(&self, key: &str, msg: UpdateMsg) {
        let payload = match serde_json::to_vec(&msg) {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(error = %e, "cannot encode an update");
                return;
            }
        };
        let origin = OwnedHeaders::new().insert(Header {
            key: ORIGIN_HEADER,
            value: Some(&self.local.origin),
        });
        let record = FutureRecord::to(&self.topic)
            .key(key)
            .payload(&payload)
            .headers(origin);
        if let Err((e, _)) = self.producer.send_result(record) {
            tracing::warn!(error = %e, "update not published; the other nodes' dashboards catch up on the next one");
        }
        self.local.hub.do_send(Broadcast::from(msg));
    }
}

/// A record that came after its window closed, as it was on the events topic.
#[derive(Debug, Clone)]
pub struct LateRecord {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub payload: Vec<u8>,
    pub event_ms: i64,
    pub watermark_ms: i64,
}

/// Writes late records to the dead-letter topic (`layercast.late`), unchanged, with headers
/// saying where they came from and why they were dropped.
#[derive(Clone)]
pub struct LateSink {
    producer: FutureProducer,
    topic: String,
}

impl LateSink {
    pub fn new(producer: FutureProducer, topic: String) -> Self {
        LateSink { producer, topic }
    }

    /// Delivers every record, or fails: the caller writes its batch (and moves its offset past
    /// these records) only after this succeeds, so a late record is on the topic at least once.
    pub async fn deliver(&self, records: Vec<LateRecord>) -> Result<(), KafkaError> {
        let sends = records.iter().map(|r| {
            let headers = OwnedHeaders::new()
                .insert(Header {
                    key: "layercast-reason",
                    value: Some("late"),
                })
                .insert(Header {
                    key: "layercast-partition",
                    value: Some(&r.partition.to_string()),
                })
                .insert(Header {
                    key: "layercast-offset",
                    value: Some(&r.offset.to_string()),
                })
                .insert(Header {
                    key: "layercast-event-ms",
                    value: Some(&r.event_ms.to_string()),
                })
                .insert(Header {
                    key: "layercast-watermark-ms",
                    value: Some(&r.watermark_ms.to_string()),
                });
            let mut record = FutureRecord::to(&self.topic)
                .payload(&r.payload)
                .headers(headers);
            if let Some(key) = &r.key {
                record = record.key(key);
            }
            self.producer.send(record, LATE_DELIVERY_TIMEOUT)
        });
        for sent in futures::future::join_all(sends).await {
            sent.map_err(|(e, _)| e)?;
        }
        Ok(())
    }
}
