//! MP_TCPRST (RFC 8684 §3.6).

use super::{bad_len, emit_header, subtype};
use crate::wire::ParseError;

/// MP_TCPRST (RFC 8684 §3.6): length 4. Byte 2 holds the subtype and flags U V W T;
/// byte 3 the reason code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MpTcpRst {
    /// Flags U, V, W, T (low nibble of byte 2; T = 0x1, transient).
    pub flags: u8,
    /// Reason code.
    pub reason: u8,
}

impl MpTcpRst {
    /// Unspecified error.
    pub const REASON_UNSPECIFIED: u8 = 0;
    /// MPTCP-specific error.
    pub const REASON_MPTCP: u8 = 1;
    /// Lack of resources.
    pub const REASON_RESOURCES: u8 = 2;
    /// Administratively prohibited.
    pub const REASON_PROHIBITED: u8 = 3;
    /// Too much outstanding data.
    pub const REASON_TOO_MUCH_DATA: u8 = 4;
    /// Unacceptable performance.
    pub const REASON_PERFORMANCE: u8 = 5;
    /// Middlebox interference.
    pub const REASON_MIDDLEBOX: u8 = 6;
    /// Flag T: the error is transient.
    pub const FLAG_T: u8 = 0x01;

    /// Parses the option body (bytes after kind and length; subtype nibble not checked).
    pub fn parse(data: &[u8]) -> Result<MpTcpRst, ParseError> {
        match *data {
            [b, reason] => Ok(MpTcpRst {
                flags: b & 0x0f,
                reason,
            }),
            _ => Err(bad_len(subtype::MP_TCPRST, data)),
        }
    }

    /// Bytes on the wire including kind and length: 4.
    pub fn buffer_len(&self) -> usize {
        4
    }

    /// Writes the option into `buf[..buffer_len()]` (only the low nibble of `flags`).
    pub fn emit(&self, buf: &mut [u8]) {
        let mut w = emit_header(buf, 4, subtype::MP_TCPRST << 4 | (self.flags & 0x0f));
        w.u8(self.reason);
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::check_option;
    use super::*;
    use crate::wire::MptcpOption;

    #[test]
    fn form() {
        check_option(
            &[0x1e, 0x04, 0x81, 0x01],
            &MptcpOption::MpTcpRst(MpTcpRst {
                flags: MpTcpRst::FLAG_T,
                reason: MpTcpRst::REASON_MPTCP,
            }),
        );
        check_option(
            &[0x1e, 0x04, 0x80, 0x03],
            &MptcpOption::MpTcpRst(MpTcpRst {
                flags: 0,
                reason: MpTcpRst::REASON_PROHIBITED,
            }),
        );
        assert!(MpTcpRst::parse(&[0x81]).is_err());
        assert!(MpTcpRst::parse(&[0x81, 1, 0]).is_err());
    }
}
