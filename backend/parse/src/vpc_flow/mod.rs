//! AWS VPC Flow Logs (and transit gateway flow logs): one flow record per line, fields
//! separated by single spaces, `-` where a field does not apply to the record.
//!
//! # Which field is which
//!
//! - A **header line** names the fields (`version account-id interface-id ...`), as AWS writes
//!   at the top of every object it delivers to S3. Every header line, also one in the middle of
//!   an object, sets the fields of the records after it. Names are taken with `-` or `_` (Athena
//!   and Vector spell them `account_id`); unknown names are kept as fields nobody reads, so a
//!   field AWS adds next year does not break the format.
//! - A **configured format** ([`VpcFlowParser::with_format`], the `${version} ${srcaddr}`
//!   string of the flow log's definition, or plain names) stands for a header the object lacks:
//!   CloudWatch Logs delivery has none.
//! - Without either, the **field count** picks one of AWS's default layouts, as Filebeat does:
//!   14 fields are the default (v2) format, 21/25/29/39/40 are "all fields" in AWS's table order
//!   up to v3/v4/v5/v7/v8, 36 is the transit gateway default. A count that fits none of them is
//!   refused with the reason; a custom order without a header is only read when configured.
//!
//! A line that is a JSON object is read as a log event whose `message` field holds the record
//! (CloudWatch Logs exports and Firehose deliveries): `{"message":"2 1234 eni-... OK"}`.
//!
//! # What a record measures
//!
//! Entity: the **network interface** (`interface-id`, an ENI): it is what has a bandwidth
//! allowance and what a planner sizes, and there are thousands of them, not millions like
//! address pairs. When a record has no interface, the next field that names a capacity unit
//! is taken: `tgw-attachment-id` (transit gateway logs), `resource-id` (a NAT gateway, v9+),
//! `instance-id`, `subnet-id`, `vpc-id`; the address pair `srcaddr>dstaddr` is the last resort.
//!
//! - **L3**, per entity: bytes and packets; a `REJECT`ed flow counts one error of class
//!   [`ErrorClass::Rejected`] (its bytes still count: they arrived at the interface).
//! - **L4**, per entity and service port (`eni-0a1b:443/tcp`), for TCP, UDP and SCTP flows that
//!   were accepted (a rejected flow never reached the transport): bytes and packets; one
//!   connection when the record is the opening direction; one error for a reset or a failed
//!   handshake (the doc of `transport` in `transport.rs` says how tcp-flags are read, and what
//!   they cannot tell).
//!
//! Time: `start` (seconds) in milliseconds; `end` when `start` is not a plausible time, that
//! is outside 2000–2100 (one of Elastic's fixtures has a 9-digit `start`). A record of a
//! format that names neither (Filebeat's NAT gateway sample) has nothing to place in a window:
//! a record without a measurement.
//!
//! `NODATA` and `SKIPDATA` records are records without a measurement: AWS defines both as
//! "no flow here" (nothing seen; records dropped by AWS), so the numbers some of them carry
//! (Elastic's ECS fixture has `ACCEPT NODATA` with bytes) are contradictions, not traffic.
//!
//! Speed: a line is split once over its bytes, fields stay borrowed from the line, numbers are
//! read by hand, and the two composite entity names are built in buffers the parser keeps; the
//! default format allocates nothing per line.

use std::borrow::Cow;

use layercast_shared::OsiLayer;
use serde::Deserialize;

use super::{ErrorClass, Format, LineOutcome, Measurement, RecordParser, Sink};

mod fields;
mod layout;
mod transport;

use fields::{entity_str, number, port, push_u16, truncated, MAX_BASE_ENTITY_BYTES};
use layout::{
    is_header, split, Key, Layout, Values, ABSENT, ENTITY_KEYS, KEYS, TGW, V2, V2_FIELDS, V3, V4,
    V5, V7, V8,
};
use transport::{tcp_flag, transport, transport_name, BARE_SYN_BYTES_V4, BARE_SYN_BYTES_V6, TCP};

/// Event times before this (2000-01-01) are not plausible flow times; AWS's own documentation
/// examples are from 2014.
const MIN_EPOCH_S: u64 = 946_684_800;
/// Nor after this (2100-01-01).
const MAX_EPOCH_S: u64 = 4_102_444_800;
/// Milliseconds per second.
const MS_PER_S: i64 = 1000;

/// Where the field names come from for the records that follow.
#[derive(Debug)]
enum Names {
    /// No header line yet: the configured format, else AWS's default layouts by field count.
    Unnamed,
    Header(Layout),
    /// The last header line was refused: the records under it cannot be read.
    BadHeader(String),
}

/// Reads VPC and transit gateway flow logs. State: the field names in force, and two buffers
/// for composite entity names. One parser per object (a header holds for its object only).
#[derive(Debug)]
pub struct VpcFlowParser {
    names: Names,
    /// From [`VpcFlowParser::with_format`]: the fields of records before any header line.
    configured: Option<Layout>,
    v2: Layout,
    /// AWS's other default layouts (all fields up to v3/v4/v5/v7/v8, transit gateway), told
    /// apart by their field count.
    all_fields: Vec<Layout>,
    /// `srcaddr>dstaddr`, for records that name no capacity unit.
    pair_buf: String,
    /// `entity:port/proto`, the L4 entity.
    port_buf: String,
}

impl Default for VpcFlowParser {
    fn default() -> Self {
        let all = [V2, V3, V4, V5, V7, V8];
        let all_fields = (2..=all.len())
            .map(|n| Layout::of_str(&all[..n].join(" ")))
            .chain(std::iter::once(Layout::of_str(TGW)))
            .collect();
        VpcFlowParser {
            names: Names::Unnamed,
            configured: None,
            v2: Layout::of_str(V2),
            all_fields,
            pair_buf: String::new(),
            port_buf: String::new(),
        }
    }
}

impl VpcFlowParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// A parser for objects without a header line whose records follow `format`: the flow
    /// log's format string (`${version} ${vpc-id} ...`) or plain field names.
    pub fn with_format(format: &str) -> Result<Self, String> {
        let layout = Layout::from_names(format.split_whitespace())?;
        Ok(VpcFlowParser {
            configured: Some(layout),
            ..Self::default()
        })
    }

    /// A line that is not JSON.
    fn plain(&mut self, line: &[u8], sink: &mut dyn Sink) -> Result<LineOutcome, String> {
        if line.iter().all(u8::is_ascii_whitespace) {
            return Ok(LineOutcome::Skipped);
        }
        if is_header(line) {
            let names =
                std::str::from_utf8(line).map_err(|_| "header line is not UTF-8".to_owned())?;
            return match Layout::from_names(names.split(' ')) {
                Ok(layout) => {
                    self.names = Names::Header(layout);
                    Ok(LineOutcome::Skipped)
                }
                Err(reason) => {
                    let reason = format!("header line refused: {reason}");
                    self.names = Names::BadHeader(reason.clone());
                    Err(reason)
                }
            };
        }
        let mut vals: Values<'_> = [ABSENT; KEYS];
        let has = match (&self.names, &self.configured) {
            (Names::BadHeader(reason), _) => {
                return Err(format!("under a refused header ({reason})"))
            }
            (Names::Header(layout), _) | (Names::Unnamed, Some(layout)) => {
                let n = split(&layout.slots, line, &mut vals);
                if n != layout.slots.len() {
                    return Err(format!(
                        "{n} fields, but the format names {}",
                        layout.slots.len()
                    ));
                }
                layout.has
            }
            (Names::Unnamed, None) => {
                let n = split(&self.v2.slots, line, &mut vals);
                if n == V2_FIELDS {
                    self.v2.has
                } else {
                    let Some(layout) = self.all_fields.iter().find(|l| l.slots.len() == n) else {
                        return Err(format!(
                            "{n} fields and no header line: AWS's default layouts have \
                             {V2_FIELDS} (v2), 21, 25, 29, 39 or 40 (all fields to v3, v4, v5, v7, \
                             v8) or 36 (transit gateway); a custom format needs its header"
                        ));
                    };
                    vals = [ABSENT; KEYS];
                    split(&layout.slots, line, &mut vals);
                    if layout.has[Key::TgwAttachmentId as usize]
                        && !vals[Key::TgwAttachmentId as usize].starts_with(b"tgw-attach")
                        && vals[Key::TgwAttachmentId as usize] != ABSENT
                    {
                        return Err(
                            "36 fields, but the fifth is no transit gateway attachment".into()
                        );
                    }
                    layout.has
                }
            }
        };
        self.record(&vals, &has, sink)
    }

    /// Turns the fields of one record into measurements. Everything is checked before the
    /// first measurement goes out, so a refused line gives none.
    fn record(
        &mut self,
        v: &Values<'_>,
        has: &[bool; KEYS],
        sink: &mut dyn Sink,
    ) -> Result<LineOutcome, String> {
        let get = |k: Key| v[k as usize];
        match get(Key::LogStatus) {
            b"OK" | ABSENT => {}
            b"NODATA" | b"SKIPDATA" => return Ok(LineOutcome::Record),
            other => {
                return Err(format!(
                    "log-status `{}` is not OK, NODATA or SKIPDATA",
                    truncated(other)
                ))
            }
        }
        let rejected = match get(Key::Action) {
            b"ACCEPT" | ABSENT => false,
            b"REJECT" => true,
            other => {
                return Err(format!(
                    "action `{}` is not ACCEPT or REJECT",
                    truncated(other)
                ))
            }
        };
        let start = number(get(Key::Start), "start")?;
        let end = number(get(Key::End), "end")?;
        let plausible = |t: &u64| (MIN_EPOCH_S..MAX_EPOCH_S).contains(t);
        let ts_s = match (start.filter(plausible), end.filter(plausible)) {
            (Some(t), _) | (None, Some(t)) => t,
            (None, None) if !has[Key::Start as usize] && !has[Key::End as usize] => {
                // The format has no time at all (Filebeat's NAT gateway sample): nothing to
                // place in a window, but nothing wrong with the record either.
                return Ok(LineOutcome::Record);
            }
            (None, None) => {
                return Err(format!(
                    "no plausible time: start `{}`, end `{}`",
                    truncated(get(Key::Start)),
                    truncated(get(Key::End))
                ))
            }
        };
        let ts_ms = i64::try_from(ts_s).map_err(|_| "time out of range".to_owned())? * MS_PER_S;
        let bytes = number(get(Key::Bytes), "bytes")?.unwrap_or(0);
        let packets = number(get(Key::Packets), "packets")?.unwrap_or(0);
        let protocol = number(get(Key::Protocol), "protocol")?;
        let srcport = port(get(Key::Srcport), "srcport")?;
        let dstport = port(get(Key::Dstport), "dstport")?;
        let flags = number(get(Key::TcpFlags), "tcp-flags")?;
        let (src, dst) = (get(Key::Srcaddr), get(Key::Dstaddr));

        let entity: &str = match ENTITY_KEYS.iter().map(|&k| get(k)).find(|f| *f != ABSENT) {
            Some(field) => entity_str(field)?,
            None if src != ABSENT && dst != ABSENT => {
                self.pair_buf.clear();
                self.pair_buf.push_str(entity_str(src)?);
                self.pair_buf.push('>');
                self.pair_buf.push_str(entity_str(dst)?);
                if self.pair_buf.len() > MAX_BASE_ENTITY_BYTES {
                    return Err(format!(
                        "address pair is longer than {MAX_BASE_ENTITY_BYTES} bytes"
                    ));
                }
                &self.pair_buf
            }
            None => {
                return Err(
                    "no interface, attachment, resource, instance, subnet, VPC or address \
                    pair to attribute the flow to"
                        .into(),
                )
            }
        };

        let l4 = match (protocol, srcport, dstport) {
            (Some(p), Some(sp), Some(dp)) if !rejected => transport_name(p).map(|name| {
                let tcp_flags = if p == TCP { flags } else { None };
                let bare_syn = match tcp_flags {
                    Some(tcp_flag::SYN) if src.contains(&b':') => BARE_SYN_BYTES_V6,
                    _ => BARE_SYN_BYTES_V4,
                };
                (name, transport(tcp_flags, sp, dp, bytes, packets, bare_syn))
            }),
            _ => None,
        };

        let mut m = Measurement::new(ts_ms, OsiLayer::L3, entity);
        m.bytes = bytes;
        m.packets = packets;
        if rejected {
            m.errors = 1;
            m.error_class = Some(ErrorClass::Rejected);
        }
        sink.measurement(&m);

        if let Some((proto_name, view)) = l4 {
            self.port_buf.clear();
            self.port_buf.push_str(entity);
            self.port_buf.push(':');
            push_u16(&mut self.port_buf, view.service_port);
            self.port_buf.push('/');
            self.port_buf.push_str(proto_name);
            let mut m = Measurement::new(ts_ms, OsiLayer::L4, &self.port_buf);
            m.bytes = bytes;
            m.packets = packets;
            m.connections = u64::from(view.opens);
            if let Some(class) = view.error {
                m.errors = 1;
                m.error_class = Some(class);
            }
            sink.measurement(&m);
        }
        Ok(LineOutcome::Record)
    }

    /// A JSON log event whose `message` is the record.
    fn wrapped(&mut self, line: &[u8], sink: &mut dyn Sink) -> Result<LineOutcome, String> {
        let event: LogEvent<'_> = serde_json::from_slice(line)
            .map_err(|e| format!("JSON line without a `message` string holding the record: {e}"))?;
        let inner = event.message.trim_end_matches(['\n', '\r']).as_bytes();
        if inner.first() == Some(&b'{') {
            return Err("`message` holds JSON, not a flow record".into());
        }
        self.plain(inner, sink)
    }
}

/// A CloudWatch Logs event (as exported, or delivered by Firehose one per line); only its
/// `message` is read.
#[derive(Deserialize)]
struct LogEvent<'a> {
    #[serde(borrow)]
    message: Cow<'a, str>,
}

impl RecordParser for VpcFlowParser {
    fn format(&self) -> Format {
        Format::VpcFlow
    }

    fn line(&mut self, line: &[u8], sink: &mut dyn Sink) -> Result<LineOutcome, String> {
        if line.first() == Some(&b'{') {
            self.wrapped(line, sink)
        } else {
            self.plain(line, sink)
        }
    }
}

/// Discards measurements (format detection only asks whether a line parses).
struct Discard;

impl Sink for Discard {
    fn measurement(&mut self, _: &Measurement<'_>) {}
}

/// Whether the first lines (blank ones left out or not) look like a flow log: the first
/// non-blank one is a header, or a record of one of AWS's default layouts, bare or as the
/// `message` of a JSON event. A headerless custom format is not recognised.
pub fn sniff(first_lines: &[&[u8]]) -> bool {
    let Some(line) = first_lines
        .iter()
        .find(|l| !l.iter().all(u8::is_ascii_whitespace))
    else {
        return false;
    };
    let mut parser = VpcFlowParser::new();
    let looks_like_flow =
        |line: &[u8]| is_header(line) || line.first().is_some_and(u8::is_ascii_digit);
    if line.first() == Some(&b'{') {
        return serde_json::from_slice::<LogEvent<'_>>(line).is_ok_and(|e| {
            looks_like_flow(e.message.as_bytes()) && parser.line(line, &mut Discard).is_ok()
        });
    }
    looks_like_flow(line) && parser.line(line, &mut Discard).is_ok()
}

#[cfg(test)]
mod tests;
