//! The ground truth of a run: what the scenario did, where (entity names as the parsers give
//! them), when, on which layers, and when each growing link runs out of capacity.

use serde::Serialize;

use super::model::{IncidentKind, Network};
use super::traffic::MS_PER_WEEK;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct GroundTruth {
    pub scenario: String,
    pub seed: u64,
    pub start: String,
    pub start_ms: i64,
    /// `None`: the run has no end.
    pub end_ms: Option<i64>,
    pub incidents: Vec<TruthIncident>,
    pub growth: Vec<TruthGrowth>,
}

/// One incident as a list of effects: a CRC burst shows on L1/L2, then L4, then L7.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TruthIncident {
    pub kind: &'static str,
    pub what: String,
    pub effects: Vec<Effect>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Effect {
    pub layers: Vec<&'static str>,
    /// Entity names exactly as the parsers name them.
    pub entities: Vec<String>,
    /// What rises there: `crc_errors`, `failed_handshakes`, `latency`, `tls_failures`, ...
    pub measure: &'static str,
    pub start: String,
    pub end: String,
    pub start_ms: i64,
    pub end_ms: i64,
}

/// A link whose traffic grows toward its line rate.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TruthGrowth {
    pub entity: String,
    pub layer: &'static str,
    pub growth_per_week: f64,
    pub capacity_bps: f64,
    /// Inbound bits per second of a weekday mean at the start.
    pub mean_bps_at_start: f64,
    /// When the weekday mean of inbound traffic reaches the line rate (`None`: never).
    pub mean_reaches_capacity: Option<String>,
    pub mean_reaches_capacity_ms: Option<i64>,
    /// When the busiest hour of a weekday does (the daily peak is `1 + daily_amplitude` times
    /// the mean); traffic is capped at line rate from then on.
    pub peak_reaches_capacity: Option<String>,
    pub peak_reaches_capacity_ms: Option<i64>,
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

fn effect(
    layers: &[&'static str],
    entities: Vec<String>,
    measure: &'static str,
    from: i64,
    to: i64,
) -> Effect {
    Effect {
        layers: layers.to_vec(),
        entities,
        measure,
        start: rfc3339(from),
        end: rfc3339(to),
        start_ms: from,
        end_ms: to,
    }
}

/// When a quantity at `share` of capacity now, growing `g` a week, reaches capacity.
fn reaches(start_ms: i64, share: f64, g: f64) -> Option<i64> {
    if share >= 1.0 {
        return Some(start_ms);
    }
    if g <= 0.0 {
        return None;
    }
    let weeks = (1.0 / share).ln() / (1.0 + g).ln();
    Some(start_ms + (weeks * MS_PER_WEEK as f64).round() as i64)
}

pub fn ground_truth(net: &Network, seed: u64, start_ms: i64, end_ms: Option<i64>) -> GroundTruth {
    let mut incidents = Vec::new();
    for inc in &net.incidents {
        let (s, e) = (start_ms + inc.start_ms, start_ms + inc.end_ms);
        incidents.push(match &inc.kind {
            IncidentKind::CrcBurst {
                link,
                l4_after_ms,
                l7_after_ms,
                ..
            } => {
                let behind: Vec<_> = net
                    .services
                    .iter()
                    .filter(|svc| svc.link == *link)
                    .collect();
                let l4 = behind
                    .iter()
                    .flat_map(|svc| {
                        [
                            format!("{}:{}/tcp", svc.eni, svc.port),
                            format!("{}:{}/tcp", svc.addr, svc.port),
                        ]
                    })
                    .collect();
                let l7 = behind
                    .iter()
                    .map(|svc| {
                        format!(
                            "{}>{}:{}",
                            net.load_balancers[svc.load_balancer].name, svc.addr, svc.port
                        )
                    })
                    .collect();
                TruthIncident {
                    kind: "crc_burst",
                    what: format!(
                        "CRC errors on {}, failed handshakes then slow requests behind it",
                        net.links[*link].entity()
                    ),
                    effects: vec![
                        effect(
                            &["L1", "L2"],
                            vec![net.links[*link].entity()],
                            "crc_errors",
                            s,
                            e,
                        ),
                        effect(
                            &["L4"],
                            l4,
                            "failed_handshakes",
                            s + l4_after_ms,
                            e + l4_after_ms,
                        ),
                        effect(&["L7"], l7, "latency", s + l7_after_ms, e + l7_after_ms),
                    ],
                }
            }
            IncidentKind::TlsFailure { service, .. } => {
                let svc = &net.services[*service];
                let lb = &net.load_balancers[svc.load_balancer].name;
                TruthIncident {
                    kind: "tls_failure",
                    what: format!("TLS handshakes to {} fail (expired certificate)", svc.name),
                    effects: vec![
                        effect(
                            &["L6"],
                            vec![svc.host.clone(), lb.clone()],
                            "tls_failures",
                            s,
                            e,
                        ),
                        effect(
                            &["L7"],
                            vec![format!("{lb}>{}:{}", svc.addr, svc.port)],
                            "server_errors",
                            s,
                            e,
                        ),
                    ],
                }
            }
            IncidentKind::DnsServfail { resolver, .. } => {
                let r = &net.resolvers[*resolver];
                TruthIncident {
                    kind: "dns_servfail",
                    what: format!("resolver {} answers SERVFAIL", r.addr),
                    effects: vec![effect(
                        &["L7"],
                        vec![format!("{}:53", r.addr)],
                        "dns_servfail",
                        s,
                        e,
                    )],
                }
            }
        });
    }
    let growth = net
        .links
        .iter()
        .filter(|l| l.growth_per_week != 0.0)
        .map(|l| {
            let mean = reaches(start_ms, l.utilisation, l.growth_per_week);
            let peak = reaches(
                start_ms,
                l.utilisation * (1.0 + net.profile.daily_amplitude),
                l.growth_per_week,
            );
            TruthGrowth {
                entity: l.entity(),
                layer: "L2",
                growth_per_week: l.growth_per_week,
                capacity_bps: l.speed_bps,
                mean_bps_at_start: l.speed_bps * l.utilisation,
                mean_reaches_capacity: mean.map(rfc3339),
                mean_reaches_capacity_ms: mean,
                peak_reaches_capacity: peak.map(rfc3339),
                peak_reaches_capacity_ms: peak,
            }
        })
        .collect();
    GroundTruth {
        scenario: net.name.clone(),
        seed,
        start: rfc3339(start_ms),
        start_ms,
        end_ms,
        incidents,
        growth,
    }
}
