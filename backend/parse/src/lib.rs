//! Parsers: the bytes of one input object in, measurements per OSI layer and refused lines
//! out. Pure code: no I/O, no clock.
//!
//! A parser is fed one line at a time (without its newline) and reports what the line says
//! to a [`Sink`], one [`Measurement`] per layer it speaks of (an ALB line speaks of L4, L6
//! and L7). Measurements borrow their entity name, so a sink that only sums (the windows, the
//! benchmark) allocates nothing per record; a sink that publishes makes owned [`Event`]s.

pub mod alb;
pub mod counters;
pub mod ndjson;
pub mod object;
pub mod vpc_flow;
pub mod zeek;

pub use layercast_shared::ErrorClass;
use layercast_shared::{Event, OsiLayer};

/// A format LayerCast reads. The names are those `layercast replay --format` takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Format {
    VpcFlow,
    Alb,
    Nlb,
    Zeek,
    Counters,
    Ndjson,
}

impl Format {
    pub const ALL: [Format; 6] = [
        Format::VpcFlow,
        Format::Alb,
        Format::Nlb,
        Format::Zeek,
        Format::Counters,
        Format::Ndjson,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Format::VpcFlow => "vpc-flow",
            Format::Alb => "alb",
            Format::Nlb => "nlb",
            Format::Zeek => "zeek",
            Format::Counters => "counters",
            Format::Ndjson => "ndjson",
        }
    }
}

/// What one record says about one layer. Counts are of this record only (interface
/// counters are turned into per-interval deltas by their parser before they get here).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Measurement<'a> {
    /// Event time, milliseconds since the Unix epoch.
    pub ts_ms: i64,
    pub layer: OsiLayer,
    /// As a planner names it: an interface (`sw1/et3`), an address pair (`10.0.0.1>10.0.0.2`),
    /// a load balancer and target (`app/my-lb>10.0.1.5:80`), a service, a resolver.
    pub entity: &'a str,
    pub bytes: u64,
    pub packets: u64,
    pub connections: u64,
    pub requests: u64,
    pub errors: u64,
    /// Latency in milliseconds.
    pub latency_ms: Option<f64>,
    /// Set when `errors > 0`.
    pub error_class: Option<ErrorClass>,
}

impl<'a> Measurement<'a> {
    /// A measurement with every count at zero.
    pub fn new(ts_ms: i64, layer: OsiLayer, entity: &'a str) -> Self {
        Measurement {
            ts_ms,
            layer,
            entity,
            bytes: 0,
            packets: 0,
            connections: 0,
            requests: 0,
            errors: 0,
            latency_ms: None,
            error_class: None,
        }
    }

    /// Marks the measurement as one error of `class`, or as no error when `None`.
    pub fn set_error(&mut self, class: Option<ErrorClass>) {
        self.errors = u64::from(class.is_some());
        self.error_class = class;
    }

    pub fn to_event(&self) -> Option<Event> {
        Some(Event {
            ts: chrono::DateTime::from_timestamp_millis(self.ts_ms)?,
            layer: self.layer,
            entity: self.entity.to_owned(),
            bytes: self.bytes,
            packets: self.packets,
            connections: self.connections,
            requests: self.requests,
            errors: self.errors,
            latency_ms: self.latency_ms,
            error_class: self.error_class,
        })
    }
}

/// Receives the measurements of the records, in input order.
pub trait Sink {
    fn measurement(&mut self, m: &Measurement<'_>);
    /// The format of the object whose measurements follow, once it is known (streaming tells
    /// it before the first measurement).
    fn format(&mut self, _format: Format) {}
}

/// Collects owned events (tests, publishing).
impl Sink for Vec<Event> {
    fn measurement(&mut self, m: &Measurement<'_>) {
        if let Some(e) = m.to_event() {
            self.push(e);
        }
    }
}

/// What a parser makes of one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineOutcome {
    /// A record, reported to the sink (possibly as no measurement at all, e.g. NODATA).
    Record,
    /// A line that is not a record and not an error: a header, a comment, a blank line.
    Skipped,
}

/// One object's parser, fed line by line in order. Stateful where the format is (headers that
/// name the fields, counters that become rates).
pub trait RecordParser {
    fn format(&self) -> Format;
    /// Parses one line, without its line break. `Err` carries the reason the line was refused;
    /// it never stops the lines after it.
    fn line(&mut self, line: &[u8], sink: &mut dyn Sink) -> Result<LineOutcome, String>;
}

/// Deterministic mangling of real lines, for the parsers' never-panic tests.
#[cfg(test)]
pub(crate) struct Mangler {
    seed: u64,
    noise: &'static [u8],
}

#[cfg(test)]
impl Mangler {
    pub(crate) fn new(seed: u64, noise: &'static [u8]) -> Self {
        Mangler { seed, noise }
    }

    /// xorshift64: the same mangles on every run, no dependency.
    fn next(&mut self) -> u64 {
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        self.seed
    }

    /// One of `lines`, with up to three bytes replaced by noise, removed, or cut there.
    pub(crate) fn mangle<L: AsRef<[u8]>>(&mut self, lines: &[L]) -> Vec<u8> {
        let mut line = lines[(self.next() % lines.len() as u64) as usize]
            .as_ref()
            .to_vec();
        for _ in 0..(self.next() % 4) {
            if line.is_empty() {
                break;
            }
            let at = (self.next() % line.len() as u64) as usize;
            match self.next() % 3 {
                0 => line[at] = self.noise[(self.next() % self.noise.len() as u64) as usize],
                1 => {
                    line.remove(at);
                }
                _ => line.truncate(at),
            }
        }
        line
    }
}

/// Refused lines kept with their reason per object; the rest are only counted.
pub const MAX_SAMPLES: usize = 100;

/// What reading one object came to.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ObjectReport {
    pub records: u64,
    pub skipped: u64,
    pub error_count: u64,
    /// The first [`MAX_SAMPLES`] refused lines.
    pub errors: Vec<LineError>,
}

/// Feeds every line of `bytes` to `parser`, in order. Lines end at `\n`; a trailing `\r` is
/// dropped; a last line without a line break is still a line.
pub fn parse_object(
    parser: &mut dyn RecordParser,
    bytes: &[u8],
    sink: &mut dyn Sink,
) -> ObjectReport {
    let mut report = ObjectReport::default();
    let mut rest = bytes;
    while !rest.is_empty() {
        let (line, next) = match memchr::memchr(b'\n', rest) {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, &rest[rest.len()..]),
        };
        rest = next;
        report.feed(parser, line, sink);
    }
    report
}

impl ObjectReport {
    /// Lines fed so far.
    pub fn lines(&self) -> u64 {
        self.records + self.skipped + self.error_count
    }

    /// Feeds the object's next line (without its `\n`; a trailing `\r` is dropped) to
    /// `parser` and counts what it made of it.
    pub fn feed(&mut self, parser: &mut dyn RecordParser, line: &[u8], sink: &mut dyn Sink) {
        let line_no = self.lines() + 1;
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        match parser.line(line, sink) {
            Ok(LineOutcome::Record) => self.records += 1,
            Ok(LineOutcome::Skipped) => self.skipped += 1,
            Err(reason) => {
                self.error_count += 1;
                if self.errors.len() < MAX_SAMPLES {
                    self.errors.push(LineError {
                        line: line_no,
                        reason,
                    });
                }
            }
        }
    }
}

/// Why one line was refused, with its 1-based line number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    pub line: u64,
    pub reason: String,
}

/// Everything one object gave.
#[derive(Debug, Default)]
pub struct Parsed {
    pub events: Vec<Event>,
    pub errors: Vec<LineError>,
    /// Refused lines in all; `errors` may keep fewer samples than this.
    pub error_count: u64,
}

/// The format whose parser recognises these first lines (blank lines left out). The native
/// format goes first (it refuses any unknown field, so it never takes another format's JSON),
/// then the formats with headers or a fixed first word, the plain-text ones last.
pub fn sniff(lines: &[&[u8]]) -> Option<Format> {
    type Sniffer = fn(&[&[u8]]) -> bool;
    let sniffers: [(Format, Sniffer); 6] = [
        (Format::Ndjson, ndjson::sniff),
        (Format::Zeek, zeek::sniff),
        (Format::Counters, counters::sniff),
        (Format::Nlb, alb::sniff_nlb),
        (Format::Alb, alb::sniff),
        (Format::VpcFlow, vpc_flow::sniff),
    ];
    sniffers
        .into_iter()
        .find(|(_, sniff)| sniff(lines))
        .map(|(format, _)| format)
}

/// A fresh parser for one object of `format`.
pub fn parser_for(format: Format) -> Box<dyn RecordParser> {
    match format {
        Format::VpcFlow => Box::new(vpc_flow::VpcFlowParser::new()),
        Format::Alb => Box::new(alb::AlbParser::new()),
        Format::Nlb => Box::new(alb::NlbParser::new()),
        Format::Zeek => Box::new(zeek::ZeekParser::new()),
        Format::Counters => Box::new(counters::CountersParser::new()),
        Format::Ndjson => Box::new(ndjson::NdjsonParser),
    }
}
