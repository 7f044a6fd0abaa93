//! LayerCast's native format: one JSON [`Event`] per line.

use layercast_shared::Event;

use super::{LineError, Parsed};

/// Longest entity name kept: the database indexes it, and a planner reads it.
pub const MAX_ENTITY_BYTES: usize = 255;
/// Refused lines kept with their reason per object; the rest are only counted.
pub const MAX_SAMPLES: usize = 100;

/// Parses a whole object. Blank lines are skipped; every other line is an event or an error,
/// and an error never stops the lines after it.
pub fn parse(bytes: &[u8]) -> Parsed {
    let mut parsed = Parsed::default();
    for (index, raw) in bytes.split(|b| *b == b'\n').enumerate() {
        let line = strip_cr(raw);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match parse_line(line) {
            Ok(event) => parsed.events.push(event),
            Err(reason) => {
                parsed.error_count += 1;
                if parsed.errors.len() < MAX_SAMPLES {
                    parsed.errors.push(LineError { line: index as u64 + 1, reason });
                }
            }
        }
    }
    parsed
}

fn strip_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

pub fn parse_line(line: &[u8]) -> Result<Event, String> {
    let event: Event = serde_json::from_slice(line).map_err(|e| format!("not a native event: {e}"))?;
    if event.entity.is_empty() {
        return Err("entity is empty".into());
    }
    if event.entity.len() > MAX_ENTITY_BYTES {
        return Err(format!("entity is {} bytes long (at most {MAX_ENTITY_BYTES})", event.entity.len()));
    }
    Ok(event)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_lines_are_counted_with_their_line_and_the_rest_is_taken() {
        let input = b"{\"ts\":1000,\"layer\":\"L3\",\"entity\":\"a\",\"bytes\":5}\n\
            not json\n\
            \n\
            {\"ts\":2000,\"layer\":\"L9\",\"entity\":\"a\"}\r\n\
            {\"ts\":3000,\"layer\":\"L4\",\"entity\":\"b\"}";
        let parsed = parse(input);
        assert_eq!(parsed.events.len(), 2);
        assert_eq!(parsed.error_count, 2);
        assert_eq!(parsed.errors.iter().map(|e| e.line).collect::<Vec<_>>(), vec![2, 4]);
        assert!(parsed.errors[1].reason.contains("L9"), "{}", parsed.errors[1].reason);
    }

    #[test]
    fn invalid_utf8_and_overlong_entities_are_refused() {
        assert!(parse_line(b"{\"ts\":1,\"layer\":\"L3\",\"entity\":\"\xff\"}").is_err());
        let long = format!("{{\"ts\":1,\"layer\":\"L3\",\"entity\":\"{}\"}}", "x".repeat(300));
        assert!(parse_line(long.as_bytes()).expect_err("too long").contains("300 bytes"));
    }
}
