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

/// Bytes read from an object at a time, before and after decompression: what streaming an
/// object holds in memory, whatever its size.
const STREAM_BUFFER: usize = 256 * 1024;

/// Why a streamed object stopped before its end.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// Reading the object failed (the store went away, a connection broke): what was read
    /// before was measured, and the object can be read again.
    #[error("reading stopped after {lines} lines: {source}")]
    Read { lines: u64, source: std::io::Error },
}

/// What streaming one object came to.
#[derive(Debug, Default)]
pub struct Streamed {
    /// `None`: no parser recognised its first lines (then nothing was parsed).
    pub format: Option<Format>,
    pub report: ObjectReport,
    /// A gzip stream that is broken or truncated: what could be read counts, and this says
    /// why the rest did not.
    pub broken: Option<String>,
}

impl Reader {
    /// Streams an object, plain or gzip (by its magic bytes), in bounded memory: its format
    /// is `format`, or detected from its first lines; every line goes to the format's parser
    /// and what it measures to `sink`, in order. A broken gzip stream ends the object with
    /// the reason in [`Streamed::broken`]; a failing `input` is an error.
    pub fn stream(
        &mut self,
        format: Option<Format>,
        input: impl Read,
        sink: &mut dyn Sink,
    ) -> Result<Streamed, StreamError> {
        let mut raw = std::io::BufReader::with_capacity(STREAM_BUFFER, Tagged(input));
        let gzip = match std::io::BufRead::fill_buf(&mut raw) {
            Ok(head) => is_gzip(head),
            Err(e) => {
                return Err(StreamError::Read {
                    lines: 0,
                    source: e,
                })
            }
        };
        let decoded: Box<dyn Read + '_> = if gzip {
            Box::new(flate2::read::MultiGzDecoder::new(raw))
        } else {
            Box::new(raw)
        };
        let mut lines = std::io::BufReader::with_capacity(STREAM_BUFFER, decoded);
        let mut streamed = Streamed::default();
        let head = match std::io::BufRead::fill_buf(&mut lines) {
            Ok(head) => head,
            Err(e) => return stopped(streamed, e),
        };
        let Some(chosen) = format.or_else(|| detect(head)) else {
            return Ok(streamed);
        };
        streamed.format = Some(chosen);
        sink.format(chosen);
        let mut fresh;
        let parser: &mut dyn RecordParser = match chosen {
            Format::Counters => &mut self.counters,
            other => {
                fresh = crate::parser_for(other);
                fresh.as_mut()
            }
        };
        let mut line = Vec::new();
        loop {
            line.clear();
            match std::io::BufRead::read_until(&mut lines, b'\n', &mut line) {
                Ok(0) => return Ok(streamed),
                Ok(_) => {
                    let text = line.strip_suffix(b"\n").unwrap_or(&line);
                    streamed.report.feed(parser, text, sink);
                }
                Err(e) => return stopped(streamed, e),
            }
        }
    }
}

/// The end of a stream that failed: an error of the input (tagged by [`Tagged`]) can be read
/// again, anything else is the gzip decoder's, and the object ends there.
fn stopped(mut streamed: Streamed, e: std::io::Error) -> Result<Streamed, StreamError> {
    let lines = streamed.report.lines();
    if e.get_ref().is_some_and(|inner| inner.is::<InputFailed>()) {
        return Err(StreamError::Read { lines, source: e });
    }
    streamed.broken = Some(format!("gzip stream broken after {lines} lines: {e}"));
    Ok(streamed)
}

/// What the input's own errors are wrapped in, to tell them from the decoder's.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct InputFailed(std::io::Error);

struct Tagged<R>(R);

impl<R: Read> Read for Tagged<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            match self.0.read(buf) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(std::io::Error::other(InputFailed(e))),
                ok => return ok,
            }
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

    fn ndjson(lines: usize) -> Vec<u8> {
        (0..lines)
            .flat_map(|i| {
                format!(
                    "{{\"ts\":{},\"layer\":\"L3\",\"entity\":\"e{}\",\"bytes\":{i}}}\n",
                    1_000 + i,
                    i % 7
                )
                .into_bytes()
            })
            .collect()
    }

    /// Fails with a connection error once `fail_at` bytes were read.
    struct Flaky<'a> {
        data: &'a [u8],
        at: usize,
        fail_at: usize,
    }

    impl Read for Flaky<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.at >= self.fail_at {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "connection closed",
                ));
            }
            let n = buf
                .len()
                .min(self.fail_at - self.at)
                .min(self.data.len() - self.at);
            buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
            self.at += n;
            Ok(n)
        }
    }

    #[test]
    fn a_streamed_object_gives_what_the_whole_one_does_plain_or_gzip() {
        // Over several stream buffers, with a malformed line in the middle.
        let mut data = ndjson(30_000);
        data.extend_from_slice(b"not json\n");
        data.extend(ndjson(30_000));
        let mut whole = Vec::new();
        let expected = parse(Format::Ndjson, &data, &mut whole);
        for input in [data.clone(), gzip(&data)] {
            let mut events = Vec::new();
            let streamed = Reader::new()
                .stream(None, &input[..], &mut events)
                .expect("stream");
            assert_eq!(streamed.format, Some(Format::Ndjson));
            assert_eq!((streamed.report, streamed.broken), (expected.clone(), None));
            assert_eq!(events, whole);
        }
        assert_eq!(expected.error_count, 1);
        assert_eq!(expected.errors[0].line, 30_001);
    }

    #[test]
    fn a_broken_gzip_ends_the_object_but_a_failing_input_is_an_error() {
        let data = ndjson(50_000);
        let mut zipped = gzip(&data);
        zipped.truncate(zipped.len() / 2);
        let mut events = Vec::new();
        let streamed = Reader::new()
            .stream(None, &zipped[..], &mut events)
            .expect("stream");
        assert!(streamed
            .broken
            .is_some_and(|b| b.contains("gzip stream broken")));
        assert!(!events.is_empty() && events.len() < 50_000);

        let zipped = gzip(&data);
        for input in [&data[..], &zipped[..]] {
            let flaky = Flaky {
                data: input,
                at: 0,
                fail_at: input.len() / 2,
            };
            let err = Reader::new()
                .stream(None, flaky, &mut Vec::new())
                .expect_err("input failed");
            assert!(matches!(err, StreamError::Read { .. }), "{err}");
        }
    }

    #[test]
    fn an_unknown_format_is_not_parsed_and_a_named_one_is_not_guessed() {
        let mut events = Vec::new();
        let streamed = Reader::new()
            .stream(None, &b"what is this\n"[..], &mut events)
            .expect("stream");
        assert_eq!((streamed.format, streamed.report.lines()), (None, 0));
        let streamed = Reader::new()
            .stream(Some(Format::Ndjson), &b"what is this\n"[..], &mut events)
            .expect("stream");
        assert_eq!(
            (streamed.format, streamed.report.error_count),
            (Some(Format::Ndjson), 1)
        );
    }
}
