//! Parsers: bytes of one input object in, events and refused lines out. Pure code.

pub mod ndjson;

/// Why one line was refused, with its 1-based line number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    pub line: u64,
    pub reason: String,
}

/// Everything one object gave.
#[derive(Debug, Default)]
pub struct Parsed {
    pub events: Vec<layercast_shared::Event>,
    pub errors: Vec<LineError>,
    /// Refused lines in all; `errors` may keep fewer samples than this.
    pub error_count: u64,
}
