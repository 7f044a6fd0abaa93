//! Zeek's TSV writer: the `#` header lines, the `#fields` columns and the records read by them.

use super::{emit, guess, port, seen_bit, Kind, Rec, ZeekParser};
use crate::alb::fields::{non_negative, parse_u64, show};
use crate::{LineOutcome, Sink};

/// The fields LayerCast reads, by their Zeek names; a TSV header maps each to its column.
const NAMES: [&str; 22] = [
    "ts",
    "id.orig_h",
    "id.resp_h",
    "id.resp_p",
    "proto",
    "orig_bytes",
    "resp_bytes",
    "orig_ip_bytes",
    "resp_ip_bytes",
    "orig_pkts",
    "resp_pkts",
    "conn_state",
    "host",
    "status_code",
    "request_body_len",
    "response_body_len",
    "rtt",
    "rcode_name",
    "server_name",
    "established",
    "resumed",
    "peer",
];

#[derive(Debug, Clone)]
pub(super) struct Header {
    separator: u8,
    unset: Vec<u8>,
    empty: Vec<u8>,
    /// From `#path`.
    kind: Option<Kind>,
    /// From `#fields`.
    columns: Option<Columns>,
}

impl Default for Header {
    fn default() -> Self {
        Header {
            separator: b'\t',
            unset: b"-".to_vec(),
            empty: b"(empty)".to_vec(),
            kind: None,
            columns: None,
        }
    }
}

#[derive(Debug, Clone)]
struct Columns {
    count: usize,
    /// Column of each of [`NAMES`].
    index: [Option<usize>; NAMES.len()],
    /// Kind-telling names present, for a log without `#path`.
    seen: u16,
}

impl ZeekParser {
    /// A TSV record, read by the columns of the `#fields` header in force.
    pub(super) fn tsv_line(
        &mut self,
        line: &[u8],
        sink: &mut dyn Sink,
    ) -> Result<LineOutcome, String> {
        let Some(columns) = &self.header.columns else {
            return match self.header.kind {
                Some(Kind::Other) => Ok(LineOutcome::Skipped),
                _ => Err("a TSV record before any #fields header".into()),
            };
        };
        let kind = self.header.kind.unwrap_or_else(|| guess(columns.seen));
        if kind == Kind::Other {
            return Ok(LineOutcome::Skipped);
        }
        let h = &self.header;
        self.spans.clear();
        let mut start = 0;
        for end in memchr::memchr_iter(h.separator, line) {
            self.spans.push((start, end));
            start = end + 1;
        }
        self.spans.push((start, line.len()));
        if self.spans.len() != columns.count {
            return Err(format!(
                "{} fields where #fields names {}",
                self.spans.len(),
                columns.count
            ));
        }
        let rec = tsv_record(line, &self.spans, columns, h)?;
        emit(kind, &rec, [&mut self.entity, &mut self.pair], sink)?;
        Ok(LineOutcome::Record)
    }

    pub(super) fn header_line(&mut self, line: &[u8]) -> Result<LineOutcome, String> {
        if let Some(value) = line.strip_prefix(b"#separator ") {
            let separator = unescape_byte(value.trim_ascii())
                .ok_or_else(|| format!("#separator `{}` is not one byte", show(value)))?;
            // A new log starts (files are often concatenated): forget the old header.
            self.header = Header {
                separator,
                ..Header::default()
            };
            return Ok(LineOutcome::Skipped);
        }
        let h = &mut self.header;
        let separator = h.separator;
        let mut parts = line.split(|&b| b == separator);
        let name = parts.next().unwrap_or_default();
        let value = line.get(name.len() + 1..).unwrap_or_default();
        match name {
            b"#unset_field" => h.unset = value.to_vec(),
            b"#empty_field" => h.empty = value.to_vec(),
            b"#path" => {
                let path =
                    std::str::from_utf8(value).map_err(|_| "#path is not UTF-8".to_owned())?;
                h.kind = Some(Kind::from_path(path));
            }
            b"#fields" => {
                let mut columns = Columns {
                    count: 0,
                    index: [None; NAMES.len()],
                    seen: 0,
                };
                for (i, field) in parts.enumerate() {
                    let field = std::str::from_utf8(field)
                        .map_err(|_| "#fields is not UTF-8".to_owned())?;
                    if let Some(slot) = NAMES.iter().position(|n| *n == field) {
                        columns.index[slot] = Some(i);
                    }
                    columns.seen |= seen_bit(field);
                    columns.count = i + 1;
                }
                h.columns = Some(columns);
            }
            b"#types" => {
                let types = parts.count();
                if let Some(c) = h.columns.as_ref().filter(|c| c.count != types) {
                    return Err(format!("#types names {types} types for {} fields", c.count));
                }
            }
            // #set_separator (no measured field is a set), #open, #close, comments.
            _ => {}
        }
        Ok(LineOutcome::Skipped)
    }
}

fn tsv_record<'a>(
    line: &'a [u8],
    spans: &[(usize, usize)],
    c: &Columns,
    h: &Header,
) -> Result<Rec<'a>, String> {
    let mut r = Rec::default();
    for (slot, col) in c.index.iter().enumerate() {
        let Some(&(start, end)) = col.and_then(|i| spans.get(i)) else {
            continue;
        };
        let v = &line[start..end];
        if v == h.unset.as_slice() || v == h.empty.as_slice() || v.is_empty() {
            continue;
        }
        let name = NAMES[slot];
        let text = || std::str::from_utf8(v).map_err(|_| format!("{name} is not UTF-8"));
        let num = || parse_u64(v).ok_or_else(|| format!("{name} `{}` is not a count", show(v)));
        let flag = || match v {
            b"T" => Ok(true),
            b"F" => Ok(false),
            _ => Err(format!("{name} `{}` is not T or F", show(v))),
        };
        match slot {
            0 => {
                r.ts_ms = Some(
                    epoch_ms(v).ok_or_else(|| format!("ts `{}` is not epoch seconds", show(v)))?,
                )
            }
            1 => r.orig_h = Some(text()?),
            2 => r.resp_h = Some(text()?),
            3 => r.resp_p = Some(port(num()?)?),
            4 => r.proto = Some(text()?),
            5 => r.orig_bytes = Some(num()?),
            6 => r.resp_bytes = Some(num()?),
            7 => r.orig_ip_bytes = Some(num()?),
            8 => r.resp_ip_bytes = Some(num()?),
            9 => r.orig_pkts = Some(num()?),
            10 => r.resp_pkts = Some(num()?),
            11 => r.conn_state = Some(text()?),
            12 => r.host = Some(text()?),
            13 => r.status_code = Some(num()?),
            14 => r.request_body_len = Some(num()?),
            15 => r.response_body_len = Some(num()?),
            16 => {
                r.rtt_s = Some(
                    non_negative(v)
                        .ok_or_else(|| format!("rtt `{}` is not a duration", show(v)))?,
                )
            }
            17 => r.rcode_name = Some(text()?),
            18 => r.server_name = Some(text()?),
            19 => r.established = Some(flag()?),
            20 => r.resumed = Some(flag()?),
            _ => r.peer = Some(text()?),
        }
    }
    Ok(r)
}

/// `\x09` or a single literal byte.
fn unescape_byte(v: &[u8]) -> Option<u8> {
    match v {
        [b'\\', b'x', hi, lo] => {
            u8::from_str_radix(std::str::from_utf8(&[*hi, *lo]).ok()?, 16).ok()
        }
        [b] => Some(*b),
        _ => None,
    }
}

/// `1521911720.865716` (epoch seconds, Zeek's `time`) to milliseconds, cutting sub-ms digits.
pub(super) fn epoch_ms(v: &[u8]) -> Option<i64> {
    let (secs, frac) = match memchr::memchr(b'.', v) {
        Some(dot) => (&v[..dot], &v[dot + 1..]),
        None => (v, &b""[..]),
    };
    if !frac.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let secs = i64::try_from(parse_u64(secs)?).ok()?;
    let ms = frac
        .iter()
        .chain(b"000")
        .take(3)
        .fold(0, |acc, d| acc * 10 + i64::from(d - b'0'));
    secs.checked_mul(1000)?.checked_add(ms)
}
