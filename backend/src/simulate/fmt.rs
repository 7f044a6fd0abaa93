//! Numbers and times written straight into a byte buffer: the writers produce millions of
//! records a second, so nothing here allocates.

use chrono::Datelike;

use super::traffic::{MS_PER_DAY, MS_PER_HOUR, MS_PER_S};

const MS_PER_MINUTE: i64 = 60_000;
const MICROS_PER_MS: i64 = 1000;

pub fn u64(buf: &mut Vec<u8>, v: u64) {
    buf.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

/// `v` with exactly `decimals` digits after the point (negative values are written as 0).
pub fn fixed(buf: &mut Vec<u8>, v: f64, decimals: u32) {
    let scale = 10_u64.pow(decimals);
    let scaled = (v.max(0.0) * scale as f64).round() as u64;
    u64(buf, scaled / scale);
    if decimals > 0 {
        buf.push(b'.');
        padded(buf, scaled % scale, decimals as usize);
    }
}

/// `v` left-padded with zeros to `width` digits.
pub fn padded(buf: &mut Vec<u8>, v: u64, width: usize) {
    let mut b = itoa::Buffer::new();
    let digits = b.format(v).as_bytes();
    buf.extend(std::iter::repeat_n(
        b'0',
        width.saturating_sub(digits.len()),
    ));
    buf.extend_from_slice(digits);
}

/// Writes UTC times as ISO 8601; keeps the date of the last day written, so a record only
/// formats its time of day.
#[derive(Debug, Default)]
pub struct Clock {
    day: Option<i64>,
    /// `YYYY-MM-DDT` of `day`.
    date: Vec<u8>,
}

impl Clock {
    fn date(&mut self, ts_ms: i64) -> &[u8] {
        let day = ts_ms.div_euclid(MS_PER_DAY);
        if self.day != Some(day) {
            self.day = Some(day);
            self.date.clear();
            let d = chrono::DateTime::from_timestamp_millis(day * MS_PER_DAY).unwrap_or_default();
            padded(&mut self.date, u64::from(d.year().unsigned_abs()), 4);
            self.date.push(b'-');
            padded(&mut self.date, u64::from(d.month()), 2);
            self.date.push(b'-');
            padded(&mut self.date, u64::from(d.day()), 2);
            self.date.push(b'T');
        }
        &self.date
    }

    /// `2026-11-25T10:00:00Z` (`micros`: `2026-11-25T10:00:00.123000Z`).
    pub fn iso(&mut self, buf: &mut Vec<u8>, ts_ms: i64, micros: bool) {
        buf.extend_from_slice(self.date(ts_ms));
        let in_day = ts_ms.rem_euclid(MS_PER_DAY);
        padded(buf, (in_day / MS_PER_HOUR) as u64, 2);
        buf.push(b':');
        padded(buf, (in_day % MS_PER_HOUR / MS_PER_MINUTE) as u64, 2);
        buf.push(b':');
        padded(buf, (in_day % MS_PER_MINUTE / MS_PER_S) as u64, 2);
        if micros {
            buf.push(b'.');
            padded(buf, (in_day % MS_PER_S * MICROS_PER_MS) as u64, 6);
        }
        buf.push(b'Z');
    }
}

/// Epoch seconds with microseconds, as Zeek writes `ts`: `1795600803.250000`.
pub fn epoch_micros(buf: &mut Vec<u8>, ts_ms: i64) {
    u64(buf, ts_ms.div_euclid(MS_PER_S) as u64);
    buf.push(b'.');
    padded(buf, (ts_ms.rem_euclid(MS_PER_S) * MICROS_PER_MS) as u64, 6);
}

/// `20261125T100500Z`: sorts as time does, so that object names sort in simulated time.
pub fn compact_time(ts_ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ts_ms)
        .map(|t| t.format("%Y%m%dT%H%M%SZ").to_string())
        .unwrap_or_else(|| ts_ms.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(f: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut buf = Vec::new();
        f(&mut buf);
        String::from_utf8(buf).expect("ascii")
    }

    #[test]
    fn times_match_chrono() {
        let mut clock = Clock::default();
        for ts in [0_i64, 1_795_600_803_250, 1_795_651_199_999, 951_782_400_000] {
            let ours = text(|b| clock.iso(b, ts, true));
            let theirs = chrono::DateTime::from_timestamp_millis(ts)
                .expect("time")
                .format("%Y-%m-%dT%H:%M:%S%.6fZ")
                .to_string();
            assert_eq!(ours, theirs);
        }
        assert_eq!(
            text(|b| epoch_micros(b, 1_795_600_803_250)),
            "1795600803.250000"
        );
        assert_eq!(compact_time(1_795_600_803_250), "20261125T100003Z");
    }

    #[test]
    fn fixed_point_numbers() {
        assert_eq!(text(|b| fixed(b, 0.0425, 3)), "0.043");
        assert_eq!(text(|b| fixed(b, 12.0, 6)), "12.000000");
        assert_eq!(text(|b| fixed(b, -3.0, 2)), "0.00");
        assert_eq!(text(|b| padded(b, 7, 3)), "007");
    }
}
