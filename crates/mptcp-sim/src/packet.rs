//! Byte-level access to IPv4/TCP packets for routing and middleboxes.
//!
//! Middleboxes rewrite packets in place, the way real ones do, and keep every byte they do
//! not understand; checksums are recomputed with [`mptcp_proto::wire::checksum`]. Nothing
//! here panics: every accessor checks lengths first.

use mptcp_proto::wire::checksum;
use mptcp_proto::wire::IP_PROTO_TCP;
use std::net::{IpAddr, Ipv4Addr};

/// TCP flag bits.
pub mod flags {
    /// FIN.
    pub const FIN: u8 = 0x01;
    /// SYN.
    pub const SYN: u8 = 0x02;
    /// RST.
    pub const RST: u8 = 0x04;
    /// PSH.
    pub const PSH: u8 = 0x08;
    /// ACK.
    pub const ACK: u8 = 0x10;
    /// URG.
    pub const URG: u8 = 0x20;
}

/// TCP option kind of MPTCP (RFC 8684 §3).
pub const KIND_MPTCP: u8 = 30;
/// TCP option kind of SACK (RFC 2018).
pub const KIND_SACK: u8 = 5;

/// Destination IPv4 address of a packet, if it is IPv4.
pub fn ipv4_dst(pkt: &[u8]) -> Option<Ipv4Addr> {
    if pkt.len() < 20 || pkt[0] >> 4 != 4 {
        return None;
    }
    Some(Ipv4Addr::new(pkt[16], pkt[17], pkt[18], pkt[19]))
}

/// Source IPv4 address of a packet, if it is IPv4.
pub fn ipv4_src(pkt: &[u8]) -> Option<Ipv4Addr> {
    if pkt.len() < 20 || pkt[0] >> 4 != 4 {
        return None;
    }
    Some(Ipv4Addr::new(pkt[12], pkt[13], pkt[14], pkt[15]))
}

/// Offsets of an IPv4/TCP packet, validated against its length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpLayout {
    /// IPv4 header length.
    pub ip_hdr: usize,
    /// TCP header length (20 + options).
    pub tcp_hdr: usize,
    /// IPv4 total length (the packet may carry trailing bytes beyond it, ignored).
    pub total: usize,
}

impl TcpLayout {
    /// Layout of `pkt`, `None` unless it is a well-formed IPv4 packet carrying TCP.
    pub fn of(pkt: &[u8]) -> Option<TcpLayout> {
        if pkt.len() < 20 || pkt[0] >> 4 != 4 || pkt[9] != IP_PROTO_TCP {
            return None;
        }
        let ip_hdr = usize::from(pkt[0] & 0x0f) * 4;
        let total = usize::from(u16::from_be_bytes([pkt[2], pkt[3]]));
        if ip_hdr < 20 || total > pkt.len() || total < ip_hdr + 20 {
            return None;
        }
        let tcp_hdr = usize::from(pkt[ip_hdr + 12] >> 4) * 4;
        if tcp_hdr < 20 || ip_hdr + tcp_hdr > total {
            return None;
        }
        Some(TcpLayout {
            ip_hdr,
            tcp_hdr,
            total,
        })
    }

    /// Offset of the TCP header.
    pub fn tcp(&self) -> usize {
        self.ip_hdr
    }

    /// Offset of the TCP payload.
    pub fn payload(&self) -> usize {
        self.ip_hdr + self.tcp_hdr
    }

    /// Payload length.
    pub fn payload_len(&self) -> usize {
        self.total - self.payload()
    }

    /// Range of the TCP options.
    pub fn options(&self) -> std::ops::Range<usize> {
        self.ip_hdr + 20..self.payload()
    }
}

/// Reads a big-endian u16 at `at` (caller checked the bounds through [`TcpLayout`]).
pub fn get_u16(pkt: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([pkt[at], pkt[at + 1]])
}

/// Reads a big-endian u32 at `at`.
pub fn get_u32(pkt: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([pkt[at], pkt[at + 1], pkt[at + 2], pkt[at + 3]])
}

/// Writes a big-endian u16 at `at`.
pub fn set_u16(pkt: &mut [u8], at: usize, v: u16) {
    pkt[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

/// Writes a big-endian u32 at `at`.
pub fn set_u32(pkt: &mut [u8], at: usize, v: u32) {
    pkt[at..at + 4].copy_from_slice(&v.to_be_bytes());
}

/// Field accessors of a TCP packet with a known layout.
impl TcpLayout {
    /// Flags byte.
    pub fn flags(&self, pkt: &[u8]) -> u8 {
        pkt[self.tcp() + 13]
    }
    /// Sequence number.
    pub fn seq(&self, pkt: &[u8]) -> u32 {
        get_u32(pkt, self.tcp() + 4)
    }
    /// Acknowledgment number.
    pub fn ack(&self, pkt: &[u8]) -> u32 {
        get_u32(pkt, self.tcp() + 8)
    }
    /// Source port.
    pub fn src_port(&self, pkt: &[u8]) -> u16 {
        get_u16(pkt, self.tcp())
    }
    /// Destination port.
    pub fn dst_port(&self, pkt: &[u8]) -> u16 {
        get_u16(pkt, self.tcp() + 2)
    }
    /// (src addr, src port, dst addr, dst port) as one comparable value.
    pub fn four_tuple(&self, pkt: &[u8]) -> [u8; 12] {
        let mut t = [0u8; 12];
        t[..8].copy_from_slice(&pkt[12..20]);
        t[8..].copy_from_slice(&pkt[self.tcp()..self.tcp() + 4]);
        t
    }
}

/// Iterates the options of a TCP header: yields (offset in `pkt`, kind, length) for each
/// option with a length byte; NOPs yield length 1; stops at End or at a malformed option.
pub fn for_each_option(pkt: &[u8], layout: &TcpLayout, mut f: impl FnMut(usize, u8, usize)) {
    let range = layout.options();
    let mut at = range.start;
    while at < range.end {
        let kind = pkt[at];
        match kind {
            0 => return,
            1 => {
                f(at, kind, 1);
                at += 1;
            }
            _ => {
                let Some(&len) = pkt.get(at + 1) else { return };
                let len = usize::from(len);
                if len < 2 || at + len > range.end {
                    return;
                }
                f(at, kind, len);
                at += len;
            }
        }
    }
}

/// Recomputes the IPv4 header checksum and the TCP checksum of a packet.
pub fn refresh_checksums(pkt: &mut [u8], layout: &TcpLayout) {
    pkt[10] = 0;
    pkt[11] = 0;
    let c = checksum::finish(checksum::accumulate(0, &pkt[..layout.ip_hdr]));
    set_u16(pkt, 10, c);
    let tcp = layout.tcp();
    pkt[tcp + 16] = 0;
    pkt[tcp + 17] = 0;
    let src = IpAddr::V4(Ipv4Addr::new(pkt[12], pkt[13], pkt[14], pkt[15]));
    let dst = IpAddr::V4(Ipv4Addr::new(pkt[16], pkt[17], pkt[18], pkt[19]));
    let seg_len = layout.total - tcp;
    let sum = checksum::pseudo_header(src, dst, IP_PROTO_TCP, seg_len as u32);
    let c = checksum::finish(checksum::accumulate(sum, &pkt[tcp..layout.total]));
    set_u16(pkt, tcp + 16, c);
}

/// Sets the IPv4 total length (and truncates the buffer to it).
pub fn set_total_len(pkt: &mut Vec<u8>, total: usize) {
    pkt.truncate(total);
    set_u16(pkt, 2, u16::try_from(total).unwrap_or(u16::MAX));
}

#[cfg(test)]
pub(crate) mod testutil {
    //! Hand-built packets for middlebox and routing tests, built with the engine's codec.
    use mptcp_proto::wire::{IpRepr, TcpFlags, TcpOption, TcpOptions, TcpRepr, IP_PROTO_TCP};
    use mptcp_proto::SeqNum;
    use std::net::{IpAddr, Ipv4Addr};

    /// A TCP/IPv4 packet.
    #[allow(clippy::too_many_arguments)]
    pub fn build(
        src: (Ipv4Addr, u16),
        dst: (Ipv4Addr, u16),
        seq: u32,
        ack: u32,
        flags: u8,
        options: &[TcpOption],
        payload: &[u8],
    ) -> Vec<u8> {
        let tcp = TcpRepr {
            src_port: src.1,
            dst_port: dst.1,
            seq: SeqNum(seq),
            ack: SeqNum(ack),
            flags: TcpFlags(flags),
            window: 1000,
            urgent: 0,
            options: options.iter().cloned().collect::<TcpOptions>(),
            payload,
        };
        let ip = IpRepr {
            src: IpAddr::V4(src.0),
            dst: IpAddr::V4(dst.0),
            protocol: IP_PROTO_TCP,
            hop_limit: 64,
            payload_len: tcp.buffer_len(),
        };
        let mut buf = vec![0u8; ip.header_len() + tcp.buffer_len()];
        ip.emit(&mut buf);
        let hl = ip.header_len();
        tcp.emit(&mut buf[hl..], ip.src, ip.dst);
        buf
    }

    /// Parses a packet, verifying both checksums; panics (test only) if it does not parse.
    pub fn parse(pkt: &[u8]) -> (IpRepr, TcpRepr<'_>) {
        let (ip, seg) = IpRepr::parse(pkt).expect("ip parses, checksum ok");
        let tcp = TcpRepr::parse(seg, Some((ip.src, ip.dst))).expect("tcp parses, checksum ok");
        (ip, tcp)
    }
}

#[cfg(test)]
mod tests {
    use super::testutil::*;
    use super::*;
    use mptcp_proto::wire::TcpOption;

    #[test]
    fn layout_and_fields() {
        let a = (Ipv4Addr::new(10, 0, 0, 1), 1234);
        let b = (Ipv4Addr::new(10, 254, 0, 1), 5201);
        let p = build(
            a,
            b,
            7,
            9,
            flags::ACK,
            &[
                TcpOption::Nop,
                TcpOption::Nop,
                TcpOption::Timestamp { tsval: 1, tsecr: 2 },
            ],
            b"hello",
        );
        let l = TcpLayout::of(&p).unwrap();
        assert_eq!(l.ip_hdr, 20);
        assert_eq!(l.tcp_hdr, 32);
        assert_eq!(l.payload_len(), 5);
        assert_eq!(l.seq(&p), 7);
        assert_eq!(l.ack(&p), 9);
        assert_eq!(l.src_port(&p), 1234);
        assert_eq!(l.dst_port(&p), 5201);
        assert_eq!(ipv4_dst(&p), Some(b.0));
        assert_eq!(ipv4_src(&p), Some(a.0));
        let mut kinds = vec![];
        for_each_option(&p, &l, |_, k, len| kinds.push((k, len)));
        assert_eq!(kinds, vec![(1, 1), (1, 1), (8, 10)]);
        // Changing a field and refreshing keeps the packet valid.
        let mut q = p.clone();
        set_u32(&mut q, l.tcp() + 4, 99);
        refresh_checksums(&mut q, &l);
        let (_, tcp) = parse(&q);
        assert_eq!(tcp.seq.0, 99);
    }

    #[test]
    fn rejects_garbage() {
        assert_eq!(TcpLayout::of(&[]), None);
        assert_eq!(TcpLayout::of(&[0x45; 19]), None);
        let mut p = vec![0u8; 40];
        p[0] = 0x45;
        p[9] = 6;
        p[3] = 40;
        p[32] = 0xf0; // data offset 60 > segment
        assert_eq!(TcpLayout::of(&p), None);
        p[3] = 200; // total length beyond the buffer
        assert_eq!(TcpLayout::of(&p), None);
    }
}
