//! Scenario files: the network and its incidents as TOML, read and checked once into a
//! [`Network`]. Every error names the field it is about (`incidents[1].start`).

use std::collections::HashSet;

use super::model::{
    Incident, IncidentKind, Link, LoadBalancer, Network, Profile, Resolver, Rolls, Service,
};
use super::scenario_file::{File, IncidentFile};

/// The scenario built into the binary (`backend/src/simulate/default_scenario.toml`).
pub const DEFAULT_SCENARIO: &str = include_str!("default_scenario.toml");

/// Load balancer names longer than this are refused by the ALB parser's entity check.
const MAX_NAME_BYTES: usize = 120;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ScenarioError {
    #[error("scenario is not valid TOML: {0}")]
    Toml(String),
    #[error("{field}: {reason}")]
    Field { field: String, reason: String },
}

fn bad(field: impl Into<String>, reason: impl Into<String>) -> ScenarioError {
    ScenarioError::Field {
        field: field.into(),
        reason: reason.into(),
    }
}

/// A duration such as `90s`, `5m`, `1d 6h`, in milliseconds.
fn duration_ms(field: &str, text: &str) -> Result<i64, ScenarioError> {
    let d = humantime::parse_duration(text)
        .map_err(|e| bad(field, format!("`{text}` is not a duration: {e}")))?;
    i64::try_from(d.as_millis()).map_err(|_| bad(field, format!("`{text}` is too long")))
}

fn positive_duration_ms(field: &str, text: &str) -> Result<i64, ScenarioError> {
    let ms = duration_ms(field, text)?;
    if ms <= 0 {
        return Err(bad(field, "must be longer than zero"));
    }
    Ok(ms)
}

/// `value` must lie in `[lo, hi]` and be a number.
fn within(field: &str, value: f64, lo: f64, hi: f64) -> Result<f64, ScenarioError> {
    if !(lo..=hi).contains(&value) {
        return Err(bad(field, format!("{value} is not within {lo}..={hi}")));
    }
    Ok(value)
}

fn positive(field: &str, value: f64) -> Result<f64, ScenarioError> {
    if !(value.is_finite() && value > 0.0) {
        return Err(bad(field, format!("{value} must be a number above zero")));
    }
    Ok(value)
}

/// A name that goes into log lines as one field: printable ASCII without spaces or quotes.
fn token(field: &str, value: &str) -> Result<String, ScenarioError> {
    let ok = !value.is_empty()
        && value.len() <= MAX_NAME_BYTES
        && value.bytes().all(|b| b.is_ascii_graphic() && b != b'"');
    if !ok {
        return Err(bad(field, format!("`{value}` must be 1-{MAX_NAME_BYTES} printable ASCII characters without spaces or quotes")));
    }
    Ok(value.to_owned())
}

/// Reads and checks a scenario.
pub fn parse(text: &str) -> Result<Network, ScenarioError> {
    let f: File = toml::from_str(text).map_err(|e| ScenarioError::Toml(e.to_string()))?;
    let t = &f.traffic;
    let profile = Profile {
        daily_amplitude: within("traffic.daily_amplitude", t.daily_amplitude, 0.0, 0.95)?,
        peak_hour_utc: within("traffic.peak_hour_utc", t.peak_hour_utc, 0.0, 24.0)?,
        weekend_factor: within("traffic.weekend_factor", t.weekend_factor, 0.05, 2.0)?,
        noise: within("traffic.noise", t.noise, 0.0, 0.5)?,
    };
    let r = &f.rolls;
    let rolls = Rolls {
        counters_poll_ms: positive_duration_ms("rolls.counters_poll", &r.counters_poll)?,
        counters_object_ms: positive_duration_ms("rolls.counters_object", &r.counters_object)?,
        flow_aggregation_ms: positive_duration_ms("rolls.flow_aggregation", &r.flow_aggregation)?,
        flow_object_ms: positive_duration_ms("rolls.flow_object", &r.flow_object)?,
        alb_object_ms: positive_duration_ms("rolls.alb_object", &r.alb_object)?,
        zeek_object_ms: positive_duration_ms("rolls.zeek_object", &r.zeek_object)?,
    };
    if rolls.counters_object_ms % rolls.counters_poll_ms != 0 {
        return Err(bad(
            "rolls.counters_object",
            "must be a whole number of counters_poll",
        ));
    }
    if rolls.flow_object_ms % rolls.flow_aggregation_ms != 0
        || rolls.flow_aggregation_ms % 1000 != 0
    {
        return Err(bad(
            "rolls.flow_object",
            "must be a whole number of flow_aggregation, itself whole seconds",
        ));
    }

    let mut links = Vec::new();
    for (i, l) in f.links.iter().enumerate() {
        let at = |name: &str| format!("links[{i}].{name}");
        let link = Link {
            site: token(&at("site"), &l.site)?,
            switch: token(&at("switch"), &l.switch)?,
            port: token(&at("port"), &l.port)?,
            speed_bps: positive(&at("speed_gbps"), l.speed_gbps)? * 1e9,
            utilisation: within(&at("utilisation"), l.utilisation, 0.001, 1.0)?,
            growth_per_week: within(&at("growth_per_week"), l.growth_per_week, -0.5, 1.0)?,
        };
        if links.iter().any(|o: &Link| o.entity() == link.entity()) {
            return Err(bad(
                at("port"),
                format!("`{}` is named twice", link.entity()),
            ));
        }
        links.push(link);
    }
    let mut load_balancers = Vec::new();
    for (i, lb) in f.load_balancers.iter().enumerate() {
        let field = format!("load_balancers[{i}].name");
        let name = token(&field, &lb.name)?;
        if name.split('/').count() != 3 || !name.starts_with("app/") {
            return Err(bad(
                field,
                format!("`{name}` is not an ALB name (app/<name>/<id>)"),
            ));
        }
        load_balancers.push(LoadBalancer { name });
    }
    let mut services: Vec<Service> = Vec::new();
    for (i, s) in f.services.iter().enumerate() {
        let at = |name: &str| format!("services[{i}].{name}");
        let link = links
            .iter()
            .position(|l| l.entity() == s.link)
            .ok_or_else(|| {
                bad(
                    at("link"),
                    format!("no link `{}` (links are named switch/port)", s.link),
                )
            })?;
        let load_balancer = load_balancers
            .iter()
            .position(|l| l.name == s.load_balancer)
            .ok_or_else(|| {
                bad(
                    at("load_balancer"),
                    format!("no load balancer `{}`", s.load_balancer),
                )
            })?;
        if !s.eni.starts_with("eni-") {
            return Err(bad(
                at("eni"),
                format!("`{}` is not an interface id (eni-...)", s.eni),
            ));
        }
        if s.port == 0 {
            return Err(bad(at("port"), "must not be 0"));
        }
        let service = Service {
            name: token(&at("name"), &s.name)?,
            host: token(&at("host"), &s.host.to_ascii_lowercase())?,
            addr: s.addr,
            port: s.port,
            eni: token(&at("eni"), &s.eni)?,
            link,
            load_balancer,
            requests_per_s: positive(&at("requests_per_s"), s.requests_per_s)?,
            latency_ms: positive(&at("latency_ms"), s.latency_ms)?,
        };
        if services.iter().any(|o| o.name == service.name) {
            return Err(bad(
                at("name"),
                format!("`{}` is named twice", service.name),
            ));
        }
        services.push(service);
    }
    let mut resolvers: Vec<Resolver> = Vec::new();
    for (i, r) in f.resolvers.iter().enumerate() {
        let at = |name: &str| format!("resolvers[{i}].{name}");
        if resolvers.iter().any(|o| o.addr == r.addr) {
            return Err(bad(at("addr"), format!("`{}` is named twice", r.addr)));
        }
        resolvers.push(Resolver {
            addr: r.addr,
            queries_per_s: positive(&at("queries_per_s"), r.queries_per_s)?,
            rtt_ms: positive(&at("rtt_ms"), r.rtt_ms)?,
        });
    }
    let network = Network {
        name: token("name", &f.name)?,
        profile,
        rolls,
        links,
        load_balancers,
        services,
        resolvers,
        incidents: Vec::new(),
    };
    let incidents = f
        .incidents
        .iter()
        .enumerate()
        .map(|(i, inc)| incident(&network, i, inc))
        .collect::<Result<Vec<_>, _>>()?;
    let mut seen = HashSet::new();
    for s in &network.services {
        if !seen.insert((s.addr, s.port)) {
            return Err(bad(
                "services",
                format!("two services at {}:{}", s.addr, s.port),
            ));
        }
    }
    Ok(Network {
        incidents,
        ..network
    })
}

fn incident(net: &Network, i: usize, inc: &IncidentFile) -> Result<Incident, ScenarioError> {
    let at = |name: &str| format!("incidents[{i}].{name}");
    let window = |start: &str, duration: &str| -> Result<(i64, i64), ScenarioError> {
        let start_ms = duration_ms(&at("start"), start)?;
        Ok((
            start_ms,
            start_ms + positive_duration_ms(&at("duration"), duration)?,
        ))
    };
    let ratio = |name: &str, v: f64| within(&at(name), v, 0.0, 1.0);
    Ok(match inc {
        IncidentFile::CrcBurst {
            link,
            start,
            duration,
            crc_errors_per_s,
            l4_after,
            failed_handshake_ratio,
            l7_after,
            latency_factor,
        } => {
            let (start_ms, end_ms) = window(start, duration)?;
            let link = net
                .links
                .iter()
                .position(|l| l.entity() == *link)
                .ok_or_else(|| {
                    bad(
                        at("link"),
                        format!("no link `{link}` (links are named switch/port)"),
                    )
                })?;
            IncidentKind::CrcBurst {
                link,
                crc_errors_per_s: positive(&at("crc_errors_per_s"), *crc_errors_per_s)?,
                l4_after_ms: duration_ms(&at("l4_after"), l4_after)?,
                failed_handshake_ratio: ratio("failed_handshake_ratio", *failed_handshake_ratio)?,
                l7_after_ms: duration_ms(&at("l7_after"), l7_after)?,
                latency_factor: within(&at("latency_factor"), *latency_factor, 1.0, 1000.0)?,
            }
            .at(start_ms, end_ms)
        }
        IncidentFile::TlsFailure {
            service,
            start,
            duration,
            failure_ratio,
        } => {
            let (start_ms, end_ms) = window(start, duration)?;
            let service = net
                .services
                .iter()
                .position(|s| s.name == *service)
                .ok_or_else(|| bad(at("service"), format!("no service `{service}`")))?;
            IncidentKind::TlsFailure {
                service,
                failure_ratio: ratio("failure_ratio", *failure_ratio)?,
            }
            .at(start_ms, end_ms)
        }
        IncidentFile::DnsServfail {
            resolver,
            start,
            duration,
            servfail_ratio,
        } => {
            let (start_ms, end_ms) = window(start, duration)?;
            let resolver = net
                .resolvers
                .iter()
                .position(|r| r.addr == *resolver)
                .ok_or_else(|| bad(at("resolver"), format!("no resolver `{resolver}`")))?;
            IncidentKind::DnsServfail {
                resolver,
                servfail_ratio: ratio("servfail_ratio", *servfail_ratio)?,
            }
            .at(start_ms, end_ms)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_scenario_is_valid() {
        let net = parse(DEFAULT_SCENARIO).expect("valid");
        assert_eq!(net.incidents.len(), 3);
        assert!(net.links.iter().any(|l| l.growth_per_week > 0.0));
    }

    fn error_of(from: &str, to: &str) -> String {
        assert!(DEFAULT_SCENARIO.contains(from), "{from}");
        match parse(&DEFAULT_SCENARIO.replacen(from, to, 1)) {
            Ok(_) => panic!("`{to}` was accepted"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            (
                "start = \"2h\"",
                "start = \"2 hours later\"",
                "incidents[0].start: `2 hours later` is not a duration",
            ),
            (
                "link = \"fra1-leaf1/et3\"\nstart",
                "link = \"leaf9/et3\"\nstart",
                "incidents[0].link: no link `leaf9/et3`",
            ),
            (
                "utilisation = 0.30",
                "utilisation = 1.5",
                "links[0].utilisation: 1.5 is not within",
            ),
            (
                "service = \"auth\"",
                "service = \"billing\"",
                "incidents[1].service: no service `billing`",
            ),
            (
                "failure_ratio = 0.6",
                "failure_ratio = 2.0",
                "incidents[1].failure_ratio",
            ),
            (
                "requests_per_s = 10.0",
                "requests_per_s = -1.0",
                "services[0].requests_per_s",
            ),
            (
                "counters_object = \"5m\"",
                "counters_object = \"45s\"",
                "rolls.counters_object: must be a whole number",
            ),
            (
                "eni = \"eni-0a1b2c3d4e5f60001\"",
                "eni = \"nic-1\"",
                "services[0].eni",
            ),
            (
                "name = \"app/shop-web/50dc6c495c0c9188\"",
                "name = \"shop\"",
                "load_balancers[0].name",
            ),
        ];
        for (from, to, expected) in cases {
            let e = error_of(from, to);
            assert!(
                e.contains(expected),
                "{to}: got `{e}`, expected `{expected}`"
            );
        }
    }

    #[test]
    fn unknown_fields_and_kinds_are_refused() {
        let e = error_of("servfail_ratio = 0.5", "servfail_ratio = 0.5\nservfial = 1");
        assert!(e.contains("servfial"), "{e}");
        let e = error_of("kind = \"tls_failure\"", "kind = \"tls_meltdown\"");
        assert!(e.contains("tls_meltdown"), "{e}");
        let e = error_of("noise = 0.05", "nosie = 0.05");
        assert!(e.contains("nosie"), "{e}");
    }
}
