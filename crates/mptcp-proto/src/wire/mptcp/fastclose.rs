//! MP_FASTCLOSE (RFC 8684 §3.5).

use super::{bad_len, emit_header, subtype};
use crate::wire::bytes::Reader;
use crate::wire::ParseError;

/// MP_FASTCLOSE (RFC 8684 §3.5): length 12, the receiver's key. Byte 3 is reserved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MpFastclose {
    /// The option receiver's key.
    pub receiver_key: u64,
}

impl MpFastclose {
    /// Parses the option body (bytes after kind and length; subtype nibble not checked).
    pub fn parse(data: &[u8]) -> Result<MpFastclose, ParseError> {
        if data.len() != 10 {
            return Err(bad_len(subtype::MP_FASTCLOSE, data));
        }
        let mut r = Reader::new(data, "mp_fastclose");
        r.take(2)?;
        Ok(MpFastclose {
            receiver_key: r.u64()?,
        })
    }

    /// Bytes on the wire including kind and length: 12.
    pub fn buffer_len(&self) -> usize {
        12
    }

    /// Writes the option into `buf[..buffer_len()]`.
    pub fn emit(&self, buf: &mut [u8]) {
        let mut w = emit_header(buf, 12, subtype::MP_FASTCLOSE << 4);
        w.u8(0);
        w.u64(self.receiver_key);
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::check_option;
    use super::*;
    use crate::wire::MptcpOption;

    static FASTCLOSE: [u8; 12] = [
        0x1e, 0x0c, 0x70, 0x00, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8,
    ];

    #[test]
    fn form() {
        check_option(
            &FASTCLOSE,
            &MptcpOption::MpFastclose(MpFastclose {
                receiver_key: 0xf1f2_f3f4_f5f6_f7f8,
            }),
        );
        assert_eq!(
            MpFastclose::parse(&FASTCLOSE[2..10]),
            Err(ParseError::BadMptcpLength {
                subtype: 7,
                len: 10
            })
        );
    }
}
