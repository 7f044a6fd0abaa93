//! Which field is which: AWS's field lists, the keys read, layouts, header detection, splitting.

use super::fields::truncated;

/// What a field reads as when it does not apply, and what a field the layout lacks reads as.
pub(super) const ABSENT: &[u8] = b"-";
/// Most fields a header may name (AWS has about 60).
const MAX_FIELDS: usize = 128;

/// The default (v2) format, and the fields AWS adds in later versions, in the order of AWS's
/// field table ("all fields" in a custom format keeps this order).
pub(super) const V2: &str =
    "version account-id interface-id srcaddr dstaddr srcport dstport protocol \
    packets bytes start end action log-status";
pub(super) const V3: &str = "vpc-id subnet-id instance-id tcp-flags type pkt-srcaddr pkt-dstaddr";
pub(super) const V4: &str = "region az-id sublocation-type sublocation-id";
pub(super) const V5: &str = "pkt-src-aws-service pkt-dst-aws-service flow-direction traffic-path";
pub(super) const V7: &str = "ecs-cluster-arn ecs-cluster-name ecs-container-instance-arn \
    ecs-container-instance-id ecs-container-id ecs-second-container-id ecs-service-name \
    ecs-task-definition-arn ecs-task-arn ecs-task-id";
pub(super) const V8: &str = "reject-reason";
/// Names of v9 and later seen in the wild; only needed to recognise a header that starts with one.
const V9_PLUS: &str = "resource-id encryption-status interface-type instance-tag interface-tag \
    asg-tag next-hop-interface-id next-hop-subnet-id next-hop-az-id next-hop-vpc-id \
    next-hop-interface-type";
/// The transit gateway flow logs' default format.
pub(super) const TGW: &str = "version resource-type account-id tgw-id tgw-attachment-id \
    tgw-src-vpc-account-id tgw-dst-vpc-account-id tgw-src-vpc-id tgw-dst-vpc-id \
    tgw-src-subnet-id tgw-dst-subnet-id tgw-src-eni tgw-dst-eni tgw-src-az-id tgw-dst-az-id \
    tgw-pair-attachment-id srcaddr dstaddr srcport dstport protocol packets bytes start end \
    log-status type packets-lost-no-route packets-lost-blackhole packets-lost-mtu-exceeded \
    packets-lost-ttl-expired tcp-flags region flow-direction pkt-src-aws-service \
    pkt-dst-aws-service";
pub(super) const V2_FIELDS: usize = 14;

/// The fields this parser reads. Every other field is kept as a position nobody reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Key {
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

impl Key {
    /// Every key, in declaration order.
    pub(super) const ALL: [Key; 18] = [
        Key::InterfaceId,
        Key::TgwAttachmentId,
        Key::ResourceId,
        Key::InstanceId,
        Key::SubnetId,
        Key::VpcId,
        Key::Srcaddr,
        Key::Dstaddr,
        Key::Srcport,
        Key::Dstport,
        Key::Protocol,
        Key::Packets,
        Key::Bytes,
        Key::Start,
        Key::End,
        Key::Action,
        Key::LogStatus,
        Key::TcpFlags,
    ];
}

pub(super) const KEYS: usize = Key::ALL.len();

/// Fields that name the entity, most specific capacity unit first.
pub(super) const ENTITY_KEYS: [Key; 6] = [
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
pub(super) struct Layout {
    pub(super) slots: Vec<Option<Key>>,
    /// Which keys the layout names at all (a key it lacks reads as [`ABSENT`]).
    pub(super) has: [bool; KEYS],
}

impl Layout {
    /// A layout from field names (`-` or `_` spelled, optionally as `${name}`).
    pub(super) fn from_names<'n>(names: impl Iterator<Item = &'n str>) -> Result<Layout, String> {
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

    pub(super) fn of_str(names: &str) -> Layout {
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
pub(super) fn is_header(line: &[u8]) -> bool {
    let first = line.split(|&b| b == b' ').next().unwrap_or(line);
    first.first().is_some_and(u8::is_ascii_lowercase)
        && !first.iter().any(u8::is_ascii_digit)
        && is_field_name(first)
}

/// The fields of one record, borrowed from the line, by [`Key`].
pub(super) type Values<'l> = [&'l [u8]; KEYS];

/// Splits `line` at single spaces into `vals` by `slots`; returns the number of fields.
///
/// Fields are a few bytes long, too short for `memchr`'s vector search to pay off its start-up
/// per call (measured: a quarter of the time went there). Instead eight bytes at a time are
/// tested for spaces at once in a `u64` (SWAR), and every space found is a field's end.
pub(super) fn split<'l>(slots: &[Option<Key>], line: &'l [u8], vals: &mut Values<'l>) -> usize {
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
