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
//!   handshake (the doc of `transport` below says how tcp-flags are read, and what they cannot
//!   tell).
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

use super::ndjson::MAX_ENTITY_BYTES;
use super::{ErrorClass, Format, LineOutcome, Measurement, RecordParser, Sink};

/// What a field reads as when it does not apply, and what a field the layout lacks reads as.
const ABSENT: &[u8] = b"-";
/// Most fields a header may name (AWS has about 60).
const MAX_FIELDS: usize = 128;
/// Event times before this (2000-01-01) are not plausible flow times; AWS's own documentation
/// examples are from 2014.
const MIN_EPOCH_S: u64 = 946_684_800;
/// Nor after this (2100-01-01).
const MAX_EPOCH_S: u64 = 4_102_444_800;
/// Milliseconds per second.
const MS_PER_S: i64 = 1000;

/// TCP flag bits as AWS reports them: FIN 1, SYN 2, RST 4, SYN-ACK 18, OR-ed over the
/// aggregation interval. Plain ACK is not reported, only as part of SYN-ACK.
mod tcp_flag {
    pub const SYN: u64 = 2;
    pub const RST: u64 = 4;
    pub const SYN_ACK: u64 = 18;
}

/// Largest packet without payload that opens a connection, in bytes: IP header (20, or 40 for
/// IPv6) + TCP header (20) + the options Linux puts on a SYN (20). A SYN-only flow whose
/// packets average no more than this carried no data.
const BARE_SYN_BYTES_V4: u64 = 60;
const BARE_SYN_BYTES_V6: u64 = 80;

/// The default (v2) format, and the fields AWS adds in later versions, in the order of AWS's
/// field table ("all fields" in a custom format keeps this order).
const V2: &str = "version account-id interface-id srcaddr dstaddr srcport dstport protocol \
    packets bytes start end action log-status";
const V3: &str = "vpc-id subnet-id instance-id tcp-flags type pkt-srcaddr pkt-dstaddr";
const V4: &str = "region az-id sublocation-type sublocation-id";
const V5: &str = "pkt-src-aws-service pkt-dst-aws-service flow-direction traffic-path";
const V7: &str = "ecs-cluster-arn ecs-cluster-name ecs-container-instance-arn \
    ecs-container-instance-id ecs-container-id ecs-second-container-id ecs-service-name \
    ecs-task-definition-arn ecs-task-arn ecs-task-id";
const V8: &str = "reject-reason";
/// Names of v9 and later seen in the wild; only needed to recognise a header that starts with one.
const V9_PLUS: &str = "resource-id encryption-status interface-type instance-tag interface-tag \
    asg-tag next-hop-interface-id next-hop-subnet-id next-hop-az-id next-hop-vpc-id \
    next-hop-interface-type";
/// The transit gateway flow logs' default format.
const TGW: &str = "version resource-type account-id tgw-id tgw-attachment-id \
    tgw-src-vpc-account-id tgw-dst-vpc-account-id tgw-src-vpc-id tgw-dst-vpc-id \
    tgw-src-subnet-id tgw-dst-subnet-id tgw-src-eni tgw-dst-eni tgw-src-az-id tgw-dst-az-id \
    tgw-pair-attachment-id srcaddr dstaddr srcport dstport protocol packets bytes start end \
    log-status type packets-lost-no-route packets-lost-blackhole packets-lost-mtu-exceeded \
    packets-lost-ttl-expired tcp-flags region flow-direction pkt-src-aws-service \
    pkt-dst-aws-service";
const V2_FIELDS: usize = 14;

/// The fields this parser reads. Every other field is kept as a position nobody reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    InterfaceId,
    TgwAttachmentId,
    ResourceId,
    InstanceId,
    SubnetId,
    VpcId,
    Srcaddr,
    Dstaddr,
    Srcport,
    Dstport,
    Protocol,
    Packets,
    Bytes,
    Start,
    End,
    Action,
    LogStatus,
    TcpFlags,
}
const KEYS: usize = 18;

/// Fields that name the entity, most specific capacity unit first.
const ENTITY_KEYS: [Key; 6] = [
    Key::InterfaceId,
    Key::TgwAttachmentId,
    Key::ResourceId,
    Key::InstanceId,
    Key::SubnetId,
    Key::VpcId,
];

impl Key {
    /// The key of a normalised (`-`-spelled) field name.
    fn of(name: &str) -> Option<Key> {
        Some(match name {
            "interface-id" => Key::InterfaceId,
            "tgw-attachment-id" => Key::TgwAttachmentId,
            "resource-id" => Key::ResourceId,
            "instance-id" => Key::InstanceId,
            "subnet-id" => Key::SubnetId,
            "vpc-id" => Key::VpcId,
            "srcaddr" => Key::Srcaddr,
            "dstaddr" => Key::Dstaddr,
            "srcport" => Key::Srcport,
            "dstport" => Key::Dstport,
            "protocol" => Key::Protocol,
            "packets" => Key::Packets,
            "bytes" => Key::Bytes,
            "start" => Key::Start,
            "end" => Key::End,
            "action" => Key::Action,
            "log-status" => Key::LogStatus,
            "tcp-flags" => Key::TcpFlags,
            _ => return None,
        })
    }
}

/// The meaning of each position of a record.
#[derive(Debug, Clone)]
struct Layout {
    slots: Vec<Option<Key>>,
    /// Which keys the layout names at all (a key it lacks reads as [`ABSENT`]).
    has: [bool; KEYS],
}

impl Layout {
    /// A layout from field names (`-` or `_` spelled, optionally as `${name}`).
    fn from_names<'n>(names: impl Iterator<Item = &'n str>) -> Result<Layout, String> {
        let mut slots = Vec::new();
        let mut seen: Vec<String> = Vec::new();
        let mut has = [false; KEYS];
        for raw in names {
            let name = normalise(raw)?;
            if seen.contains(&name) {
                return Err(format!("field `{name}` is named twice in the format"));
            }
            if seen.len() == MAX_FIELDS {
                return Err(format!("the format names more than {MAX_FIELDS} fields"));
            }
            let key = Key::of(&name);
            if let Some(k) = key {
                has[k as usize] = true;
            }
            slots.push(key);
            seen.push(name);
        }
        if slots.is_empty() {
            return Err("the format names no field".into());
        }
        Ok(Layout { slots, has })
    }

    fn of_str(names: &str) -> Layout {
        // The built-in layouts are valid by construction; the fallback is never taken.
        Layout::from_names(names.split_whitespace()).unwrap_or(Layout {
            slots: Vec::new(),
            has: [false; KEYS],
        })
    }
}

/// `account_id`, `${account-id}` → `account-id`; refuses what cannot be a field name.
fn normalise(raw: &str) -> Result<String, String> {
    let name = raw
        .strip_prefix("${")
        .and_then(|n| n.strip_suffix('}'))
        .unwrap_or(raw);
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
    {
        return Err(format!(
            "`{}` is not a flow log field name",
            truncated(raw.as_bytes())
        ));
    }
    Ok(name.replace('_', "-"))
}

/// Whether `name` (as in a header, `-` or `_` spelled) is a field AWS defines.
fn is_field_name(name: &[u8]) -> bool {
    let same = |known: &str| {
        known.len() == name.len()
            && known
                .bytes()
                .zip(name)
                .all(|(k, &n)| k == n || (k == b'-' && n == b'_'))
    };
    [V2, V3, V4, V5, V7, V8, V9_PLUS, TGW]
        .iter()
        .any(|list| list.split_whitespace().any(same))
}

/// A header line starts with a field name; no record does (versions and ids have digits,
/// statuses and actions are upper case).
fn is_header(line: &[u8]) -> bool {
    let first = line.split(|&b| b == b' ').next().unwrap_or(line);
    first.first().is_some_and(u8::is_ascii_lowercase)
        && !first.iter().any(u8::is_ascii_digit)
        && is_field_name(first)
}

/// Where the field names come from for the records that follow.
#[derive(Debug)]
enum Names {
    /// No header line yet: the configured format, else AWS's default layouts by field count.
    Unnamed,
    Header(Layout),
    /// The last header line was refused: the records under it cannot be read.
    BadHeader(String),
}

/// The fields of one record, borrowed from the line, by [`Key`].
type Values<'l> = [&'l [u8]; KEYS];

/// Splits `line` at single spaces into `vals` by `slots`; returns the number of fields.
///
/// Fields are a few bytes long, too short for `memchr`'s vector search to pay off its start-up
/// per call (measured: a quarter of the time went there). Instead eight bytes at a time are
/// tested for spaces at once in a `u64` (SWAR), and every space found is a field's end.
fn split<'l>(slots: &[Option<Key>], line: &'l [u8], vals: &mut Values<'l>) -> usize {
    const LANES: usize = 8;
    const SPACES: u64 = u64::from_ne_bytes([b' '; LANES]);
    const LOW7: u64 = u64::from_ne_bytes([0x7f; LANES]);
    let mut n = 0;
    let mut start = 0;
    let mut field_end = |end: usize, n: &mut usize, start: &mut usize| {
        if let Some(Some(k)) = slots.get(*n) {
            vals[*k as usize] = &line[*start..end];
        }
        *n += 1;
        *start = end + 1;
    };
    let mut chunks = line.chunks_exact(LANES);
    let mut at = 0;
    for chunk in &mut chunks {
        let mut word = [0_u8; LANES];
        word.copy_from_slice(chunk);
        // Bytes equal to a space become 0; a byte's high bit is then set iff it was 0 (exact:
        // the additions cannot carry from one byte into the next).
        let x = u64::from_le_bytes(word) ^ SPACES;
        let mut zeros = !(((x & LOW7) + LOW7) | x | LOW7);
        while zeros != 0 {
            let end = at + (zeros.trailing_zeros() / u8::BITS) as usize;
            field_end(end, &mut n, &mut start);
            zeros &= zeros - 1;
        }
        at += LANES;
    }
    for (i, &b) in chunks.remainder().iter().enumerate() {
        if b == b' ' {
            field_end(at + i, &mut n, &mut start);
        }
    }
    if let Some(Some(k)) = slots.get(n) {
        vals[*k as usize] = &line[start..];
    }
    n + 1
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

const TCP: u64 = 6;

fn transport_name(protocol: u64) -> Option<&'static str> {
    match protocol {
        TCP => Some("tcp"),
        17 => Some("udp"),
        132 => Some("sctp"),
        _ => None,
    }
}

/// What a flow record says about its transport connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct TransportView {
    /// The server's port: the L4 entity is per service, not per ephemeral client port.
    service_port: u16,
    /// This record is the opening (client to server) direction of a connection.
    opens: bool,
    error: Option<ErrorClass>,
}

/// Reads a flow's direction and fate from its ports and, for TCP, its flags.
///
/// - SYN-ACK seen: the server's side; SYN without SYN-ACK: the client's side, a connection
///   opens. Other TCP flows with flags are connections opened in an earlier interval.
/// - Without flags (the v2 format, UDP): the lower port is the service and the record whose
///   destination it is opens the flow; a long flow counts once per aggregation interval.
/// - RST seen: [`ErrorClass::ConnectionReset`].
/// - SYN and nothing else, with packets no larger than a bare SYN: the client sent no byte of
///   payload, did not close and was not reset: a handshake that got no answer (retried SYNs)
///   is [`ErrorClass::FailedHandshake`]. AWS does not report plain ACKs, so "flags = 2" alone
///   is also what the client side of every healthy connection looks like (Elastic's fixture:
///   `ACCEPT 2` with 8 packets and 568 bytes, answered by an `18`); the payload test tells them
///   apart. It still takes a connection whose client stays silent for a whole interval (a
///   server-speaks-first protocol) for a failed one.
fn transport(
    flags: Option<u64>,
    srcport: u16,
    dstport: u16,
    bytes: u64,
    packets: u64,
    bare_syn: u64,
) -> TransportView {
    let lower = srcport.min(dstport);
    let (service_port, opens) = match flags {
        Some(f) if f & tcp_flag::SYN_ACK == tcp_flag::SYN_ACK => (srcport, false),
        Some(f) if f & tcp_flag::SYN != 0 => (dstport, true),
        Some(_) => (lower, false),
        None => (lower, dstport <= srcport),
    };
    let error = match flags {
        Some(f) if f & tcp_flag::RST != 0 => Some(ErrorClass::ConnectionReset),
        Some(f)
            if f == tcp_flag::SYN && packets > 0 && bytes <= packets.saturating_mul(bare_syn) =>
        {
            Some(ErrorClass::FailedHandshake)
        }
        _ => None,
    };
    TransportView {
        service_port,
        opens,
        error,
    }
}

/// A decimal number, `None` for `-`.
#[inline]
fn number(field: &[u8], name: &str) -> Result<Option<u64>, String> {
    if field == ABSENT {
        return Ok(None);
    }
    match parse_u64(field) {
        Some(n) => Ok(Some(n)),
        None => Err(not_a_number(field, name)),
    }
}

/// Kept out of line so that [`number`] stays small enough to inline on the hot path.
#[cold]
#[inline(never)]
fn not_a_number(field: &[u8], name: &str) -> String {
    format!("{name} `{}` is not a number", truncated(field))
}

#[inline]
fn port(field: &[u8], name: &str) -> Result<Option<u16>, String> {
    match number(field, name)? {
        None => Ok(None),
        Some(n) => u16::try_from(n)
            .map(Some)
            .map_err(|_| format!("{name} {n} is not a port")),
    }
}

/// Digits only, no sign, no overflow.
#[inline]
fn parse_u64(digits: &[u8]) -> Option<u64> {
    /// Up to this many digits cannot overflow (10^19 - 1 < 2^64): no checks on the way.
    const SAFE_DIGITS: usize = 19;
    if digits.is_empty() || digits.len() > 20 {
        return None;
    }
    let mut n: u64 = 0;
    if digits.len() <= SAFE_DIGITS {
        for &d in digits {
            let d = d.wrapping_sub(b'0');
            if d > 9 {
                return None;
            }
            n = n * 10 + u64::from(d);
        }
        return Some(n);
    }
    for &d in digits {
        let d = d.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(d))?;
    }
    Some(n)
}

/// Longest entity taken from a record: room is left for the L4 suffix (`:65535/sctp`), so that
/// no L4 entity is longer than [`MAX_ENTITY_BYTES`].
const MAX_BASE_ENTITY_BYTES: usize = MAX_ENTITY_BYTES - ":65535/sctp".len();

fn entity_str(field: &[u8]) -> Result<&str, String> {
    if field.len() > MAX_BASE_ENTITY_BYTES {
        return Err(format!(
            "entity is {} bytes long (at most {MAX_BASE_ENTITY_BYTES})",
            field.len()
        ));
    }
    std::str::from_utf8(field).map_err(|_| format!("entity `{}` is not UTF-8", truncated(field)))
}

fn push_u16(buf: &mut String, n: u16) {
    let mut digits = [0_u8; 5];
    let mut i = digits.len();
    let mut n = n;
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &d in &digits[i..] {
        buf.push(char::from(d));
    }
}

/// A field as an error message shows it: at most 40 bytes, lossily decoded.
fn truncated(field: &[u8]) -> Cow<'_, str> {
    const SHOWN: usize = 40;
    String::from_utf8_lossy(&field[..field.len().min(SHOWN)])
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
