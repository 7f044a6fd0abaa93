//! The scenario file as TOML lays it out, with the defaults of optional fields. Read by
//! [`super::parse`], which checks it into a network.

use std::net::Ipv4Addr;

use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct File {
    pub(super) name: String,
    #[serde(default)]
    pub(super) traffic: TrafficFile,
    #[serde(default)]
    pub(super) rolls: RollsFile,
    pub(super) links: Vec<LinkFile>,
    // A network of links only (a capacity study of the switches) is a scenario too.
    #[serde(default)]
    pub(super) load_balancers: Vec<LbFile>,
    #[serde(default)]
    pub(super) services: Vec<ServiceFile>,
    #[serde(default)]
    pub(super) resolvers: Vec<ResolverFile>,
    #[serde(default)]
    pub(super) incidents: Vec<IncidentFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct TrafficFile {
    pub(super) daily_amplitude: f64,
    pub(super) peak_hour_utc: f64,
    pub(super) weekend_factor: f64,
    pub(super) noise: f64,
}

impl Default for TrafficFile {
    fn default() -> Self {
        TrafficFile {
            daily_amplitude: 0.4,
            peak_hour_utc: 14.0,
            weekend_factor: 0.7,
            noise: 0.05,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RollsFile {
    pub(super) counters_poll: String,
    pub(super) counters_object: String,
    pub(super) flow_aggregation: String,
    pub(super) flow_object: String,
    pub(super) alb_object: String,
    pub(super) zeek_object: String,
}

impl Default for RollsFile {
    fn default() -> Self {
        RollsFile {
            counters_poll: "30s".into(),
            counters_object: "5m".into(),
            flow_aggregation: "1m".into(),
            flow_object: "5m".into(),
            alb_object: "5m".into(),
            zeek_object: "5m".into(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LinkFile {
    pub(super) site: String,
    pub(super) switch: String,
    pub(super) port: String,
    pub(super) speed_gbps: f64,
    pub(super) utilisation: f64,
    #[serde(default)]
    pub(super) growth_per_week: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LbFile {
    pub(super) name: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ServiceFile {
    pub(super) name: String,
    pub(super) host: String,
    pub(super) addr: Ipv4Addr,
    pub(super) port: u16,
    pub(super) eni: String,
    pub(super) link: String,
    pub(super) load_balancer: String,
    pub(super) requests_per_s: f64,
    pub(super) latency_ms: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ResolverFile {
    pub(super) addr: Ipv4Addr,
    pub(super) queries_per_s: f64,
    pub(super) rtt_ms: f64,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub(super) enum IncidentFile {
    CrcBurst {
        link: String,
        start: String,
        duration: String,
        crc_errors_per_s: f64,
        #[serde(default = "default_l4_after")]
        l4_after: String,
        #[serde(default = "default_failed_handshake_ratio")]
        failed_handshake_ratio: f64,
        #[serde(default = "default_l7_after")]
        l7_after: String,
        #[serde(default = "default_latency_factor")]
        latency_factor: f64,
    },
    TlsFailure {
        service: String,
        start: String,
        duration: String,
        failure_ratio: f64,
    },
    DnsServfail {
        resolver: Ipv4Addr,
        start: String,
        duration: String,
        servfail_ratio: f64,
    },
}

fn default_l4_after() -> String {
    "1m".into()
}
fn default_l7_after() -> String {
    "5m".into()
}
fn default_failed_handshake_ratio() -> f64 {
    0.3
}
fn default_latency_factor() -> f64 {
    5.0
}
