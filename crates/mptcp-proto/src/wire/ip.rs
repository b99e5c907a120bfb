//! IPv4 (RFC 791) and IPv6 (RFC 8200) headers.

use super::ParseError;
use std::net::IpAddr;

/// IP protocol number of TCP.
pub const IP_PROTO_TCP: u8 = 6;

/// An IPv4 or IPv6 header, without options or extension headers on emit.
///
/// Parsing skips IPv4 options and fails on IPv6 extension headers other than none
/// (`next_header` is reported as `protocol`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpRepr {
    /// Source address; its family selects the header version.
    pub src: IpAddr,
    /// Destination address; same family as `src`.
    pub dst: IpAddr,
    /// Upper-layer protocol (6 for TCP).
    pub protocol: u8,
    /// TTL / hop limit.
    pub hop_limit: u8,
    /// Length of the payload after the header.
    pub payload_len: usize,
}

impl IpRepr {
    /// Parses the header of an IP packet, checking the IPv4 header checksum and that the
    /// total/payload length fits the buffer. Returns the header and the payload slice
    /// (trimmed to the length the header declares).
    pub fn parse(packet: &[u8]) -> Result<(IpRepr, &[u8]), ParseError> {
        let _ = packet;
        todo!("wire helper")
    }

    /// Header length in bytes: 20 for IPv4, 40 for IPv6.
    pub fn header_len(&self) -> usize {
        match self.src {
            IpAddr::V4(_) => 20,
            IpAddr::V6(_) => 40,
        }
    }

    /// Writes the header (with a correct IPv4 checksum, DF set, id 0) into
    /// `buf[..header_len()]`. `buf` must be at least `header_len()` long.
    pub fn emit(&self, buf: &mut [u8]) {
        let _ = buf;
        todo!("wire helper")
    }
}
