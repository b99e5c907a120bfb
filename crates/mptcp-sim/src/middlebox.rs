//! Middleboxes that sit on a path and rewrite the packets entering it, as the ones RFC 8684
//! §3.7 and the MPTCP literature worry about: option stripping, NAT, sequence-number
//! randomization, segment splitting and coalescing.
//!
//! Each transformation is a function over a mutable IPv4 packet buffer; [`Middlebox::process`]
//! applies the path's one and yields 0, 1 or 2 packets. IP and TCP checksums stay correct.
//! Packets that are not IPv4/TCP pass through untouched.

use crate::packet::{
    flags, for_each_option, get_u32, ipv4_src, refresh_checksums, set_total_len, set_u16, set_u32,
    TcpLayout, KIND_MPTCP, KIND_SACK,
};
use crate::pool::BufPool;
use crate::scenario::MiddleboxKind;
use mptcp_proto::Instant;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::Duration;

/// The constant added to client-to-server sequence numbers by `seq-rewrite`.
pub const SEQ_SHIFT: u32 = 0x1357_9bdf;
/// How long `coalesce` holds a data segment waiting for a contiguous follower.
pub const COALESCE_WINDOW: Duration = Duration::from_micros(200);
/// First port handed out by `nat`.
pub const NAT_FIRST_PORT: u16 = 20_000;

/// Which way a packet crosses the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Client to server.
    Upstream,
    /// Server to client.
    Downstream,
}

impl Side {
    fn index(self) -> usize {
        match self {
            Side::Upstream => 0,
            Side::Downstream => 1,
        }
    }
}

/// The NAT's public address on path `p`: 10.253.{p}.1.
pub fn nat_addr(path: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, 253, path as u8, 1)
}

/// `strip-mptcp`: on SYN and SYN/ACK segments, every MPTCP option (kind 30) is overwritten
/// with NOPs. Returns whether the packet changed.
pub fn strip_mptcp_syn(pkt: &mut [u8]) -> bool {
    strip_mptcp_if(pkt, |f| f & flags::SYN != 0)
}

/// `strip-mptcp-synack`: as `strip-mptcp`, on SYN/ACKs only.
pub fn strip_mptcp_synack(pkt: &mut [u8]) -> bool {
    strip_mptcp_if(pkt, |f| {
        f & (flags::SYN | flags::ACK) == flags::SYN | flags::ACK
    })
}

/// `drop-mptcp-syn`: whether the packet is a SYN (without ACK) carrying an MPTCP option.
pub fn is_mptcp_syn(pkt: &[u8]) -> bool {
    let Some(l) = TcpLayout::of(pkt) else {
        return false;
    };
    if l.flags(pkt) & (flags::SYN | flags::ACK) != flags::SYN {
        return false;
    }
    let mut found = false;
    for_each_option(pkt, &l, |_, kind, _| found |= kind == KIND_MPTCP);
    found
}

/// `rewrite-payload`: flips the bits of the middle payload byte of a data segment and
/// fixes the TCP checksum, as an application-level gateway rewriting content would.
/// Returns whether the packet changed.
pub fn rewrite_payload(pkt: &mut [u8]) -> bool {
    let Some(l) = TcpLayout::of(pkt) else {
        return false;
    };
    if l.payload_len() == 0 {
        return false;
    }
    let at = l.payload() + l.payload_len() / 2;
    pkt[at] ^= 0xff;
    refresh_checksums(pkt, &l);
    true
}

/// Overwrites every MPTCP option with NOPs when `pred` holds for the TCP flags.
fn strip_mptcp_if(pkt: &mut [u8], pred: impl Fn(u8) -> bool) -> bool {
    let Some(l) = TcpLayout::of(pkt) else {
        return false;
    };
    if !pred(l.flags(pkt)) {
        return false;
    }
    let mut spans = [(0usize, 0usize); 10];
    let mut n = 0;
    for_each_option(pkt, &l, |at, kind, len| {
        if kind == KIND_MPTCP && n < spans.len() {
            spans[n] = (at, len);
            n += 1;
        }
    });
    for &(at, len) in &spans[..n] {
        pkt[at..at + len].fill(1);
    }
    if n > 0 {
        refresh_checksums(pkt, &l);
    }
    n > 0
}

/// `strip-mptcp-data`: on non-SYN segments carrying payload, MPTCP options are removed
/// (the header shrinks; the remaining options are padded with NOPs to a multiple of 4).
/// Returns whether the packet changed.
pub fn strip_mptcp_data(pkt: &mut Vec<u8>) -> bool {
    let Some(l) = TcpLayout::of(pkt) else {
        return false;
    };
    if l.flags(pkt) & flags::SYN != 0 || l.payload_len() == 0 {
        return false;
    }
    let mut kept = [0u8; 40];
    let mut kept_len = 0;
    let mut removed = false;
    let src: &[u8] = pkt;
    for_each_option(src, &l, |at, kind, len| {
        if kind == KIND_MPTCP {
            removed = true;
        } else if kept_len + len <= kept.len() {
            kept[kept_len..kept_len + len].copy_from_slice(&src[at..at + len]);
            kept_len += len;
        }
    });
    if !removed {
        return false;
    }
    while kept_len % 4 != 0 {
        kept[kept_len] = 1;
        kept_len += 1;
    }
    let tcp = l.tcp();
    let opt_start = tcp + 20;
    let payload_len = l.payload_len();
    pkt[opt_start..opt_start + kept_len].copy_from_slice(&kept[..kept_len]);
    pkt.copy_within(l.payload()..l.total, opt_start + kept_len);
    let new_tcp_hdr = 20 + kept_len;
    pkt[tcp + 12] = ((new_tcp_hdr / 4) as u8) << 4 | (pkt[tcp + 12] & 0x0f);
    let total = l.ip_hdr + new_tcp_hdr + payload_len;
    set_total_len(pkt, total);
    let nl = TcpLayout {
        ip_hdr: l.ip_hdr,
        tcp_hdr: new_tcp_hdr,
        total,
    };
    refresh_checksums(pkt, &nl);
    true
}

/// `seq-rewrite`: client-to-server sequence numbers are shifted by [`SEQ_SHIFT`];
/// server-to-client acknowledgments (and SACK blocks) are shifted back.
pub fn seq_rewrite(pkt: &mut [u8], side: Side) -> bool {
    let Some(l) = TcpLayout::of(pkt) else {
        return false;
    };
    let tcp = l.tcp();
    match side {
        Side::Upstream => {
            let seq = l.seq(pkt).wrapping_add(SEQ_SHIFT);
            set_u32(pkt, tcp + 4, seq);
        }
        Side::Downstream => {
            if l.flags(pkt) & flags::ACK != 0 {
                let ack = l.ack(pkt).wrapping_sub(SEQ_SHIFT);
                set_u32(pkt, tcp + 8, ack);
            }
            let mut sacks = [(0usize, 0usize); 4];
            let mut n = 0;
            for_each_option(pkt, &l, |at, kind, len| {
                if kind == KIND_SACK && n < sacks.len() {
                    sacks[n] = (at, len);
                    n += 1;
                }
            });
            for &(at, len) in &sacks[..n] {
                let mut off = at + 2;
                while off + 4 <= at + len {
                    let v = get_u32(pkt, off).wrapping_sub(SEQ_SHIFT);
                    set_u32(pkt, off, v);
                    off += 4;
                }
            }
        }
    }
    refresh_checksums(pkt, &l);
    true
}

/// `split`: a segment with more than one byte of payload is cut in two; both halves carry
/// the original options; FIN and PSH stay on the second. Returns the second half.
pub fn split(pkt: &mut Vec<u8>, pool: &mut BufPool) -> Option<Vec<u8>> {
    let l = TcpLayout::of(pkt)?;
    let n = l.payload_len();
    if n <= 1 || l.flags(pkt) & (flags::SYN | flags::RST) != 0 {
        return None;
    }
    let first_len = n / 2;
    let cut = l.payload() + first_len;
    let mut second = pool.get();
    second.extend_from_slice(&pkt[..l.payload()]);
    second.extend_from_slice(&pkt[cut..l.total]);
    let tcp = l.tcp();
    let seq2 = l.seq(pkt).wrapping_add(first_len as u32);
    set_u32(&mut second, tcp + 4, seq2);
    let second_total = second.len();
    set_total_len(&mut second, second_total);
    refresh_checksums(
        &mut second,
        &TcpLayout {
            total: second_total,
            ..l
        },
    );

    pkt[tcp + 13] &= !(flags::FIN | flags::PSH);
    set_total_len(pkt, cut);
    refresh_checksums(pkt, &TcpLayout { total: cut, ..l });
    Some(second)
}

fn is_plain_data(pkt: &[u8], l: &TcpLayout) -> bool {
    l.payload_len() > 0 && l.flags(pkt) & (flags::SYN | flags::RST | flags::FIN | flags::URG) == 0
}

/// `coalesce`: merges `second` into `first` when both are plain data segments of the same
/// 4-tuple and `second` starts where `first` ends. The merged segment keeps the first one's
/// header and options (the second's options are lost) but the second's ACK and window.
/// Returns whether they were merged (`first` then holds the result).
pub fn coalesce(first: &mut Vec<u8>, second: &[u8]) -> bool {
    let (Some(a), Some(b)) = (TcpLayout::of(first), TcpLayout::of(second)) else {
        return false;
    };
    if !is_plain_data(first, &a) || !is_plain_data(second, &b) {
        return false;
    }
    if a.four_tuple(first) != b.four_tuple(second)
        || a.seq(first).wrapping_add(a.payload_len() as u32) != b.seq(second)
        || a.total + b.payload_len() > usize::from(u16::MAX)
    {
        return false;
    }
    first.truncate(a.total);
    first.extend_from_slice(&second[b.payload()..b.total]);
    let tcp = a.tcp();
    set_u32(first, tcp + 8, b.ack(second));
    set_u16(
        first,
        tcp + 14,
        u16::from_be_bytes([second[b.tcp() + 14], second[b.tcp() + 15]]),
    );
    first[tcp + 13] |= b.flags(second) & flags::PSH;
    let total = first.len();
    set_total_len(first, total);
    refresh_checksums(first, &TcpLayout { total, ..a });
    true
}

/// Source NAT state of one path: client (address, port) pairs map to ports of the NAT's
/// address. Ordered maps keep the simulation deterministic.
#[derive(Debug)]
pub struct Nat {
    public: Ipv4Addr,
    out: BTreeMap<(Ipv4Addr, u16), u16>,
    back: BTreeMap<u16, (Ipv4Addr, u16)>,
    next_port: u32,
}

impl Nat {
    /// A NAT with public address [`nat_addr`]`(path)`.
    pub fn new(path: usize) -> Self {
        Nat {
            public: nat_addr(path),
            out: BTreeMap::new(),
            back: BTreeMap::new(),
            next_port: u32::from(NAT_FIRST_PORT),
        }
    }

    /// Rewrites a packet; returns false if it must be dropped (no mapping, ports exhausted).
    pub fn translate(&mut self, pkt: &mut [u8], side: Side) -> bool {
        let Some(l) = TcpLayout::of(pkt) else {
            return true;
        };
        let tcp = l.tcp();
        match side {
            Side::Upstream => {
                let Some(src) = ipv4_src(pkt) else {
                    return true;
                };
                let key = (src, l.src_port(pkt));
                let port = match self.out.get(&key) {
                    Some(&p) => p,
                    None => {
                        let Ok(p) = u16::try_from(self.next_port) else {
                            return false;
                        };
                        self.next_port += 1;
                        self.out.insert(key, p);
                        self.back.insert(p, key);
                        p
                    }
                };
                pkt[12..16].copy_from_slice(&self.public.octets());
                set_u16(pkt, tcp, port);
            }
            Side::Downstream => {
                if crate::packet::ipv4_dst(pkt) != Some(self.public) {
                    return true;
                }
                let Some(&(addr, port)) = self.back.get(&l.dst_port(pkt)) else {
                    return false;
                };
                pkt[16..20].copy_from_slice(&addr.octets());
                set_u16(pkt, tcp + 2, port);
            }
        }
        refresh_checksums(pkt, &l);
        true
    }
}

/// Holds at most one data segment per direction for [`COALESCE_WINDOW`].
#[derive(Debug, Default)]
pub struct Coalescer {
    held: Option<(Instant, Vec<u8>)>,
}

impl Coalescer {
    fn process(&mut self, now: Instant, pkt: Vec<u8>, pool: &mut BufPool, out: &mut Vec<Vec<u8>>) {
        let mut pkt = Some(pkt);
        if let Some((deadline, mut held)) = self.held.take() {
            if let Some(p) = pkt.as_ref() {
                if now <= deadline && coalesce(&mut held, p) {
                    if let Some(p) = pkt.take() {
                        pool.put(p);
                    }
                }
            }
            out.push(held);
        }
        if let Some(p) = pkt {
            match TcpLayout::of(&p) {
                Some(l) if is_plain_data(&p, &l) => self.held = Some((now + COALESCE_WINDOW, p)),
                _ => out.push(p),
            }
        }
    }

    fn deadline(&self) -> Option<Instant> {
        self.held.as_ref().map(|(t, _)| *t)
    }

    fn flush(&mut self, now: Instant, out: &mut Vec<Vec<u8>>) {
        if self.deadline().is_some_and(|t| t <= now) {
            if let Some((_, p)) = self.held.take() {
                out.push(p);
            }
        }
    }
}

/// The middlebox of one path, with its state.
#[derive(Debug)]
pub struct Middlebox {
    kind: MiddleboxKind,
    nat: Nat,
    coalescers: [Coalescer; 2],
}

impl Middlebox {
    /// A middlebox of `kind` on path `path`.
    pub fn new(kind: MiddleboxKind, path: usize) -> Self {
        Middlebox {
            kind,
            nat: Nat::new(path),
            coalescers: Default::default(),
        }
    }

    /// Kind.
    pub fn kind(&self) -> MiddleboxKind {
        self.kind
    }

    /// Processes a packet entering the path; pushes 0, 1 or 2 packets to `out` (dropped
    /// buffers go back to `pool`).
    pub fn process(
        &mut self,
        side: Side,
        now: Instant,
        mut pkt: Vec<u8>,
        pool: &mut BufPool,
        out: &mut Vec<Vec<u8>>,
    ) {
        match self.kind {
            MiddleboxKind::StripMptcp => {
                strip_mptcp_syn(&mut pkt);
                out.push(pkt);
            }
            MiddleboxKind::StripMptcpData => {
                strip_mptcp_data(&mut pkt);
                out.push(pkt);
            }
            MiddleboxKind::Nat => {
                if self.nat.translate(&mut pkt, side) {
                    out.push(pkt);
                } else {
                    pool.put(pkt);
                }
            }
            MiddleboxKind::SeqRewrite => {
                seq_rewrite(&mut pkt, side);
                out.push(pkt);
            }
            MiddleboxKind::Split => {
                let second = split(&mut pkt, pool);
                out.push(pkt);
                out.extend(second);
            }
            MiddleboxKind::Coalesce => self.coalescers[side.index()].process(now, pkt, pool, out),
            MiddleboxKind::StripMptcpSynAck => {
                strip_mptcp_synack(&mut pkt);
                out.push(pkt);
            }
            MiddleboxKind::DropMptcpSyn => {
                if is_mptcp_syn(&pkt) {
                    pool.put(pkt);
                } else {
                    out.push(pkt);
                }
            }
            MiddleboxKind::RewritePayload => {
                if side == Side::Upstream {
                    rewrite_payload(&mut pkt);
                }
                out.push(pkt);
            }
        }
    }

    /// When a held packet must be released ([`Middlebox::flush`]), if any.
    pub fn next_flush(&self, side: Side) -> Option<Instant> {
        self.coalescers[side.index()].deadline()
    }

    /// Releases packets held past their deadline.
    pub fn flush(&mut self, side: Side, now: Instant, out: &mut Vec<Vec<u8>>) {
        self.coalescers[side.index()].flush(now, out);
    }
}

#[cfg(test)]
mod tests;
