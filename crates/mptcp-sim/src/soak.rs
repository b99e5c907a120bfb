//! Soak runs: hours of simulated time in which two long-lived endpoints open and close
//! many connections (MPTCP and plain TCP, initiated from either side, data in one or both
//! directions, sizes from a few bytes to megabytes) over paths with middleboxes and random
//! faults (path down/up, loss bursts, delay spikes). Every byte is checked against the
//! stream it must belong to, and the engine's and the simulator's memory is measured at
//! quiet checkpoints: with no connection left open, nothing may be left behind, and what
//! the simulator keeps (buffer pool, NAT table, event queue) must not grow from one
//! checkpoint to the next.
//!
//! Driven by a seed and a simulated duration ([`SoakConfig`]); [`run_soak`] returns a
//! [`SoakReport`] whose [`SoakReport::check`] lists every violation. The CI test runs a
//! few simulated minutes; `cargo run --release -p mptcp-sim --example soak` runs hours.
//!
//! Addresses follow [`crate::topology`] for flow 0: the client endpoint has 10.{p}.0.1 on
//! each path `p` and listens too (connections from the server go to its path-0 address),
//! the server has 10.254.0.1.

use crate::link::{Link, LinkParams};
use crate::middlebox::{Middlebox, Side};
use crate::packet::{ipv4_dst, ipv4_src};
use crate::pool::BufPool;
use crate::scenario::{default_queue, LinkChange, MiddleboxKind};
use crate::topology::{client_addr, path_of_client_side, server_addr, SERVER_PORT};
use mptcp_proto::{
    CloseReason, ConnectionHandle, Duration, Endpoint, EndpointConfig, EndpointMemory, Event,
    Instant,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
use std::net::{IpAddr, SocketAddr};

/// The side that connects first in the topology ("client", 10.{p}.0.1) and the other.
const A: usize = 0;
const B: usize = 1;

/// Bytes of the header an initiator writes first: connection id, bytes it sends after
/// the header, bytes it asks the responder to send.
const HEADER: usize = 24;

/// Parameters of a soak run.
#[derive(Debug, Clone)]
pub struct SoakConfig {
    /// Seed of every random choice (paths, middleboxes, faults, connections, engines).
    pub seed: u64,
    /// Simulated time during which connections are opened (the quiet periods and the
    /// final drain come on top).
    pub duration: std::time::Duration,
    /// Mean time between connection openings (exponential).
    pub mean_interarrival: std::time::Duration,
    /// Most connections open at once (a new one waits while the limit is reached).
    pub max_open: usize,
    /// Largest transfer size in one direction (sizes are log-uniform below it).
    pub max_bytes: u64,
    /// Mean time between faults (exponential).
    pub mean_fault_interval: std::time::Duration,
    /// Quiet checkpoints: this many times during the run (plus one at the end), no
    /// connection is opened for `quiet` and the memory is measured after it.
    pub checkpoints: usize,
    /// Length of a quiet period (longer than TIME_WAIT).
    pub quiet: std::time::Duration,
}

impl SoakConfig {
    /// Defaults for a run of `duration` with `seed`: a connection every 500 ms on average,
    /// at most 48 open, up to 4 MB each way, a fault every 45 s, 6 checkpoints.
    pub fn new(seed: u64, duration: std::time::Duration) -> Self {
        SoakConfig {
            seed,
            duration,
            mean_interarrival: std::time::Duration::from_millis(500),
            max_open: 48,
            max_bytes: 4 << 20,
            mean_fault_interval: std::time::Duration::from_secs(45),
            checkpoints: 6,
            quiet: std::time::Duration::from_secs(150),
        }
    }
}

/// Memory measured at a checkpoint.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Checkpoint {
    /// Simulated time, seconds.
    pub time_s: f64,
    /// Connections the applications still hold open (both sides).
    pub app_open: usize,
    /// The client-side endpoint's tables.
    pub client: MemoryRow,
    /// The server-side endpoint's tables.
    pub server: MemoryRow,
    /// Idle buffers in the simulator's pool.
    pub pool_idle: usize,
    /// Packets in links and middleboxes.
    pub packets_in_network: usize,
    /// NAT mappings over all paths.
    pub nat_mappings: usize,
    /// Scheduled actions in the event queue.
    pub queued_actions: usize,
}

/// [`EndpointMemory`] as a serialisable row.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct MemoryRow {
    /// Live connections.
    pub connections: usize,
    /// 4-tuple table entries.
    pub tuples: usize,
    /// Token table entries.
    pub tokens: usize,
    /// Armed timers.
    pub timers: usize,
    /// Connections queued for output or events.
    pub queued: usize,
    /// Endpoint-generated packets queued.
    pub control_packets: usize,
    /// Bytes in send and receive buffers.
    pub buffered_bytes: usize,
}

impl From<EndpointMemory> for MemoryRow {
    fn from(m: EndpointMemory) -> Self {
        MemoryRow {
            connections: m.connections,
            tuples: m.tuples,
            tokens: m.tokens,
            timers: m.timers,
            queued: m.queued,
            control_packets: m.control_packets,
            buffered_bytes: m.buffered_bytes,
        }
    }
}

/// What a soak run did and found.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct SoakReport {
    /// Seed.
    pub seed: u64,
    /// Simulated time at the end, seconds.
    pub sim_time_s: f64,
    /// Wall-clock time, seconds.
    pub wall_time_s: f64,
    /// Connections opened (MPTCP, plain TCP).
    pub opened_mptcp: u64,
    /// Plain TCP connections opened.
    pub opened_tcp: u64,
    /// Connections opened by the server-side endpoint.
    pub opened_reverse: u64,
    /// Connections that closed normally with every byte delivered both ways.
    pub completed: u64,
    /// Connections that ended otherwise, by reason (e.g. a timeout during a long outage).
    pub failed: BTreeMap<String, u64>,
    /// Connections that fell back to plain TCP.
    pub fallbacks: u64,
    /// `connect` calls refused by the engine.
    pub connect_errors: u64,
    /// Payload bytes written by the applications.
    pub bytes_sent: u64,
    /// Payload bytes read and verified.
    pub bytes_delivered: u64,
    /// Bytes read that differ from the stream's content.
    pub bytes_corrupt: u64,
    /// Bytes read beyond the stream's end.
    pub bytes_duplicated: u64,
    /// Bytes missing from streams that ended normally.
    pub bytes_lost: u64,
    /// Connections whose stream ended normally but short, or whose header was malformed.
    pub broken_streams: u64,
    /// The first broken streams, described (for debugging).
    pub broken: Vec<String>,
    /// Faults injected.
    pub faults: u64,
    /// Middlebox of each path (None: none).
    pub middleboxes: Vec<Option<String>>,
    /// Packets carried by the links.
    pub packets: u64,
    /// Times the loop found an endpoint timer that did not move after firing.
    pub timer_spins: u64,
    /// Memory at each quiet checkpoint; the last one is after the final drain.
    pub checkpoints: Vec<Checkpoint>,
}

impl SoakReport {
    /// Connections opened.
    pub fn opened(&self) -> u64 {
        self.opened_mptcp + self.opened_tcp
    }

    /// Connections that ended (completed or failed).
    pub fn closed(&self) -> u64 {
        self.completed + self.failed.values().sum::<u64>()
    }

    /// Every violation found: data integrity, connections left over, memory left behind
    /// at the end, and growth between checkpoints beyond a small bound.
    pub fn check(&self) -> Result<(), Vec<String>> {
        let mut errs = Vec::new();
        for (what, n) in [
            ("corrupt bytes", self.bytes_corrupt),
            ("duplicated bytes", self.bytes_duplicated),
            ("lost bytes", self.bytes_lost),
            ("broken streams", self.broken_streams),
        ] {
            if n != 0 {
                errs.push(format!("{n} {what}"));
            }
        }
        if self.closed() != self.opened() {
            errs.push(format!(
                "{} connections opened, {} closed",
                self.opened(),
                self.closed()
            ));
        }
        if self.completed == 0 {
            errs.push("no connection completed".into());
        }
        for c in &self.checkpoints {
            // Whatever the engine holds must belong to a connection the application holds.
            for (side, m) in [("client", c.client), ("server", c.server)] {
                if m.connections > c.app_open || (c.app_open == 0 && m != MemoryRow::default()) {
                    errs.push(format!(
                        "t={:.0}s: {side} endpoint holds {m:?} with {} connections open",
                        c.time_s, c.app_open
                    ));
                }
            }
        }
        if let Some(last) = self.checkpoints.last() {
            if last.app_open != 0 || last.packets_in_network != 0 {
                errs.push(format!("not drained at the end: {last:?}"));
            }
        }
        // Simulator memory: no growth from the first half's peak beyond a small slack.
        let n = self.checkpoints.len();
        if n >= 3 {
            let (early, late) = self.checkpoints.split_at(n / 2);
            let peak = |f: fn(&Checkpoint) -> usize| early.iter().map(f).max().unwrap_or(0);
            // (The buffer pool keeps its high-water mark, which a later load peak may
            // raise; it is capped by the pool itself, so only the NAT table and the queue
            // are held to the first half's level.)
            type Field = (&'static str, fn(&Checkpoint) -> usize);
            let fields: [Field; 2] = [
                ("nat_mappings", |c| c.nat_mappings),
                ("queued_actions", |c| c.queued_actions),
            ];
            for (name, f) in fields {
                let bound = peak(f) + peak(f) / 4 + 64;
                for c in late {
                    if f(c) > bound {
                        errs.push(format!(
                            "t={:.0}s: {name} {} above {bound} (first half's peak {} + 25% + 64)",
                            c.time_s,
                            f(c),
                            peak(f)
                        ));
                    }
                }
            }
        }
        if errs.is_empty() {
            Ok(())
        } else {
            Err(errs)
        }
    }
}

/// One of 8 bytes of stream `stream` at `offset`: a keyed hash per 8-byte word, so any
/// misplaced, duplicated or corrupted byte is caught.
fn fill(stream: u64, offset: u64, buf: &mut [u8]) {
    let mut off = offset;
    let mut i = 0;
    while i < buf.len() {
        let word = off / 8;
        let mut s = stream ^ word.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let w = crate::rng::splitmix64(&mut s).to_le_bytes();
        let start = (off % 8) as usize;
        let n = (8 - start).min(buf.len() - i);
        buf[i..i + n].copy_from_slice(&w[start..start + n]);
        i += n;
        off += n as u64;
    }
}

/// Stream key of connection `id`'s data from the initiator (`up`) or the responder.
fn stream_key(seed: u64, id: u64, up: bool) -> u64 {
    let mut s = seed ^ id.wrapping_mul(0xd6e8_feb8_6659_fd93) ^ u64::from(up);
    crate::rng::splitmix64(&mut s)
}

/// One direction of a connection as its application sees it.
#[derive(Debug, Default)]
struct Half {
    /// Bytes to write in total (header included for the initiator), once known.
    tx_total: u64,
    tx_done: u64,
    tx_shut: bool,
    /// Bytes expected from the peer (header included for the responder), once known.
    rx_total: Option<u64>,
    rx_done: u64,
    /// The responder's copy of the header while it arrives.
    header: Vec<u8>,
    peer_finished: bool,
}

/// A connection on one side.
#[derive(Debug)]
struct AppConn {
    id: u64,
    initiator: bool,
    /// The initiator's request sizes (up, down).
    sizes: (u64, u64),
    half: Half,
}

/// A connection across both sides, for the final tally.
#[derive(Debug, Default)]
struct Tally {
    ended: [Option<CloseReason>; 2],
    /// Stream complete and verified at each side.
    complete: [bool; 2],
    fallback: bool,
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Action {
    Open,
    Fault,
    Restore { path: usize, params: usize },
}

struct Scheduled(Instant, u64, Action);
impl PartialEq for Scheduled {
    fn eq(&self, o: &Self) -> bool {
        (self.0, self.1) == (o.0, o.1)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Scheduled {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (o.0, o.1).cmp(&(self.0, self.1))
    }
}

/// A path's description.
struct PathDef {
    params: LinkParams,
    middlebox: Option<MiddleboxKind>,
}

fn path_defs(rng: &mut ChaCha8Rng) -> Vec<PathDef> {
    let mb_pool = [
        None,
        Some(MiddleboxKind::Nat),
        Some(MiddleboxKind::SeqRewrite),
        Some(MiddleboxKind::Split),
        Some(MiddleboxKind::Coalesce),
        Some(MiddleboxKind::StripMptcp),
        Some(MiddleboxKind::StripMptcpData),
    ];
    let spec = |rate: u64, delay_ms: u64, loss: f64, reorder: f64| {
        let delay = std::time::Duration::from_millis(delay_ms);
        LinkParams {
            rate_bps: rate,
            delay,
            queue_limit: default_queue(rate, delay),
            queue_explicit: false,
            loss,
            reorder,
            duplicate: 0.0,
            jitter: crate::link::default_jitter(rate),
            jitter_explicit: false,
        }
    };
    // Path 0 is clean (the reverse connections and half the TCP ones use it); the others
    // get random middleboxes and some loss, reordering and duplication.
    let mut defs = vec![PathDef {
        params: spec(50_000_000, 10, 0.0, 0.0),
        middlebox: None,
    }];
    let mut p1 = spec(20_000_000, 25, 0.002, 0.001);
    p1.duplicate = 0.001;
    defs.push(PathDef {
        params: p1,
        middlebox: mb_pool[rng.gen_range(0..5)],
    });
    defs.push(PathDef {
        params: spec(10_000_000, 40, 0.005, 0.0),
        middlebox: mb_pool[rng.gen_range(1..mb_pool.len())],
    });
    defs
}

fn endpoint_config(mptcp: bool) -> EndpointConfig {
    EndpointConfig {
        mptcp,
        send_buffer: 512 * 1024,
        recv_buffer: 1 << 20,
        ..EndpointConfig::default()
    }
}

/// The simulation of a soak run.
struct Soak {
    cfg: SoakConfig,
    rng: ChaCha8Rng,
    now: Instant,
    heap: BinaryHeap<Scheduled>,
    seq: u64,
    eps: [Endpoint; 2],
    /// Link `2p` is path `p` upstream (from the client side), `2p + 1` downstream.
    links: Vec<Link>,
    base_params: Vec<LinkParams>,
    middleboxes: Vec<Option<Middlebox>>,
    pool: BufPool,
    buf: Vec<u8>,
    scratch: Vec<u8>,
    expect: Vec<u8>,
    conns: [BTreeMap<ConnectionHandle, AppConn>; 2],
    /// id -> tally; a connection's id is known to the responder once the header arrived.
    tally: BTreeMap<u64, Tally>,
    /// Responder connections whose header has not arrived yet.
    pending_ids: [BTreeSet<ConnectionHandle>; 2],
    /// Connections with something for the application to do (an event since the last
    /// visit, or a write in progress).
    wake: [BTreeSet<ConnectionHandle>; 2],
    next_id: u64,
    opening: bool,
    report: SoakReport,
}

impl Soak {
    fn new(cfg: SoakConfig) -> Soak {
        let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
        let defs = path_defs(&mut rng);
        let mut links = Vec::new();
        for (p, d) in defs.iter().enumerate() {
            for dir in 0..2u64 {
                let s =
                    crate::rng::derive_seed(cfg.seed, crate::rng::Stream::Link, p as u64 * 2 + dir);
                links.push(Link::new(d.params.clone(), s));
            }
        }
        let mut a = Endpoint::new(endpoint_config(true), rng.gen());
        let mut b = Endpoint::new(endpoint_config(true), rng.gen());
        // Each side accepts connections from the other; listen only fails on a port
        // already listened on.
        let _ = a.listen(SERVER_PORT);
        let _ = b.listen(SERVER_PORT);
        let report = SoakReport {
            seed: cfg.seed,
            middleboxes: defs
                .iter()
                .map(|d| d.middlebox.map(|m| format!("{m:?}")))
                .collect(),
            ..SoakReport::default()
        };
        let mut s = Soak {
            rng,
            now: Instant::ZERO,
            heap: BinaryHeap::new(),
            seq: 0,
            eps: [a, b],
            links,
            base_params: defs.iter().map(|d| d.params.clone()).collect(),
            middleboxes: defs
                .iter()
                .enumerate()
                .map(|(p, d)| d.middlebox.map(|k| Middlebox::new(k, p)))
                .collect(),
            pool: BufPool::new(),
            buf: Vec::new(),
            scratch: Vec::new(),
            expect: Vec::new(),
            conns: [BTreeMap::new(), BTreeMap::new()],
            tally: BTreeMap::new(),
            pending_ids: [BTreeSet::new(), BTreeSet::new()],
            wake: [BTreeSet::new(), BTreeSet::new()],
            next_id: 1,
            opening: true,
            report,
            cfg,
        };
        s.schedule(Instant::ZERO, Action::Open);
        let f = s.exp(s.cfg.mean_fault_interval);
        s.schedule(Instant::ZERO + f, Action::Fault);
        s
    }

    fn schedule(&mut self, at: Instant, action: Action) {
        self.seq += 1;
        self.heap.push(Scheduled(at, self.seq, action));
    }

    fn exp(&mut self, mean: std::time::Duration) -> Duration {
        let u: f64 = self.rng.gen_range(1e-9..1.0);
        Duration::from_nanos((-u.ln() * mean.as_nanos() as f64) as u64)
    }

    fn n_paths(&self) -> usize {
        self.links.len() / 2
    }

    /// A log-uniform size in 0..=max_bytes, with a few empty directions.
    fn size(&mut self) -> u64 {
        if self.rng.gen_bool(0.1) {
            return 0;
        }
        let max = (self.cfg.max_bytes.max(2) as f64).ln();
        self.rng.gen_range(0.0..max).exp() as u64
    }

    fn open(&mut self) {
        let open = self.conns[A].len().max(self.conns[B].len());
        if open >= self.cfg.max_open {
            return;
        }
        let id = self.next_id;
        let reverse = self.rng.gen_bool(0.2);
        let mptcp = self.rng.gen_bool(0.7);
        let np = self.n_paths();
        let (side, locals, remote) = if reverse {
            let remote = SocketAddr::new(IpAddr::V4(client_addr(0, 0)), SERVER_PORT);
            (B, vec![IpAddr::V4(server_addr(0))], remote)
        } else {
            let first = self.rng.gen_range(0..np);
            let locals: Vec<IpAddr> = if mptcp {
                (0..np)
                    .map(|i| IpAddr::V4(client_addr((first + i) % np, 0)))
                    .collect()
            } else {
                vec![IpAddr::V4(client_addr(first, 0))]
            };
            let remote = SocketAddr::new(IpAddr::V4(server_addr(0)), SERVER_PORT);
            (A, locals, remote)
        };
        let mut params = self.eps[side].connect_params(locals, remote);
        params.mptcp = mptcp;
        let h = match self.eps[side].connect(self.now, params) {
            Ok(h) => h,
            Err(_) => {
                self.report.connect_errors += 1;
                return;
            }
        };
        self.next_id += 1;
        if mptcp {
            self.report.opened_mptcp += 1;
        } else {
            self.report.opened_tcp += 1;
        }
        self.report.opened_reverse += u64::from(reverse);
        let up = self.size();
        let down = match self.rng.gen_range(0..3) {
            0 => 0,
            _ => self.size(),
        };
        self.conns[side].insert(
            h,
            AppConn {
                id,
                initiator: true,
                sizes: (up, down),
                half: Half {
                    tx_total: HEADER as u64 + up,
                    rx_total: Some(down),
                    ..Half::default()
                },
            },
        );
        self.tally.insert(id, Tally::default());
        self.wake[side].insert(h);
    }

    fn fault(&mut self) {
        let path = self.rng.gen_range(0..self.n_paths());
        let kind = self.rng.gen_range(0..3);
        let hold = match kind {
            0 => {
                for l in [path * 2, path * 2 + 1] {
                    self.links[l].set_down(&mut self.pool);
                }
                Duration::from_millis(self.rng.gen_range(500..20_000))
            }
            1 => {
                let loss = self.rng.gen_range(0.05..0.4);
                for l in [path * 2, path * 2 + 1] {
                    self.links[l].apply(&LinkChange {
                        loss: Some(loss),
                        ..LinkChange::default()
                    });
                }
                Duration::from_millis(self.rng.gen_range(200..5_000))
            }
            _ => {
                let extra = self.rng.gen_range(50..400);
                let delay = self.base_params[path].delay + std::time::Duration::from_millis(extra);
                for l in [path * 2, path * 2 + 1] {
                    self.links[l].apply(&LinkChange {
                        delay: Some(delay),
                        ..LinkChange::default()
                    });
                }
                Duration::from_millis(self.rng.gen_range(1_000..30_000))
            }
        };
        self.report.faults += 1;
        let at = self.now + hold;
        self.schedule(at, Action::Restore { path, params: kind });
    }

    fn restore(&mut self, path: usize, kind: usize) {
        let base = self.base_params[path].clone();
        for l in [path * 2, path * 2 + 1] {
            if kind == 0 {
                self.links[l].set_up(self.now);
            }
            self.links[l].apply(&LinkChange {
                rate: Some(base.rate_bps),
                delay: Some(base.delay),
                loss: Some(base.loss),
                queue: None,
            });
        }
    }

    /// Sends a packet written by side `from` into the network.
    fn route(&mut self, pkt: Vec<u8>, from: usize) {
        let np = self.n_paths();
        // Packets of the client side take the path of their source address, packets of
        // the server side the path of their destination (client or NAT address).
        let path = if from == A {
            ipv4_src(&pkt).and_then(|a| path_of_client_side(a, np))
        } else {
            ipv4_dst(&pkt).and_then(|a| path_of_client_side(a, np))
        };
        let Some(path) = path else {
            self.pool.put(pkt);
            return;
        };
        let dir = if from == A {
            Side::Upstream
        } else {
            Side::Downstream
        };
        let l = path * 2 + usize::from(from == B);
        let now = self.now;
        match self.middleboxes[path].as_mut() {
            None => {
                let _ = self.links[l].send(now, pkt, &mut self.pool);
            }
            Some(mb) => {
                let mut out = Vec::new();
                mb.process(dir, now, pkt, &mut self.pool, &mut out);
                for p in out {
                    let _ = self.links[l].send(now, p, &mut self.pool);
                }
            }
        }
    }

    /// Drains an endpoint's packets and events and runs its application until quiet.
    fn pump(&mut self, side: usize) {
        for _ in 0..1000 {
            loop {
                let mut buf = self.pool.get();
                match self.eps[side].poll_transmit(self.now, &mut buf) {
                    Some(t) => {
                        buf.truncate(t.len);
                        self.route(buf, side);
                    }
                    None => {
                        self.pool.put(buf);
                        break;
                    }
                }
            }
            let mut any = false;
            while let Some(ev) = self.eps[side].poll_event() {
                any = true;
                self.on_event(side, ev);
            }
            any |= self.app(side);
            if !any {
                return;
            }
        }
    }

    fn on_event(&mut self, side: usize, ev: Event) {
        match &ev {
            Event::Connected(c)
            | Event::Incoming { conn: c, .. }
            | Event::Readable(c)
            | Event::Writable(c)
            | Event::PeerFinished(c) => {
                self.wake[side].insert(*c);
            }
            _ => {}
        }
        match ev {
            Event::Incoming { conn, .. } => {
                self.conns[side].insert(
                    conn,
                    AppConn {
                        id: 0,
                        initiator: false,
                        sizes: (0, 0),
                        half: Half {
                            rx_total: None,
                            ..Half::default()
                        },
                    },
                );
                self.pending_ids[side].insert(conn);
            }
            Event::FellBack(conn) => {
                if let Some(t) = self.conns[side]
                    .get(&conn)
                    .and_then(|c| self.tally.get_mut(&c.id))
                {
                    t.fallback = true;
                }
            }
            Event::PeerFinished(conn) => {
                if let Some(c) = self.conns[side].get_mut(&conn) {
                    c.half.peer_finished = true;
                }
            }
            Event::Closed { conn, reason } => {
                // Whatever is still readable was read by `app` before the close was
                // reported (the engine reports a normal close once the data was read).
                self.read(side, conn);
                self.wake[side].remove(&conn);
                if let Some(c) = self.conns[side].remove(&conn) {
                    self.pending_ids[side].remove(&conn);
                    let complete = c.half.rx_total == Some(c.half.rx_done)
                        && c.half.tx_done == c.half.tx_total;
                    if reason == CloseReason::Normal && c.half.rx_total != Some(c.half.rx_done) {
                        let missing = c
                            .half
                            .rx_total
                            .map_or(0, |t| t.saturating_sub(c.half.rx_done));
                        self.report.bytes_lost += missing;
                        self.report.broken_streams += 1;
                        if self.report.broken.len() < 20 {
                            self.report.broken.push(format!(
                                "t={:.3}s side={} conn={:?} id={} initiator={} sizes={:?} \
                                 received {} of {:?}, sent {} of {}, peer finished {}",
                                self.now.as_secs_f64(),
                                if side == A { "client" } else { "server" },
                                conn,
                                c.id,
                                c.initiator,
                                c.sizes,
                                c.half.rx_done,
                                c.half.rx_total,
                                c.half.tx_done,
                                c.half.tx_total,
                                c.half.peer_finished
                            ));
                        }
                    }
                    if let Some(t) = self.tally.get_mut(&c.id) {
                        t.ended[side] = Some(reason);
                        t.complete[side] = complete;
                    }
                }
            }
            _ => {}
        }
    }

    /// Reads and verifies what is readable on `conn`.
    fn read(&mut self, side: usize, conn: ConnectionHandle) {
        let mut buf = std::mem::take(&mut self.scratch);
        buf.resize(64 * 1024, 0);
        loop {
            let n = match self.eps[side].recv(conn, &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let Some(c) = self.conns[side].get_mut(&conn) else {
                break;
            };
            let mut data = &buf[..n];
            if !c.initiator && c.half.header.len() < HEADER {
                let take = (HEADER - c.half.header.len()).min(data.len());
                c.half.header.extend_from_slice(&data[..take]);
                c.half.rx_done += take as u64;
                data = &data[take..];
                if c.half.header.len() == HEADER {
                    let h = &c.half.header;
                    let word = |i: usize| {
                        u64::from_be_bytes(h[i * 8..i * 8 + 8].try_into().unwrap_or([0; 8]))
                    };
                    c.id = word(0);
                    c.sizes = (word(1), word(2));
                    c.half.rx_total = Some(HEADER as u64 + c.sizes.0);
                    c.half.tx_total = c.sizes.1;
                    self.pending_ids[side].remove(&conn);
                    if !self.tally.contains_key(&c.id) || c.sizes.0 > 1 << 40 {
                        self.report.broken_streams += 1;
                    }
                }
            }
            if data.is_empty() {
                continue;
            }
            let (key, offset, total) = if c.initiator {
                (
                    stream_key(self.cfg.seed, c.id, false),
                    c.half.rx_done,
                    c.sizes.1,
                )
            } else {
                (
                    stream_key(self.cfg.seed, c.id, true),
                    c.half.rx_done - HEADER as u64,
                    c.sizes.0,
                )
            };
            let within = total.saturating_sub(offset).min(data.len() as u64) as usize;
            self.report.bytes_duplicated += (data.len() - within) as u64;
            self.expect.resize(within, 0);
            fill(key, offset, &mut self.expect);
            let bad = self.expect[..within]
                .iter()
                .zip(&data[..within])
                .filter(|(a, b)| a != b)
                .count();
            self.report.bytes_corrupt += bad as u64;
            self.report.bytes_delivered += within as u64;
            c.half.rx_done += data.len() as u64;
        }
        self.scratch = buf;
    }

    /// Application work on one side: reads, writes, shutdowns. True if anything moved.
    fn app(&mut self, side: usize) -> bool {
        let handles = std::mem::take(&mut self.wake[side]);
        let mut any = false;
        for h in handles {
            let before = self.conns[side].get(&h).map(|c| c.half.rx_done);
            self.read(side, h);
            any |= self.conns[side].get(&h).map(|c| c.half.rx_done) != before;
            any |= self.write(side, h);
        }
        any
    }

    fn write(&mut self, side: usize, h: ConnectionHandle) -> bool {
        let seed = self.cfg.seed;
        let Some(c) = self.conns[side].get_mut(&h) else {
            return false;
        };
        if !c.initiator && c.half.header.len() < HEADER {
            return false; // the responder waits for the request
        }
        let mut moved = false;
        let mut chunk = std::mem::take(&mut self.buf);
        while c.half.tx_done < c.half.tx_total {
            let n = (c.half.tx_total - c.half.tx_done).min(32 * 1024) as usize;
            chunk.resize(n, 0);
            let mut filled = 0;
            if c.initiator && c.half.tx_done < HEADER as u64 {
                let mut hdr = [0u8; HEADER];
                hdr[..8].copy_from_slice(&c.id.to_be_bytes());
                hdr[8..16].copy_from_slice(&c.sizes.0.to_be_bytes());
                hdr[16..].copy_from_slice(&c.sizes.1.to_be_bytes());
                let from = c.half.tx_done as usize;
                filled = (HEADER - from).min(n);
                chunk[..filled].copy_from_slice(&hdr[from..from + filled]);
            }
            let data_off =
                c.half.tx_done + filled as u64 - if c.initiator { HEADER as u64 } else { 0 };
            let key = stream_key(seed, c.id, c.initiator);
            fill(key, data_off, &mut chunk[filled..n]);
            match self.eps[side].send(h, &chunk[..n]) {
                Ok(0) | Err(_) => break,
                Ok(k) => {
                    let partial = k < n;
                    let payload = if c.initiator && c.half.tx_done < HEADER as u64 {
                        (k as u64).saturating_sub(HEADER as u64 - c.half.tx_done)
                    } else {
                        k as u64
                    };
                    self.report.bytes_sent += payload;
                    c.half.tx_done += k as u64;
                    moved = true;
                    if partial {
                        break; // Writable comes when there is room again
                    }
                }
            }
        }
        self.buf = chunk;
        if c.half.tx_done == c.half.tx_total
            && !c.half.tx_shut
            && self.eps[side].shutdown(h).is_ok()
        {
            c.half.tx_shut = true;
            moved = true;
        }
        moved
    }

    fn checkpoint(&mut self) {
        let in_network = self.links.iter().map(Link::in_flight).sum();
        let nat = self
            .middleboxes
            .iter()
            .flatten()
            .map(Middlebox::nat_mappings)
            .sum();
        self.report.checkpoints.push(Checkpoint {
            time_s: self.now.as_secs_f64(),
            app_open: self.conns[A].len() + self.conns[B].len(),
            client: self.eps[A].memory().into(),
            server: self.eps[B].memory().into(),
            pool_idle: self.pool.idle(),
            packets_in_network: in_network,
            nat_mappings: nat,
            queued_actions: self.heap.len(),
        });
    }

    /// The time of the next thing to do: a scheduled action, a packet arrival, a
    /// middlebox flush or an endpoint timer.
    fn next_time(&mut self) -> Option<Instant> {
        let links = self.links.iter().filter_map(Link::next_arrival);
        let flushes = self
            .middleboxes
            .iter()
            .flatten()
            .flat_map(|m| [m.next_flush(Side::Upstream), m.next_flush(Side::Downstream)])
            .flatten();
        let timers: Vec<Instant> = self
            .eps
            .iter_mut()
            .filter_map(|e| e.poll_timeout())
            .collect();
        self.heap
            .peek()
            .map(|s| s.0)
            .into_iter()
            .chain(links)
            .chain(flushes)
            .chain(timers)
            .min()
    }

    fn step(&mut self, limit: Instant) -> bool {
        let Some(next) = self.next_time() else {
            return false;
        };
        if next > limit {
            return false;
        }
        self.now = self.now.max(next);
        let now = self.now;
        while self.heap.peek().is_some_and(|s| s.0 <= now) {
            let Some(Scheduled(_, _, action)) = self.heap.pop() else {
                break;
            };
            match action {
                Action::Open => {
                    if self.opening {
                        self.open();
                        self.pump(A);
                        self.pump(B);
                    }
                    let dt = self.exp(self.cfg.mean_interarrival);
                    self.schedule(now + dt, Action::Open);
                }
                Action::Fault => {
                    self.fault();
                    let dt = self.exp(self.cfg.mean_fault_interval);
                    self.schedule(now + dt, Action::Fault);
                }
                Action::Restore { path, params } => self.restore(path, params),
            }
        }
        for path in 0..self.n_paths() {
            let Some(mb) = self.middleboxes[path].as_mut() else {
                continue;
            };
            for (dir, l) in [(Side::Upstream, path * 2), (Side::Downstream, path * 2 + 1)] {
                if mb.next_flush(dir).is_some_and(|t| t <= now) {
                    let mut out = Vec::new();
                    mb.flush(dir, now, &mut out);
                    for p in out {
                        let _ = self.links[l].send(now, p, &mut self.pool);
                    }
                }
            }
        }
        for l in 0..self.links.len() {
            while let Some(pkt) = self.links[l].pop_arrived(now) {
                // Upstream links end at the server side, downstream ones at the client.
                let to = if l % 2 == 0 { B } else { A };
                self.eps[to].handle_packet(now, &pkt);
                self.pool.put(pkt);
                self.pump(to);
            }
        }
        for side in [A, B] {
            if self.eps[side].poll_timeout().is_some_and(|t| t <= now) {
                self.eps[side].handle_timeout(now);
                self.pump(side);
                if self.eps[side].poll_timeout().is_some_and(|t| t <= now) {
                    // A timer that does not move after firing would spin the loop.
                    self.report.timer_spins += 1;
                    self.now = now + Duration::from_micros(1);
                }
            }
        }
        true
    }

    /// Runs until `until`, or (when `drain`) until no connection is left.
    fn run_until(&mut self, until: Instant, drain: bool) {
        while self.step(until) {
            if drain && self.conns[A].is_empty() && self.conns[B].is_empty() {
                return;
            }
        }
        // Everything due by `until` is done.
        self.now = self.now.max(until);
    }
}

/// Runs a soak and returns its report (see [`SoakReport::check`]).
pub fn run_soak(cfg: SoakConfig) -> SoakReport {
    let wall = std::time::Instant::now();
    let mut s = Soak::new(cfg.clone());
    let quiet = Duration::from_nanos(cfg.quiet.as_nanos() as u64);
    let n = cfg.checkpoints.max(1) as u32;
    let slice = cfg.duration / n;
    for _ in 0..n {
        // A busy slice, then a quiet period, then the measurement.
        let busy_end = s.now + Duration::from_nanos(slice.as_nanos() as u64);
        s.opening = true;
        s.run_until(busy_end, false);
        s.opening = false;
        let quiet_end = s.now + quiet;
        s.run_until(quiet_end, true);
        s.run_until(quiet_end, false);
        s.checkpoint();
    }
    // Final drain: up to an hour for connections caught by long outages.
    s.opening = false;
    let end = s.now + Duration::from_secs(3600);
    s.run_until(end, true);
    // TIME_WAIT and the last timers.
    let end = s.now + quiet;
    s.run_until(end, false);
    s.checkpoint();
    let mut report = std::mem::take(&mut s.report);
    for t in s.tally.values() {
        if t.complete == [true, true] && t.ended == [Some(CloseReason::Normal); 2] {
            report.completed += 1;
        } else if t.ended.iter().all(Option::is_some) || t.ended.iter().any(Option::is_some) {
            let reason = t
                .ended
                .iter()
                .flatten()
                .find(|r| **r != CloseReason::Normal)
                .copied()
                .unwrap_or(CloseReason::Normal);
            *report.failed.entry(format!("{reason:?}")).or_default() += 1;
        }
        report.fallbacks += u64::from(t.fallback);
    }
    report.packets = s.links.iter().map(|l| l.stats().delivered).sum();
    report.sim_time_s = s.now.as_secs_f64();
    report.wall_time_s = wall.elapsed().as_secs_f64();
    report
}
