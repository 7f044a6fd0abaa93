//! The input side of the layer stage, used by the partition actors: their per-entity windows
//! summed per layer ([`partials_of`]) and sent, keyed by layer, on the layers topic
//! ([`LayerFeed`]).

use std::collections::BTreeMap;
use std::time::Duration;

use layercast_shared::{LayerPartial, OsiLayer, PartialWindow, LAYER_PARTIAL_VERSION};
use rdkafka::error::KafkaError;
use rdkafka::producer::{FutureProducer, FutureRecord};

use super::state::Totals;
use crate::kafka::Broker;
use crate::stream::window::{Latency, Window};

/// Windows per message at most: a message stays far below Kafka's default 1 MB limit (a
/// window is about 150 bytes of JSON).
const WINDOWS_PER_MESSAGE: usize = 2_000;
/// How long a final contribution may wait for the broker before the partition's write is
/// retried.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);

/// The partition of the layers topic that carries `layer`: its place in L1..L7, modulo the
/// topic's partitions. Explicit rather than a hash of the key so that seven partitions give
/// every layer one of its own.
pub fn partition_of(layer: OsiLayer, partitions: i32) -> i32 {
    let slot = OsiLayer::ALL.iter().position(|l| *l == layer).unwrap_or(0) as i32;
    slot % partitions.max(1)
}

/// The layers a partition of the layers topic carries.
pub fn layers_of(partition: i32, partitions: i32) -> Vec<OsiLayer> {
    OsiLayer::ALL
        .into_iter()
        .filter(|l| partition_of(*l, partitions) == partition)
        .collect()
}

/// Sums per-entity windows into one partial per layer: the source partition's contribution to
/// each layer-wide window. `windows` must hold absolute values (the stored totals of each
/// window), not increments since the last write: the stage keeps the last value per source
/// and window, so a partial sent twice changes nothing. With `closed_through` given, every
/// layer gets a partial, with or without windows, so that every layer learns the watermark.
/// `is_final(len_ms, start_ms)`: whether the window's value is its last.
pub fn partials_of(
    source_partition: i32,
    closed_through: &[(i64, i64)],
    windows: &[Window],
    is_final: impl Fn(i64, i64) -> bool,
) -> Vec<LayerPartial> {
    let mut sums: BTreeMap<OsiLayer, BTreeMap<(i64, i64), Totals>> = BTreeMap::new();
    // Latency of final windows only: merging every entity's sketch for each provisional send
    // (every second) cost the stream's thread more than the rest of the stage.
    let mut latency: BTreeMap<(OsiLayer, i64, i64), Latency> = BTreeMap::new();
    for w in windows {
        sums.entry(w.layer)
            .or_default()
            .entry((w.start_ms, w.len_ms))
            .or_default()
            .add(&Totals::of_agg(&w.agg));
        if let Some(sketch) = w.agg.latency.as_deref() {
            if is_final(w.len_ms, w.start_ms) {
                latency
                    .entry((w.layer, w.start_ms, w.len_ms))
                    .or_default()
                    .merge(sketch);
            }
        }
    }
    if !closed_through.is_empty() {
        for layer in OsiLayer::ALL {
            sums.entry(layer).or_default();
        }
    }
    let mut out = Vec::new();
    for (layer, windows) in sums {
        let windows: Vec<PartialWindow> = windows
            .into_iter()
            .map(|((start, len), t)| {
                let mut p = t.into_partial(start, len, is_final(len, start));
                p.latency_sketch = latency.get(&(layer, start, len)).map(Latency::to_bytes);
                p
            })
            .collect();
        let chunks: Vec<&[PartialWindow]> = if windows.is_empty() {
            vec![&[]]
        } else {
            windows.chunks(WINDOWS_PER_MESSAGE).collect()
        };
        let last = chunks.len() - 1;
        for (i, chunk) in chunks.into_iter().enumerate() {
            out.push(LayerPartial {
                v: LAYER_PARTIAL_VERSION,
                source_partition,
                layer,
                // On the last message only: the stage may close a window as soon as it reads
                // the watermark, so every value of the window must come before it.
                closed_through: if i == last {
                    closed_through.to_vec()
                } else {
                    Vec::new()
                },
                windows: chunk.to_vec(),
            });
        }
    }
    out
}

/// Sends partials on the layers topic, each to the partition of its layer, keyed by layer.
#[derive(Clone)]
pub struct LayerFeed {
    producer: FutureProducer,
    topic: String,
    /// Partitions of the layers topic (from the broker at start): the stage maps layers to
    /// partitions with the same number.
    partitions: i32,
}

impl std::fmt::Debug for LayerFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LayerFeed")
            .field("topic", &self.topic)
            .field("partitions", &self.partitions)
            .finish()
    }
}

impl LayerFeed {
    /// `producer` should send one record per batch on tansu (`Broker::unbatched_producer`):
    /// the stage resumes at any offset of the topic.
    pub fn new(producer: FutureProducer, topic: String, partitions: i32) -> Self {
        LayerFeed {
            producer,
            topic,
            partitions,
        }
    }

    /// A feed with a producer of its own ([`Broker::unbatched_producer`]).
    pub fn start(broker: &Broker, topic: String, partitions: i32) -> Result<Self, KafkaError> {
        Ok(LayerFeed::new(
            broker.unbatched_producer()?,
            topic,
            partitions,
        ))
    }

    fn encode(partial: &LayerPartial) -> Option<Vec<u8>> {
        serde_json::to_vec(partial)
            .map_err(|e| tracing::error!(error = %e, "cannot encode a layer partial"))
            .ok()
    }

    /// Delivers every partial, or fails. For final values: the partition actor writes its
    /// batch (and moves its offset past the records in them) only after this succeeds, so a
    /// contribution is on the topic at least once, and the stage's last-value-wins makes a
    /// second copy harmless.
    pub async fn deliver(&self, partials: Vec<LayerPartial>) -> Result<(), KafkaError> {
        let encoded: Vec<(&LayerPartial, Vec<u8>)> = partials
            .iter()
            .filter_map(|p| Some((p, Self::encode(p)?)))
            .collect();
        let sends = encoded.iter().map(|(p, payload)| {
            let record = FutureRecord::to(&self.topic)
                .key(p.layer.as_str())
                .partition(partition_of(p.layer, self.partitions))
                .payload(payload);
            self.producer.send(record, DELIVERY_TIMEOUT)
        });
        for sent in futures::future::join_all(sends).await {
            sent.map_err(|(e, _)| e)?;
        }
        Ok(())
    }

    /// Enqueues without waiting: for provisional values, which the next second's replace.
    pub fn send(&self, partials: Vec<LayerPartial>) {
        for p in &partials {
            let Some(payload) = Self::encode(p) else {
                continue;
            };
            let record = FutureRecord::to(&self.topic)
                .key(p.layer.as_str())
                .partition(partition_of(p.layer, self.partitions))
                .payload(&payload);
            if let Err((e, _)) = self.producer.send_result(record) {
                tracing::debug!(error = %e, "provisional layer values not sent; the next ones replace them");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::window::WindowAgg;

    fn window(layer: OsiLayer, entity: &str, start_ms: i64, events: u64, bytes: u64) -> Window {
        let agg = WindowAgg {
            events,
            bytes,
            packets: events,
            ..WindowAgg::default()
        };
        Window {
            layer,
            entity: entity.into(),
            start_ms,
            len_ms: 10_000,
            agg,
        }
    }

    #[test]
    fn entities_sum_per_layer_and_window() {
        let windows = [
            window(OsiLayer::L3, "a", 0, 2, 20),
            window(OsiLayer::L3, "b", 0, 3, 30),
            window(OsiLayer::L3, "a", 10_000, 1, 1),
            window(OsiLayer::L7, "svc", 0, 4, 0),
        ];
        let partials = partials_of(2, &[], &windows, |_, _| false);
        assert_eq!(
            partials.len(),
            2,
            "only the layers with windows, when no watermark is given"
        );
        let l3 = &partials[0];
        assert_eq!(
            (l3.layer, l3.source_partition, l3.windows.len()),
            (OsiLayer::L3, 2, 2)
        );
        assert_eq!(
            (
                l3.windows[0].events,
                l3.windows[0].bytes,
                l3.windows[0].packets
            ),
            (5, 50, 5)
        );
        assert!(!l3.windows[0].is_final);
        assert_eq!(partials[1].windows[0].events, 4);
    }

    #[test]
    fn a_watermark_reaches_every_layer_on_the_last_message_of_each() {
        let many: Vec<Window> = (0..(WINDOWS_PER_MESSAGE as i64 + 1))
            .map(|i| window(OsiLayer::L2, "port", i * 10_000, 1, 1))
            .collect();
        let partials = partials_of(0, &[(10_000, 50_000)], &many, |_, _| true);
        assert_eq!(
            partials.len(),
            OsiLayer::ALL.len() + 1,
            "L2 takes two messages"
        );
        let l2: Vec<&LayerPartial> = partials
            .iter()
            .filter(|p| p.layer == OsiLayer::L2)
            .collect();
        assert!(l2[0].closed_through.is_empty() && l2[1].closed_through == vec![(10_000, 50_000)]);
        assert!(partials
            .iter()
            .filter(|p| p.layer != OsiLayer::L2)
            .all(|p| p.windows.is_empty() && !p.closed_through.is_empty()));
    }

    #[test]
    fn seven_partitions_give_every_layer_its_own() {
        let all: Vec<i32> = OsiLayer::ALL.iter().map(|l| partition_of(*l, 7)).collect();
        assert_eq!(all, (0..7).collect::<Vec<_>>());
        assert_eq!(
            layers_of(0, 3),
            vec![OsiLayer::L1, OsiLayer::L4, OsiLayer::L7]
        );
    }
}
