//! The entity page's zoom: how much history, at which roll-up (the backend stores 10 s windows
//! for two days, 1 min for 30 days and 1 h for two years, so a long span reads few rows).

/// One zoom level, as `?zoom=` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Zoom {
    Hour,
    Day,
    Week,
    Month,
}

const MS_PER_HOUR: i64 = 3_600_000;

impl Zoom {
    pub const ALL: [Zoom; 4] = [Zoom::Hour, Zoom::Day, Zoom::Week, Zoom::Month];

    pub fn slug(self) -> &'static str {
        match self {
            Zoom::Hour => "1h",
            Zoom::Day => "1d",
            Zoom::Week => "7d",
            Zoom::Month => "30d",
        }
    }

    /// `?zoom=` to a level; the hour when absent or unknown.
    pub fn parse(text: Option<&str>) -> Zoom {
        Zoom::ALL
            .into_iter()
            .find(|z| Some(z.slug()) == text)
            .unwrap_or(Zoom::Hour)
    }

    /// The window length to read (`len=` of `/api/windows`): about 400 to 1,500 points.
    pub fn len(self) -> &'static str {
        match self {
            Zoom::Hour => "10s",
            Zoom::Day => "1m",
            Zoom::Week | Zoom::Month => "1h",
        }
    }

    pub fn span_ms(self) -> i64 {
        MS_PER_HOUR
            * match self {
                Zoom::Hour => 1,
                Zoom::Day => 24,
                Zoom::Week => 24 * 7,
                Zoom::Month => 24 * 30,
            }
    }

    /// The forecast's horizon shown after the history: a quarter of the span, at least a day
    /// (the backend forecasts in days).
    pub fn horizon(self) -> &'static str {
        match self {
            Zoom::Hour | Zoom::Day => "1d",
            Zoom::Week => "2d",
            Zoom::Month => "7d",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zoom_levels_parse_and_pick_their_roll_up() {
        for z in Zoom::ALL {
            assert_eq!(Zoom::parse(Some(z.slug())), z);
        }
        assert_eq!(Zoom::parse(None), Zoom::Hour);
        assert_eq!(Zoom::parse(Some("2y")), Zoom::Hour);
        assert_eq!(Zoom::Day.len(), "1m");
        assert_eq!(Zoom::Month.span_ms(), 30 * 24 * 3_600_000);
        // Points per chart stay in the hundreds at every level.
        let points = |z: Zoom, len_ms: i64| z.span_ms() / len_ms;
        assert_eq!(points(Zoom::Hour, 10_000), 360);
        assert_eq!(points(Zoom::Day, 60_000), 1_440);
        assert_eq!(points(Zoom::Month, 3_600_000), 720);
    }
}
