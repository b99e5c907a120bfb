//! MPTCP v1 suboptions (TCP option kind 30, RFC 8684 §3): one file per subtype.
//!
//! The subtype is the high nibble of the option's third byte; the form of each subtype is
//! chosen by the option length (and, for MP_CAPABLE and MP_JOIN, by the segment's flags,
//! which the engine checks, not the codec).

use super::ParseError;
use smallvec::SmallVec;
use std::net::IpAddr;

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

/// MP_CAPABLE (RFC 8684 §3.1). Forms by length: 4 (SYN, no key), 12 (SYN/ACK: sender key),
/// 20 (third ACK: sender key then receiver key), 22 (ACK + data: adds data-level length),
/// 24 (adds the DSS checksum).
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
}

/// MP_JOIN (RFC 8684 §3.2), one variant per handshake step (lengths 12, 16, 24).
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Dss {
    /// DATA_ACK (flag A, width flag a).
    pub data_ack: Option<DataAck>,
    /// Mapping (flag M, width flag m).
    pub mapping: Option<DssMapping>,
    /// DATA_FIN (flag F).
    pub data_fin: bool,
}

/// ADD_ADDR (RFC 8684 §3.4.1). Lengths: IPv4 8/10 (echo, +port), 16/18 (HMAC, +port);
/// IPv6 20/22, 28/30.
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

/// REMOVE_ADDR (RFC 8684 §3.4.2): one or more address IDs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoveAddr {
    /// Address IDs (at least one; at most 37 fit in an option).
    pub addr_ids: SmallVec<[u8; 8]>,
}

/// MP_PRIO (RFC 8684 §3.3.8). Length 3; the RFC 6824 form with an address ID (length 4)
/// is accepted on parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MpPrio {
    /// Backup flag B.
    pub backup: bool,
    /// Address ID, only in the legacy length-4 form.
    pub addr_id: Option<u8>,
}

/// MP_FAIL (RFC 8684 §3.7): length 12, the DSN at which the checksum failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MpFail {
    /// Data sequence number (64 bits).
    pub dsn: u64,
}

/// MP_FASTCLOSE (RFC 8684 §3.5): length 12, the receiver's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MpFastclose {
    /// The option receiver's key.
    pub receiver_key: u64,
}

/// MP_TCPRST (RFC 8684 §3.6): length 4.
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
        let _ = data;
        todo!("wire helper")
    }

    /// Strict parse, reporting why a body fits no form.
    pub fn try_parse(data: &[u8]) -> Result<MptcpOption, ParseError> {
        let _ = data;
        todo!("wire helper")
    }

    /// Bytes on the wire including kind and length.
    pub fn buffer_len(&self) -> usize {
        todo!("wire helper")
    }

    /// Writes kind, length and body into `buf[..buffer_len()]`.
    pub fn emit(&self, buf: &mut [u8]) {
        let _ = buf;
        todo!("wire helper")
    }
}
