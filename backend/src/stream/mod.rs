//! The stream stage: a supervisor follows the consumer group of `layercast.events` and runs one
//! partition actor per assigned partition; each keeps tumbling event-time windows and hands
//! them, with the partition's offset, to the store's aggregator. After a batch is durable the
//! new window totals go to `layercast.updates` and the offset is committed to Kafka.
//!
//! The partition actors also feed the [`layers`] stage, which sums every partition's windows
//! per layer. Both stages run their consumer groups through `group`.

mod backoff;
mod cursor;
mod findings;
pub use findings::new_change;
mod group;
pub mod inputs;
pub mod layers;
pub mod origins;
mod outputs;
mod partition;
mod supervisor;
pub mod watermark;
pub mod window;

pub use group::GroupHandle;
pub use outputs::{LateSink, UpdatePublisher};
pub use supervisor::{start, StreamHandle, StreamSettings, StreamWriters};
