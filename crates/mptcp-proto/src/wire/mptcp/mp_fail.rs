//! MP_FAIL (RFC 8684 §3.7).

use super::{bad_len, emit_header, subtype};
use crate::wire::bytes::Reader;
use crate::wire::ParseError;

/// MP_FAIL (RFC 8684 §3.7): length 12, the DSN at which the checksum failed. Byte 3 is
/// reserved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MpFail {
    /// Data sequence number (64 bits).
    pub dsn: u64,
}

impl MpFail {
    /// Parses the option body (bytes after kind and length; subtype nibble not checked).
    pub fn parse(data: &[u8]) -> Result<MpFail, ParseError> {
        if data.len() != 10 {
            return Err(bad_len(subtype::MP_FAIL, data));
        }
        let mut r = Reader::new(data, "mp_fail");
        r.take(2)?;
        Ok(MpFail { dsn: r.u64()? })
    }

    /// Bytes on the wire including kind and length: 12.
    pub fn buffer_len(&self) -> usize {
        12
    }

    /// Writes the option into `buf[..buffer_len()]`.
    pub fn emit(&self, buf: &mut [u8]) {
        let mut w = emit_header(buf, 12, subtype::MP_FAIL << 4);
        w.u8(0);
        w.u64(self.dsn);
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::check_option;
    use super::*;
    use crate::wire::MptcpOption;

    static FAIL: [u8; 12] = [0x1e, 0x0c, 0x60, 0x00, 1, 2, 3, 4, 5, 6, 7, 8];

    #[test]
    fn form() {
        check_option(
            &FAIL,
            &MptcpOption::MpFail(MpFail {
                dsn: 0x0102_0304_0506_0708,
            }),
        );
        let mut b = FAIL;
        b[2] = 0x6f;
        b[3] = 0xff;
        assert_eq!(MpFail::parse(&b[2..]), MpFail::parse(&FAIL[2..]));
        assert!(MpFail::parse(&FAIL[2..11]).is_err());
    }
}
