//! Splitting a line into fields, and reading one field: counts, codes, durations, times, names.

use crate::ndjson::MAX_ENTITY_BYTES;

/// Fields kept per line; later ones (fields AWS adds in future) are counted and ignored.
pub(super) const MAX_FIELDS: usize = 40;

/// Splits at spaces; a field opening with `"` runs to the next `"` that is not escaped by `\`
/// (AWS writes quotes inside as `\x22`, but `\"` costs nothing to honour). A closing quote ends
/// its field even without a space after it: the `"-"1` of lines seen in the wild is two fields.
/// Returns how many fields the line has; the first [`MAX_FIELDS`] are kept.
pub(super) fn split_quoted<'a>(
    line: &'a [u8],
    out: &mut [&'a [u8]; MAX_FIELDS],
) -> Result<usize, String> {
    let (mut n, mut i) = (0, 0);
    loop {
        while line.get(i) == Some(&b' ') {
            i += 1;
        }
        if i >= line.len() {
            return Ok(n);
        }
        let field = if line[i] == b'"' {
            let start = i + 1;
            let mut j = start;
            loop {
                match line.get(j) {
                    None => return Err(format!("field {} opens a quote that never closes", n + 1)),
                    Some(b'\\') => j += 2,
                    Some(b'"') => break,
                    Some(_) => j += 1,
                }
            }
            i = j + 1;
            &line[start..j]
        } else {
            let start = i;
            while i < line.len() && line[i] != b' ' {
                i += 1;
            }
            &line[start..i]
        };
        if let Some(slot) = out.get_mut(n) {
            *slot = field;
        }
        n += 1;
    }
}

/// Splits at spaces only: NLB lines quote nothing but the ALPN list (`"h2","http/1.1"`), which
/// has no spaces and must stay one field.
pub(super) fn split_plain<'a>(line: &'a [u8], out: &mut [&'a [u8]; MAX_FIELDS]) -> usize {
    let mut n = 0;
    for field in line.split(|&b| b == b' ').filter(|f| !f.is_empty()) {
        if let Some(slot) = out.get_mut(n) {
            *slot = field;
        }
        n += 1;
    }
    n
}

pub(super) fn dash(f: &[u8]) -> Option<&[u8]> {
    (!f.is_empty() && f != b"-").then_some(f)
}

pub(super) fn time(f: &[u8], what: &str) -> Result<i64, String> {
    iso8601_ms(f).ok_or_else(|| format!("{what} `{}` is not an ISO 8601 time", show(f)))
}

pub(super) fn elb_name(f: &[u8]) -> Result<&str, String> {
    let name = std::str::from_utf8(f).map_err(|_| "load balancer name is not UTF-8".to_owned())?;
    if dash(f).is_none()
        || name.len() > MAX_ENTITY_BYTES
        || name.bytes().any(|b| !b.is_ascii_graphic())
    {
        return Err(format!("load balancer name `{}` is unusable", show(f)));
    }
    Ok(name)
}

pub(super) fn target(f: &[u8]) -> Result<Option<&str>, String> {
    match dash(f) {
        None => Ok(None),
        Some(t) if t.iter().all(u8::is_ascii_graphic) => Ok(std::str::from_utf8(t).ok()),
        Some(t) => Err(format!("target `{}` is not an address", show(t))),
    }
}

pub(super) fn check_entity(entity: &str) -> Result<&str, String> {
    if entity.len() > MAX_ENTITY_BYTES {
        return Err(format!(
            "entity is {} bytes long (at most {MAX_ENTITY_BYTES})",
            entity.len()
        ));
    }
    Ok(entity)
}

pub(super) fn count(f: &[u8], what: &str) -> Result<u64, String> {
    if f == b"-" {
        return Ok(0);
    }
    parse_u64(f).ok_or_else(|| format!("{what} `{}` is not a count", show(f)))
}

/// Parses an unsigned decimal integer, by hand: no UTF-8 check, no allocation.
pub(crate) fn parse_u64(f: &[u8]) -> Option<u64> {
    if f.is_empty() || f.len() > 20 {
        return None;
    }
    f.iter().try_fold(0_u64, |acc, &b| {
        b.is_ascii_digit().then_some(())?;
        acc.checked_mul(10)?.checked_add(u64::from(b - b'0'))
    })
}

pub(super) fn status(f: &[u8], what: &str) -> Result<Option<u16>, String> {
    if f == b"-" {
        return Ok(None);
    }
    match parse_u64(f) {
        Some(code) if code <= 999 => Ok(Some(code as u16)),
        _ => Err(format!("{what} `{}` is not a status code", show(f))),
    }
}

/// A duration in seconds; `-1` and `-` (no value) are `None`.
pub(super) fn seconds(f: &[u8]) -> Result<Option<f64>, String> {
    if f == b"-1" || f == b"-" {
        return Ok(None);
    }
    non_negative(f)
        .map(Some)
        .ok_or_else(|| format!("processing time `{}` is not a duration", show(f)))
}

/// A duration already in milliseconds; `-` is `None`.
pub(super) fn millis(f: &[u8], what: &str) -> Result<Option<f64>, String> {
    if f == b"-" || f == b"-1" {
        return Ok(None);
    }
    non_negative(f)
        .map(Some)
        .ok_or_else(|| format!("{what} `{}` is not a duration", show(f)))
}

pub(crate) fn non_negative(f: &[u8]) -> Option<f64> {
    // Digits and one dot only: `parse::<f64>` alone would take `inf`, `NaN` and `1e400`.
    if f.is_empty() || !f.iter().all(|&b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    std::str::from_utf8(f).ok()?.parse().ok()
}

/// A field for an error message: lossy, at most 40 characters.
pub(crate) fn show(f: &[u8]) -> String {
    String::from_utf8_lossy(f).chars().take(40).collect()
}

/// Milliseconds since the Unix epoch of `YYYY-MM-DDTHH:MM:SS[.fraction][Z|±HH:MM]`, parsed
/// by hand (chrono's parser allocates nothing either, but is several times slower).
/// Sub-millisecond digits are cut, not rounded, so a record stays in the window of its second.
/// A time without offset is UTC: NLB writes them so.
pub fn iso8601_ms(s: &[u8]) -> Option<i64> {
    if s.len() < 19
        || s[4] != b'-'
        || s[7] != b'-'
        || !matches!(s[10], b'T' | b' ')
        || s[13] != b':'
        || s[16] != b':'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| parse_u64(&s[r]).map(|v| v as i64);
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut i = 19;
    let mut ms = 0;
    if s.get(i) == Some(&b'.') {
        let start = i + 1;
        i = start;
        while s.get(i).is_some_and(u8::is_ascii_digit) {
            if i - start < 3 {
                ms = ms * 10 + i64::from(s[i] - b'0');
            }
            i += 1;
        }
        if i == start {
            return None;
        }
        for _ in (i - start)..3 {
            ms *= 10;
        }
    }
    let offset_s = match &s[i..] {
        b"" | b"Z" | b"z" => 0,
        [sign @ (b'+' | b'-'), rest @ ..] => {
            let (h, m) = match rest {
                [h1, h2, b':', m1, m2] | [h1, h2, m1, m2] => {
                    (parse_u64(&[*h1, *h2])?, parse_u64(&[*m1, *m2])?)
                }
                _ => return None,
            };
            let secs = (h * 3600 + m * 60) as i64;
            if *sign == b'+' {
                secs
            } else {
                -secs
            }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    Some((days * 86_400 + hour * 3600 + minute * 60 + second - offset_s) * 1000 + ms)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to the given proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}
