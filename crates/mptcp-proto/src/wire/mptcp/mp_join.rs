//! MP_JOIN (RFC 8684 §3.2).

use super::{bad_len, emit_header, subtype};
use crate::wire::bytes::Reader;
use crate::wire::ParseError;

/// MP_JOIN (RFC 8684 §3.2), one variant per handshake step (lengths 12, 16, 24).
///
/// Which form applies is decided by the length; the engine checks it against the
/// segment's SYN/ACK flags. Reserved bits are ignored on parse and sent as zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MpJoin {
    /// SYN form (length 12).
    Syn {
        /// Backup flag.
        backup: bool,
        /// Sender's address ID.
        addr_id: u8,
        /// Receiver's token.
        token: u32,
        /// Sender's random number.
        nonce: u32,
    },
    /// SYN/ACK form (length 16).
    SynAck {
        /// Backup flag.
        backup: bool,
        /// Sender's address ID.
        addr_id: u8,
        /// Truncated (leftmost 64 bits) HMAC.
        hmac: u64,
        /// Sender's random number.
        nonce: u32,
    },
    /// Third ACK form (length 24): full 160-bit truncated HMAC.
    Ack {
        /// Leftmost 160 bits of the HMAC.
        hmac: [u8; 20],
    },
}

impl MpJoin {
    /// Backup flag B in the low bit of byte 2 (SYN and SYN/ACK forms).
    pub const FLAG_B: u8 = 0x01;

    /// Parses the option body (bytes after kind and length; subtype nibble not checked).
    pub fn parse(data: &[u8]) -> Result<MpJoin, ParseError> {
        let mut r = Reader::new(data, "mp_join");
        match data.len() + 2 {
            12 => {
                let backup = r.u8()? & Self::FLAG_B != 0;
                Ok(MpJoin::Syn {
                    backup,
                    addr_id: r.u8()?,
                    token: r.u32()?,
                    nonce: r.u32()?,
                })
            }
            16 => {
                let backup = r.u8()? & Self::FLAG_B != 0;
                Ok(MpJoin::SynAck {
                    backup,
                    addr_id: r.u8()?,
                    hmac: r.u64()?,
                    nonce: r.u32()?,
                })
            }
            24 => {
                r.take(2)?;
                Ok(MpJoin::Ack { hmac: r.array()? })
            }
            _ => Err(bad_len(subtype::MP_JOIN, data)),
        }
    }

    /// Bytes on the wire including kind and length: 12, 16 or 24.
    pub fn buffer_len(&self) -> usize {
        match self {
            MpJoin::Syn { .. } => 12,
            MpJoin::SynAck { .. } => 16,
            MpJoin::Ack { .. } => 24,
        }
    }

    /// Writes the option into `buf[..buffer_len()]`.
    pub fn emit(&self, buf: &mut [u8]) {
        let len = self.buffer_len();
        let sub = subtype::MP_JOIN << 4;
        let b = |backup: bool| if backup { Self::FLAG_B } else { 0 };
        match *self {
            MpJoin::Syn {
                backup,
                addr_id,
                token,
                nonce,
            } => {
                let mut w = emit_header(buf, len, sub | b(backup));
                w.u8(addr_id);
                w.u32(token);
                w.u32(nonce);
            }
            MpJoin::SynAck {
                backup,
                addr_id,
                hmac,
                nonce,
            } => {
                let mut w = emit_header(buf, len, sub | b(backup));
                w.u8(addr_id);
                w.u64(hmac);
                w.u32(nonce);
            }
            MpJoin::Ack { hmac } => {
                let mut w = emit_header(buf, len, sub);
                w.u8(0);
                w.bytes(&hmac);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::check_option;
    use super::*;
    use crate::wire::MptcpOption;

    static SYN: [u8; 12] = [
        0x1e, 0x0c, 0x11, 0x02, 0xde, 0xad, 0xbe, 0xef, 0x01, 0x02, 0x03, 0x04,
    ];
    static SYN_ACK: [u8; 16] = [
        0x1e, 0x10, 0x10, 0x05, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0xa1, 0xa2, 0xa3,
        0xa4,
    ];
    static ACK: [u8; 24] = [
        0x1e, 0x18, 0x10, 0x00, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19,
        20,
    ];

    #[test]
    fn forms() {
        check_option(
            &SYN,
            &MptcpOption::MpJoin(MpJoin::Syn {
                backup: true,
                addr_id: 2,
                token: 0xdead_beef,
                nonce: 0x0102_0304,
            }),
        );
        check_option(
            &SYN_ACK,
            &MptcpOption::MpJoin(MpJoin::SynAck {
                backup: false,
                addr_id: 5,
                hmac: 0x1122_3344_5566_7788,
                nonce: 0xa1a2_a3a4,
            }),
        );
        let mut hmac = [0u8; 20];
        for (i, b) in hmac.iter_mut().enumerate() {
            *b = i as u8 + 1;
        }
        check_option(&ACK, &MptcpOption::MpJoin(MpJoin::Ack { hmac }));
    }

    #[test]
    fn reserved_bits_ignored() {
        let mut syn = SYN;
        syn[2] = 0x1f; // reserved bits set besides B
        assert_eq!(
            MpJoin::parse(&syn[2..]).unwrap(),
            MpJoin::parse(&SYN[2..]).unwrap()
        );
        let mut ack = ACK;
        ack[2] = 0x1f;
        ack[3] = 0xff;
        assert_eq!(MpJoin::parse(&ack[2..]), MpJoin::parse(&ACK[2..]));
    }

    #[test]
    fn bad_length() {
        assert_eq!(
            MpJoin::parse(&SYN[2..11]),
            Err(ParseError::BadMptcpLength {
                subtype: 1,
                len: 11
            })
        );
    }
}
