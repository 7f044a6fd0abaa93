//! LayerCast's native format: one JSON [`Event`] per line.

use layercast_shared::Event;

use super::{Format, LineOutcome, Measurement, RecordParser, Sink};

/// Longest entity name kept: the database indexes it, and a planner reads it.
pub const MAX_ENTITY_BYTES: usize = 255;

/// Parses native events; stateless.
#[derive(Debug, Default)]
pub struct NdjsonParser;

impl RecordParser for NdjsonParser {
    fn format(&self) -> Format {
        Format::Ndjson
    }

    fn line(&mut self, line: &[u8], sink: &mut dyn Sink) -> Result<LineOutcome, String> {
        if line.iter().all(u8::is_ascii_whitespace) {
            return Ok(LineOutcome::Skipped);
        }
        let e = parse_line(line)?;
        sink.measurement(&Measurement {
            ts_ms: e.ts.timestamp_millis(),
            layer: e.layer,
            entity: &e.entity,
            bytes: e.bytes,
            packets: e.packets,
            connections: e.connections,
            requests: e.requests,
            errors: e.errors,
            latency_ms: e.latency_ms,
            error_class: e.error_class,
        });
        Ok(LineOutcome::Record)
    }
}

/// Whether the first lines are native events.
pub fn sniff(lines: &[&[u8]]) -> bool {
    lines.first().is_some_and(|l| parse_line(l).is_ok())
}

pub fn parse_line(line: &[u8]) -> Result<Event, String> {
    let event: Event =
        serde_json::from_slice(line).map_err(|e| format!("not a native event: {e}"))?;
    if event.entity.is_empty() {
        return Err("entity is empty".into());
    }
    if event.entity.len() > MAX_ENTITY_BYTES {
        return Err(format!(
            "entity is {} bytes long (at most {MAX_ENTITY_BYTES})",
            event.entity.len()
        ));
    }
    Ok(event)
}

#[cfg(test)]
mod tests;
