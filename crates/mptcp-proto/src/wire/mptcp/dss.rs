//! DSS: Data Sequence Signal (RFC 8684 §3.3).

use super::{bad_len, emit_header, subtype};
use crate::wire::bytes::Reader;
use crate::wire::ParseError;

/// DATA_ACK of a DSS option: the value and whether it was sent as 8 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataAck {
    /// Value; only the low 32 bits are meaningful when `wide` is false.
    pub value: u64,
    /// Sent in the 8-byte form (flag a).
    pub wide: bool,
}

/// The mapping part of a DSS option (RFC 8684 §3.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DssMapping {
    /// Data sequence number; only the low 32 bits are meaningful when `wide` is false.
    pub dsn: u64,
    /// Sent in the 8-byte form (flag m).
    pub wide: bool,
    /// Subflow sequence number relative to the subflow's initial sequence number.
    pub ssn: u32,
    /// Data-level length (0 = infinite mapping).
    pub data_len: u16,
    /// DSS checksum, present when checksums were negotiated.
    pub checksum: Option<u16>,
}

/// DSS (RFC 8684 §3.3): flags F (DATA_FIN) 0x10, m 0x08, M 0x04, a 0x02, A 0x01.
///
/// Length = 4 + (4 or 8 with A) + (10 or 14 with M) + 2 with a checksum; the checksum's
/// presence is inferred from the length. Any other length fits no form. The width flags
/// a/m are ignored when A/M are clear. DATA_FIN is kept as parsed even without a mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Dss {
    /// DATA_ACK (flag A, width flag a).
    pub data_ack: Option<DataAck>,
    /// Mapping (flag M, width flag m).
    pub mapping: Option<DssMapping>,
    /// DATA_FIN (flag F).
    pub data_fin: bool,
}

impl Dss {
    /// Flag F: DATA_FIN.
    pub const FLAG_DATA_FIN: u8 = 0x10;
    /// Flag m: the DSN is 8 octets.
    pub const FLAG_DSN8: u8 = 0x08;
    /// Flag M: mapping present.
    pub const FLAG_MAPPING: u8 = 0x04;
    /// Flag a: the DATA_ACK is 8 octets.
    pub const FLAG_ACK8: u8 = 0x02;
    /// Flag A: DATA_ACK present.
    pub const FLAG_ACK: u8 = 0x01;

    /// Parses the option body (bytes after kind and length; subtype nibble not checked).
    pub fn parse(data: &[u8]) -> Result<Dss, ParseError> {
        let mut r = Reader::new(data, "dss");
        let (_, flags) = match (r.u8(), r.u8()) {
            (Ok(a), Ok(b)) => (a, b),
            _ => return Err(bad_len(subtype::DSS, data)),
        };
        let has = |f: u8| flags & f != 0;
        let ack_len = match (has(Self::FLAG_ACK), has(Self::FLAG_ACK8)) {
            (false, _) => 0,
            (true, false) => 4,
            (true, true) => 8,
        };
        let dsn_len = if has(Self::FLAG_DSN8) { 8 } else { 4 };
        let map_len = if has(Self::FLAG_MAPPING) {
            dsn_len + 6
        } else {
            0
        };
        let rest = r.remaining();
        let checksum = if rest == ack_len + map_len {
            false
        } else if map_len > 0 && rest == ack_len + map_len + 2 {
            true
        } else {
            return Err(bad_len(subtype::DSS, data));
        };
        let data_ack = match ack_len {
            0 => None,
            4 => Some(DataAck {
                value: u64::from(r.u32()?),
                wide: false,
            }),
            _ => Some(DataAck {
                value: r.u64()?,
                wide: true,
            }),
        };
        let mapping = if map_len == 0 {
            None
        } else {
            let wide = dsn_len == 8;
            let dsn = if wide { r.u64()? } else { u64::from(r.u32()?) };
            Some(DssMapping {
                dsn,
                wide,
                ssn: r.u32()?,
                data_len: r.u16()?,
                checksum: if checksum { Some(r.u16()?) } else { None },
            })
        };
        Ok(Dss {
            data_ack,
            mapping,
            data_fin: has(Self::FLAG_DATA_FIN),
        })
    }

    /// The flags byte this value is emitted with.
    pub fn flags(&self) -> u8 {
        let mut f = 0;
        if self.data_fin {
            f |= Self::FLAG_DATA_FIN;
        }
        if let Some(a) = self.data_ack {
            f |= Self::FLAG_ACK;
            if a.wide {
                f |= Self::FLAG_ACK8;
            }
        }
        if let Some(m) = self.mapping {
            f |= Self::FLAG_MAPPING;
            if m.wide {
                f |= Self::FLAG_DSN8;
            }
        }
        f
    }

    /// Bytes on the wire including kind and length (4 to 28).
    pub fn buffer_len(&self) -> usize {
        let ack = self.data_ack.map_or(0, |a| if a.wide { 8 } else { 4 });
        let map = self.mapping.map_or(0, |m| {
            (if m.wide { 8 } else { 4 }) + 6 + if m.checksum.is_some() { 2 } else { 0 }
        });
        4 + ack + map
    }

    /// Writes the option into `buf[..buffer_len()]`. Narrow values are sent as their low
    /// 32 bits.
    pub fn emit(&self, buf: &mut [u8]) {
        let mut w = emit_header(buf, self.buffer_len(), subtype::DSS << 4);
        w.u8(self.flags());
        if let Some(a) = self.data_ack {
            if a.wide {
                w.u64(a.value);
            } else {
                w.u32(a.value as u32);
            }
        }
        if let Some(m) = self.mapping {
            if m.wide {
                w.u64(m.dsn);
            } else {
                w.u32(m.dsn as u32);
            }
            w.u32(m.ssn);
            w.u16(m.data_len);
            if let Some(c) = m.checksum {
                w.u16(c);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::check_option;
    use super::*;
    use crate::wire::MptcpOption;

    fn dss(data_ack: Option<DataAck>, mapping: Option<DssMapping>, data_fin: bool) -> MptcpOption {
        MptcpOption::Dss(Dss {
            data_ack,
            mapping,
            data_fin,
        })
    }

    /// Linux pure DATA_ACK, 4 bytes.
    static ACK4: [u8; 8] = [0x1e, 0x08, 0x20, 0x01, 0x12, 0x34, 0x56, 0x78];
    /// Linux pure DATA_ACK, 8 bytes.
    static ACK8: [u8; 12] = [
        0x1e, 0x0c, 0x20, 0x03, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
    ];
    /// Linux data segment: DACK4 + 64-bit mapping, no checksum (22, padded to 24 by NOPs).
    static ACK4_MAP8: [u8; 22] = [
        0x1e, 0x16, 0x20, 0x0d, 0x12, 0x34, 0x56, 0x78, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 1, 0x05,
        0xa0,
    ];
    /// DACK8 + 64-bit mapping + checksum (28).
    static ACK8_MAP8_CSUM: [u8; 28] = [
        0x1e, 0x1c, 0x20, 0x0f, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 1, 0x05,
        0xa0, 0xca, 0xfe,
    ];
    /// 32-bit mapping without DATA_ACK (14).
    static MAP4: [u8; 14] = [
        0x1e, 0x0e, 0x20, 0x04, 0xaa, 0xbb, 0xcc, 0xdd, 0, 0, 0, 9, 0, 100,
    ];
    /// DATA_FIN mapping: DSN 64-bit, SSN 0, length 1, with DACK8 (Linux `mptcp_write_data_fin`).
    static FIN: [u8; 26] = [
        0x1e, 0x1a, 0x20, 0x1f, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 0, 0, 1,
    ];

    #[test]
    fn forms() {
        let a4 = DataAck {
            value: 0x1234_5678,
            wide: false,
        };
        let a8 = DataAck {
            value: 0x0102_0304_0506_0708,
            wide: true,
        };
        let m8 = DssMapping {
            dsn: 0x1_0000_0002,
            wide: true,
            ssn: 1,
            data_len: 1440,
            checksum: None,
        };
        check_option(&ACK4, &dss(Some(a4), None, false));
        check_option(&ACK8, &dss(Some(a8), None, false));
        check_option(&ACK4_MAP8, &dss(Some(a4), Some(m8), false));
        let m8c = DssMapping {
            checksum: Some(0xcafe),
            ..m8
        };
        check_option(&ACK8_MAP8_CSUM, &dss(Some(a8), Some(m8c), false));
        let m4 = DssMapping {
            dsn: 0xaabb_ccdd,
            wide: false,
            ssn: 9,
            data_len: 100,
            checksum: None,
        };
        check_option(&MAP4, &dss(None, Some(m4), false));
        let fin = DssMapping {
            dsn: 7,
            wide: true,
            ssn: 0,
            data_len: 1,
            checksum: None,
        };
        let fin_ack = DataAck {
            value: 7,
            wide: true,
        };
        check_option(&FIN, &dss(Some(fin_ack), Some(fin), true));
    }

    #[test]
    fn data_fin_without_mapping_kept() {
        let body = [0x20, 0x11, 0, 0, 0, 5];
        let d = Dss::parse(&body).unwrap();
        assert!(d.data_fin);
        assert!(d.mapping.is_none());
        let mut buf = [0xa5; 8];
        d.emit(&mut buf);
        assert_eq!(&buf[2..], &body);
    }

    #[test]
    fn width_flags_without_presence_ignored() {
        // a and m set, A and M clear: a bare 4-byte DSS.
        let d = Dss::parse(&[0x20, 0x0a]).unwrap();
        assert_eq!(d, Dss::default());
    }

    #[test]
    fn bad_lengths() {
        // DACK4 flag with 8 bytes of ack, checksum-sized extra without mapping, short mapping.
        for body in [
            &[0x20, 0x01, 0, 0, 0, 0, 0, 0, 0, 0][..],
            &[0x20, 0x01, 0, 0, 0, 0, 0, 0][..],
            &[0x20, 0x04, 0, 0, 0, 0, 0, 0, 0, 0, 0][..],
            &[0x20][..],
        ] {
            assert!(matches!(
                Dss::parse(body),
                Err(ParseError::BadMptcpLength { subtype: 2, .. })
            ));
        }
    }
}
