use rdkafka::producer::{FutureProducer, FutureRecord};
use layercast_shared::{LayerWindow, UpdateMsg, UPDATE_VERSION};

/// Publishes new window totals on `layercast.updates`, keyed by layer so that one layer's
/// updates stay in order.
#[derive(Clone)]
pub struct UpdatePublisher {
    producer: FutureProducer,
    topic: String,
}

impl UpdatePublisher {
    pub fn new(producer: FutureProducer, topic: String) -> Self {
        UpdatePublisher { producer, topic }
    }

    /// Enqueues without waiting for delivery: an update is a notification of what is already
    /// durable in the database, so a lost one costs freshness, never data.
    pub fn publish(&self, windows: Vec<LayerWindow>) {
        for layer in layercast_shared::OsiLayer::ALL {
            let of_layer: Vec<LayerWindow> = windows.iter().filter(|w| w.layer == layer).cloned().collect();
            if of_layer.is_empty() {
                continue;
            }
            let msg = UpdateMsg { v: UPDATE_VERSION, windows: of_layer };
            let payload = match serde_json::to_vec(&msg) {
                Ok(p) => p,
                Err(e) => {
                    tracing::error!(error = %e, "cannot encode an update");
                    continue;
                }
            };
            let record = FutureRecord::to(&self.topic).key(layer.as_str()).payload(&payload);
            if let Err((e, _)) = self.producer.send_result(record) {
                tracing::warn!(error = %e, "update not published; the dashboard catches up on the next one");
            }
        }
    }
}
