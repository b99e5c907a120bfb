//! ADD_ADDR (RFC 8684 §3.4.1).

use super::{bad_len, emit_header, subtype};
use crate::wire::bytes::Reader;
use crate::wire::ParseError;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// ADD_ADDR (RFC 8684 §3.4.1). Lengths: IPv4 8/10 (echo, +port), 16/18 (HMAC, +port);
/// IPv6 20/22, 28/30.
///
/// Byte 2 is subtype, three reserved bits (ignored) and E. The address family and the
/// presence of port and HMAC follow from the length; an echo carrying an HMAC, or a
/// non-echo without one, fits no form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddAddr {
    /// Echo flag E.
    pub echo: bool,
    /// Address ID.
    pub addr_id: u8,
    /// The announced address.
    pub addr: IpAddr,
    /// Optional port.
    pub port: Option<u16>,
    /// Truncated HMAC (rightmost 64 bits); present exactly when `echo` is false.
    pub hmac: Option<u64>,
}

impl AddAddr {
    /// Echo flag E in the low bit of byte 2.
    pub const FLAG_E: u8 = 0x01;

    /// Parses the option body (bytes after kind and length; subtype nibble not checked).
    pub fn parse(data: &[u8]) -> Result<AddAddr, ParseError> {
        // (IPv6, port present, HMAC present) by total length.
        let (v6, has_port, has_hmac) = match data.len() + 2 {
            8 => (false, false, false),
            10 => (false, true, false),
            16 => (false, false, true),
            18 => (false, true, true),
            20 => (true, false, false),
            22 => (true, true, false),
            28 => (true, false, true),
            30 => (true, true, true),
            _ => return Err(bad_len(subtype::ADD_ADDR, data)),
        };
        let mut r = Reader::new(data, "add_addr");
        let echo = r.u8()? & Self::FLAG_E != 0;
        if echo == has_hmac {
            return Err(ParseError::Invalid("add_addr echo flag and hmac"));
        }
        let addr_id = r.u8()?;
        let addr = if v6 {
            IpAddr::V6(Ipv6Addr::from(r.array::<16>()?))
        } else {
            IpAddr::V4(Ipv4Addr::from(r.array::<4>()?))
        };
        let port = if has_port { Some(r.u16()?) } else { None };
        let hmac = if has_hmac { Some(r.u64()?) } else { None };
        Ok(AddAddr {
            echo,
            addr_id,
            addr,
            port,
            hmac,
        })
    }

    /// Bytes on the wire including kind and length.
    pub fn buffer_len(&self) -> usize {
        let addr = match self.addr {
            IpAddr::V4(_) => 4,
            IpAddr::V6(_) => 16,
        };
        4 + addr + self.port.map_or(0, |_| 2) + self.hmac.map_or(0, |_| 8)
    }

    /// Writes the option into `buf[..buffer_len()]`. The HMAC is written when present,
    /// whatever `echo` says (a mismatched value does not parse back).
    pub fn emit(&self, buf: &mut [u8]) {
        let e = if self.echo { Self::FLAG_E } else { 0 };
        let mut w = emit_header(buf, self.buffer_len(), subtype::ADD_ADDR << 4 | e);
        w.u8(self.addr_id);
        match self.addr {
            IpAddr::V4(a) => w.bytes(&a.octets()),
            IpAddr::V6(a) => w.bytes(&a.octets()),
        }
        if let Some(p) = self.port {
            w.u16(p);
        }
        if let Some(h) = self.hmac {
            w.u64(h);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::check_option;
    use super::*;
    use crate::wire::MptcpOption;

    fn add(echo: bool, addr: &str, port: Option<u16>, hmac: Option<u64>) -> MptcpOption {
        MptcpOption::AddAddr(AddAddr {
            echo,
            addr_id: 3,
            addr: addr.parse().unwrap(),
            port,
            hmac,
        })
    }

    const H: u64 = 0x1122_3344_5566_7788;
    static V4_ECHO: [u8; 8] = [0x1e, 0x08, 0x31, 0x03, 10, 0, 1, 2];
    static V4_ECHO_PORT: [u8; 10] = [0x1e, 0x0a, 0x31, 0x03, 10, 0, 1, 2, 0x1f, 0x90];
    static V4_HMAC: [u8; 16] = [
        0x1e, 0x10, 0x30, 0x03, 10, 0, 1, 2, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88,
    ];
    static V4_HMAC_PORT: [u8; 18] = [
        0x1e, 0x12, 0x30, 0x03, 10, 0, 1, 2, 0x1f, 0x90, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
        0x88,
    ];

    fn v6_bytes(len: u8, e: u8, port: bool, hmac: bool) -> Vec<u8> {
        let mut v = vec![0x1e, len, 0x30 | e, 0x03, 0x20, 0x01, 0x0d, 0xb8];
        v.extend_from_slice(&[0; 11]);
        v.push(0x07);
        if port {
            v.extend_from_slice(&[0x1f, 0x90]);
        }
        if hmac {
            v.extend_from_slice(&H.to_be_bytes());
        }
        assert_eq!(v.len(), usize::from(len));
        v
    }

    #[test]
    fn forms_v4() {
        check_option(&V4_ECHO, &add(true, "10.0.1.2", None, None));
        check_option(&V4_ECHO_PORT, &add(true, "10.0.1.2", Some(8080), None));
        check_option(&V4_HMAC, &add(false, "10.0.1.2", None, Some(H)));
        check_option(&V4_HMAC_PORT, &add(false, "10.0.1.2", Some(8080), Some(H)));
    }

    #[test]
    fn forms_v6() {
        let a = "2001:db8::7";
        check_option(&v6_bytes(20, 1, false, false), &add(true, a, None, None));
        check_option(
            &v6_bytes(22, 1, true, false),
            &add(true, a, Some(8080), None),
        );
        check_option(&v6_bytes(28, 0, false, true), &add(false, a, None, Some(H)));
        check_option(
            &v6_bytes(30, 0, true, true),
            &add(false, a, Some(8080), Some(H)),
        );
    }

    #[test]
    fn echo_hmac_mismatch() {
        let mut b = V4_HMAC;
        b[2] = 0x31;
        assert_eq!(
            AddAddr::parse(&b[2..]),
            Err(ParseError::Invalid("add_addr echo flag and hmac"))
        );
        assert!(matches!(
            MptcpOption::parse(&b[2..]),
            MptcpOption::Unknown { .. }
        ));
        let mut b = V4_ECHO;
        b[2] = 0x30;
        assert!(AddAddr::parse(&b[2..]).is_err());
    }

    #[test]
    fn reserved_bits_ignored() {
        let mut b = V4_ECHO;
        b[2] = 0x3f;
        assert_eq!(AddAddr::parse(&b[2..]), AddAddr::parse(&V4_ECHO[2..]));
    }

    #[test]
    fn bad_length() {
        assert_eq!(
            AddAddr::parse(&V4_HMAC[2..14]),
            Err(ParseError::BadMptcpLength {
                subtype: 3,
                len: 14
            })
        );
    }
}
