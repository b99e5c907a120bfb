//! A test pair (quinn's `Pair`, with paths): a client and a server endpoint joined by
//! per-path links with delay, rate, loss and up/down, on a virtual clock.

#![allow(dead_code)]

use mptcp_proto::{ConnectionHandle, Duration, Endpoint, EndpointConfig, Event, Instant};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::net::{IpAddr, SocketAddr};

/// One direction of a path.
#[derive(Debug, Clone)]
pub struct Link {
    pub delay: Duration,
    /// Bits per second; 0 = infinite.
    pub rate: u64,
    pub loss: f64,
    pub queue_limit: usize,
    pub up: bool,
    busy_until: Instant,
    queued: VecDeque<(Instant, usize)>,
    pub dropped: u64,
    /// Mangles packets in flight (middlebox); returns false to drop.
    pub filter: Option<fn(&mut Vec<u8>) -> bool>,
}

impl Link {
    pub fn new(delay_ms: u64, rate_mbit: u64) -> Self {
        Link {
            delay: Duration::from_millis(delay_ms),
            rate: rate_mbit * 1_000_000,
            loss: 0.0,
            queue_limit: 1 << 20,
            up: true,
            busy_until: Instant::ZERO,
            queued: VecDeque::new(),
            dropped: 0,
            filter: None,
        }
    }

    /// When a packet of `len` bytes entering now arrives, or None if dropped.
    fn admit(&mut self, now: Instant, len: usize, rng: &mut ChaCha8Rng) -> Option<Instant> {
        if !self.up || (self.loss > 0.0 && rng.gen::<f64>() < self.loss) {
            self.dropped += 1;
            return None;
        }
        while let Some(&(t, _)) = self.queued.front() {
            if t <= now {
                self.queued.pop_front();
            } else {
                break;
            }
        }
        let backlog: usize = self.queued.iter().map(|(_, l)| l).sum();
        if self.rate > 0 && backlog + len > self.queue_limit {
            self.dropped += 1;
            return None;
        }
        let start = self.busy_until.max(now);
        let tx = Duration::from_nanos(
            (len as u64 * 8 * 1_000_000_000)
                .checked_div(self.rate)
                .unwrap_or(0),
        );
        let done = start + tx;
        self.busy_until = done;
        self.queued.push_back((done, len));
        Some(done + self.delay)
    }
}

pub struct Path {
    pub client_addr: IpAddr,
    pub up: Link,
    pub down: Link,
}

thread_local! {
    /// Pairs built on this thread use IPv6 addresses (see [`with_ipv6`]).
    static V6: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f` with pairs built on IPv6 addresses.
pub fn with_ipv6<R>(f: impl FnOnce() -> R) -> R {
    V6.with(|c| c.set(true));
    let r = f();
    V6.with(|c| c.set(false));
    r
}

/// A packet on its way: (arrival time, tie-break sequence, to the server?, bytes).
type InFlight = (Instant, u64, bool, Vec<u8>);

pub struct Pair {
    pub now: Instant,
    pub client: Endpoint,
    pub server: Endpoint,
    pub paths: Vec<Path>,
    pub server_addr: SocketAddr,
    queue: BinaryHeap<Reverse<InFlight>>,
    seq: u64,
    rng: ChaCha8Rng,
    buf: Vec<u8>,
    pub client_events: Vec<Event>,
    pub server_events: Vec<Event>,
    /// Most recent packets written by the endpoints (`true` = client to server), at most
    /// `capture_limit` of them (0 = no capture).
    pub captured: VecDeque<(bool, Vec<u8>)>,
    pub capture_limit: usize,
}

impl Pair {
    pub fn new(
        client_cfg: EndpointConfig,
        server_cfg: EndpointConfig,
        paths: Vec<(Link, Link)>,
        seed: u64,
    ) -> Self {
        let v6 = V6.with(|f| f.get());
        let server_addr: SocketAddr = if v6 {
            "[fd00:9::1]:5201"
        } else {
            "10.9.0.1:5201"
        }
        .parse()
        .unwrap();
        let mut server = Endpoint::new(server_cfg, seed ^ 0x5eed);
        server.listen(5201).unwrap();
        let paths = paths
            .into_iter()
            .enumerate()
            .map(|(i, (up, down))| Path {
                client_addr: if v6 {
                    format!("fd00:{i}::1")
                } else {
                    format!("10.{i}.0.1")
                }
                .parse()
                .unwrap(),
                up,
                down,
            })
            .collect();
        Pair {
            now: Instant::ZERO,
            client: Endpoint::new(client_cfg, seed),
            server,
            paths,
            server_addr,
            queue: BinaryHeap::new(),
            seq: 0,
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0xabc),
            buf: Vec::new(),
            client_events: Vec::new(),
            server_events: Vec::new(),
            captured: VecDeque::new(),
            capture_limit: 0,
        }
    }

    pub fn client_addrs(&self) -> Vec<IpAddr> {
        self.paths.iter().map(|p| p.client_addr).collect()
    }

    pub fn connect(&mut self) -> ConnectionHandle {
        let params = self
            .client
            .connect_params(self.client_addrs(), self.server_addr);
        self.client.connect(self.now, params).unwrap()
    }

    fn path_of(&self, addr: IpAddr) -> Option<usize> {
        self.paths.iter().position(|p| p.client_addr == addr)
    }

    fn capture(&mut self, to_server: bool, len: usize) {
        if self.capture_limit == 0 {
            return;
        }
        if self.captured.len() >= self.capture_limit {
            self.captured.pop_front();
        }
        self.captured
            .push_back((to_server, self.buf[..len].to_vec()));
    }

    /// Puts the packet just written to `self.buf` on its path (up from the client, down from
    /// the server): capture, middlebox filter, then the link.
    fn send_on_path(&mut self, to_server: bool, t: mptcp_proto::Transmit) {
        // Options and payload together stay within the MSS (1460 here): a 1500-byte MTU.
        let ip_header = if self.buf[0] >> 4 == 6 { 40 } else { 20 };
        assert!(
            t.len <= ip_header + 20 + 1460,
            "{}-byte packet exceeds the MTU",
            t.len
        );
        self.capture(to_server, t.len);
        let client_addr = if to_server { t.src } else { t.dst };
        let Some(p) = self.path_of(client_addr) else {
            return;
        };
        let mut pkt = self.buf[..t.len].to_vec();
        let link = if to_server {
            &mut self.paths[p].up
        } else {
            &mut self.paths[p].down
        };
        if let Some(f) = link.filter {
            if !f(&mut pkt) {
                return;
            }
        }
        if let Some(at) = link.admit(self.now, pkt.len(), &mut self.rng) {
            self.seq += 1;
            self.queue.push(Reverse((at, self.seq, to_server, pkt)));
        }
    }

    /// Drains both endpoints' output onto the links.
    pub fn flush(&mut self) {
        loop {
            let mut any = false;
            while let Some(t) = self.client.poll_transmit(self.now, &mut self.buf) {
                any = true;
                self.send_on_path(true, t);
            }
            while let Some(t) = self.server.poll_transmit(self.now, &mut self.buf) {
                any = true;
                self.send_on_path(false, t);
            }
            while let Some(e) = self.client.poll_event() {
                self.client_events.push(e);
            }
            while let Some(e) = self.server.poll_event() {
                self.server_events.push(e);
            }
            if !any {
                break;
            }
        }
    }

    /// Advances to the next event (packet arrival or timer) no later than `limit`.
    /// Returns false when nothing is left to do before `limit`.
    pub fn step(&mut self, limit: Instant) -> bool {
        self.flush();
        let next_pkt = self.queue.peek().map(|Reverse((t, ..))| *t);
        let next_timer = [self.client.poll_timeout(), self.server.poll_timeout()]
            .into_iter()
            .flatten()
            .min();
        let next = match (next_pkt, next_timer) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => match a.or(b) {
                Some(t) => t,
                None => return false,
            },
        };
        if next > limit {
            self.now = limit;
            return false;
        }
        self.now = self.now.max(next);
        while let Some(Reverse((t, ..))) = self.queue.peek() {
            if *t > self.now {
                break;
            }
            let Reverse((_, _, to_server, pkt)) = self.queue.pop().unwrap();
            if to_server {
                self.server.handle_packet(self.now, &pkt);
            } else {
                self.client.handle_packet(self.now, &pkt);
            }
        }
        if self.client.poll_timeout().is_some_and(|t| t <= self.now) {
            self.client.handle_timeout(self.now);
        }
        if self.server.poll_timeout().is_some_and(|t| t <= self.now) {
            self.server.handle_timeout(self.now);
        }
        self.flush();
        true
    }

    /// Runs until `until` returns true or `limit` passes.
    pub fn drive_until(
        &mut self,
        limit: Instant,
        mut until: impl FnMut(&mut Pair) -> bool,
    ) -> bool {
        loop {
            if until(self) {
                return true;
            }
            if !self.step(limit) {
                return until(self);
            }
        }
    }
}

/// Deterministic test payload.
pub fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| {
            (i as u32)
                .wrapping_mul(2654435761)
                .wrapping_add(seed as u32)
                .to_be_bytes()[0]
        })
        .collect()
}

/// Client sends `data`, server reads it; returns what the server read and the finish time.
pub fn transfer(
    pair: &mut Pair,
    data: &[u8],
    limit: Instant,
) -> (Vec<u8>, Option<Instant>, ConnectionHandle) {
    transfer_with(pair, data, limit, |_, _| {})
}

/// [`transfer`], calling `hook` with the pair and the client connection before every step
/// (to fail paths, close subflows, ... mid-transfer).
pub fn transfer_with(
    pair: &mut Pair,
    data: &[u8],
    limit: Instant,
    mut hook: impl FnMut(&mut Pair, ConnectionHandle),
) -> (Vec<u8>, Option<Instant>, ConnectionHandle) {
    let c = pair.connect();
    let mut sent = 0usize;
    let mut shut = false;
    let mut server_conn: Option<ConnectionHandle> = None;
    let mut got = Vec::new();
    let mut done_at = None;
    let mut buf = vec![0u8; 65536];
    pair.drive_until(limit, |p| {
        hook(p, c);
        while sent < data.len() {
            match p.client.send(c, &data[sent..]) {
                Ok(n) if n > 0 => sent += n,
                _ => break,
            }
        }
        if sent == data.len() && !shut && p.client.shutdown(c).is_ok() {
            shut = true;
        }
        for e in p.server_events.drain(..) {
            if let Event::Incoming { conn, .. } = e {
                server_conn = Some(conn);
            }
        }
        if let Some(s) = server_conn {
            loop {
                match p.server.recv(s, &mut buf) {
                    Ok(0) => {
                        if done_at.is_none() {
                            done_at = Some(p.now);
                            let _ = p.server.shutdown(s);
                        }
                        break;
                    }
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                    Err(_) => break,
                }
            }
        }
        let client_closed = p
            .client_events
            .iter()
            .any(|e| matches!(e, Event::Closed { .. }));
        done_at.is_some() && client_closed
    });
    (got, done_at, c)
}

/// Rewrites a packet through the codec, replacing every MPTCP option with NOPs when `pred`
/// holds for the segment (a middlebox that strips options).
pub fn strip_mptcp_if(
    pkt: &mut Vec<u8>,
    pred: impl Fn(&mptcp_proto::wire::TcpRepr<'_>) -> bool,
) -> bool {
    use mptcp_proto::wire::{IpRepr, TcpOption, TcpRepr};
    let Ok((ip, payload)) = IpRepr::parse(pkt) else {
        return true;
    };
    let Ok(mut seg) = TcpRepr::parse(payload, None) else {
        return true;
    };
    if !pred(&seg) {
        return true;
    }
    let before = seg.options.len();
    let mut opts = mptcp_proto::wire::TcpOptions::new();
    for o in seg.options.iter() {
        match o {
            TcpOption::Mptcp(m) => {
                for _ in 0..m.buffer_len() {
                    opts.push(TcpOption::Nop);
                }
            }
            other => opts.push(other.clone()),
        }
    }
    if before == 0 {
        return true;
    }
    seg.options = opts;
    let payload_vec = seg.payload.to_vec();
    seg.payload = &payload_vec;
    let mut out = vec![0u8; ip.header_len() + seg.buffer_len()];
    let ip2 = IpRepr {
        payload_len: seg.buffer_len(),
        ..ip
    };
    ip2.emit(&mut out[..ip.header_len()]);
    seg.emit(&mut out[ip.header_len()..], ip.src, ip.dst);
    *pkt = out;
    true
}

pub fn strip_on_syn(pkt: &mut Vec<u8>) -> bool {
    strip_mptcp_if(pkt, |s| s.flags.syn())
}

/// Re-emits a TCP/IP packet after `edit` changed its parsed form (checksums recomputed).
pub fn rewrite_tcp(pkt: &mut Vec<u8>, edit: impl FnOnce(&mut mptcp_proto::wire::TcpRepr<'_>)) {
    use mptcp_proto::wire::{IpRepr, TcpRepr};
    let Ok((ip, payload)) = IpRepr::parse(pkt) else {
        return;
    };
    let Ok(mut seg) = TcpRepr::parse(payload, None) else {
        return;
    };
    let data = seg.payload.to_vec();
    seg.payload = &data;
    edit(&mut seg);
    let mut out = vec![0u8; ip.header_len() + seg.buffer_len()];
    let ip2 = IpRepr {
        payload_len: seg.buffer_len(),
        ..ip
    };
    ip2.emit(&mut out[..ip.header_len()]);
    seg.emit(&mut out[ip.header_len()..], ip.src, ip.dst);
    *pkt = out;
}
