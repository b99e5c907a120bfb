//! REMOVE_ADDR (RFC 8684 §3.4.2).

use super::{bad_len, emit_header, subtype};
use crate::wire::ParseError;
use smallvec::SmallVec;

/// REMOVE_ADDR (RFC 8684 §3.4.2): one or more address IDs. Length 3 + n, emitted
/// without padding (the TCP option area is padded as a whole).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoveAddr {
    /// Address IDs (at least one; at most 37 fit in an option).
    pub addr_ids: SmallVec<[u8; 8]>,
}

impl RemoveAddr {
    /// Parses the option body (bytes after kind and length; subtype nibble not checked).
    pub fn parse(data: &[u8]) -> Result<RemoveAddr, ParseError> {
        match data.get(1..) {
            Some(ids) if !ids.is_empty() => Ok(RemoveAddr {
                addr_ids: SmallVec::from_slice(ids),
            }),
            _ => Err(bad_len(subtype::REMOVE_ADDR, data)),
        }
    }

    /// Bytes on the wire including kind and length: 3 + number of IDs.
    pub fn buffer_len(&self) -> usize {
        3 + self.addr_ids.len()
    }

    /// Writes the option into `buf[..buffer_len()]`.
    pub fn emit(&self, buf: &mut [u8]) {
        let mut w = emit_header(buf, self.buffer_len(), subtype::REMOVE_ADDR << 4);
        w.bytes(&self.addr_ids);
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::check_option;
    use super::*;
    use crate::wire::MptcpOption;

    static ONE: [u8; 4] = [0x1e, 0x04, 0x40, 0x05];
    static THREE: [u8; 6] = [0x1e, 0x06, 0x40, 0x01, 0x02, 0x03];

    #[test]
    fn forms() {
        check_option(
            &ONE,
            &MptcpOption::RemoveAddr(RemoveAddr {
                addr_ids: SmallVec::from_slice(&[5]),
            }),
        );
        check_option(
            &THREE,
            &MptcpOption::RemoveAddr(RemoveAddr {
                addr_ids: SmallVec::from_slice(&[1, 2, 3]),
            }),
        );
    }

    #[test]
    fn empty_rejected() {
        assert_eq!(
            RemoveAddr::parse(&[0x40]),
            Err(ParseError::BadMptcpLength { subtype: 4, len: 3 })
        );
    }

    #[test]
    fn many_ids() {
        let ids: Vec<u8> = (0..37).collect();
        let mut body = vec![0x40];
        body.extend_from_slice(&ids);
        let r = RemoveAddr::parse(&body).unwrap();
        assert_eq!(&r.addr_ids[..], &ids[..]);
        assert_eq!(r.buffer_len(), 40);
    }
}
