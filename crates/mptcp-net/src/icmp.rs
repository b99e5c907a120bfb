//! ICMP "destination unreachable" for a connection attempt: the kernel answers this way
//! when it cannot forward the stack's SYN. The engine ignores ICMP, so without this a
//! connect to an unreachable peer would only fail after every SYN retransmission.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

const ICMP: u8 = 1;
const ICMPV6: u8 = 58;
const TCP: u8 = 6;

/// The (local, remote) pair of the TCP segment an ICMP(v6) destination-unreachable message
/// quotes, if `packet` is such a message. Port unreachable (not sent for TCP) is ignored.
pub(crate) fn unreachable_tuple(packet: &[u8]) -> Option<(SocketAddr, SocketAddr)> {
    match packet.first()? >> 4 {
        4 => {
            let ihl = usize::from(packet[0] & 0x0f) * 4;
            if packet.get(9) != Some(&ICMP) || ihl < 20 {
                return None;
            }
            let icmp = packet.get(ihl..)?;
            // Type 3 (destination unreachable), any code but 3 (port unreachable).
            if *icmp.first()? != 3 || *icmp.get(1)? == 3 {
                return None;
            }
            let inner = icmp.get(8..)?;
            let inner_ihl = usize::from(inner.first()? & 0x0f) * 4;
            if inner.first()? >> 4 != 4 || *inner.get(9)? != TCP || inner_ihl < 20 {
                return None;
            }
            let src: [u8; 4] = inner.get(12..16)?.try_into().ok()?;
            let dst: [u8; 4] = inner.get(16..20)?.try_into().ok()?;
            let ports = inner.get(inner_ihl..inner_ihl + 4)?;
            Some(tuple(
                IpAddr::V4(Ipv4Addr::from(src)),
                IpAddr::V4(Ipv4Addr::from(dst)),
                ports,
            ))
        }
        6 => {
            if *packet.get(6)? != ICMPV6 {
                return None;
            }
            let icmp = packet.get(40..)?;
            // Type 1 (destination unreachable), any code but 4 (port unreachable).
            if *icmp.first()? != 1 || *icmp.get(1)? == 4 {
                return None;
            }
            let inner = icmp.get(8..)?;
            if inner.first()? >> 4 != 6 || *inner.get(6)? != TCP {
                return None;
            }
            let src: [u8; 16] = inner.get(8..24)?.try_into().ok()?;
            let dst: [u8; 16] = inner.get(24..40)?.try_into().ok()?;
            let ports = inner.get(40..44)?;
            Some(tuple(
                IpAddr::V6(Ipv6Addr::from(src)),
                IpAddr::V6(Ipv6Addr::from(dst)),
                ports,
            ))
        }
        _ => None,
    }
}

fn tuple(src: IpAddr, dst: IpAddr, ports: &[u8]) -> (SocketAddr, SocketAddr) {
    let sport = u16::from_be_bytes([ports[0], ports[1]]);
    let dport = u16::from_be_bytes([ports[2], ports[3]]);
    (SocketAddr::new(src, sport), SocketAddr::new(dst, dport))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_net_unreachable_and_ignores_garbage() {
        let mut p = vec![0u8; 20 + 8 + 20 + 8];
        p[0] = 0x45;
        p[9] = ICMP;
        p[20] = 3; // type
        p[21] = 0; // net unreachable
        let inner = &mut p[28..];
        inner[0] = 0x45;
        inner[9] = TCP;
        inner[12..16].copy_from_slice(&[10, 7, 0, 1]);
        inner[16..20].copy_from_slice(&[10, 9, 9, 9]);
        inner[20..22].copy_from_slice(&40000u16.to_be_bytes());
        inner[22..24].copy_from_slice(&5000u16.to_be_bytes());
        let (l, r) = unreachable_tuple(&p).expect("parsed");
        assert_eq!(l, "10.7.0.1:40000".parse().unwrap());
        assert_eq!(r, "10.9.9.9:5000".parse().unwrap());
        for n in 0..p.len() {
            let _ = unreachable_tuple(&p[..n]);
        }
        assert!(unreachable_tuple(&[]).is_none());
        assert!(unreachable_tuple(&[0x60; 3]).is_none());
    }
}
