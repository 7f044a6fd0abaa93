//! Bulk import of capacities on the admin page: CSV lines `layer,entity,metric,capacity`
//! (a header line and blank lines are skipped), checked before anything is sent, so that a
//! mistake on line 40 does not leave 39 capacities half imported.

use layercast_shared::{OsiLayer, METRIC_NAMES};

use super::wire::Capacity;

/// Parses every line; the first error names its line (1-based) and field.
pub fn parse(text: &str) -> Result<Vec<Capacity>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let line = line.trim();
        if line.is_empty() || (n == 1 && line.to_lowercase().starts_with("layer,")) {
            continue;
        }
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        // The entity is everything between the layer and the last two fields, so that an
        // entity holding a comma needs no quoting.
        if fields.len() < 4 {
            return Err(format!("line {n}: expected layer,entity,metric,capacity"));
        }
        let layer: OsiLayer = fields[0]
            .parse()
            .map_err(|_| format!("line {n}: layer {:?} is not L1 to L7", fields[0]))?;
        let entity = fields[1..fields.len() - 2].join(",");
        if entity.is_empty() {
            return Err(format!("line {n}: the entity is empty"));
        }
        let metric = fields[fields.len() - 2];
        if !METRIC_NAMES.contains(&metric) {
            return Err(format!("line {n}: {metric:?} is not a metric"));
        }
        let capacity: f64 = fields[fields.len() - 1]
            .parse()
            .ok()
            .filter(|c: &f64| c.is_finite() && *c > 0.0)
            .ok_or_else(|| format!("line {n}: the capacity must be a number above zero"))?;
        out.push(Capacity {
            layer,
            entity,
            metric: metric.to_owned(),
            capacity,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_lines_skipping_the_header_and_blanks() {
        let parsed = parse("layer,entity,metric,capacity\nL3, core-1 ,bytes_per_s,1.25e9\n\nL7,a,b,requests_per_s,500\n")
            .expect("valid");
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed[0].entity, "core-1");
        assert_eq!(parsed[0].capacity, 1.25e9);
        assert_eq!(parsed[1].entity, "a,b");
        assert_eq!(parsed[1].layer, OsiLayer::L7);
    }

    #[test]
    fn names_the_line_of_a_mistake() {
        assert_eq!(
            parse("L3,x,bytes_per_s,1\nL9,x,bytes_per_s,1").expect_err("invalid"),
            "line 2: layer \"L9\" is not L1 to L7"
        );
        assert!(parse("L3,x,speed,1")
            .expect_err("invalid")
            .contains("not a metric"));
        assert!(parse("L3,x,bytes_per_s,-1")
            .expect_err("invalid")
            .contains("above zero"));
        assert!(parse("L3,bytes_per_s,1")
            .expect_err("invalid")
            .starts_with("line 1"));
    }
}
