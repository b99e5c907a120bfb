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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::mptcp::tests::{arb_addr, arb_option};
    use crate::wire::{DataAck, Dss, DssMapping, MpCapable};
    use proptest::prelude::*;

    fn v4(a: [u8; 4]) -> IpAddr {
        IpAddr::from(a)
    }

    /// Linux-style MPTCP SYN 10.0.0.1:40000 -> 10.0.0.2:80: MSS 1460, SACK-permitted,
    /// timestamps, NOP, window scale 7, MP_CAPABLE v1 (A|H). Checksum computed with Python.
    static SYN: [u8; 44] = [
        0x9c, 0x40, 0x00, 0x50, 0x11, 0x22, 0x33, 0x44, 0x00, 0x00, 0x00, 0x00, 0xb0, 0x02, 0xfa,
        0xf0, 0x28, 0x8c, 0x00, 0x00, 0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a, 0x00, 0x00,
        0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x01, 0x03, 0x03, 0x07, 0x1e, 0x04, 0x01, 0x81,
    ];

    fn syn_addrs() -> (IpAddr, IpAddr) {
        (v4([10, 0, 0, 1]), v4([10, 0, 0, 2]))
    }

    fn syn_repr() -> TcpRepr<'static> {
        TcpRepr {
            src_port: 40000,
            dst_port: 80,
            seq: SeqNum(0x1122_3344),
            ack: SeqNum(0),
            flags: TcpFlags(TcpFlags::SYN),
            window: 64240,
            urgent: 0,
            options: SmallVec::from_vec(vec![
                TcpOption::Mss(1460),
                TcpOption::SackPermitted,
                TcpOption::Timestamp { tsval: 1, tsecr: 0 },
                TcpOption::Nop,
                TcpOption::WindowScale(7),
                TcpOption::Mptcp(MptcpOption::MpCapable(MpCapable {
                    version: 1,
                    flags: MpCapable::FLAG_A | MpCapable::FLAG_H,
                    sender_key: None,
                    receiver_key: None,
                    data_len: None,
                    checksum: None,
                })),
            ]),
            payload: &[],
        }
    }

    /// IPv6 data segment [2001:db8::1]:80 -> [2001:db8::2]:40000, ACK|PSH, NOP NOP TS,
    /// DSS (DACK4 + 64-bit mapping) NOP NOP, payload "hello world" (odd length).
    static DATA6: [u8; 67] = [
        0x00, 0x50, 0x9c, 0x40, 0x55, 0x66, 0x77, 0x88, 0x11, 0x22, 0x33, 0x45, 0xe0, 0x18, 0x01,
        0xf6, 0xcb, 0x5d, 0x00, 0x00, 0x01, 0x01, 0x08, 0x0a, 0x00, 0x00, 0x00, 0x64, 0x00, 0x00,
        0x00, 0x3c, 0x1e, 0x16, 0x20, 0x0d, 0x12, 0x34, 0x56, 0x78, 0x00, 0x00, 0x00, 0x01, 0x00,
        0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x01, 0x05, 0xa0, 0x01, 0x01, 0x68, 0x65, 0x6c, 0x6c,
        0x6f, 0x20, 0x77, 0x6f, 0x72, 0x6c, 0x64,
    ];

    fn data6_addrs() -> (IpAddr, IpAddr) {
        (
            "2001:db8::1".parse().unwrap(),
            "2001:db8::2".parse().unwrap(),
        )
    }

    fn data6_repr() -> TcpRepr<'static> {
        TcpRepr {
            src_port: 80,
            dst_port: 40000,
            seq: SeqNum(0x5566_7788),
            ack: SeqNum(0x1122_3345),
            flags: TcpFlags(TcpFlags::ACK | TcpFlags::PSH),
            window: 502,
            urgent: 0,
            options: SmallVec::from_vec(vec![
                TcpOption::Nop,
                TcpOption::Nop,
                TcpOption::Timestamp {
                    tsval: 100,
                    tsecr: 60,
                },
                TcpOption::Mptcp(MptcpOption::Dss(Dss {
                    data_ack: Some(DataAck {
                        value: 0x1234_5678,
                        wide: false,
                    }),
                    mapping: Some(DssMapping {
                        dsn: 0x1_0000_0002,
                        wide: true,
                        ssn: 1,
                        data_len: 1440,
                        checksum: None,
                    }),
                    data_fin: false,
                })),
                TcpOption::Nop,
                TcpOption::Nop,
            ]),
            payload: b"hello world",
        }
    }

    #[test]
    fn parse_syn() {
        let (s, d) = syn_addrs();
        assert_eq!(TcpRepr::parse(&SYN, Some((s, d))).unwrap(), syn_repr());
        assert_eq!(TcpRepr::parse(&SYN, None).unwrap(), syn_repr());
        let r = syn_repr();
        assert_eq!(r.mptcp_options().count(), 1);
        assert!(r.flags.syn() && !r.flags.ack());
    }

    #[test]
    fn emit_syn() {
        let (s, d) = syn_addrs();
        let r = syn_repr();
        assert_eq!(r.header_len(), 44);
        let mut buf = [0xa5; 44];
        r.emit(&mut buf, s, d);
        assert_eq!(buf, SYN);
    }

    #[test]
    fn parse_emit_data_v6() {
        let (s, d) = data6_addrs();
        assert_eq!(TcpRepr::parse(&DATA6, Some((s, d))).unwrap(), data6_repr());
        let r = data6_repr();
        assert_eq!(r.buffer_len(), DATA6.len());
        let mut buf = [0xa5; 67];
        r.emit(&mut buf, s, d);
        assert_eq!(buf, DATA6);
    }

    #[test]
    fn bad_checksum() {
        let (s, d) = syn_addrs();
        let mut p = SYN;
        p[43] ^= 0x01;
        assert_eq!(
            TcpRepr::parse(&p, Some((s, d))),
            Err(ParseError::BadChecksum("tcp"))
        );
        // Wrong pseudo-header (address).
        assert_eq!(
            TcpRepr::parse(&SYN, Some((s, v4([10, 0, 0, 3])))),
            Err(ParseError::BadChecksum("tcp"))
        );
        let (s6, d6) = data6_addrs();
        assert_eq!(
            TcpRepr::parse(&DATA6[..66], Some((s6, d6))),
            Err(ParseError::BadChecksum("tcp"))
        );
    }

    #[test]
    fn truncated() {
        for n in 0..20 {
            assert_eq!(
                TcpRepr::parse(&SYN[..n], None),
                Err(ParseError::Truncated("tcp header"))
            );
        }
        for n in 20..44 {
            assert_eq!(
                TcpRepr::parse(&SYN[..n], None),
                Err(ParseError::Truncated("tcp options"))
            );
        }
        let mut p = SYN;
        p[12] = 0x40;
        assert_eq!(
            TcpRepr::parse(&p, None),
            Err(ParseError::BadLength("tcp data offset"))
        );
    }

    /// Parses a segment whose 20-byte header is SYN's and whose option area is `area`.
    fn parse_area(area: &[u8]) -> Result<TcpOptions, ParseError> {
        let mut seg = SYN[..20].to_vec();
        seg[12] = ((20 + area.len()) / 4) as u8 * 16;
        seg.extend_from_slice(area);
        TcpRepr::parse(&seg, None).map(|r| r.options)
    }

    #[test]
    fn bad_option_lengths() {
        let cases: &[(&[u8], u8, u8)] = &[
            (&[2, 3, 5, 1], 2, 3),
            (&[2, 5, 5, 180, 0, 0, 0, 0], 2, 5),
            (&[3, 4, 7, 0], 3, 4),
            (&[4, 3, 0, 0], 4, 3),
            (&[5, 2, 0, 0], 5, 2),
            (&[5, 6, 0, 0, 0, 0, 0, 0], 5, 6),
            (&[8, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], 8, 9),
            (&[99, 1, 0, 0], 99, 1),
            (&[99, 0, 0, 0], 99, 0),
            (&[30, 8, 0x20, 1], 30, 8),
            (&[1, 1, 1, 99], 99, 0),
        ];
        for &(area, kind, len) in cases {
            assert_eq!(
                parse_area(area),
                Err(ParseError::BadOptionLength { kind, len }),
                "{area:?}"
            );
        }
        // SACK with 5 blocks does not fit 40 bytes; checked directly on an area.
        let mut sack5 = vec![5, 42];
        sack5.extend_from_slice(&[0; 40]);
        assert_eq!(
            parse_options(&sack5),
            Err(ParseError::BadOptionLength { kind: 5, len: 42 })
        );
    }

    #[test]
    fn end_stops_listing() {
        let opts = parse_area(&[2, 4, 5, 180, 1, 0, 0xff, 0xff]).unwrap();
        assert_eq!(
            &opts[..],
            &[TcpOption::Mss(1460), TcpOption::Nop, TcpOption::End]
        );
        let r = TcpRepr {
            options: opts,
            ..syn_repr()
        };
        assert_eq!(r.options_len(), 8);
        let mut buf = vec![0xa5; r.buffer_len()];
        let (s, d) = syn_addrs();
        r.emit(&mut buf, s, d);
        assert_eq!(&buf[20..28], &[2, 4, 5, 180, 1, 0, 0, 0]);
    }

    #[test]
    fn sack_and_unknown() {
        let area = [
            1, 1, 5, 18, 0, 0, 0, 1, 0, 0, 0, 2, 0xff, 0xff, 0xff, 0xf0, 0, 0, 0, 5, 0x22, 6, 0xab,
            0xcd, 0xef, 0x01,
        ];
        let mut area = area.to_vec();
        area.extend_from_slice(&[1, 1]);
        let opts = parse_area(&area).unwrap();
        assert_eq!(
            &opts[..],
            &[
                TcpOption::Nop,
                TcpOption::Nop,
                TcpOption::Sack(SmallVec::from_vec(vec![
                    (SeqNum(1), SeqNum(2)),
                    (SeqNum(0xffff_fff0), SeqNum(5))
                ])),
                TcpOption::Unknown {
                    kind: 0x22,
                    data: SmallVec::from_slice(&[0xab, 0xcd, 0xef, 0x01]),
                },
                TcpOption::Nop,
                TcpOption::Nop,
            ]
        );
        let mut out = vec![0xa5; area.len()];
        emit_options(&opts, &mut out);
        assert_eq!(out, area);
    }

    #[test]
    fn malformed_mptcp_is_unknown() {
        // DSS with a length matching no form: kept verbatim, the segment still parses.
        let area = [30, 7, 0x20, 0x01, 0, 0, 0, 1];
        let opts = parse_area(&area).unwrap();
        assert_eq!(
            opts[0],
            TcpOption::Mptcp(MptcpOption::Unknown {
                data: SmallVec::from_slice(&[0x20, 0x01, 0, 0, 0]),
            })
        );
        let mut out = [0xa5; 8];
        emit_options(&opts, &mut out);
        assert_eq!(out, area);
        // Length 2: empty MPTCP body.
        let opts = parse_area(&[30, 2, 1, 1]).unwrap();
        assert_eq!(
            opts[0],
            TcpOption::Mptcp(MptcpOption::Unknown {
                data: SmallVec::new()
            })
        );
    }

    #[test]
    fn linux_option_combinations() {
        use crate::wire::{AddAddr, MpFastclose, MpTcpRst};
        // RST carrying MP_FASTCLOSE then MP_TCPRST (Linux `mptcp_established_options`).
        let rst = [
            30,
            12,
            0x70,
            0,
            1,
            2,
            3,
            4,
            5,
            6,
            7,
            8,
            30,
            4,
            0x81,
            MpTcpRst::REASON_MPTCP,
        ];
        let opts = parse_area(&rst).unwrap();
        assert_eq!(
            &opts[..],
            &[
                TcpOption::Mptcp(MptcpOption::MpFastclose(MpFastclose {
                    receiver_key: 0x0102_0304_0506_0708
                })),
                TcpOption::Mptcp(MptcpOption::MpTcpRst(MpTcpRst {
                    flags: MpTcpRst::FLAG_T,
                    reason: MpTcpRst::REASON_MPTCP
                })),
            ]
        );
        // ADD_ADDR echo with port (10 bytes) padded by two NOPs, after NOP NOP TS.
        let add = [
            1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2, 30, 10, 0x31, 4, 192, 0, 2, 1, 0x1f, 0x90, 1, 1,
        ];
        let opts = parse_area(&add).unwrap();
        assert_eq!(
            opts[3],
            TcpOption::Mptcp(MptcpOption::AddAddr(AddAddr {
                echo: true,
                addr_id: 4,
                addr: v4([192, 0, 2, 1]),
                port: Some(8080),
                hmac: None,
            }))
        );
        for area in [&rst[..], &add[..]] {
            let opts = parse_area(area).unwrap();
            let mut out = vec![0xa5; area.len()];
            emit_options(&opts, &mut out);
            assert_eq!(&out[..], area);
        }
    }

    fn arb_tcp_option() -> impl Strategy<Value = TcpOption> {
        let seq = any::<u32>().prop_map(SeqNum);
        prop_oneof![
            Just(TcpOption::Nop),
            any::<u16>().prop_map(TcpOption::Mss),
            any::<u8>().prop_map(TcpOption::WindowScale),
            Just(TcpOption::SackPermitted),
            proptest::collection::vec((seq.clone(), seq), 1..=4)
                .prop_map(|b| TcpOption::Sack(SmallVec::from_vec(b))),
            any::<(u32, u32)>().prop_map(|(tsval, tsecr)| TcpOption::Timestamp { tsval, tsecr }),
            arb_option().prop_map(TcpOption::Mptcp),
            (
                any::<u8>().prop_filter("unknown kind", |k| { !matches!(k, 0..=5 | 8 | 30) }),
                proptest::collection::vec(any::<u8>(), 0..12),
            )
                .prop_map(|(kind, data)| TcpOption::Unknown {
                    kind,
                    data: SmallVec::from_vec(data),
                }),
        ]
    }

    /// Option lists (no `End`) whose padded length fits the 40-byte option area; an
    /// `End` is appended sometimes.
    fn arb_options() -> impl Strategy<Value = TcpOptions> {
        (
            proptest::collection::vec(arb_tcp_option(), 0..8),
            any::<bool>(),
        )
            .prop_map(|(list, end)| {
                let mut out = TcpOptions::new();
                let mut len = 0;
                for o in list {
                    if len + o.buffer_len() + usize::from(end) <= 40 {
                        len += o.buffer_len();
                        out.push(o);
                    }
                }
                if end {
                    out.push(TcpOption::End);
                }
                out
            })
    }

    /// What parsing the emitted options yields: up to the first `End`, with an `End`
    /// added when padding was needed.
    fn normalized(options: &[TcpOption]) -> TcpOptions {
        let mut out = TcpOptions::new();
        let mut len = 0;
        for o in options {
            out.push(o.clone());
            if *o == TcpOption::End {
                return out;
            }
            len += o.buffer_len();
        }
        if len % 4 != 0 {
            out.push(TcpOption::End);
        }
        out
    }

    fn arb_segment(payload: &[u8]) -> impl Strategy<Value = TcpRepr<'_>> {
        (
            any::<(u16, u16, u32, u32, u8, u16, u16)>(),
            arb_options(),
            0..=payload.len(),
        )
            .prop_map(
                move |((sp, dp, seq, ack, flags, window, urgent), options, n)| TcpRepr {
                    src_port: sp,
                    dst_port: dp,
                    seq: SeqNum(seq),
                    ack: SeqNum(ack),
                    flags: TcpFlags(flags),
                    window,
                    urgent,
                    options,
                    payload: &payload[..n],
                },
            )
    }

    static PAYLOAD: [u8; 1500] = {
        let mut p = [0u8; 1500];
        let mut i = 0;
        while i < p.len() {
            p[i] = (i * 7 + 3) as u8;
            i += 1;
        }
        p
    };

    proptest! {
        #[test]
        fn options_roundtrip(options in arb_options()) {
            let n: usize = options.iter().map(TcpOption::buffer_len).sum();
            let mut area = vec![0xa5; (n + 3) & !3];
            emit_options(&options, &mut area);
            let parsed = parse_options(&area).unwrap();
            prop_assert_eq!(&parsed, &normalized(&options));
            let mut again = vec![0x5a; area.len()];
            emit_options(&parsed, &mut again);
            prop_assert_eq!(again, area);
        }

        #[test]
        fn segment_roundtrip(
            repr in arb_segment(&PAYLOAD),
            src in arb_addr(),
            dst in arb_addr(),
            fill in any::<u8>(),
        ) {
            let mut buf = vec![fill; repr.buffer_len()];
            repr.emit(&mut buf, src, dst);
            let parsed = TcpRepr::parse(&buf, Some((src, dst))).unwrap();
            prop_assert_eq!(&parsed.options, &normalized(&repr.options));
            prop_assert_eq!(
                TcpRepr { options: parsed.options.clone(), ..repr.clone() },
                parsed.clone()
            );
            let mut again = vec![!fill; parsed.buffer_len()];
            parsed.emit(&mut again, src, dst);
            prop_assert_eq!(again, buf);
        }

        /// Any parseable area without `End` and without known MPTCP subtypes (whose
        /// reserved bits are dropped) is reproduced byte for byte.
        #[test]
        fn parsed_area_reemits_exactly(
            words in proptest::collection::vec(any::<[u8; 4]>(), 0..=10),
        ) {
            let area: Vec<u8> = words.concat();
            if let Ok(opts) = parse_options(&area) {
                let mut out = vec![0xa5; area.len()];
                emit_options(&opts, &mut out);
                let reserved = opts.iter().any(|o| match o {
                    TcpOption::End => true,
                    TcpOption::Mptcp(m) => !matches!(m, MptcpOption::Unknown { .. }),
                    _ => false,
                });
                if !reserved {
                    prop_assert_eq!(&out, &area);
                }
                prop_assert_eq!(parse_options(&out).unwrap(), opts);
            }
        }

        #[test]
        fn parse_never_panics(
            data in proptest::collection::vec(any::<u8>(), 0..100),
            addrs in proptest::option::of((arb_addr(), arb_addr())),
        ) {
            let _ = TcpRepr::parse(&data, addrs);
        }

        #[test]
        fn mutated_never_panics(
            repr in arb_segment(&PAYLOAD[..64]),
            flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4),
            cut in any::<usize>(),
        ) {
            let (s, d) = syn_addrs();
            let mut buf = vec![0; repr.buffer_len()];
            repr.emit(&mut buf, s, d);
            for (i, x) in flips {
                let n = buf.len();
                buf[i % n] ^= x;
            }
            let cut = cut % (buf.len() + 1);
            let _ = TcpRepr::parse(&buf[..cut], None);
            if let Ok(r) = TcpRepr::parse(&buf, None) {
                // Whatever parsed must be emittable again.
                let mut out = vec![0; r.buffer_len()];
                r.emit(&mut out, s, d);
            }
        }
    }
}
