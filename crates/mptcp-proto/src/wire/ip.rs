//! IPv4 (RFC 791) and IPv6 (RFC 8200) headers.

use super::checksum;
use super::ParseError;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// IP protocol number of TCP.
pub const IP_PROTO_TCP: u8 = 6;

/// IPv4 "more fragments" flag in the flags/fragment-offset word.
const IPV4_MF: u16 = 0x2000;
/// IPv4 "don't fragment" flag.
const IPV4_DF: u16 = 0x4000;
/// IPv4 fragment offset mask.
const IPV4_OFFSET: u16 = 0x1fff;

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

fn arr<const N: usize>(b: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(&b[..N]);
    out
}

impl IpRepr {
    /// Parses the header of an IP packet, checking the IPv4 header checksum and that the
    /// total/payload length fits the buffer. Returns the header and the payload slice
    /// (trimmed to the length the header declares).
    ///
    /// IPv4 (RFC 791 §3.1): options are skipped; fragments (MF set or a non-zero offset)
    /// are rejected with [`ParseError::Invalid`]. IPv6 (RFC 8200 §3): the next header is
    /// reported as `protocol`; extension headers are not parsed.
    pub fn parse(packet: &[u8]) -> Result<(IpRepr, &[u8]), ParseError> {
        let first = *packet.first().ok_or(ParseError::Truncated("ip version"))?;
        match first >> 4 {
            4 => Self::parse_v4(packet),
            6 => Self::parse_v6(packet),
            v => Err(ParseError::BadIpVersion(v)),
        }
    }

    fn parse_v4(packet: &[u8]) -> Result<(IpRepr, &[u8]), ParseError> {
        let h: [u8; 20] = packet
            .get(..20)
            .map(arr)
            .ok_or(ParseError::Truncated("ipv4 header"))?;
        let hdr_len = usize::from(h[0] & 0x0f) * 4;
        if hdr_len < 20 {
            return Err(ParseError::BadLength("ipv4 ihl"));
        }
        let header = packet
            .get(..hdr_len)
            .ok_or(ParseError::Truncated("ipv4 options"))?;
        let total_len = usize::from(u16::from_be_bytes([h[2], h[3]]));
        if total_len < hdr_len || total_len > packet.len() {
            return Err(ParseError::BadLength("ipv4 total length"));
        }
        if checksum::finish(checksum::accumulate(0, header)) != 0 {
            return Err(ParseError::BadChecksum("ipv4"));
        }
        let frag = u16::from_be_bytes([h[6], h[7]]);
        if frag & (IPV4_MF | IPV4_OFFSET) != 0 {
            return Err(ParseError::Invalid("ipv4 fragment"));
        }
        let payload = packet
            .get(hdr_len..total_len)
            .ok_or(ParseError::BadLength("ipv4 total length"))?;
        let repr = IpRepr {
            src: IpAddr::V4(Ipv4Addr::from(arr::<4>(&h[12..]))),
            dst: IpAddr::V4(Ipv4Addr::from(arr::<4>(&h[16..]))),
            protocol: h[9],
            hop_limit: h[8],
            payload_len: payload.len(),
        };
        Ok((repr, payload))
    }

    fn parse_v6(packet: &[u8]) -> Result<(IpRepr, &[u8]), ParseError> {
        let h: [u8; 40] = packet
            .get(..40)
            .map(arr)
            .ok_or(ParseError::Truncated("ipv6 header"))?;
        let payload_len = usize::from(u16::from_be_bytes([h[4], h[5]]));
        let payload = packet
            .get(40..40 + payload_len)
            .ok_or(ParseError::BadLength("ipv6 payload length"))?;
        let repr = IpRepr {
            src: IpAddr::V6(Ipv6Addr::from(arr::<16>(&h[8..]))),
            dst: IpAddr::V6(Ipv6Addr::from(arr::<16>(&h[24..]))),
            protocol: h[6],
            hop_limit: h[7],
            payload_len,
        };
        Ok((repr, payload))
    }

    /// Header length in bytes: 20 for IPv4, 40 for IPv6.
    pub fn header_len(&self) -> usize {
        match self.src {
            IpAddr::V4(_) => 20,
            IpAddr::V6(_) => 40,
        }
    }

    /// Header plus payload length.
    pub fn buffer_len(&self) -> usize {
        self.header_len() + self.payload_len
    }

    /// Writes the header (with a correct IPv4 checksum, DF set, id 0) into
    /// `buf[..header_len()]`. `buf` must be at least `header_len()` long.
    ///
    /// IPv6 headers get traffic class and flow label 0. A `dst` of the other family is
    /// converted (IPv4-mapped IPv6 address, or the unspecified address). A length too large
    /// for the 16-bit field is truncated; callers keep packets within the MTU.
    pub fn emit(&self, buf: &mut [u8]) {
        match self.src {
            IpAddr::V4(src) => {
                let dst = match self.dst {
                    IpAddr::V4(d) => d,
                    IpAddr::V6(d) => d.to_ipv4_mapped().unwrap_or(Ipv4Addr::UNSPECIFIED),
                };
                let h = &mut buf[..20];
                h[0] = 0x45;
                h[1] = 0;
                h[2..4].copy_from_slice(&((20 + self.payload_len) as u16).to_be_bytes());
                h[4..6].copy_from_slice(&[0, 0]);
                h[6..8].copy_from_slice(&IPV4_DF.to_be_bytes());
                h[8] = self.hop_limit;
                h[9] = self.protocol;
                h[10..12].copy_from_slice(&[0, 0]);
                h[12..16].copy_from_slice(&src.octets());
                h[16..20].copy_from_slice(&dst.octets());
                let sum = checksum::finish(checksum::accumulate(0, h));
                h[10..12].copy_from_slice(&sum.to_be_bytes());
            }
            IpAddr::V6(src) => {
                let dst = match self.dst {
                    IpAddr::V6(d) => d,
                    IpAddr::V4(d) => d.to_ipv6_mapped(),
                };
                let h = &mut buf[..40];
                h[0..4].copy_from_slice(&[0x60, 0, 0, 0]);
                h[4..6].copy_from_slice(&(self.payload_len as u16).to_be_bytes());
                h[6] = self.protocol;
                h[7] = self.hop_limit;
                h[8..24].copy_from_slice(&src.octets());
                h[24..40].copy_from_slice(&dst.octets());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// IPv4 header from 192.168.0.1 to 192.168.0.199, TTL 64, TCP, 8 payload bytes,
    /// DF, id 0; checksum computed independently (Python).
    static V4_PACKET: [u8; 28] = [
        0x45, 0x00, 0x00, 0x1c, 0x00, 0x00, 0x40, 0x00, 0x40, 0x06, 0xb8, 0xc3, 0xc0, 0xa8, 0x00,
        0x01, 0xc0, 0xa8, 0x00, 0xc7, 1, 2, 3, 4, 5, 6, 7, 8,
    ];

    fn v4_repr() -> IpRepr {
        IpRepr {
            src: IpAddr::V4(Ipv4Addr::new(192, 168, 0, 1)),
            dst: IpAddr::V4(Ipv4Addr::new(192, 168, 0, 199)),
            protocol: IP_PROTO_TCP,
            hop_limit: 64,
            payload_len: 8,
        }
    }

    static V6_PACKET: [u8; 44] = [
        0x60, 0x00, 0x00, 0x00, 0x00, 0x04, 0x06, 0x40, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0x01, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 9, 9,
        9, 9,
    ];

    fn v6_repr() -> IpRepr {
        IpRepr {
            src: "2001:db8::1".parse().unwrap(),
            dst: "2001:db8::2".parse().unwrap(),
            protocol: IP_PROTO_TCP,
            hop_limit: 64,
            payload_len: 4,
        }
    }

    #[test]
    fn parse_v4() {
        let (repr, payload) = IpRepr::parse(&V4_PACKET).unwrap();
        assert_eq!(repr, v4_repr());
        assert_eq!(payload, &[1, 2, 3, 4, 5, 6, 7, 8]);
    }

    #[test]
    fn emit_v4() {
        let mut buf = [0xa5u8; 20];
        v4_repr().emit(&mut buf);
        assert_eq!(buf, V4_PACKET[..20]);
    }

    #[test]
    fn parse_emit_v6() {
        let (repr, payload) = IpRepr::parse(&V6_PACKET).unwrap();
        assert_eq!(repr, v6_repr());
        assert_eq!(payload, &[9, 9, 9, 9]);
        let mut buf = [0xa5u8; 40];
        v6_repr().emit(&mut buf);
        assert_eq!(buf, V6_PACKET[..40]);
    }

    #[test]
    fn trailing_bytes_trimmed() {
        let mut p = V4_PACKET.to_vec();
        p.extend_from_slice(&[0xee; 6]);
        let (_, payload) = IpRepr::parse(&p).unwrap();
        assert_eq!(payload.len(), 8);
        let mut p = V6_PACKET.to_vec();
        p.push(0xee);
        let (_, payload) = IpRepr::parse(&p).unwrap();
        assert_eq!(payload, &[9, 9, 9, 9]);
    }

    #[test]
    fn truncated() {
        assert_eq!(IpRepr::parse(&[]), Err(ParseError::Truncated("ip version")));
        for n in 1..20 {
            assert_eq!(
                IpRepr::parse(&V4_PACKET[..n]),
                Err(ParseError::Truncated("ipv4 header"))
            );
        }
        for n in 20..28 {
            assert_eq!(
                IpRepr::parse(&V4_PACKET[..n]),
                Err(ParseError::BadLength("ipv4 total length"))
            );
        }
        for n in 1..40 {
            assert_eq!(
                IpRepr::parse(&V6_PACKET[..n]),
                Err(ParseError::Truncated("ipv6 header"))
            );
        }
        for n in 40..44 {
            assert_eq!(
                IpRepr::parse(&V6_PACKET[..n]),
                Err(ParseError::BadLength("ipv6 payload length"))
            );
        }
    }

    /// Re-computes the IPv4 header checksum after a test edited the header.
    fn fix_checksum(p: &mut [u8]) {
        let hl = usize::from(p[0] & 0xf) * 4;
        p[10] = 0;
        p[11] = 0;
        let c = checksum::finish(checksum::accumulate(0, &p[..hl]));
        p[10..12].copy_from_slice(&c.to_be_bytes());
    }

    #[test]
    fn v4_errors() {
        let mut p = V4_PACKET;
        p[11] ^= 1;
        assert_eq!(IpRepr::parse(&p), Err(ParseError::BadChecksum("ipv4")));

        let mut p = V4_PACKET;
        p[0] = 0x44;
        fix_checksum(&mut p);
        assert_eq!(IpRepr::parse(&p), Err(ParseError::BadLength("ipv4 ihl")));

        let mut p = V4_PACKET;
        p[3] = 19;
        fix_checksum(&mut p);
        assert_eq!(
            IpRepr::parse(&p),
            Err(ParseError::BadLength("ipv4 total length"))
        );

        for frag in [[0x20, 0x00], [0x00, 0x01], [0x40, 0x10]] {
            let mut p = V4_PACKET;
            p[6..8].copy_from_slice(&frag);
            fix_checksum(&mut p);
            assert_eq!(IpRepr::parse(&p), Err(ParseError::Invalid("ipv4 fragment")));
        }

        let mut p = V4_PACKET;
        p[0] = 0x55;
        assert_eq!(IpRepr::parse(&p), Err(ParseError::BadIpVersion(5)));
    }

    #[test]
    fn v4_options_skipped() {
        // IHL 6: one 4-byte option word (NOP NOP NOP EOL), payload 4 bytes.
        let mut p = vec![
            0x46, 0, 0, 28, 0, 0, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        p.extend_from_slice(&[1, 1, 1, 0, 0xde, 0xad, 0xbe, 0xef]);
        fix_checksum(&mut p);
        let (repr, payload) = IpRepr::parse(&p).unwrap();
        assert_eq!(repr.payload_len, 4);
        assert_eq!(payload, &[0xde, 0xad, 0xbe, 0xef]);
        // Options running past the buffer.
        assert_eq!(
            IpRepr::parse(&p[..22]),
            Err(ParseError::Truncated("ipv4 options"))
        );
    }

    fn arb_repr() -> impl Strategy<Value = IpRepr> {
        let v4 = (any::<[u8; 4]>(), any::<[u8; 4]>())
            .prop_map(|(a, b)| (IpAddr::from(a), IpAddr::from(b)));
        let v6 = (any::<[u8; 16]>(), any::<[u8; 16]>())
            .prop_map(|(a, b)| (IpAddr::from(a), IpAddr::from(b)));
        (prop_oneof![v4, v6], any::<u8>(), any::<u8>(), 0usize..1400).prop_map(
            |((src, dst), protocol, hop_limit, payload_len)| IpRepr {
                src,
                dst,
                protocol,
                hop_limit,
                payload_len,
            },
        )
    }

    proptest! {
        #[test]
        fn roundtrip(repr in arb_repr(), fill in any::<u8>()) {
            let mut buf = vec![fill; repr.buffer_len()];
            repr.emit(&mut buf);
            let (parsed, payload) = IpRepr::parse(&buf).unwrap();
            prop_assert_eq!(parsed, repr);
            prop_assert_eq!(payload.len(), repr.payload_len);
            let mut again = vec![!fill; repr.buffer_len()];
            parsed.emit(&mut again);
            prop_assert_eq!(&again[..repr.header_len()], &buf[..repr.header_len()]);
        }

        #[test]
        fn parse_never_panics(data in proptest::collection::vec(any::<u8>(), 0..80)) {
            let _ = IpRepr::parse(&data);
        }

        #[test]
        fn mutated_never_panics(
            repr in arb_repr(),
            flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4),
            cut in any::<usize>(),
        ) {
            let mut buf = vec![0u8; repr.buffer_len()];
            repr.emit(&mut buf);
            for (i, x) in flips {
                let n = buf.len();
                buf[i % n] ^= x;
            }
            let cut = cut % (buf.len() + 1);
            let _ = IpRepr::parse(&buf[..cut]);
            let _ = IpRepr::parse(&buf);
        }
    }
}
