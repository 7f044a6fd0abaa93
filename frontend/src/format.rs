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
}
