//! MP_CAPABLE (RFC 8684 §3.1).

use super::{bad_len, emit_header, subtype};
use crate::wire::bytes::Reader;
use crate::wire::ParseError;

/// MP_CAPABLE (RFC 8684 §3.1). Forms by length: 4 (SYN, no key), 12 (SYN/ACK: sender key),
/// 20 (third ACK: sender key then receiver key), 22 (ACK + data: adds data-level length),
/// 24 (adds the DSS checksum).
///
/// On emit the form is chosen by the last present field; absent earlier fields are sent
/// as zero (so a canonical value has `Some` fields forming a prefix of the list).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MpCapable {
    /// Version (low nibble of byte 2); 1 for RFC 8684.
    pub version: u8,
    /// Flags byte: A=0x80 checksum required, B=0x40 extensibility, C=0x20 no join to
    /// initial address, D..G reserved crypto bits, H=0x01 HMAC-SHA256.
    pub flags: u8,
    /// Key of the option's sender (SYN/ACK and later forms).
    pub sender_key: Option<u64>,
    /// Key of the option's receiver (third ACK and later forms).
    pub receiver_key: Option<u64>,
    /// Data-level length (ACK + data form).
    pub data_len: Option<u16>,
    /// DSS checksum (ACK + data form when checksums are on).
    pub checksum: Option<u16>,
}

impl MpCapable {
    /// Flag A: checksum required.
    pub const FLAG_A: u8 = 0x80;
    /// Flag B: extensibility (must be 0 in v1).
    pub const FLAG_B: u8 = 0x40;
    /// Flag C: do not join to the initial address and port.
    pub const FLAG_C: u8 = 0x20;
    /// Flag H: HMAC-SHA256.
    pub const FLAG_H: u8 = 0x01;

    /// Parses the option body (bytes after kind and length; subtype nibble not checked).
    pub fn parse(data: &[u8]) -> Result<MpCapable, ParseError> {
        let len = data.len() + 2;
        if !matches!(len, 4 | 12 | 20 | 22 | 24) {
            return Err(bad_len(subtype::MP_CAPABLE, data));
        }
        let mut r = Reader::new(data, "mp_capable");
        let version = r.u8()? & 0x0f;
        let flags = r.u8()?;
        let sender_key = if len >= 12 { Some(r.u64()?) } else { None };
        let receiver_key = if len >= 20 { Some(r.u64()?) } else { None };
        let data_len = if len >= 22 { Some(r.u16()?) } else { None };
        let checksum = if len >= 24 { Some(r.u16()?) } else { None };
        Ok(MpCapable {
            version,
            flags,
            sender_key,
            receiver_key,
            data_len,
            checksum,
        })
    }

    /// Bytes on the wire including kind and length: 4, 12, 20, 22 or 24.
    pub fn buffer_len(&self) -> usize {
        if self.checksum.is_some() {
            24
        } else if self.data_len.is_some() {
            22
        } else if self.receiver_key.is_some() {
            20
        } else if self.sender_key.is_some() {
            12
        } else {
            4
        }
    }

    /// Writes the option into `buf[..buffer_len()]`.
    pub fn emit(&self, buf: &mut [u8]) {
        let len = self.buffer_len();
        let byte2 = subtype::MP_CAPABLE << 4 | (self.version & 0x0f);
        let mut w = emit_header(buf, len, byte2);
        w.u8(self.flags);
        if len >= 12 {
            w.u64(self.sender_key.unwrap_or(0));
        }
        if len >= 20 {
            w.u64(self.receiver_key.unwrap_or(0));
        }
        if len >= 22 {
            w.u16(self.data_len.unwrap_or(0));
        }
        if len >= 24 {
            w.u16(self.checksum.unwrap_or(0));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::check_option;
    use super::*;
    use crate::wire::MptcpOption;

    fn mpc(sk: Option<u64>, rk: Option<u64>, dl: Option<u16>, cs: Option<u16>) -> MptcpOption {
        MptcpOption::MpCapable(MpCapable {
            version: 1,
            flags: MpCapable::FLAG_A | MpCapable::FLAG_H,
            sender_key: sk,
            receiver_key: rk,
            data_len: dl,
            checksum: cs,
        })
    }

    /// Linux MPC SYN with checksums enabled: version 1, flags A|H.
    static SYN: [u8; 4] = [0x1e, 0x04, 0x01, 0x81];
    static SYN_ACK: [u8; 12] = [
        0x1e, 0x0c, 0x01, 0x81, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
    ];
    static ACK: [u8; 20] = [
        0x1e, 0x14, 0x01, 0x81, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0xf1, 0xf2, 0xf3,
        0xf4, 0xf5, 0xf6, 0xf7, 0xf8,
    ];
    static ACK_DATA: [u8; 22] = [
        0x1e, 0x16, 0x01, 0x81, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0xf1, 0xf2, 0xf3,
        0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0x03, 0xe8,
    ];
    static ACK_DATA_CSUM: [u8; 24] = [
        0x1e, 0x18, 0x01, 0x81, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0xf1, 0xf2, 0xf3,
        0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0x03, 0xe8, 0xbe, 0xef,
    ];
    const SK: u64 = 0x0102_0304_0506_0708;
    const RK: u64 = 0xf1f2_f3f4_f5f6_f7f8;

    #[test]
    fn forms() {
        check_option(&SYN, &mpc(None, None, None, None));
        check_option(&SYN_ACK, &mpc(Some(SK), None, None, None));
        check_option(&ACK, &mpc(Some(SK), Some(RK), None, None));
        check_option(&ACK_DATA, &mpc(Some(SK), Some(RK), Some(1000), None));
        check_option(
            &ACK_DATA_CSUM,
            &mpc(Some(SK), Some(RK), Some(1000), Some(0xbeef)),
        );
    }

    #[test]
    fn bad_lengths() {
        for n in [0, 1, 3, 5, 9, 11, 17, 19, 21, 23, 30] {
            let body = vec![0x01; n];
            assert_eq!(
                MpCapable::parse(&body),
                Err(ParseError::BadMptcpLength {
                    subtype: 0,
                    len: n as u8 + 2
                })
            );
        }
    }

    #[test]
    fn version_nibble_and_reserved() {
        // Version 0 with key (RFC 6824 style SYN) parses; the engine rejects it.
        let body = [0x00, 0x01, 0, 0, 0, 0, 0, 0, 0, 9];
        let m = MpCapable::parse(&body).unwrap();
        assert_eq!(m.version, 0);
        assert_eq!(m.sender_key, Some(9));
    }
}
