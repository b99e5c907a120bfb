//! TCP header (RFC 9293 §3.1) and options: EOL, NOP, MSS, window scale (RFC 7323),
//! SACK-permitted and SACK (RFC 2018), timestamps (RFC 7323), MPTCP (kind 30, RFC 8684),
//! unknown options kept as bytes.

use super::bytes::{Reader, Writer};
use super::checksum;
use super::ip::IP_PROTO_TCP;
use super::mptcp::{MptcpOption, KIND_MPTCP};
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
    /// Kind of End of option list.
    pub const KIND_END: u8 = 0;
    /// Kind of No-Operation.
    pub const KIND_NOP: u8 = 1;
    /// Kind of Maximum Segment Size.
    pub const KIND_MSS: u8 = 2;
    /// Kind of Window Scale.
    pub const KIND_WINDOW_SCALE: u8 = 3;
    /// Kind of SACK-Permitted.
    pub const KIND_SACK_PERMITTED: u8 = 4;
    /// Kind of SACK.
    pub const KIND_SACK: u8 = 5;
    /// Kind of Timestamps.
    pub const KIND_TIMESTAMP: u8 = 8;

    /// Bytes this option occupies on the wire.
    pub fn buffer_len(&self) -> usize {
        match self {
            TcpOption::End | TcpOption::Nop => 1,
            TcpOption::Mss(_) => 4,
            TcpOption::WindowScale(_) => 3,
            TcpOption::SackPermitted => 2,
            TcpOption::Sack(blocks) => 2 + 8 * blocks.len(),
            TcpOption::Timestamp { .. } => 10,
            TcpOption::Mptcp(m) => m.buffer_len(),
            TcpOption::Unknown { data, .. } => 2 + data.len(),
        }
    }

    /// Parses the option at the start of `area`, returning it and the bytes after it.
    ///
    /// A missing length byte, a length below 2, a length running past `area`, or a length
    /// impossible for a standard kind (MSS 4, window scale 3, SACK-permitted 2,
    /// SACK 2 + 8n with n in 1..=4, timestamps 10) is [`ParseError::BadOptionLength`]
    /// (a missing length byte is reported as length 0).
    pub fn parse(area: &[u8]) -> Result<(TcpOption, &[u8]), ParseError> {
        let (&kind, rest) = area
            .split_first()
            .ok_or(ParseError::Truncated("tcp option kind"))?;
        match kind {
            Self::KIND_END => return Ok((TcpOption::End, rest)),
            Self::KIND_NOP => return Ok((TcpOption::Nop, rest)),
            _ => {}
        }
        let len = rest.first().copied().unwrap_or(0);
        let bad = ParseError::BadOptionLength { kind, len };
        if len < 2 {
            return Err(bad);
        }
        let data = area.get(2..usize::from(len)).ok_or(bad)?;
        let rest = area.get(usize::from(len)..).ok_or(bad)?;
        let opt = match kind {
            Self::KIND_MSS => match *data {
                [a, b] => TcpOption::Mss(u16::from_be_bytes([a, b])),
                _ => return Err(bad),
            },
            Self::KIND_WINDOW_SCALE => match *data {
                [s] => TcpOption::WindowScale(s),
                _ => return Err(bad),
            },
            Self::KIND_SACK_PERMITTED => match *data {
                [] => TcpOption::SackPermitted,
                _ => return Err(bad),
            },
            Self::KIND_SACK => {
                if data.is_empty() || data.len() > 32 || data.len() % 8 != 0 {
                    return Err(bad);
                }
                let mut r = Reader::new(data, "tcp sack");
                let mut blocks = SackBlocks::new();
                while r.remaining() > 0 {
                    blocks.push((SeqNum(r.u32()?), SeqNum(r.u32()?)));
                }
                TcpOption::Sack(blocks)
            }
            Self::KIND_TIMESTAMP => {
                if data.len() != 8 {
                    return Err(bad);
                }
                let mut r = Reader::new(data, "tcp timestamp");
                TcpOption::Timestamp {
                    tsval: r.u32()?,
                    tsecr: r.u32()?,
                }
            }
            KIND_MPTCP => TcpOption::Mptcp(MptcpOption::parse(data)),
            _ => TcpOption::Unknown {
                kind,
                data: SmallVec::from_slice(data),
            },
        };
        Ok((opt, rest))
    }

    /// Writes the option into `buf[..buffer_len()]`. `End` writes a single zero byte
    /// (the segment emitter zero-fills the rest of the option area).
    pub fn emit(&self, buf: &mut [u8]) {
        let mut w = Writer::new(buf);
        match self {
            TcpOption::End => w.u8(Self::KIND_END),
            TcpOption::Nop => w.u8(Self::KIND_NOP),
            TcpOption::Mss(mss) => {
                w.bytes(&[Self::KIND_MSS, 4]);
                w.u16(*mss);
            }
            TcpOption::WindowScale(s) => w.bytes(&[Self::KIND_WINDOW_SCALE, 3, *s]),
            TcpOption::SackPermitted => w.bytes(&[Self::KIND_SACK_PERMITTED, 2]),
            TcpOption::Sack(blocks) => {
                w.bytes(&[Self::KIND_SACK, (2 + 8 * blocks.len()) as u8]);
                for (l, r) in blocks {
                    w.u32(l.0);
                    w.u32(r.0);
                }
            }
            TcpOption::Timestamp { tsval, tsecr } => {
                w.bytes(&[Self::KIND_TIMESTAMP, 10]);
                w.u32(*tsval);
                w.u32(*tsecr);
            }
            TcpOption::Mptcp(m) => m.emit(buf),
            TcpOption::Unknown { kind, data } => {
                w.bytes(&[*kind, (2 + data.len()) as u8]);
                w.bytes(data);
            }
        }
    }
}

/// Parses an option area in wire order. `Nop` and `End` are listed; after `End` the rest
/// of the area is padding and is not listed.
pub fn parse_options(mut area: &[u8]) -> Result<TcpOptions, ParseError> {
    let mut options = TcpOptions::new();
    while !area.is_empty() {
        let (opt, rest) = TcpOption::parse(area)?;
        let end = opt == TcpOption::End;
        options.push(opt);
        if end {
            break;
        }
        area = rest;
    }
    Ok(options)
}

/// Writes `options` in order into `area` and zero-fills what is left of it; an `End`
/// zero-fills the rest of the area and stops. `area` must hold the options' total length.
pub fn emit_options(options: &[TcpOption], area: &mut [u8]) {
    let mut pos = 0;
    for opt in options {
        if *opt == TcpOption::End {
            break;
        }
        let len = opt.buffer_len();
        opt.emit(&mut area[pos..pos + len]);
        pos += len;
    }
    area[pos..].fill(0);
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
    ///
    /// The data offset must be at least 5 and the header must fit the segment. The NS bit
    /// and the reserved bits are ignored.
    pub fn parse(
        segment: &'a [u8],
        addrs: Option<(IpAddr, IpAddr)>,
    ) -> Result<TcpRepr<'a>, ParseError> {
        let mut r = Reader::new(segment, "tcp header");
        let src_port = r.u16()?;
        let dst_port = r.u16()?;
        let seq = SeqNum(r.u32()?);
        let ack = SeqNum(r.u32()?);
        let offset = r.u8()?;
        let flags = TcpFlags(r.u8()?);
        let window = r.u16()?;
        let _checksum = r.u16()?;
        let urgent = r.u16()?;
        let header_len = usize::from(offset >> 4) * 4;
        if header_len < 20 {
            return Err(ParseError::BadLength("tcp data offset"));
        }
        let area = segment
            .get(20..header_len)
            .ok_or(ParseError::Truncated("tcp options"))?;
        let payload = segment
            .get(header_len..)
            .ok_or(ParseError::Truncated("tcp options"))?;
        if let Some((src, dst)) = addrs {
            let len = u32::try_from(segment.len()).map_err(|_| ParseError::BadLength("tcp"))?;
            let sum = checksum::pseudo_header(src, dst, IP_PROTO_TCP, len);
            if checksum::finish(checksum::accumulate(sum, segment)) != 0 {
                return Err(ParseError::BadChecksum("tcp"));
            }
        }
        Ok(TcpRepr {
            src_port,
            dst_port,
            seq,
            ack,
            flags,
            window,
            urgent,
            options: parse_options(area)?,
            payload,
        })
    }

    /// Length of the options area, padded to a multiple of 4 with `End` bytes.
    pub fn options_len(&self) -> usize {
        let n: usize = self.options.iter().map(TcpOption::buffer_len).sum();
        (n + 3) & !3
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
    ///
    /// A header longer than 60 bytes cannot be expressed; its data offset is capped at 15
    /// (callers keep options within 40 bytes).
    pub fn emit(&self, buf: &mut [u8], src: IpAddr, dst: IpAddr) {
        let header_len = self.header_len();
        let total = header_len + self.payload.len();
        let buf = &mut buf[..total];
        let (header, payload) = buf.split_at_mut(header_len);
        let (fixed, area) = header.split_at_mut(20);
        let mut w = Writer::new(fixed);
        w.u16(self.src_port);
        w.u16(self.dst_port);
        w.u32(self.seq.0);
        w.u32(self.ack.0);
        w.u8(((header_len / 4).min(15) as u8) << 4);
        w.u8(self.flags.0);
        w.u16(self.window);
        w.u16(0);
        w.u16(self.urgent);
        emit_options(&self.options, area);
        payload.copy_from_slice(self.payload);
        let sum = checksum::pseudo_header(src, dst, IP_PROTO_TCP, total as u32);
        let c = checksum::finish(checksum::accumulate(sum, buf));
        buf[16..18].copy_from_slice(&c.to_be_bytes());
    }

    /// The MPTCP options of the segment, in wire order.
    pub fn mptcp_options(&self) -> impl Iterator<Item = &MptcpOption> {
        self.options.iter().filter_map(|o| match o {
            TcpOption::Mptcp(m) => Some(m),
            _ => None,
        })
    }
}
