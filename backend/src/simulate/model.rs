//! The simulated network, as a checked scenario describes it, and what its incidents do to it
//! at a given moment. Entity names here are exactly those the parsers give the same things.

use std::net::Ipv4Addr;

/// How traffic swings over a day and a week, shared by every entity.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Profile {
    /// 0.4: the busiest hour carries 1.4 times the mean, the quietest 0.6.
    pub daily_amplitude: f64,
    pub peak_hour_utc: f64,
    /// Share of a weekday's traffic on Saturday and Sunday.
    pub weekend_factor: f64,
    /// Relative standard deviation of the noise per entity and interval.
    pub noise: f64,
}

/// How often each producer writes, in milliseconds of simulated time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rolls {
    pub counters_poll_ms: i64,
    pub counters_object_ms: i64,
    pub flow_aggregation_ms: i64,
    pub flow_object_ms: i64,
    pub alb_object_ms: i64,
    pub zeek_object_ms: i64,
}

/// A switch port and the link on it.
#[derive(Debug, Clone, PartialEq)]
pub struct Link {
    pub site: String,
    pub switch: String,
    pub port: String,
    pub speed_bps: f64,
    /// Mean share of the line rate in use (in and out together over 2 × line rate) at the start.
    pub utilisation: f64,
    /// 0.05: the traffic grows 5% a week, compounded.
    pub growth_per_week: f64,
}

impl Link {
    /// `switch/port`, as the counters parser names an interface.
    pub fn entity(&self) -> String {
        format!("{}/{}", self.switch, self.port)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct LoadBalancer {
    /// `app/<name>/<id>`, as ALB access logs write it.
    pub name: String,
}

/// A service behind a load balancer, on a host reached through a link.
#[derive(Debug, Clone, PartialEq)]
pub struct Service {
    pub name: String,
    /// Host header and TLS server name.
    pub host: String,
    pub addr: Ipv4Addr,
    pub port: u16,
    /// The network interface of the service's host (VPC flow logs).
    pub eni: String,
    /// Index into [`Network::links`]: the switch port the host hangs on.
    pub link: usize,
    /// Index into [`Network::load_balancers`].
    pub load_balancer: usize,
    pub requests_per_s: f64,
    pub latency_ms: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Resolver {
    pub addr: Ipv4Addr,
    pub queries_per_s: f64,
    pub rtt_ms: f64,
}

/// What goes wrong, and where.
#[derive(Debug, Clone, PartialEq)]
pub enum IncidentKind {
    /// A port corrupts frames; after `l4_after_ms` handshakes to the services behind it fail,
    /// after `l7_after_ms` their requests slow down (each effect lasts as long as the burst).
    CrcBurst {
        link: usize,
        crc_errors_per_s: f64,
        l4_after_ms: i64,
        failed_handshake_ratio: f64,
        l7_after_ms: i64,
        latency_factor: f64,
    },
    /// A share of TLS handshakes to a service fail (an expired certificate).
    TlsFailure { service: usize, failure_ratio: f64 },
    /// A share of a resolver's answers are SERVFAIL.
    DnsServfail {
        resolver: usize,
        servfail_ratio: f64,
    },
}

impl IncidentKind {
    pub fn at(self, start_ms: i64, end_ms: i64) -> Incident {
        Incident {
            kind: self,
            start_ms,
            end_ms,
        }
    }
}

/// An incident; times are offsets from the start of the simulation.
#[derive(Debug, Clone, PartialEq)]
pub struct Incident {
    pub kind: IncidentKind,
    pub start_ms: i64,
    pub end_ms: i64,
}

/// Whether `t` (an offset) lies in `[start + lag, end + lag)`.
fn active(inc: &Incident, lag_ms: i64, t: i64) -> bool {
    (inc.start_ms + lag_ms..inc.end_ms + lag_ms).contains(&t)
}

/// A checked scenario: the network and its incidents.
#[derive(Debug, Clone, PartialEq)]
pub struct Network {
    pub name: String,
    pub profile: Profile,
    pub rolls: Rolls,
    pub links: Vec<Link>,
    pub load_balancers: Vec<LoadBalancer>,
    pub services: Vec<Service>,
    pub resolvers: Vec<Resolver>,
    pub incidents: Vec<Incident>,
}

impl Network {
    /// CRC errors per second on a link at offset `t`.
    pub fn crc_errors_per_s(&self, link: usize, t: i64) -> f64 {
        self.incidents
            .iter()
            .map(|inc| match inc.kind {
                IncidentKind::CrcBurst {
                    link: l,
                    crc_errors_per_s,
                    ..
                } if l == link && active(inc, 0, t) => crc_errors_per_s,
                _ => 0.0,
            })
            .sum()
    }

    /// The strongest effect at offset `t` among the incidents `effect` recognises (it gives
    /// the effect's lag after the incident starts, and its value); `none` when none is active.
    fn strongest(
        &self,
        t: i64,
        none: f64,
        effect: impl Fn(&IncidentKind) -> Option<(i64, f64)>,
    ) -> f64 {
        self.incidents
            .iter()
            .filter_map(|inc| effect(&inc.kind).filter(|&(lag, _)| active(inc, lag, t)))
            .map(|(_, value)| value)
            .fold(none, f64::max)
    }

    /// Share of new connections to a service whose handshake fails at offset `t`.
    pub fn failed_handshake_ratio(&self, service: usize, t: i64) -> f64 {
        let link = self.services[service].link;
        self.strongest(t, 0.0, |kind| match *kind {
            IncidentKind::CrcBurst {
                link: l,
                l4_after_ms,
                failed_handshake_ratio,
                ..
            } if l == link => Some((l4_after_ms, failed_handshake_ratio)),
            _ => None,
        })
    }

    /// How many times slower than usual a service answers at offset `t`.
    pub fn latency_factor(&self, service: usize, t: i64) -> f64 {
        let link = self.services[service].link;
        self.strongest(t, 1.0, |kind| match *kind {
            IncidentKind::CrcBurst {
                link: l,
                l7_after_ms,
                latency_factor,
                ..
            } if l == link => Some((l7_after_ms, latency_factor)),
            _ => None,
        })
    }

    /// Share of TLS handshakes to a service that fail at offset `t`.
    pub fn tls_failure_ratio(&self, service: usize, t: i64) -> f64 {
        self.strongest(t, 0.0, |kind| match *kind {
            IncidentKind::TlsFailure {
                service: s,
                failure_ratio,
            } if s == service => Some((0, failure_ratio)),
            _ => None,
        })
    }

    /// Share of a resolver's answers that are SERVFAIL at offset `t`.
    pub fn servfail_ratio(&self, resolver: usize, t: i64) -> f64 {
        self.strongest(t, 0.0, |kind| match *kind {
            IncidentKind::DnsServfail {
                resolver: r,
                servfail_ratio,
            } if r == resolver => Some((0, servfail_ratio)),
            _ => None,
        })
    }
}
