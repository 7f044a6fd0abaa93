//! One input object (a file, later an S3 object): decompressed when it is gzip, its format
//! detected from its first lines, and its lines fed to the parser of that format.

use std::io::Read;

use crate::counters::CountersParser;
use crate::{Format, ObjectReport, RecordParser, Sink};

/// Lines looked at to recognise a format.
const SNIFF_LINES: usize = 20;
/// Bytes looked at to recognise a format: a first line of 10 MB must not be copied around.
const SNIFF_BYTES: usize = 64 * 1024;

/// Gzip's magic bytes: detected by content, not by the name, as objects are often misnamed.
fn is_gzip(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0x1f, 0x8b])
}

/// The most an object may decompress to: a few kilobytes of gzip can claim gigabytes (a "zip
/// bomb"), and the whole decoded object is held in memory. Real log objects are far smaller
/// (VPC flow logs and ALB logs roll at 75 MB and 5 minutes).
pub const MAX_DECODED_BYTES: usize = 1 << 30;

/// The object's bytes, decompressed when gzip (several members are read, as `cat a.gz b.gz`
/// makes). A corrupt or truncated stream, or one that decompresses past [`MAX_DECODED_BYTES`],
/// gives what could be read and the reason it stopped.
pub fn decode(bytes: Vec<u8>) -> (Vec<u8>, Option<String>) {
    decode_at_most(bytes, MAX_DECODED_BYTES)
}

/// [`decode`] with a smaller cap (the fuzz targets use one, to stay quick).
pub fn decode_at_most(bytes: Vec<u8>, limit: usize) -> (Vec<u8>, Option<String>) {
    if !is_gzip(&bytes) {
        return (bytes, None);
    }
    let mut out = Vec::with_capacity(bytes.len().saturating_mul(4).min(limit));
    // One byte past the limit tells an object of exactly `limit` bytes from a larger one.
    let decoder = flate2::read::MultiGzDecoder::new(&bytes[..]);
    match decoder.take(limit as u64 + 1).read_to_end(&mut out) {
        Ok(_) if out.len() > limit => {
            out.truncate(limit);
            let reason = format!(
                "gzip stream decompresses to more than {limit} bytes; the rest is not read"
            );
            (out, Some(reason))
        }
        Ok(_) => (out, None),
        Err(e) => {
            let reason = format!(
                "gzip stream broken after {} decompressed bytes: {e}",
                out.len()
            );
            (out, Some(reason))
        }
    }
}

/// The format of an object, judged from its first lines; `None` when no parser recognises it.
pub fn detect(bytes: &[u8]) -> Option<Format> {
    let head = &bytes[..bytes.len().min(SNIFF_BYTES)];
    let lines: Vec<&[u8]> = head
        .split(|b| *b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
        .take(SNIFF_LINES)
        .collect();
    if lines.is_empty() {
        return None;
    }
    crate::sniff(&lines)
}

/// Parses a whole decoded object with the parser of `format`.
pub fn parse(format: Format, bytes: &[u8], sink: &mut dyn Sink) -> ObjectReport {
    let mut parser: Box<dyn RecordParser> = crate::parser_for(format);
    crate::parse_object(parser.as_mut(), bytes, sink)
}

/// Reads the objects of a source one after another, keeping what spans objects: the last
/// counter sample of every interface. Counter exporters roll their output into a new object
/// every few minutes; with a fresh parser per object the first sample of every interface in
/// every object would measure nothing, losing one poll interval per object.
#[derive(Debug, Default)]
pub struct Reader {
    counters: CountersParser,
}

impl Reader {
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses a whole decoded object: counters continue from the previous objects' samples;
    /// the other formats carry nothing from one object to the next.
    pub fn parse(&mut self, format: Format, bytes: &[u8], sink: &mut dyn Sink) -> ObjectReport {
        match format {
            Format::Counters => crate::parse_object(&mut self.counters, bytes, sink),
            other => parse(other, bytes, sink),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(data).expect("compress");
        enc.finish().expect("finish")
    }

    #[test]
    fn gzip_is_recognised_by_its_magic_bytes() {
        let line = b"{\"ts\":1,\"layer\":\"L3\",\"entity\":\"a\"}\n";
        let (plain, err) = decode(gzip(line));
        assert_eq!((plain.as_slice(), err), (&line[..], None));
        let (same, _) = decode(line.to_vec());
        assert_eq!(same, line);
    }

    #[test]
    fn a_truncated_gzip_gives_what_it_has_and_a_reason() {
        let data: Vec<u8> = (0..20_000)
            .flat_map(|i| format!("line {i}\n").into_bytes())
            .collect();
        let mut zipped = gzip(&data);
        zipped.truncate(zipped.len() / 2);
        let (partial, err) = decode(zipped);
        assert!(err.is_some());
        assert!(!partial.is_empty() && partial.len() < data.len());
        assert!(data.starts_with(&partial));
    }

    #[test]
    fn a_gzip_bomb_stops_at_the_cap_with_a_reason() {
        // 8 MB of zeros compress to a few kilobytes (a hundredth at the very least).
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        enc.write_all(&vec![0u8; 8 << 20]).expect("compress");
        let zipped = enc.finish().expect("finish");
        assert!(zipped.len() < 80 << 10, "{} bytes", zipped.len());
        let (capped, err) = decode_at_most(zipped.clone(), 1 << 20);
        assert_eq!(capped.len(), 1 << 20);
        assert!(err.is_some_and(|e| e.contains("more than 1048576 bytes")));
        // Exactly at the cap is not over it.
        let (whole, err) = decode_at_most(zipped, 8 << 20);
        assert_eq!((whole.len(), err), (8 << 20, None));
    }

    #[test]
    fn counters_continue_across_objects() {
        let sample = |ts: u64, octets: u64| {
            format!("{{\"ts\":{ts},\"device\":\"sw1\",\"interface\":\"eth0\",\"in_octets\":{octets}}}\n")
        };
        let first = sample(1_000, 100) + &sample(31_000, 400);
        let second = sample(61_000, 1_000) + &sample(91_000, 1_600);
        let mut reader = Reader::new();
        let mut events: Vec<layercast_shared::Event> = Vec::new();
        reader.parse(Format::Counters, first.as_bytes(), &mut events);
        reader.parse(Format::Counters, second.as_bytes(), &mut events);
        let bytes: Vec<u64> = events.iter().map(|e| e.bytes).collect();
        // The second object's first sample measures the 30 s since the first object's last.
        assert_eq!(bytes, vec![300, 600, 600]);

        // A parser per object loses that interval.
        let mut apart: Vec<layercast_shared::Event> = Vec::new();
        parse(Format::Counters, first.as_bytes(), &mut apart);
        parse(Format::Counters, second.as_bytes(), &mut apart);
        assert_eq!(
            apart.iter().map(|e| e.bytes).collect::<Vec<_>>(),
            vec![300, 600]
        );
    }

    #[test]
    fn native_events_are_detected() {
        let line = b"\n{\"ts\":1,\"layer\":\"L3\",\"entity\":\"a\"}\n";
        assert_eq!(detect(line), Some(Format::Ndjson));
        assert_eq!(detect(b"\x00\x01\x02garbage"), None);
    }
}
