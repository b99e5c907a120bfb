//! MP_PRIO (RFC 8684 §3.3.8).

use super::{bad_len, emit_header, subtype};
use crate::wire::ParseError;

/// MP_PRIO (RFC 8684 §3.3.8). Length 3; the RFC 6824 form with an address ID (length 4)
/// is accepted on parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MpPrio {
    /// Backup flag B.
    pub backup: bool,
    /// Address ID, only in the legacy length-4 form.
    pub addr_id: Option<u8>,
}

impl MpPrio {
    /// Backup flag B in the low bit of byte 2.
    pub const FLAG_B: u8 = 0x01;

    /// Parses the option body (bytes after kind and length; subtype nibble not checked).
    pub fn parse(data: &[u8]) -> Result<MpPrio, ParseError> {
        match *data {
            [b] => Ok(MpPrio {
                backup: b & Self::FLAG_B != 0,
                addr_id: None,
            }),
            [b, id] => Ok(MpPrio {
                backup: b & Self::FLAG_B != 0,
                addr_id: Some(id),
            }),
            _ => Err(bad_len(subtype::MP_PRIO, data)),
        }
    }

    /// Bytes on the wire including kind and length: 3, or 4 with an address ID.
    pub fn buffer_len(&self) -> usize {
        if self.addr_id.is_some() {
            4
        } else {
            3
        }
    }

    /// Writes the option into `buf[..buffer_len()]`.
    pub fn emit(&self, buf: &mut [u8]) {
        let b = if self.backup { Self::FLAG_B } else { 0 };
        let mut w = emit_header(buf, self.buffer_len(), subtype::MP_PRIO << 4 | b);
        if let Some(id) = self.addr_id {
            w.u8(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::check_option;
    use super::*;
    use crate::wire::MptcpOption;

    #[test]
    fn forms() {
        check_option(
            &[0x1e, 0x03, 0x51],
            &MptcpOption::MpPrio(MpPrio {
                backup: true,
                addr_id: None,
            }),
        );
        check_option(
            &[0x1e, 0x03, 0x50],
            &MptcpOption::MpPrio(MpPrio {
                backup: false,
                addr_id: None,
            }),
        );
        check_option(
            &[0x1e, 0x04, 0x51, 0x02],
            &MptcpOption::MpPrio(MpPrio {
                backup: true,
                addr_id: Some(2),
            }),
        );
    }

    #[test]
    fn bad_length() {
        assert_eq!(
            MpPrio::parse(&[0x51, 0, 0]),
            Err(ParseError::BadMptcpLength { subtype: 5, len: 5 })
        );
        assert!(!MpPrio::parse(&[0x5e]).unwrap().backup);
    }
}
