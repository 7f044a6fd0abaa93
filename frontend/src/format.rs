//! How numbers and times read on the dashboard.

const MS_PER_SECOND: i64 = 1_000;
const SECONDS_PER_DAY: i64 = 86_400;

/// `HH:MM:SS` of a UTC instant given in milliseconds since the Unix epoch.
///
/// Done by hand rather than through `chrono` or the browser's `Date`: windows are aligned to
/// the epoch, so the time of day is plain arithmetic, and it must not follow the viewer's
/// time zone (the backend, the logs and the other planners all speak UTC).
pub fn hms_utc(epoch_ms: i64) -> String {
    // `rem_euclid` keeps instants before 1970 on the right side of midnight.
    let second_of_day = epoch_ms
        .div_euclid(MS_PER_SECOND)
        .rem_euclid(SECONDS_PER_DAY);
    format!(
        "{:02}:{:02}:{:02}",
        second_of_day / 3_600,
        second_of_day / 60 % 60,
        second_of_day % 60
    )
}

/// A byte count for people: `4.2 kB`, `1.5 GB` (decimal units, as network capacity is sold).
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["kB", "MB", "GB", "TB", "PB", "EB"];
    if bytes < 1_000 {
        return format!("{bytes} B");
    }
    // f64 loses nothing that one decimal can show.
    let mut value = bytes as f64 / 1_000.0;
    let mut unit = UNITS[0];
    for next in &UNITS[1..] {
        if value < 1_000.0 {
            break;
        }
        value /= 1_000.0;
        unit = next;
    }
    format!("{value:.1} {unit}")
}

/// SI prefixes for rates, as planners and link speeds use them (1 Gbit/s = 10^9 bit/s).
const SI_PREFIXES: [&str; 7] = ["", "k", "M", "G", "T", "P", "E"];

/// A value with an SI prefix and three significant digits: `si(1.25e9, "bit/s")` is
/// `1.25 Gbit/s`. Values under one keep no prefix (`0.5 bit/s`); negatives keep their sign.
pub fn si(value: f64, unit: &str) -> String {
    if !value.is_finite() {
        return "—".to_owned();
    }
    let mut scaled = value.abs();
    let mut prefix = 0;
    while scaled >= 999.5 && prefix + 1 < SI_PREFIXES.len() {
        scaled /= 1_000.0;
        prefix += 1;
    }
    let sign = if value < 0.0 { "-" } else { "" };
    let digits = if scaled >= 99.95 || scaled == 0.0 {
        0
    } else if scaled >= 9.995 {
        1
    } else {
        2
    };
    format!("{sign}{scaled:.digits$} {}{unit}", SI_PREFIXES[prefix])
}

/// A throughput given in bytes per second, spoken in bits per second as links are sold:
/// `bits_per_s(1.25e8)` is `1.00 Gbit/s`.
pub fn bits_per_s(bytes_per_s: f64) -> String {
    si(bytes_per_s * BITS_PER_BYTE, "bit/s")
}

/// Bits in a byte: every throughput the backend stores is in bytes.
pub const BITS_PER_BYTE: f64 = 8.0;

/// A ratio (0.0123) as a percentage (`1.23 %`); `—` when unknown.
pub fn percent(ratio: Option<f64>) -> String {
    match ratio {
        Some(r) if r.is_finite() => {
            let p = r * 100.0;
            if p != 0.0 && p.abs() < 0.01 {
                "<0.01 %".to_owned()
            } else {
                format!("{p:.2} %")
            }
        }
        _ => "—".to_owned(),
    }
}

/// Milliseconds of latency: `12.3 ms`, `1.20 s`.
pub fn latency_ms(ms: Option<f64>) -> String {
    match ms {
        Some(ms) if ms.is_finite() && ms >= 1_000.0 => format!("{:.2} s", ms / 1_000.0),
        Some(ms) if ms.is_finite() => format!("{ms:.1} ms"),
        _ => "—".to_owned(),
    }
}

/// Days until full: `full` at zero, `3.5 d`, `never` without a date.
pub fn days(days: Option<f64>) -> String {
    match days {
        Some(d) if d.is_finite() && d <= 0.0 => "full".to_owned(),
        Some(d) if d.is_finite() && d < 10.0 => format!("{d:.1} d"),
        Some(d) if d.is_finite() => format!("{d:.0} d"),
        _ => "never".to_owned(),
    }
}

/// A metric's value in its unit, as the tables and tooltips show it.
pub fn metric_value(metric: &str, value: f64) -> String {
    match metric {
        "bytes_per_s" => bits_per_s(value),
        "bytes" => si(value, "B"),
        "packets_per_s" => si(value, "pkt/s"),
        "requests_per_s" => si(value, "req/s"),
        "error_rate" => percent(Some(value)),
        m if m.starts_with("latency_") => latency_ms(Some(value)),
        _ => si(value, ""),
    }
}

/// A slope per day in the metric's unit, with its sign: `+1.20 Mbit/s per day`.
pub fn slope_per_day(metric: &str, slope: f64) -> String {
    let sign = if slope >= 0.0 { "+" } else { "-" };
    format!("{sign}{} per day", metric_value(metric, slope.abs()))
}

/// `YYYY-MM-DD HH:MM:SS` in UTC, from the civil calendar (Howard Hinnant's days-from-civil
/// inverse), for tables that span days.
pub fn datetime_utc(epoch_ms: i64) -> String {
    let days = epoch_ms.div_euclid(MS_PER_SECOND * SECONDS_PER_DAY);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {}", hms_utc(epoch_ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_of_day_in_utc() {
        // 2026-11-25T10:00:03.250Z
        assert_eq!(hms_utc(1_795_600_803_250), "10:00:03");
        assert_eq!(hms_utc(0), "00:00:00");
        assert_eq!(hms_utc(-1_000), "23:59:59");
    }

    #[test]
    fn bytes_in_decimal_units() {
        assert_eq!(human_bytes(999), "999 B");
        assert_eq!(human_bytes(4_200), "4.2 kB");
        assert_eq!(human_bytes(1_500_000_000), "1.5 GB");
        assert_eq!(human_bytes(u64::MAX), "18.4 EB");
    }

    #[test]
    fn rates_in_bits_per_second_with_si_prefixes() {
        assert_eq!(bits_per_s(1.25e8), "1.00 Gbit/s");
        assert_eq!(bits_per_s(156_250.0), "1.25 Mbit/s");
        assert_eq!(bits_per_s(0.0), "0 bit/s");
        assert_eq!(bits_per_s(12.5), "100 bit/s");
        assert_eq!(si(999.4, "bit/s"), "999 bit/s");
        assert_eq!(si(999.6, "bit/s"), "1.00 kbit/s");
        assert_eq!(si(-2_500.0, "B"), "-2.50 kB");
        assert_eq!(si(f64::NAN, "B"), "—");
    }

    #[test]
    fn ratios_latencies_and_days() {
        assert_eq!(percent(Some(0.0123)), "1.23 %");
        assert_eq!(percent(Some(0.00001)), "<0.01 %");
        assert_eq!(percent(None), "—");
        assert_eq!(latency_ms(Some(12.34)), "12.3 ms");
        assert_eq!(latency_ms(Some(1_200.0)), "1.20 s");
        assert_eq!(days(Some(0.0)), "full");
        assert_eq!(days(Some(3.46)), "3.5 d");
        assert_eq!(days(Some(42.4)), "42 d");
        assert_eq!(days(None), "never");
        assert_eq!(metric_value("error_rate", 0.5), "50.00 %");
        assert_eq!(
            slope_per_day("bytes_per_s", -125_000.0),
            "-1.00 Mbit/s per day"
        );
    }

    #[test]
    fn dates_in_utc() {
        assert_eq!(datetime_utc(1_795_600_803_250), "2026-11-25 10:00:03");
        assert_eq!(datetime_utc(0), "1970-01-01 00:00:00");
        assert_eq!(datetime_utc(951_782_400_000), "2000-02-29 00:00:00");
    }
}
