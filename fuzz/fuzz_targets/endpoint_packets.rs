//! A client and a server endpoint, driven into a chosen state by a real exchange (listener
//! only, established MPTCP with several subflows, with DSS checksums and an announced
//! address, or plain TCP), then fed an arbitrary sequence of packets with advancing time
//! while their own traffic keeps flowing. Checked after every step: no panic (overflow
//! checks on), the connection limit, buffered bytes within the configured buffers, the
//! endpoint's tables bounded by its connections; and at the end, once every connection
//! is aborted and the timers have run, that nothing is left (no leaked table entry).
//!
//! Input: `[setup][records...]`. `setup` bits 0-1 pick the state (0 listener and a
//! client in SYN_SENT, 1 MPTCP over two paths, 2 MPTCP with checksums over three paths and
//! an ADD_ADDR, 3 plain TCP), bit 2 IPv6, bit 3 application data both ways.
//! A record is `[ctrl][len_hi][len_lo][len bytes]`: ctrl bit 0 selects the target
//! (0 server, 1 client), bits 1-2 the packet's form, bits 3-7 the clock advance after it:
//! - 0 raw: the bytes as they are;
//! - 1 fixed: the bytes with IP lengths and IP/TCP checksums made valid;
//! - 2 patched: the latest real packet of a live 4-tuple toward the target (`b[0]` picks
//!   it), with `(offset, xor)` byte pairs applied from the TCP header on, then fixed;
//! - 3 crafted: that packet's addresses, ports and sequence numbers, with flags `b[1]`,
//!   sequence offset `b[2] & 15` (0 the template's, 1 the next expected, n: next +
//!   (n-1) * 1000), `b[2] >> 4` words of options from `b[3..]`, the rest as payload.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mptcp_proto::wire::checksum;
use mptcp_proto::{ConnectionHandle, Duration, Endpoint, EndpointConfig, Event, Instant};
use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};

const SERVER: usize = 0;
const CLIENT: usize = 1;

fn config(mptcp: bool, checksum: bool) -> EndpointConfig {
    EndpointConfig {
        max_connections: 8,
        max_half_open: 4,
        max_subflows: 4,
        send_buffer: 16 * 1024,
        recv_buffer: 16 * 1024,
        max_ooo_ranges: 8,
        max_pending_control: 16,
        mptcp,
        checksum,
        time_wait: Duration::from_secs(2),
        initial_rto: Duration::from_millis(300),
        max_rto: Duration::from_secs(4),
        syn_retries: 3,
        max_retransmissions: 6,
        add_addr_timeout: Duration::from_millis(500),
        max_remote_addrs: 4,
        ..EndpointConfig::default()
    }
}

/// Addresses as in the simulator's topology (flow 0), so that packets extracted from its
/// captures reach these endpoints.
fn addr(v6: bool, v4: [u8; 4]) -> IpAddr {
    if v6 {
        let mut o = [0u8; 16];
        o[0] = 0xfd;
        o[12..].copy_from_slice(&v4);
        IpAddr::from(o)
    } else {
        IpAddr::from(v4)
    }
}

/// Key of a template: (toward the server?, src, dst).
type TupleKey = (bool, SocketAddr, SocketAddr);

struct World {
    eps: [Endpoint; 2],
    now: Instant,
    buf: Vec<u8>,
    /// The latest real packet of each 4-tuple and direction.
    templates: BTreeMap<TupleKey, Vec<u8>>,
    /// Every connection handle the application learnt, per side.
    handles: [BTreeSet<ConnectionHandle>; 2],
    closed: [BTreeSet<ConnectionHandle>; 2],
    app_data: bool,
    sent: [usize; 2],
    rx: Vec<u8>,
}

fn check(ep: &Endpoint) {
    let c = ep.config();
    let m = ep.memory();
    assert!(m.connections <= c.max_connections, "{m:?}");
    let bound = m.connections * (c.send_buffer + c.recv_buffer) + c.max_pending_control * 1500;
    assert!(m.buffered_bytes <= bound, "{m:?} bound {bound}");
    assert!(m.tokens <= m.connections, "{m:?}");
    assert!(m.timers <= m.connections, "{m:?}");
    assert!(m.tuples <= m.connections * c.max_subflows, "{m:?}");
    assert!(m.control_packets <= c.max_pending_control, "{m:?}");
}

/// Makes IP lengths and IPv4/TCP checksums valid (best effort on garbage).
fn fix(pkt: &mut [u8]) {
    let Some(&first) = pkt.first() else { return };
    let len = pkt.len();
    let (hdr, src, dst) = match first >> 4 {
        4 if len >= 20 => {
            let ihl = (usize::from(pkt[0] & 15) * 4).clamp(20, len);
            pkt[0] = 0x40 | (ihl / 4) as u8;
            pkt[2..4].copy_from_slice(&(len.min(65535) as u16).to_be_bytes());
            pkt[6] &= 0x40; // no fragments
            pkt[7] = 0;
            pkt[10..12].fill(0);
            let c = checksum::finish(checksum::accumulate(0, &pkt[..ihl]));
            pkt[10..12].copy_from_slice(&c.to_be_bytes());
            let s: [u8; 4] = pkt[12..16].try_into().unwrap();
            let d: [u8; 4] = pkt[16..20].try_into().unwrap();
            (ihl, IpAddr::from(s), IpAddr::from(d))
        }
        6 if len >= 40 => {
            pkt[4..6].copy_from_slice(&((len - 40).min(65535) as u16).to_be_bytes());
            let s: [u8; 16] = pkt[8..24].try_into().unwrap();
            let d: [u8; 16] = pkt[24..40].try_into().unwrap();
            (40, IpAddr::from(s), IpAddr::from(d))
        }
        _ => return,
    };
    let seg = &mut pkt[hdr..];
    if seg.len() < 20 {
        return;
    }
    seg[16..18].fill(0);
    let sum = checksum::pseudo_header(src, dst, 6, seg.len() as u32);
    let c = checksum::finish(checksum::accumulate(sum, seg));
    seg[16..18].copy_from_slice(&c.to_be_bytes());
}

/// (src, dst, IP header length) of a well-formed packet.
fn tuple_of(pkt: &[u8]) -> Option<(SocketAddr, SocketAddr, usize)> {
    let (ip, payload) = mptcp_proto::wire::IpRepr::parse(pkt).ok()?;
    let hdr = pkt.len() - payload.len();
    let ports = payload.get(..4)?;
    let sp = u16::from_be_bytes([ports[0], ports[1]]);
    let dp = u16::from_be_bytes([ports[2], ports[3]]);
    Some((
        SocketAddr::new(ip.src, sp),
        SocketAddr::new(ip.dst, dp),
        hdr,
    ))
}

impl World {
    fn new(setup: u8) -> World {
        let state = setup & 3;
        let v6 = setup & 4 != 0;
        let mptcp = state != 3;
        let csum = state == 2;
        let mut server_cfg = config(mptcp, csum);
        if state == 2 {
            server_cfg.announce_addrs = vec![addr(v6, [10, 254, 0, 2])];
        }
        let mut server = Endpoint::new(server_cfg, 1);
        server.listen(5201).unwrap();
        let mut client = Endpoint::new(config(mptcp, csum), 2);
        let n_paths = match state {
            1 => 2,
            2 => 3,
            _ => 1,
        };
        let locals = (0..n_paths).map(|p| addr(v6, [10, p, 0, 1])).collect();
        let remote = SocketAddr::new(addr(v6, [10, 254, 0, 1]), 5201);
        let params = client.connect_params(locals, remote);
        let conn = client.connect(Instant::ZERO, params).unwrap();
        let mut w = World {
            eps: [server, client],
            now: Instant::ZERO,
            buf: Vec::new(),
            templates: BTreeMap::new(),
            handles: [BTreeSet::new(), BTreeSet::from([conn])],
            closed: [BTreeSet::new(), BTreeSet::new()],
            app_data: setup & 8 != 0,
            sent: [0; 2],
            rx: vec![0; 4096],
        };
        if state != 0 {
            // Handshake, joins and a little data over an ideal network, 1 ms steps.
            let saved = w.app_data;
            w.app_data = true;
            for _ in 0..60 {
                w.advance(Duration::from_millis(1));
            }
            w.app_data = saved;
        }
        w
    }

    /// Delivers packets between the endpoints (instantly) and runs the application until
    /// nothing moves (bounded).
    fn exchange(&mut self) {
        for _ in 0..32 {
            let mut moved = false;
            for from in [SERVER, CLIENT] {
                let mut n = 0;
                while n < 64 {
                    let Some(t) = self.eps[from].poll_transmit(self.now, &mut self.buf) else {
                        break;
                    };
                    n += 1;
                    moved = true;
                    let pkt = self.buf[..t.len].to_vec();
                    if let Some((src, dst, _)) = tuple_of(&pkt) {
                        if self.templates.len() < 64
                            || self.templates.contains_key(&(from == CLIENT, src, dst))
                        {
                            self.templates
                                .insert((from == CLIENT, src, dst), pkt.clone());
                        }
                    }
                    let to = 1 - from;
                    self.eps[to].handle_packet(self.now, &pkt);
                    check(&self.eps[to]);
                }
                check(&self.eps[from]);
            }
            moved |= self.app();
            if !moved {
                break;
            }
        }
    }

    /// Events, reads and (optionally) writes of both applications; true if anything happened.
    fn app(&mut self) -> bool {
        let mut any = false;
        for side in [SERVER, CLIENT] {
            while let Some(ev) = self.eps[side].poll_event() {
                any = true;
                match ev {
                    Event::Incoming { conn, .. } | Event::Connected(conn) => {
                        self.handles[side].insert(conn);
                    }
                    Event::Closed { conn, .. } => {
                        self.closed[side].insert(conn);
                    }
                    _ => {}
                }
                check(&self.eps[side]);
            }
            for &h in &self.handles[side] {
                if self.closed[side].contains(&h) {
                    continue;
                }
                while let Ok(n) = self.eps[side].recv(h, &mut self.rx) {
                    if n == 0 {
                        break;
                    }
                    any = true;
                }
                if self.app_data && self.sent[side] < 24 * 1024 {
                    if let Ok(n) = self.eps[side].send(h, &[0x55 ^ side as u8; 1024]) {
                        self.sent[side] += n;
                        any |= n > 0;
                    }
                }
            }
            check(&self.eps[side]);
        }
        any
    }

    /// Runs timers (each at its own deadline) and traffic for `dt`.
    fn advance(&mut self, dt: Duration) {
        let end = self.now + dt;
        self.exchange();
        for _ in 0..256 {
            let next = [self.eps[0].poll_timeout(), self.eps[1].poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            match next {
                Some(t) if t <= end => {
                    self.now = self.now.max(t);
                    for ep in &mut self.eps {
                        ep.handle_timeout(self.now);
                        check(ep);
                    }
                    self.exchange();
                }
                _ => break,
            }
        }
        self.now = self.now.max(end);
        for ep in &mut self.eps {
            ep.handle_timeout(self.now);
            check(ep);
        }
        self.exchange();
    }

    /// Builds the packet of one record.
    fn packet(&self, target: usize, form: u8, b: &[u8]) -> Option<Vec<u8>> {
        if form < 2 {
            let mut pkt = b.to_vec();
            if form == 1 {
                fix(&mut pkt);
            }
            return Some(pkt);
        }
        let toward_server = target == SERVER;
        let candidates: Vec<&Vec<u8>> = self
            .templates
            .iter()
            .filter(|((ts, ..), _)| *ts == toward_server)
            .map(|(_, p)| p)
            .collect();
        let &first = b.first()?;
        let tmpl = candidates.get(usize::from(first) % candidates.len().max(1))?;
        let (_, _, hdr) = tuple_of(tmpl)?;
        if form == 2 {
            let mut pkt = (*tmpl).clone();
            for pair in b[1..].chunks_exact(2) {
                let i = hdr + usize::from(pair[0]);
                if let Some(x) = pkt.get_mut(i) {
                    *x ^= pair[1];
                }
            }
            fix(&mut pkt);
            return Some(pkt);
        }
        // Crafted: template addresses, ports and sequence numbers, fuzzed rest.
        let flags = *b.get(1)?;
        let ctl = *b.get(2)?;
        let opt_len = (usize::from(ctl >> 4) * 4).min(40);
        let rest = b.get(3..).unwrap_or(&[]);
        let (opts, payload) = rest.split_at(opt_len.min(rest.len()));
        let payload = &payload[..payload.len().min(1400)];
        let seg = &tmpl[hdr..];
        let t_hdr = (usize::from(seg[12] >> 4) * 4).clamp(20, seg.len());
        let t_seq = u32::from_be_bytes(seg[4..8].try_into().ok()?);
        let t_len = (seg.len() - t_hdr) as u32 + u32::from(seg[13] & 3 != 0);
        let seq = match ctl & 15 {
            0 => t_seq,
            n => t_seq
                .wrapping_add(t_len)
                .wrapping_add(u32::from(n - 1) * 1000),
        };
        let mut pkt = tmpl[..hdr].to_vec();
        pkt.extend_from_slice(&seg[..20]);
        pkt[hdr + 4..hdr + 8].copy_from_slice(&seq.to_be_bytes());
        pkt[hdr + 12] = (((20 + opt_len) / 4) as u8) << 4;
        pkt[hdr + 13] = flags;
        pkt.extend_from_slice(opts);
        pkt.resize(hdr + 20 + opt_len, 0);
        pkt.extend_from_slice(payload);
        fix(&mut pkt);
        Some(pkt)
    }

    /// Aborts everything the applications know of and lets the timers run out: the
    /// endpoints must end up empty.
    fn teardown(&mut self) {
        self.app_data = false;
        self.advance(Duration::from_millis(100));
        for side in [SERVER, CLIENT] {
            for &h in &self.handles[side] {
                self.eps[side].abort(self.now, h);
            }
        }
        // Half-open connections and TIME_WAIT end by their own timers.
        for _ in 0..40 {
            self.advance(Duration::from_secs(15));
            // Connections the fuzzed packets completed are aborted as they appear.
            for side in [SERVER, CLIENT] {
                for &h in &self.handles[side] {
                    if !self.closed[side].contains(&h) {
                        self.eps[side].abort(self.now, h);
                    }
                }
            }
            if self.eps.iter().all(|e| e.memory().connections == 0) {
                break;
            }
        }
        for ep in &self.eps {
            let m = ep.memory();
            assert_eq!(
                m,
                mptcp_proto::EndpointMemory::default(),
                "left over after teardown"
            );
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&setup, mut rest)) = data.split_first() else {
        return;
    };
    let mut w = World::new(setup);
    let mut records = 0;
    while rest.len() >= 3 && records < 256 {
        records += 1;
        let ctrl = rest[0];
        let len = usize::from(u16::from_be_bytes([rest[1], rest[2]])).min(rest.len() - 3);
        let body = &rest[3..3 + len];
        rest = &rest[3 + len..];
        let target = usize::from(ctrl & 1);
        if let Some(pkt) = w.packet(target, (ctrl >> 1) & 3, body) {
            let now = w.now;
            w.eps[target].handle_packet(now, &pkt);
            check(&w.eps[target]);
        }
        let dt = match ctrl >> 3 {
            0 => Duration::ZERO,
            v @ 1..=20 => Duration::from_millis(u64::from(v) * u64::from(v)),
            v @ 21..=30 => Duration::from_secs(u64::from(v - 20) * 5),
            _ => Duration::from_secs(300),
        };
        w.advance(dt);
    }
    w.teardown();
});
