//! The Kafka side every stage shares: client settings, the embedded broker, topic creation.

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{DefaultProducerContext, FutureProducer, Producer};

use crate::config::KafkaConfig;

/// How long start-up waits for the broker to answer an admin or metadata request.
const ADMIN_TIMEOUT: Duration = Duration::from_secs(15);
/// The updates topic carries small, frequent messages that every node reads in full; a few
/// partitions are plenty and keep per-layer order (the key is the layer).
const UPDATES_PARTITIONS: i32 = 3;
/// One partition per OSI layer: the layer stage's work is per layer, and the feed sends each
/// layer to its own partition (`stream::layers::partition_of`), so up to seven nodes share it.
pub const LAYERS_PARTITIONS: i32 = layercast_shared::OsiLayer::ALL.len() as i32;

#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error("cannot start the embedded broker: {0}")]
    Embedded(KafkaError),
    #[error("cannot reach the Kafka brokers at {brokers}: {source}")]
    Unreachable { brokers: String, source: KafkaError },
    #[error("cannot create topic {topic}: {reason}")]
    CreateTopic { topic: String, reason: String },
}

/// Longest wait of the updates consumer's fetch, milliseconds (see `updates_consumer_config`).
const UPDATES_FETCH_WAIT_MAX_MS: &str = "50";
/// How long librdkafka pauses fetching a partition whose local queue is full (1 s by
/// default). The stages drain their queues far faster than that, so the default idled the
/// events consumer: in 30-s bench runs 133,000 events/s made durable against 193,000 with
/// 10 ms, the database and the broker unchanged (BENCHMARKS.md, "Stream engine").
const GROUP_FETCH_QUEUE_BACKOFF_MS: &str = "10";

/// The broker LayerCast talks to: a real cluster, or librdkafka's in-process one, which must
/// live as long as the clients using it.
pub struct Broker {
    pub bootstrap: String,
    options: std::collections::BTreeMap<String, String>,
    embedded: Option<MockCluster<'static, DefaultProducerContext>>,
}

impl Broker {
    /// Connects to the configured cluster, or starts the embedded one, and makes sure every
    /// topic exists.
    pub async fn start(config: &KafkaConfig) -> Result<Broker, BrokerError> {
        let broker = match &config.brokers {
            None => {
                let cluster = MockCluster::new(1).map_err(BrokerError::Embedded)?;
                for (topic, partitions) in [
                    (&config.events_topic, config.partitions),
                    (&config.updates_topic, UPDATES_PARTITIONS),
                    (&config.late_topic, config.partitions),
                    (&config.layers_topic, LAYERS_PARTITIONS),
                ] {
                    cluster.create_topic(topic, partitions, 1).map_err(|e| {
                        BrokerError::CreateTopic {
                            topic: topic.clone(),
                            reason: e.to_string(),
                        }
                    })?;
                }
                Broker {
                    bootstrap: cluster.bootstrap_servers(),
                    options: config.client_options.clone(),
                    embedded: Some(cluster),
                }
            }
            Some(brokers) => {
                let broker = Broker {
                    bootstrap: brokers.clone(),
                    options: config.client_options.clone(),
                    embedded: None,
                };
                broker
                    .ensure_topics(&[
                        (&config.events_topic, config.partitions),
                        (&config.updates_topic, UPDATES_PARTITIONS),
                        (&config.late_topic, config.partitions),
                        (&config.layers_topic, LAYERS_PARTITIONS),
                    ])
                    .await?;
                broker
            }
        };
        Ok(broker)
    }

    pub fn is_embedded(&self) -> bool {
        self.embedded.is_some()
    }

    /// Settings every client starts from.
    pub fn client_config(&self) -> ClientConfig {
        self.config_with(&[])
    }

    /// Settings of the consumer of the updates topic. Some brokers (tansu) hold every fetch
    /// for the whole `fetch.wait.max.ms` even with records waiting, and librdkafka's 500 ms
    /// would then add up to half a second to every live update. Not for the events consumer:
    /// every short wait is another fetch, and three nodes fetching every 20 ms kept tansu
    /// busy enough to slow the integration tests fourfold. A `kafka.client_options` entry wins.
    pub fn updates_consumer_config(&self) -> ClientConfig {
        self.config_with(&[("fetch.wait.max.ms", UPDATES_FETCH_WAIT_MAX_MS)])
    }

    /// Settings of the consumers of the stages' groups (events, layers). A
    /// `kafka.client_options` entry wins.
    pub fn group_consumer_config(&self) -> ClientConfig {
        self.config_with(&[("fetch.queue.backoff.ms", GROUP_FETCH_QUEUE_BACKOFF_MS)])
    }

    fn config_with(&self, defaults: &[(&str, &str)]) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.bootstrap);
        for (key, value) in defaults {
            config.set(*key, *value);
        }
        for (key, value) in &self.options {
            config.set(key, value);
        }
        config
    }

    /// A producer that never duplicates nor reorders a record on retry (idempotence).
    pub fn producer(&self) -> Result<FutureProducer, KafkaError> {
        self.client_config()
            .set("enable.idempotence", "true")
            .set("linger.ms", "5")
            .create()
    }

    /// A producer that sends every record in a batch of its own, for low-volume topics that a
    /// consumer may resume in the middle of (the layers topic): tansu 0.6 cannot fetch from
    /// the middle of a record batch, so a takeover at an offset inside one would stall. A few
    /// records a second per partition do not need batching.
    pub fn unbatched_producer(&self) -> Result<FutureProducer, KafkaError> {
        self.client_config()
            .set("enable.idempotence", "true")
            .set("batch.num.messages", "1")
            .set("linger.ms", "0")
            .create()
    }

    async fn ensure_topics(&self, topics: &[(&String, i32)]) -> Result<(), BrokerError> {
        let unreachable = |source| BrokerError::Unreachable {
            brokers: self.bootstrap.clone(),
            source,
        };
        let admin: AdminClient<DefaultClientContext> =
            self.client_config().create().map_err(unreachable)?;
        let new: Vec<NewTopic> = topics
            .iter()
            .map(|(name, p)| NewTopic::new(name, *p, TopicReplication::Fixed(1)))
            .collect();
        let options = AdminOptions::new()
            .operation_timeout(Some(ADMIN_TIMEOUT))
            .request_timeout(Some(ADMIN_TIMEOUT));
        let results = admin
            .create_topics(&new, &options)
            .await
            .map_err(unreachable)?;
        for result in results {
            match result {
                Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((topic, code)) => {
                    return Err(BrokerError::CreateTopic {
                        topic,
                        reason: code.to_string(),
                    })
                }
            }
        }
        Ok(())
    }
}

/// The log end offset of every partition of `topic`, in partition order. Blocking.
pub fn log_ends(producer: &FutureProducer, topic: &str) -> Result<Vec<(i32, i64)>, KafkaError> {
    let client = producer.client();
    let metadata = client.fetch_metadata(Some(topic), Duration::from_secs(2))?;
    let mut partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    partitions.sort_unstable();
    partitions
        .into_iter()
        .map(|p| {
            Ok((
                p,
                client.fetch_watermarks(topic, p, Duration::from_secs(2))?.1,
            ))
        })
        .collect()
}

/// Whether the broker answers a metadata request now (for `/api/health`), with the number of
/// partitions of `topic` (0 when the broker does not know it). Blocking.
pub fn probe(producer: &FutureProducer, topic: &str) -> Result<usize, KafkaError> {
    let metadata = producer
        .client()
        .fetch_metadata(Some(topic), Duration::from_secs(2))?;
    Ok(metadata
        .topics()
        .first()
        .map(|t| t.partitions().len())
        .unwrap_or(0))
}
