//! A flow's transport connection: direction, service port and fate, from ports and TCP flags.

use crate::ErrorClass;

/// TCP flag bits as AWS reports them: FIN 1, SYN 2, RST 4, SYN-ACK 18, OR-ed over the
/// aggregation interval. Plain ACK is not reported, only as part of SYN-ACK.
pub(super) mod tcp_flag {
    pub const SYN: u64 = 2;
    pub const RST: u64 = 4;
    pub const SYN_ACK: u64 = 18;
}

/// Largest packet without payload that opens a connection, in bytes: IP header (20, or 40 for
/// IPv6) + TCP header (20) + the options Linux puts on a SYN (20). A SYN-only flow whose
/// packets average no more than this carried no data.
pub(super) const BARE_SYN_BYTES_V4: u64 = 60;
pub(super) const BARE_SYN_BYTES_V6: u64 = 80;

pub(super) const TCP: u64 = 6;

pub(super) fn transport_name(protocol: u64) -> Option<&'static str> {
    match protocol {
        TCP => Some("tcp"),
        17 => Some("udp"),
        132 => Some("sctp"),
        _ => None,
    }
}

/// What a flow record says about its transport connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct TransportView {
    /// The server's port: the L4 entity is per service, not per ephemeral client port.
    pub(super) service_port: u16,
    /// This record is the opening (client to server) direction of a connection.
    pub(super) opens: bool,
    pub(super) error: Option<ErrorClass>,
}

/// Reads a flow's direction and fate from its ports and, for TCP, its flags.
///
/// - SYN-ACK seen: the server's side; SYN without SYN-ACK: the client's side, a connection
///   opens. Other TCP flows with flags are connections opened in an earlier interval.
/// - Without flags (the v2 format, UDP): the lower port is the service and the record whose
///   destination it is opens the flow; a long flow counts once per aggregation interval.
/// - RST seen: [`ErrorClass::ConnectionReset`].
/// - SYN and nothing else, with packets no larger than a bare SYN: the client sent no byte of
///   payload, did not close and was not reset: a handshake that got no answer (retried SYNs)
///   is [`ErrorClass::FailedHandshake`]. AWS does not report plain ACKs, so "flags = 2" alone
///   is also what the client side of every healthy connection looks like (Elastic's fixture:
///   `ACCEPT 2` with 8 packets and 568 bytes, answered by an `18`); the payload test tells them
///   apart. It still takes a connection whose client stays silent for a whole interval (a
///   server-speaks-first protocol) for a failed one.
pub(super) fn transport(
    flags: Option<u64>,
    srcport: u16,
    dstport: u16,
    bytes: u64,
    packets: u64,
    bare_syn: u64,
) -> TransportView {
    let lower = srcport.min(dstport);
    let (service_port, opens) = match flags {
        Some(f) if f & tcp_flag::SYN_ACK == tcp_flag::SYN_ACK => (srcport, false),
        Some(f) if f & tcp_flag::SYN != 0 => (dstport, true),
        Some(_) => (lower, false),
        None => (lower, dstport <= srcport),
    };
    let error = match flags {
        Some(f) if f & tcp_flag::RST != 0 => Some(ErrorClass::ConnectionReset),
        Some(f)
            if f == tcp_flag::SYN && packets > 0 && bytes <= packets.saturating_mul(bare_syn) =>
        {
            Some(ErrorClass::FailedHandshake)
        }
        _ => None,
    };
    TransportView {
        service_port,
        opens,
        error,
    }
}
