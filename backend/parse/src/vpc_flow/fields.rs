//! Reading one field: numbers, ports, entity names, and a field as an error message shows it.

use std::borrow::Cow;

use super::layout::ABSENT;
use crate::ndjson::MAX_ENTITY_BYTES;

/// A decimal number, `None` for `-`.
#[inline]
pub(super) fn number(field: &[u8], name: &str) -> Result<Option<u64>, String> {
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
pub(super) fn port(field: &[u8], name: &str) -> Result<Option<u16>, String> {
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
pub(super) const MAX_BASE_ENTITY_BYTES: usize = MAX_ENTITY_BYTES - ":65535/sctp".len();

pub(super) fn entity_str(field: &[u8]) -> Result<&str, String> {
    if field.len() > MAX_BASE_ENTITY_BYTES {
        return Err(format!(
            "entity is {} bytes long (at most {MAX_BASE_ENTITY_BYTES})",
            field.len()
        ));
    }
    std::str::from_utf8(field).map_err(|_| format!("entity `{}` is not UTF-8", truncated(field)))
}

pub(super) fn push_u16(buf: &mut String, n: u16) {
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
pub(super) fn truncated(field: &[u8]) -> Cow<'_, str> {
    const SHOWN: usize = 40;
    String::from_utf8_lossy(&field[..field.len().min(SHOWN)])
}
