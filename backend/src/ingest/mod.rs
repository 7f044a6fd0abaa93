//! The ingest stage: sources notice new input, parsers turn it into events, and the events are
//! published on `layercast.events`, keyed by entity.

pub mod backfill;
pub mod inbox;
pub mod keeper;
pub mod s3;
pub mod sqs;
pub mod stats;
pub mod take;

/// The parsers live in a crate of their own (`backend/parse`), so that fuzzing builds them alone.
pub use layercast_parse as parse;
pub use layercast_parse::object;

pub use inbox::{InboxReader, InboxSettings};
pub use keeper::SourceKeeper;
pub use s3::{Bucket, S3Source, SourceBoard, StopSource};
pub use take::Taker;
