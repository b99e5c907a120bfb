//! MPTCP v1 suboptions (TCP option kind 30, RFC 8684 §3): one file per subtype.
//!
//! The subtype is the high nibble of the option's third byte; the form of each subtype is
//! chosen by the option length (and, for MP_CAPABLE and MP_JOIN, by the segment's flags,
//! which the engine checks, not the codec).
//!
//! Every subtype type has `parse(body)`, `buffer_len()` and `emit(buf)`, where `body` is
//! the option bytes after kind and length (so the option length is `body.len() + 2`) and
//! `emit` writes the whole option including kind and length. Reserved bits are ignored
//! on parse and emitted as zero (RFC 8684 §3).

mod add_addr;
mod dss;
mod fastclose;
mod mp_capable;
mod mp_fail;
mod mp_join;
mod mp_prio;
mod remove_addr;
mod tcprst;

pub use add_addr::AddAddr;
pub use dss::{DataAck, Dss, DssMapping};
pub use fastclose::MpFastclose;
pub use mp_capable::MpCapable;
pub use mp_fail::MpFail;
pub use mp_join::MpJoin;
pub use mp_prio::MpPrio;
pub use remove_addr::RemoveAddr;
pub use tcprst::MpTcpRst;

use super::bytes::Writer;
use super::ParseError;
use smallvec::SmallVec;

/// TCP option kind of MPTCP.
pub const KIND_MPTCP: u8 = 30;

/// Subtype numbers (RFC 8684 §8, table 2).
pub mod subtype {
    /// MP_CAPABLE.
    pub const MP_CAPABLE: u8 = 0x0;
    /// MP_JOIN.
    pub const MP_JOIN: u8 = 0x1;
    /// DSS.
    pub const DSS: u8 = 0x2;
    /// ADD_ADDR.
    pub const ADD_ADDR: u8 = 0x3;
    /// REMOVE_ADDR.
    pub const REMOVE_ADDR: u8 = 0x4;
    /// MP_PRIO.
    pub const MP_PRIO: u8 = 0x5;
    /// MP_FAIL.
    pub const MP_FAIL: u8 = 0x6;
    /// MP_FASTCLOSE.
    pub const MP_FASTCLOSE: u8 = 0x7;
    /// MP_TCPRST.
    pub const MP_TCPRST: u8 = 0x8;
}

/// The length error for a body of `data.len()` bytes (option length saturated to 255).
fn bad_len(subtype: u8, data: &[u8]) -> ParseError {
    ParseError::BadMptcpLength {
        subtype,
        len: u8::try_from(data.len() + 2).unwrap_or(u8::MAX),
    }
}

/// Writes kind, length and byte 2 of an option and returns a writer positioned after them.
/// `len` is truncated to the 8-bit length field.
fn emit_header(buf: &mut [u8], len: usize, byte2: u8) -> Writer<'_> {
    let mut w = Writer::new(buf);
    w.u8(KIND_MPTCP);
    w.u8(len as u8);
    w.u8(byte2);
    w
}

/// Any MPTCP suboption.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MptcpOption {
    /// Subtype 0.
    MpCapable(MpCapable),
    /// Subtype 1.
    MpJoin(MpJoin),
    /// Subtype 2.
    Dss(Dss),
    /// Subtype 3.
    AddAddr(AddAddr),
    /// Subtype 4.
    RemoveAddr(RemoveAddr),
    /// Subtype 5.
    MpPrio(MpPrio),
    /// Subtype 6.
    MpFail(MpFail),
    /// Subtype 7.
    MpFastclose(MpFastclose),
    /// Subtype 8.
    MpTcpRst(MpTcpRst),
    /// Unknown subtype, or a known subtype with a length that fits none of its forms;
    /// kept verbatim (`data` = the option bytes after kind and length).
    Unknown {
        /// The option bytes after kind and length.
        data: SmallVec<[u8; 16]>,
    },
}

impl MptcpOption {
    /// Parses the option body `data` (the bytes after kind and length). Never fails:
    /// a body that fits no form becomes [`MptcpOption::Unknown`].
    pub fn parse(data: &[u8]) -> MptcpOption {
        Self::try_parse(data).unwrap_or_else(|_| MptcpOption::Unknown {
            data: SmallVec::from_slice(data),
        })
    }

    /// Strict parse, reporting why a body fits no form: an empty body is
    /// [`ParseError::Truncated`], an unassigned subtype (9 to 15, including
    /// MP_EXPERIMENTAL) is [`ParseError::Invalid`], a length that fits none of the
    /// subtype's forms is [`ParseError::BadMptcpLength`].
    pub fn try_parse(data: &[u8]) -> Result<MptcpOption, ParseError> {
        let first = *data.first().ok_or(ParseError::Truncated("mptcp subtype"))?;
        Ok(match first >> 4 {
            subtype::MP_CAPABLE => MptcpOption::MpCapable(MpCapable::parse(data)?),
            subtype::MP_JOIN => MptcpOption::MpJoin(MpJoin::parse(data)?),
            subtype::DSS => MptcpOption::Dss(Dss::parse(data)?),
            subtype::ADD_ADDR => MptcpOption::AddAddr(AddAddr::parse(data)?),
            subtype::REMOVE_ADDR => MptcpOption::RemoveAddr(RemoveAddr::parse(data)?),
            subtype::MP_PRIO => MptcpOption::MpPrio(MpPrio::parse(data)?),
            subtype::MP_FAIL => MptcpOption::MpFail(MpFail::parse(data)?),
            subtype::MP_FASTCLOSE => MptcpOption::MpFastclose(MpFastclose::parse(data)?),
            subtype::MP_TCPRST => MptcpOption::MpTcpRst(MpTcpRst::parse(data)?),
            _ => return Err(ParseError::Invalid("mptcp subtype")),
        })
    }

    /// The subtype number (for `Unknown`, the high nibble of its first byte, or 0xf when
    /// it has no bytes).
    pub fn subtype(&self) -> u8 {
        match self {
            MptcpOption::MpCapable(_) => subtype::MP_CAPABLE,
            MptcpOption::MpJoin(_) => subtype::MP_JOIN,
            MptcpOption::Dss(_) => subtype::DSS,
            MptcpOption::AddAddr(_) => subtype::ADD_ADDR,
            MptcpOption::RemoveAddr(_) => subtype::REMOVE_ADDR,
            MptcpOption::MpPrio(_) => subtype::MP_PRIO,
            MptcpOption::MpFail(_) => subtype::MP_FAIL,
            MptcpOption::MpFastclose(_) => subtype::MP_FASTCLOSE,
            MptcpOption::MpTcpRst(_) => subtype::MP_TCPRST,
            MptcpOption::Unknown { data } => data.first().map_or(0xf, |b| b >> 4),
        }
    }

    /// Bytes on the wire including kind and length.
    pub fn buffer_len(&self) -> usize {
        match self {
            MptcpOption::MpCapable(o) => o.buffer_len(),
            MptcpOption::MpJoin(o) => o.buffer_len(),
            MptcpOption::Dss(o) => o.buffer_len(),
            MptcpOption::AddAddr(o) => o.buffer_len(),
            MptcpOption::RemoveAddr(o) => o.buffer_len(),
            MptcpOption::MpPrio(o) => o.buffer_len(),
            MptcpOption::MpFail(o) => o.buffer_len(),
            MptcpOption::MpFastclose(o) => o.buffer_len(),
            MptcpOption::MpTcpRst(o) => o.buffer_len(),
            MptcpOption::Unknown { data } => 2 + data.len(),
        }
    }

    /// Writes kind, length and body into `buf[..buffer_len()]`.
    pub fn emit(&self, buf: &mut [u8]) {
        match self {
            MptcpOption::MpCapable(o) => o.emit(buf),
            MptcpOption::MpJoin(o) => o.emit(buf),
            MptcpOption::Dss(o) => o.emit(buf),
            MptcpOption::AddAddr(o) => o.emit(buf),
            MptcpOption::RemoveAddr(o) => o.emit(buf),
            MptcpOption::MpPrio(o) => o.emit(buf),
            MptcpOption::MpFail(o) => o.emit(buf),
            MptcpOption::MpFastclose(o) => o.emit(buf),
            MptcpOption::MpTcpRst(o) => o.emit(buf),
            MptcpOption::Unknown { data } => {
                let mut w = Writer::new(buf);
                w.u8(KIND_MPTCP);
                w.u8((2 + data.len()) as u8);
                w.bytes(data);
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::net::IpAddr;

    /// Checks a complete option (`bytes` starts with kind and length) against `expected`:
    /// parse, strict parse, length, emit into a 0xa5-filled buffer, and that no proper
    /// prefix of the body parses to the same value.
    #[track_caller]
    pub(crate) fn check_option(bytes: &[u8], expected: &MptcpOption) {
        assert_eq!(bytes[0], KIND_MPTCP);
        assert_eq!(usize::from(bytes[1]), bytes.len());
        let body = &bytes[2..];
        assert_eq!(&MptcpOption::parse(body), expected);
        if !matches!(expected, MptcpOption::Unknown { .. }) {
            assert_eq!(&MptcpOption::try_parse(body).unwrap(), expected);
        }
        assert_eq!(expected.buffer_len(), bytes.len());
        let mut buf = vec![0xa5; bytes.len()];
        expected.emit(&mut buf);
        assert_eq!(&buf[..], bytes);
        for n in 0..body.len() {
            assert_ne!(&MptcpOption::parse(&body[..n]), expected, "prefix {n}");
        }
    }

    /// Any IPv4 or IPv6 address.
    pub(crate) fn arb_addr() -> impl Strategy<Value = IpAddr> {
        prop_oneof![
            any::<[u8; 4]>().prop_map(IpAddr::from),
            any::<[u8; 16]>().prop_map(IpAddr::from),
        ]
    }

    fn arb_mp_capable() -> impl Strategy<Value = MpCapable> {
        (
            0u8..16,
            any::<u8>(),
            0usize..5,
            any::<(u64, u64, u16, u16)>(),
        )
            .prop_map(|(version, flags, form, (sk, rk, dl, cs))| MpCapable {
                version,
                flags,
                sender_key: (form >= 1).then_some(sk),
                receiver_key: (form >= 2).then_some(rk),
                data_len: (form >= 3).then_some(dl),
                checksum: (form >= 4).then_some(cs),
            })
    }

    fn arb_mp_join() -> impl Strategy<Value = MpJoin> {
        prop_oneof![
            any::<(bool, u8, u32, u32)>().prop_map(|(backup, addr_id, token, nonce)| {
                MpJoin::Syn {
                    backup,
                    addr_id,
                    token,
                    nonce,
                }
            }),
            any::<(bool, u8, u64, u32)>().prop_map(|(backup, addr_id, hmac, nonce)| {
                MpJoin::SynAck {
                    backup,
                    addr_id,
                    hmac,
                    nonce,
                }
            }),
            any::<[u8; 20]>().prop_map(|hmac| MpJoin::Ack { hmac }),
        ]
    }

    fn arb_dss() -> impl Strategy<Value = Dss> {
        let ack = (any::<u64>(), any::<bool>()).prop_map(|(v, wide)| DataAck {
            value: if wide { v } else { v & 0xffff_ffff },
            wide,
        });
        let map = (any::<u64>(), any::<bool>(), any::<u32>(), any::<u16>()).prop_flat_map(
            |(dsn, wide, ssn, data_len)| {
                proptest::option::of(any::<u16>()).prop_map(move |checksum| DssMapping {
                    dsn: if wide { dsn } else { dsn & 0xffff_ffff },
                    wide,
                    ssn,
                    data_len,
                    checksum,
                })
            },
        );
        (
            proptest::option::of(ack),
            proptest::option::of(map),
            any::<bool>(),
        )
            .prop_map(|(data_ack, mapping, data_fin)| Dss {
                data_ack,
                mapping,
                data_fin,
            })
    }

    fn arb_add_addr() -> impl Strategy<Value = AddAddr> {
        (
            any::<bool>(),
            any::<u8>(),
            arb_addr(),
            proptest::option::of(any::<u16>()),
            any::<u64>(),
        )
            .prop_map(|(echo, addr_id, addr, port, hmac)| AddAddr {
                echo,
                addr_id,
                addr,
                port,
                hmac: (!echo).then_some(hmac),
            })
    }

    /// Any MPTCP suboption with reserved bits zero, in a canonical form.
    pub(crate) fn arb_option() -> impl Strategy<Value = MptcpOption> {
        prop_oneof![
            arb_mp_capable().prop_map(MptcpOption::MpCapable),
            arb_mp_join().prop_map(MptcpOption::MpJoin),
            arb_dss().prop_map(MptcpOption::Dss),
            arb_add_addr().prop_map(MptcpOption::AddAddr),
            proptest::collection::vec(any::<u8>(), 1..=37).prop_map(|ids| {
                MptcpOption::RemoveAddr(RemoveAddr {
                    addr_ids: SmallVec::from_vec(ids),
                })
            }),
            (any::<bool>(), proptest::option::of(any::<u8>()))
                .prop_map(|(backup, addr_id)| MptcpOption::MpPrio(MpPrio { backup, addr_id })),
            any::<u64>().prop_map(|dsn| MptcpOption::MpFail(MpFail { dsn })),
            any::<u64>()
                .prop_map(|receiver_key| MptcpOption::MpFastclose(MpFastclose { receiver_key })),
            (0u8..16, any::<u8>())
                .prop_map(|(flags, reason)| MptcpOption::MpTcpRst(MpTcpRst { flags, reason })),
            (9u8..16, proptest::collection::vec(any::<u8>(), 0..30)).prop_map(|(st, rest)| {
                let mut data = SmallVec::from_slice(&[st << 4]);
                data.extend_from_slice(&rest);
                MptcpOption::Unknown { data }
            }),
        ]
    }

    #[test]
    fn empty_and_unknown_subtypes() {
        assert_eq!(
            MptcpOption::try_parse(&[]),
            Err(ParseError::Truncated("mptcp subtype"))
        );
        assert_eq!(
            MptcpOption::parse(&[]),
            MptcpOption::Unknown {
                data: SmallVec::new()
            }
        );
        let exp = [0xf0, 1, 2, 3];
        assert_eq!(
            MptcpOption::try_parse(&exp),
            Err(ParseError::Invalid("mptcp subtype"))
        );
        let o = MptcpOption::parse(&exp);
        assert_eq!(o.subtype(), 0xf);
        check_option(&[30, 6, 0xf0, 1, 2, 3], &o);
    }

    #[test]
    fn known_subtype_bad_length_is_unknown() {
        let body = [0x50, 1, 2, 3];
        assert_eq!(
            MptcpOption::try_parse(&body),
            Err(ParseError::BadMptcpLength { subtype: 5, len: 6 })
        );
        let o = MptcpOption::parse(&body);
        assert!(matches!(o, MptcpOption::Unknown { .. }));
        let mut buf = [0xa5; 6];
        o.emit(&mut buf);
        assert_eq!(buf, [30, 6, 0x50, 1, 2, 3]);
    }

    #[test]
    fn huge_body_does_not_panic() {
        let body = vec![0x40; 1000];
        let o = MptcpOption::parse(&body);
        assert_eq!(o.buffer_len(), 1002);
        assert_eq!(
            MptcpOption::try_parse(&body[..0]).unwrap_err(),
            ParseError::Truncated("mptcp subtype")
        );
        assert!(matches!(
            MptcpOption::try_parse(&[0x00; 300]),
            Err(ParseError::BadMptcpLength {
                subtype: 0,
                len: 255
            })
        ));
    }

    proptest! {
        #[test]
        fn roundtrip(opt in arb_option(), fill in any::<u8>()) {
            let mut buf = vec![fill; opt.buffer_len()];
            opt.emit(&mut buf);
            prop_assert_eq!(usize::from(buf[1]), buf.len());
            let parsed = MptcpOption::parse(&buf[2..]);
            prop_assert_eq!(&parsed, &opt);
            let mut again = vec![!fill; parsed.buffer_len()];
            parsed.emit(&mut again);
            prop_assert_eq!(again, buf);
        }

        #[test]
        fn parse_never_panics(data in proptest::collection::vec(any::<u8>(), 0..64)) {
            let opt = MptcpOption::parse(&data);
            // Whatever parsed must re-emit to a buffer of its own length.
            let mut buf = vec![0; opt.buffer_len()];
            opt.emit(&mut buf);
            // And re-parse to the same value (reserved bits were dropped once).
            prop_assert_eq!(MptcpOption::parse(&buf[2..]), opt);
        }

        #[test]
        fn mutated_never_panics(
            opt in arb_option(),
            flip in any::<(usize, u8)>(),
            cut in any::<usize>(),
        ) {
            let mut buf = vec![0; opt.buffer_len()];
            opt.emit(&mut buf);
            let body = &mut buf[2..];
            let n = body.len();
            body[flip.0 % n] ^= flip.1;
            let _ = MptcpOption::parse(&body[..cut % (n + 1)]);
            let _ = MptcpOption::parse(body);
        }
    }
}
