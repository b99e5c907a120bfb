//! The event loop: a virtual clock, a priority queue of timed actions, the network (links,
//! middleboxes, captures) and the flows' endpoints.
//!
//! Determinism: actions are ordered by (time, insertion sequence); every map is ordered;
//! all randomness comes from seeds derived from the scenario seed. The only wall-clock value
//! is `wall_time_s` in the report.
//!
//! Speed: packet buffers come from a pool, each link keeps its packets in a `VecDeque` and
//! has at most one live wake-up in the queue, and an endpoint's timer is only re-queued
//! when its deadline moves earlier (a later deadline is picked up when the old one fires).

use crate::flow::{Flow, CLIENT, SERVER};
use crate::link::{Link, LinkParams};
use crate::middlebox::{Middlebox, Side as Dir};
use crate::packet::ipv4_dst;
use crate::pcap::{PcapError, PcapSet};
use crate::pool::BufPool;
use crate::report::{PathSample, Report, RunStats, TimelineEvent};
use crate::rng::{derive_seed, Stream};
use crate::scenario::{PathAction, Scenario};
use crate::topology::{client_addr, flow_of_client, flow_of_server, path_of_client_side};
use mptcp_proto::Instant;
use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::path::PathBuf;
use std::time::Duration;

/// Options of a run beyond the scenario.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Overrides the scenario's seed.
    pub seed: Option<u64>,
    /// Write `DIR/path{N}.pcap` captures.
    pub pcap_dir: Option<PathBuf>,
    /// Record every flow's bytes sent per path at this interval ([`Report::samples`]).
    /// Sampling only reads counters: the run itself is unchanged.
    pub sample_interval: Option<Duration>,
}

/// Why a run failed (a malformed scenario is rejected earlier, by [`Scenario`]).
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// A capture file could not be written.
    #[error(transparent)]
    Pcap(#[from] PcapError),
}

/// What happens at a scheduled time.
#[derive(Debug)]
enum Action {
    /// Packets may have arrived at the far end of link `link` (valid if `gen` is current).
    LinkWake { link: usize, gen: u64 },
    /// An endpoint's timer (valid if `gen` is current).
    Timer { flow: usize, side: usize, gen: u64 },
    /// A flow's client connects.
    FlowStart { flow: usize },
    /// A path timeline event.
    PathEvent { path: usize, index: usize },
    /// A middlebox may release held packets.
    MiddleboxFlush { path: usize, dir: Dir },
}

struct Scheduled {
    at: Instant,
    seq: u64,
    action: Action,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scheduled {
    /// Reversed: `BinaryHeap` is a max-heap and the earliest action must come first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

/// One wake-up per link: the newest scheduled one.
#[derive(Debug, Default, Clone, Copy)]
struct WakeSlot {
    gen: u64,
    pending: Option<Instant>,
}

/// Everything but the flows: the clock, the queue, links, middleboxes, captures.
struct Net {
    heap: BinaryHeap<Scheduled>,
    seq: u64,
    now: Instant,
    n_paths: usize,
    n_flows: usize,
    /// Link `2p` is path `p` upstream (client to server), `2p + 1` downstream.
    links: Vec<Link>,
    link_wake: Vec<WakeSlot>,
    middleboxes: Vec<Option<Middlebox>>,
    mb_pending: Vec<[Option<Instant>; 2]>,
    mb_out: Vec<Vec<u8>>,
    pool: BufPool,
    pcap: Option<PcapSet>,
    timeline: Vec<TimelineEvent>,
    unroutable: u64,
    actions: u64,
}

fn dir_index(dir: Dir) -> usize {
    match dir {
        Dir::Upstream => 0,
        Dir::Downstream => 1,
    }
}

impl Net {
    fn schedule(&mut self, at: Instant, action: Action) {
        self.seq += 1;
        self.heap.push(Scheduled {
            at,
            seq: self.seq,
            action,
        });
    }

    /// Makes sure link `l` wakes up when its next packet arrives.
    fn arm_link(&mut self, l: usize) {
        let Some(next) = self.links[l].next_arrival() else {
            return;
        };
        let slot = &mut self.link_wake[l];
        if slot.pending.is_some_and(|p| p <= next) {
            return;
        }
        slot.gen += 1;
        slot.pending = Some(next);
        let gen = slot.gen;
        self.schedule(next, Action::LinkWake { link: l, gen });
    }

    /// Sends a packet from an endpoint into the network. `from_client` tells which side
    /// wrote it; the addresses pick the path.
    fn route(&mut self, pkt: Vec<u8>, from_client: bool) {
        let path = if from_client {
            crate::packet::ipv4_src(&pkt).and_then(|a| path_of_client_side(a, self.n_paths))
        } else {
            ipv4_dst(&pkt).and_then(|a| path_of_client_side(a, self.n_paths))
        };
        let Some(path) = path else {
            self.unroutable += 1;
            self.pool.put(pkt);
            return;
        };
        let dir = if from_client {
            Dir::Upstream
        } else {
            Dir::Downstream
        };
        let now = self.now;
        match self.middleboxes[path].as_mut() {
            None => self.enqueue(path, dir, pkt),
            Some(mb) => {
                let mut out = std::mem::take(&mut self.mb_out);
                mb.process(dir, now, pkt, &mut self.pool, &mut out);
                let flush = mb.next_flush(dir);
                for p in out.drain(..) {
                    self.enqueue(path, dir, p);
                }
                self.mb_out = out;
                self.arm_flush(path, dir, flush);
            }
        }
    }

    fn arm_flush(&mut self, path: usize, dir: Dir, at: Option<Instant>) {
        let Some(at) = at else { return };
        let pending = &mut self.mb_pending[path][dir_index(dir)];
        if pending.is_some_and(|p| p <= at) {
            return;
        }
        *pending = Some(at);
        self.schedule(at, Action::MiddleboxFlush { path, dir });
    }

    fn enqueue(&mut self, path: usize, dir: Dir, pkt: Vec<u8>) {
        let l = path * 2 + dir_index(dir);
        let now = self.now;
        // A drop is not an error: the buffer went back to the pool and TCP recovers.
        let _ = self.links[l].send(now, pkt, &mut self.pool);
        self.arm_link(l);
    }

    fn log(&mut self, kind: &str, path: Option<usize>, detail: String) {
        self.timeline.push(TimelineEvent {
            time_s: self.now.as_secs_f64(),
            kind: kind.to_string(),
            flow: None,
            path,
            detail,
        });
    }
}

/// Upper bound on consecutive timer firings at the same instant before the simulator
/// forces time forward (protects against an engine that never disarms a timer).
const TIMER_SPIN_GUARD: Duration = Duration::from_micros(1);

/// A simulation in progress.
pub struct Simulation {
    net: Net,
    flows: Vec<Flow>,
    scenario: Scenario,
    end: Instant,
    sample_interval: Option<mptcp_proto::Duration>,
}

impl Simulation {
    /// Sets up the network and the endpoints.
    pub fn new(scenario: &Scenario, opts: &RunOptions) -> Result<Self, SimError> {
        let mut scenario = scenario.clone();
        if let Some(seed) = opts.seed {
            scenario.seed = seed;
        }
        let seed = scenario.seed;
        let n_paths = scenario.paths.len();
        let mut links = Vec::with_capacity(n_paths * 2);
        for (p, spec) in scenario.paths.iter().enumerate() {
            for d in 0..2u64 {
                let s = derive_seed(seed, Stream::Link, p as u64 * 2 + d);
                links.push(Link::new(LinkParams::from_path(spec), s));
            }
        }
        let pcap = match &opts.pcap_dir {
            Some(dir) => Some(PcapSet::create(dir, n_paths)?),
            None => None,
        };
        let mut net = Net {
            heap: BinaryHeap::new(),
            seq: 0,
            now: Instant::ZERO,
            n_paths,
            n_flows: scenario.flows.len(),
            links,
            link_wake: vec![WakeSlot::default(); n_paths * 2],
            middleboxes: scenario
                .paths
                .iter()
                .enumerate()
                .map(|(p, s)| s.middlebox.map(|k| Middlebox::new(k, p)))
                .collect(),
            mb_pending: vec![[None; 2]; n_paths],
            mb_out: Vec::with_capacity(4),
            pool: BufPool::new(),
            pcap,
            timeline: Vec::new(),
            unroutable: 0,
            actions: 0,
        };
        for (p, spec) in scenario.paths.iter().enumerate() {
            for (i, ev) in spec.events.iter().enumerate() {
                net.schedule(
                    Instant::ZERO + ev.at,
                    Action::PathEvent { path: p, index: i },
                );
            }
        }
        let backup_paths: Vec<usize> = (0..scenario.paths.len())
            .filter(|&p| scenario.paths[p].backup)
            .collect();
        let mut flows = Vec::with_capacity(scenario.flows.len());
        for (f, spec) in scenario.flows.iter().enumerate() {
            let mtu = spec
                .paths
                .iter()
                .filter_map(|p| scenario.paths.get(*p).map(|p| p.mtu))
                .min()
                .unwrap_or(crate::scenario::DEFAULT_MTU);
            let mss = u16::try_from(mtu.saturating_sub(40)).unwrap_or(u16::MAX);
            let mut flow = Flow::new(f, spec, seed, n_paths, mss, &backup_paths);
            flow.listen(&mut net.timeline);
            net.schedule(flow.start_time(), Action::FlowStart { flow: f });
            flows.push(flow);
        }
        let end = Instant::ZERO + scenario.duration;
        Ok(Simulation {
            net,
            flows,
            scenario,
            end,
            sample_interval: opts
                .sample_interval
                .filter(|d| !d.is_zero())
                .map(|d| mptcp_proto::Duration::from_nanos(d.as_nanos() as u64)),
        })
    }

    /// Runs until every flow finished, nothing is left to do, or the time limit.
    pub fn run(mut self) -> Result<Report, SimError> {
        let wall = std::time::Instant::now();
        let mut samples = Vec::new();
        let mut next_sample = self.sample_interval.map(|_| Instant::ZERO);
        while let Some(next) = self.net.heap.pop() {
            while let (Some(t), Some(every)) = (next_sample, self.sample_interval) {
                if t > next.at.min(self.end) {
                    break;
                }
                self.sample(t, &mut samples);
                next_sample = Some(t + every);
            }
            if next.at > self.end {
                self.net.now = self.end;
                break;
            }
            self.net.now = next.at;
            self.net.actions += 1;
            self.dispatch(next.action);
            if self.flows.iter().all(Flow::finished) {
                break;
            }
        }
        let end = self.net.now;
        for f in &mut self.flows {
            f.snapshot();
        }
        let flows = self.flows.iter().map(|f| f.report(end)).collect();
        if let Some(p) = self.net.pcap.take() {
            p.finish()?;
        }
        let mut stats = RunStats {
            actions: self.net.actions,
            unroutable: self.net.unroutable,
            ..RunStats::default()
        };
        for l in &self.net.links {
            let ls = l.stats();
            stats.packets += ls.delivered;
            stats.dropped_queue += ls.dropped_queue;
            stats.dropped_loss += ls.dropped_loss;
            stats.dropped_down += ls.dropped_down;
        }
        Ok(Report {
            stats,
            flows,
            sim_time_s: end.as_secs_f64(),
            wall_time_s: wall.elapsed().as_secs_f64(),
            events: std::mem::take(&mut self.net.timeline),
            samples,
        })
    }

    /// Appends every flow's cumulative bytes sent per path at time `t`.
    fn sample(&mut self, t: Instant, out: &mut Vec<PathSample>) {
        for (i, f) in self.flows.iter_mut().enumerate() {
            f.snapshot();
            for (path, bytes) in f.bytes_per_path() {
                out.push(PathSample {
                    time_s: t.as_secs_f64(),
                    flow: i,
                    path,
                    bytes,
                });
            }
        }
    }

    fn dispatch(&mut self, action: Action) {
        let now = self.net.now;
        match action {
            Action::LinkWake { link, gen } => {
                let slot = &mut self.net.link_wake[link];
                if slot.gen != gen {
                    return;
                }
                slot.pending = None;
                while let Some(pkt) = self.net.links[link].pop_arrived(now) {
                    self.deliver(link, pkt);
                }
                self.net.arm_link(link);
            }
            Action::Timer { flow, side, gen } => {
                let s = &mut self.flows[flow].sides[side];
                if s.timer.gen != gen {
                    return;
                }
                s.timer.pending = None;
                let fired = match s.ep.poll_timeout() {
                    Some(d) if d <= now => {
                        s.ep.handle_timeout(now);
                        true
                    }
                    _ => false,
                };
                self.pump(flow, side, fired);
            }
            Action::FlowStart { flow } => {
                self.flows[flow].connect(now, &mut self.net.timeline);
                self.pump(flow, CLIENT, false);
            }
            Action::PathEvent { path, index } => self.path_event(path, index),
            Action::MiddleboxFlush { path, dir } => {
                self.net.mb_pending[path][dir_index(dir)] = None;
                let mut out = std::mem::take(&mut self.net.mb_out);
                let mut next = None;
                if let Some(mb) = self.net.middleboxes[path].as_mut() {
                    mb.flush(dir, now, &mut out);
                    next = mb.next_flush(dir);
                }
                for p in out.drain(..) {
                    self.net.enqueue(path, dir, p);
                }
                self.net.mb_out = out;
                self.net.arm_flush(path, dir, next);
            }
        }
    }

    fn path_event(&mut self, path: usize, index: usize) {
        let Some(ev) = self
            .scenario
            .paths
            .get(path)
            .and_then(|p| p.events.get(index))
        else {
            return;
        };
        let now = self.net.now;
        match &ev.action {
            PathAction::Down => {
                for l in [path * 2, path * 2 + 1] {
                    self.net.links[l].set_down(&mut self.net.pool);
                }
                self.net.log("path-down", Some(path), String::new());
            }
            PathAction::Up => {
                for l in [path * 2, path * 2 + 1] {
                    self.net.links[l].set_up(now);
                }
                self.net.log("path-up", Some(path), String::new());
            }
            PathAction::IfaceDown => {
                for l in [path * 2, path * 2 + 1] {
                    self.net.links[l].set_down(&mut self.net.pool);
                }
                self.net.log("iface-down", Some(path), String::new());
                self.notify_clients(path, false);
            }
            PathAction::IfaceUp => {
                for l in [path * 2, path * 2 + 1] {
                    self.net.links[l].set_up(now);
                }
                self.net.log("iface-up", Some(path), String::new());
                self.notify_clients(path, true);
            }
            PathAction::AddrRemove => {
                self.net.log("addr-remove", Some(path), String::new());
                self.remove_client_addr(path);
            }
            PathAction::AddrAdd => {
                self.net.log("addr-add", Some(path), String::new());
                self.notify_clients(path, true);
            }
            PathAction::Set(change) => {
                for l in [path * 2, path * 2 + 1] {
                    self.net.links[l].apply(change);
                }
                let mut parts = Vec::new();
                if let Some(r) = change.rate {
                    parts.push(format!("rate={r}bit/s"));
                }
                if let Some(d) = change.delay {
                    parts.push(format!("delay={}us", d.as_micros()));
                }
                if let Some(l) = change.loss {
                    parts.push(format!("loss={l}"));
                }
                if let Some(q) = change.queue {
                    parts.push(format!("queue={q}B"));
                }
                self.net.log("path-set", Some(path), parts.join(" "));
            }
        }
    }

    /// Tells every client on `path` that its address there went down or came up (the
    /// driver's interface report, `Endpoint::address_down` / `address_up`).
    fn notify_clients(&mut self, path: usize, up: bool) {
        let now = self.net.now;
        for f in 0..self.flows.len() {
            if !self.flows[f].paths().contains(&path) {
                continue;
            }
            let ip = std::net::IpAddr::V4(client_addr(path, f));
            let ep = &mut self.flows[f].sides[CLIENT].ep;
            if up {
                ep.address_up(now, ip);
            } else {
                ep.address_down(now, ip);
            }
            self.pump(f, CLIENT, false);
        }
    }

    /// Removes each client's address on `path` from its connection (REMOVE_ADDR to the
    /// peer) and reports the address unusable.
    fn remove_client_addr(&mut self, path: usize) {
        let now = self.net.now;
        for f in 0..self.flows.len() {
            if !self.flows[f].paths().contains(&path) {
                continue;
            }
            let ip = std::net::IpAddr::V4(client_addr(path, f));
            let side = &mut self.flows[f].sides[CLIENT];
            if let Some(conn) = side.conn {
                side.ep.remove_local_address(now, conn, ip);
            }
            side.ep.address_down(now, ip);
            self.pump(f, CLIENT, false);
        }
    }

    /// Hands a packet that crossed link `link` to its endpoint.
    fn deliver(&mut self, link: usize, pkt: Vec<u8>) {
        let now = self.net.now;
        let path = link / 2;
        if let Some(p) = self.net.pcap.as_mut() {
            p.record(path, now, &pkt);
        }
        let upstream = link & 1 == 0;
        let dst = ipv4_dst(&pkt);
        let target = if upstream {
            dst.and_then(|a| flow_of_server(a, self.net.n_flows))
                .map(|f| (f, SERVER))
        } else {
            dst.and_then(|a| flow_of_client(a, self.net.n_flows))
                .map(|f| (f, CLIENT))
        };
        match target {
            Some((flow, side)) => {
                self.flows[flow].sides[side].ep.handle_packet(now, &pkt);
                self.net.pool.put(pkt);
                self.pump(flow, side, false);
            }
            None => {
                self.net.unroutable += 1;
                self.net.pool.put(pkt);
            }
        }
    }

    /// After an input to an endpoint: drains its packets and events (which may cause more
    /// packets) and re-arms its timer.
    fn pump(&mut self, flow: usize, side: usize, after_timeout: bool) {
        let now = self.net.now;
        let from_client = side == CLIENT;
        loop {
            loop {
                let mut buf = self.net.pool.get();
                match self.flows[flow].sides[side].ep.poll_transmit(now, &mut buf) {
                    Some(tx) => {
                        buf.truncate(tx.len);
                        self.net.route(buf, from_client);
                    }
                    None => {
                        self.net.pool.put(buf);
                        break;
                    }
                }
            }
            let mut any = false;
            while let Some(ev) = self.flows[flow].sides[side].ep.poll_event() {
                any = true;
                self.flows[flow].on_event(side, now, ev, &mut self.net.timeline);
            }
            if !any {
                break;
            }
        }
        let s = &mut self.flows[flow].sides[side];
        let Some(deadline) = s.ep.poll_timeout() else {
            return;
        };
        let floor = if after_timeout {
            now + TIMER_SPIN_GUARD
        } else {
            now
        };
        let at = deadline.max(floor);
        if s.timer.pending.is_some_and(|p| p <= at) {
            return;
        }
        s.timer.gen += 1;
        s.timer.pending = Some(at);
        let gen = s.timer.gen;
        self.net.schedule(at, Action::Timer { flow, side, gen });
    }
}

/// Runs a scenario to the end and returns its report.
pub fn run(scenario: &Scenario, opts: &RunOptions) -> Result<Report, SimError> {
    Simulation::new(scenario, opts)?.run()
}
