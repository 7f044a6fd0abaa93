//! The ingest stage: sources notice new input, parsers turn it into events, and the events are
//! published on `layercast.events`, keyed by entity.

pub mod inbox;
pub mod object;
pub mod parse;

pub use inbox::{InboxReader, InboxSettings};
