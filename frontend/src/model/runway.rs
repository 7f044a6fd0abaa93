//! The capacity page's list: every series with a capacity, ranked as the backend ranks
//! `/api/runway` (full first, then the soonest full), and its CSV export.

use std::cmp::Ordering;

use layercast_shared::SeriesRunway;

use crate::format;

/// Rank of a runway state: full now, filling within the horizon, then the rest.
fn state_rank(r: &SeriesRunway) -> u8 {
    match r.state.as_str() {
        "full" => 0,
        "filling" => 1,
        "never" => 2,
        _ => 3,
    }
}

/// Full first, then the soonest full, then those that do not fill, then those still learning;
/// ties by layer and entity, so the order is stable between reloads.
pub fn rank(mut rows: Vec<SeriesRunway>) -> Vec<SeriesRunway> {
    rows.sort_by(|a, b| {
        state_rank(a)
            .cmp(&state_rank(b))
            .then_with(|| {
                let (x, y) = (
                    a.days_until_full.unwrap_or(f64::INFINITY),
                    b.days_until_full.unwrap_or(f64::INFINITY),
                );
                x.partial_cmp(&y).unwrap_or(Ordering::Equal)
            })
            .then_with(|| a.layer.cmp(&b.layer))
            .then_with(|| a.entity.cmp(&b.entity))
            .then_with(|| a.metric.cmp(&b.metric))
    });
    rows
}

/// What the table's runway column says.
pub fn runway_text(r: &SeriesRunway) -> String {
    match r.state.as_str() {
        "full" => "full now".to_owned(),
        "learning" => "learning".to_owned(),
        "never" => "not within the horizon".to_owned(),
        _ => format::days(r.days_until_full),
    }
}

/// Quotes a CSV field when it needs it (RFC 4180): entity names may hold commas and quotes.
fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

/// The ranked rows as CSV, in the metric's own unit (bytes/s, not bits/s: a spreadsheet
/// computes with it), with a header line.
pub fn csv(rows: &[SeriesRunway]) -> String {
    let mut out = String::from("layer,entity,metric,capacity,current,days_until_full,state\n");
    for r in rows {
        let days = r.days_until_full.map(|d| d.to_string()).unwrap_or_default();
        out.push_str(&format!(
            "{},{},{},{},{},{},{}\n",
            r.layer,
            csv_field(&r.entity),
            csv_field(&r.metric),
            r.capacity,
            r.current,
            days,
            csv_field(&r.state)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use layercast_shared::OsiLayer;

    fn runway(entity: &str, state: &str, days: Option<f64>) -> SeriesRunway {
        SeriesRunway {
            layer: OsiLayer::L3,
            entity: entity.into(),
            metric: "bytes_per_s".into(),
            capacity: 1.25e9,
            current: 1e9,
            days_until_full: days,
            state: state.into(),
            at_ms: 0,
        }
    }

    #[test]
    fn full_first_then_soonest_then_never_then_learning() {
        let ranked = rank(vec![
            runway("learn", "learning", None),
            runway("late", "filling", Some(30.0)),
            runway("never", "never", None),
            runway("soon", "filling", Some(2.5)),
            runway("full", "full", Some(0.0)),
        ]);
        let names: Vec<&str> = ranked.iter().map(|r| r.entity.as_str()).collect();
        assert_eq!(names, ["full", "soon", "late", "never", "learn"]);
        assert_eq!(runway_text(&ranked[0]), "full now");
        assert_eq!(runway_text(&ranked[1]), "2.5 d");
        assert_eq!(runway_text(&ranked[3]), "not within the horizon");
    }

    #[test]
    fn csv_has_a_header_and_quotes_what_needs_it() {
        let text = csv(&[
            runway("10.0.1.0/24", "filling", Some(2.5)),
            runway("a,\"b\"", "never", None),
        ]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "layer,entity,metric,capacity,current,days_until_full,state"
        );
        assert_eq!(
            lines[1],
            "L3,10.0.1.0/24,bytes_per_s,1250000000,1000000000,2.5,filling"
        );
        assert_eq!(
            lines[2],
            "L3,\"a,\"\"b\"\"\",bytes_per_s,1250000000,1000000000,,never"
        );
        assert_eq!(lines.len(), 3);
    }
}
