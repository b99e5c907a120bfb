//! TCP header (RFC 9293 §3.1) and options: EOL, NOP, MSS, window scale (RFC 7323),
//! SACK-permitted and SACK (RFC 2018), timestamps (RFC 7323), MPTCP (kind 30, RFC 8684),
//! unknown options kept as bytes.

use super::mptcp::MptcpOption;
use super::ParseError;
use crate::seq::SeqNum;
use smallvec::SmallVec;
use std::net::IpAddr;

/// TCP header flags (the low 8 bits of the flags field).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    /// FIN.
    pub const FIN: u8 = 0x01;
    /// SYN.
    pub const SYN: u8 = 0x02;
    /// RST.
    pub const RST: u8 = 0x04;
    /// PSH.
    pub const PSH: u8 = 0x08;
    /// ACK.
    pub const ACK: u8 = 0x10;
    /// URG.
    pub const URG: u8 = 0x20;
    /// ECE.
    pub const ECE: u8 = 0x40;
    /// CWR.
    pub const CWR: u8 = 0x80;

    /// Whether every bit of `mask` is set.
    pub fn has(self, mask: u8) -> bool {
        self.0 & mask == mask
    }
    /// FIN set.
    pub fn fin(self) -> bool {
        self.has(Self::FIN)
    }
    /// SYN set.
    pub fn syn(self) -> bool {
        self.has(Self::SYN)
    }
    /// RST set.
    pub fn rst(self) -> bool {
        self.has(Self::RST)
    }
    /// ACK set.
    pub fn ack(self) -> bool {
        self.has(Self::ACK)
    }
}

/// Up to four SACK blocks (RFC 2018), each `(left edge, right edge)`.
pub type SackBlocks = SmallVec<[(SeqNum, SeqNum); 4]>;

/// One TCP option, in the order found on the wire.
///
/// Padding is represented explicitly (`Nop`, `End`) so that re-emitting a parsed list
/// reproduces the original bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TcpOption {
    /// Kind 0. Emitting `End` also zero-fills the rest of the option area.
    End,
    /// Kind 1.
    Nop,
    /// Kind 2: maximum segment size.
    Mss(u16),
    /// Kind 3: window scale shift count.
    WindowScale(u8),
    /// Kind 4.
    SackPermitted,
    /// Kind 5: 1 to 4 blocks.
    Sack(SackBlocks),
    /// Kind 8.
    Timestamp {
        /// TSval.
        tsval: u32,
        /// TSecr.
        tsecr: u32,
    },
    /// Kind 30.
    Mptcp(MptcpOption),
    /// Any other kind, kept verbatim (`data` excludes kind and length bytes).
    Unknown {
        /// Option kind.
        kind: u8,
        /// Option data after the kind and length bytes.
        data: SmallVec<[u8; 8]>,
    },
}

impl TcpOption {
    /// Bytes this option occupies on the wire.
    pub fn buffer_len(&self) -> usize {
        todo!("wire helper")
    }
}

/// The option list of a segment. Inline storage: no allocation for usual segments.
pub type TcpOptions = SmallVec<[TcpOption; 6]>;

/// A parsed TCP segment: header fields, options and a borrowed payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpRepr<'a> {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Sequence number.
    pub seq: SeqNum,
    /// Acknowledgment number (meaningful when ACK is set).
    pub ack: SeqNum,
    /// Flags.
    pub flags: TcpFlags,
    /// Raw (unscaled) window field.
    pub window: u16,
    /// Urgent pointer.
    pub urgent: u16,
    /// Options, in wire order.
    pub options: TcpOptions,
    /// Payload.
    pub payload: &'a [u8],
}

impl<'a> TcpRepr<'a> {
    /// Parses a TCP segment. When `addrs` is given, the checksum is verified against the
    /// pseudo-header of `(src, dst)`. Options with impossible lengths make the parse fail;
    /// unknown kinds are kept as [`TcpOption::Unknown`]; MPTCP suboptions that do not parse
    /// are kept as [`MptcpOption::Unknown`] rather than failing the segment.
    pub fn parse(segment: &'a [u8], addrs: Option<(IpAddr, IpAddr)>) -> Result<TcpRepr<'a>, ParseError> {
        let _ = (segment, addrs);
        todo!("wire helper")
    }

    /// Length of the options area, padded to a multiple of 4 with `End` bytes.
    pub fn options_len(&self) -> usize {
        todo!("wire helper")
    }

    /// Header length (20 + padded options), at most 60.
    pub fn header_len(&self) -> usize {
        20 + self.options_len()
    }

    /// Header plus payload.
    pub fn buffer_len(&self) -> usize {
        self.header_len() + self.payload.len()
    }

    /// Writes header and payload into `buf[..buffer_len()]`, computing the checksum over the
    /// pseudo-header of `(src, dst)`.
    pub fn emit(&self, buf: &mut [u8], src: IpAddr, dst: IpAddr) {
        let _ = (buf, src, dst);
        todo!("wire helper")
    }

    /// The first MPTCP option of the given subtype's variant, if any.
    pub fn mptcp_options(&self) -> impl Iterator<Item = &MptcpOption> {
        self.options.iter().filter_map(|o| match o {
            TcpOption::Mptcp(m) => Some(m),
            _ => None,
        })
    }
}
