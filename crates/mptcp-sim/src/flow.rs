//! The application of one flow: a bulk sender and a checking receiver on top of a client
//! and a server [`Endpoint`].
//!
//! The sender writes `bytes` of seeded pseudo-random data (generated in chunks, never the
//! whole transfer at once) and shuts its side down when everything was accepted; the
//! receiver reads everything, hashes it with SHA-256, and shuts its side down at EOF.

use crate::report::{FlowReport, SubflowReport, TimelineEvent};
use crate::rng::{derive_seed, PayloadGen, Stream};
use crate::scenario::{Direction, FlowKind, FlowSpec};
use crate::topology::{client_addr, path_of_ip, server_socket, server_unique_addr, SERVER_PORT};
use mptcp_proto::path_manager::{
    PathManagerKind, PmEndpoint, PmEndpointFlags, PmLimits, MAX_PM_LIMIT,
};
use mptcp_proto::{
    CloseReason, ConnectionHandle, Endpoint, EndpointConfig, Event, Instant, ReadError, SubflowId,
    SubflowStats, WriteError,
};
use std::collections::BTreeMap;
use std::net::IpAddr;

/// Bytes generated per chunk (a multiple of 8 so the stream does not depend on it).
const CHUNK: usize = 64 * 1024;

/// Index of the client side in [`Flow::sides`].
pub const CLIENT: usize = 0;
/// Index of the server side in [`Flow::sides`].
pub const SERVER: usize = 1;

/// The simulator's bookkeeping of one endpoint's timer (see `sim.rs`).
#[derive(Debug, Default, Clone, Copy)]
pub struct TimerSlot {
    /// Generation of the newest scheduled timer event; older ones are stale.
    pub gen: u64,
    /// Time of the newest scheduled timer event still pending.
    pub pending: Option<Instant>,
}

/// One side (client or server) of a flow.
pub struct Side {
    /// The engine.
    pub ep: Endpoint,
    /// The flow's connection on this endpoint, once known.
    pub conn: Option<ConnectionHandle>,
    /// Timer bookkeeping.
    pub timer: TimerSlot,
    shut: bool,
    peer_finished: bool,
    closed: bool,
}

impl Side {
    fn new(ep: Endpoint) -> Self {
        Side {
            ep,
            conn: None,
            timer: TimerSlot::default(),
            shut: false,
            peer_finished: false,
            closed: false,
        }
    }
}

struct Sender {
    gen: PayloadGen,
    chunk: Vec<u8>,
    off: usize,
    written: u64,
}

/// The receiving application: checks every byte against the same generator the sender
/// uses (a byte-for-byte comparison, cheaper than hashing both ends).
struct Receiver {
    count: u64,
    expected: PayloadGen,
    expected_chunk: Vec<u8>,
    expected_off: usize,
    corrupt: bool,
    eof_at: Option<Instant>,
    scratch: Vec<u8>,
}

impl Receiver {
    /// Compares received bytes with the expected stream; any difference or extra byte
    /// marks the flow corrupt.
    fn verify(&mut self, mut data: &[u8]) {
        while !data.is_empty() && !self.corrupt {
            if self.expected_off == self.expected_chunk.len() {
                self.expected.next_chunk(&mut self.expected_chunk, CHUNK);
                self.expected_off = 0;
                if self.expected_chunk.is_empty() {
                    self.corrupt = true;
                    return;
                }
            }
            let k = data
                .len()
                .min(self.expected_chunk.len() - self.expected_off);
            if data[..k] != self.expected_chunk[self.expected_off..self.expected_off + k] {
                self.corrupt = true;
            }
            self.expected_off += k;
            data = &data[k..];
        }
    }
}

/// A flow: its spec, both endpoints and the application state.
pub struct Flow {
    index: usize,
    spec: FlowSpec,
    /// Client ([`CLIENT`]) and server ([`SERVER`]).
    pub sides: [Side; 2],
    sender: Sender,
    receiver: Receiver,
    start: Instant,
    failed: bool,
    fallback: bool,
    subflows: BTreeMap<SubflowId, SubflowStats>,
    client_subflow_paths: BTreeMap<SubflowId, usize>,
    n_paths: usize,
}

fn config_for(spec: &FlowSpec, mss: u16) -> EndpointConfig {
    let defaults = EndpointConfig::default();
    EndpointConfig {
        mptcp: spec.kind == FlowKind::Mptcp,
        congestion: spec.cc,
        scheduler: spec.scheduler,
        path_manager: spec.path_manager,
        checksum: spec.checksum,
        mss,
        join_delay: spec.join_delay.map_or(defaults.join_delay, |d| {
            mptcp_proto::Duration::from_nanos(d.as_nanos().min(u128::from(u64::MAX)) as u64)
        }),
        send_buffer: spec
            .send_buffer
            .map_or(defaults.send_buffer, |b| b as usize),
        recv_buffer: spec
            .recv_buffer
            .map_or(defaults.recv_buffer, |b| b as usize),
        ..defaults
    }
}

/// The client's and the server's configurations of flow `index`. Path managers that need
/// more than a name get it here:
/// - `endpoints`: the client's address on each path but the first is a `subflow` endpoint,
///   and both sides' limit is one extra subflow per extra path (at most 8), as one would set
///   up two Linux hosts (`ip mptcp endpoint add ADDR subflow`, `ip mptcp limits set
///   subflows N`);
/// - `lb-server`: the server announces its unique address (10.254.{f}.2) and sets flag C on
///   its initial address.
fn configs_for(spec: &FlowSpec, mss: u16, index: usize) -> (EndpointConfig, EndpointConfig) {
    let mut client = config_for(spec, mss);
    let mut server = client.clone();
    match spec.path_manager {
        PathManagerKind::Endpoints => {
            client.pm_endpoints = spec
                .paths
                .iter()
                .skip(1)
                .map(|&p| {
                    let flags = PmEndpointFlags {
                        subflow: true,
                        ..PmEndpointFlags::default()
                    };
                    PmEndpoint::new(IpAddr::V4(client_addr(p, index)), flags)
                })
                .collect();
            let n = (spec.paths.len().saturating_sub(1) as u32).min(MAX_PM_LIMIT);
            let limits = PmLimits {
                subflows: n,
                add_addr_accepted: 0,
            };
            client.pm_limits = limits;
            server.pm_limits = limits;
        }
        PathManagerKind::LbServer { .. } => {
            server.announce_addrs = vec![IpAddr::V4(server_unique_addr(index))];
        }
        _ => {}
    }
    (client, server)
}

impl Flow {
    /// Builds flow `index` with endpoints seeded from the scenario seed.
    /// `mss` follows the smallest MTU of the flow's paths (IPv4: MTU - 40); the client's
    /// subflows on `backup_paths` are backup subflows.
    pub fn new(
        index: usize,
        spec: &FlowSpec,
        seed: u64,
        n_paths: usize,
        mss: u16,
        backup_paths: &[usize],
    ) -> Self {
        let (mut client_config, server_config) = configs_for(spec, mss, index);
        client_config.backup_addrs = spec
            .paths
            .iter()
            .filter(|p| backup_paths.contains(p))
            .map(|&p| IpAddr::V4(client_addr(p, index)))
            .collect();
        let client = Endpoint::new(
            client_config,
            derive_seed(seed, Stream::Client, index as u64),
        );
        let server = Endpoint::new(
            server_config,
            derive_seed(seed, Stream::Server, index as u64),
        );
        Flow {
            index,
            spec: spec.clone(),
            sides: [Side::new(client), Side::new(server)],
            sender: Sender {
                gen: PayloadGen::new(derive_seed(seed, Stream::Payload, index as u64), spec.bytes),
                chunk: Vec::with_capacity(CHUNK),
                off: 0,
                written: 0,
            },
            receiver: Receiver {
                count: 0,
                expected: PayloadGen::new(
                    derive_seed(seed, Stream::Payload, index as u64),
                    spec.bytes,
                ),
                expected_chunk: Vec::with_capacity(CHUNK),
                expected_off: 0,
                corrupt: false,
                eof_at: None,
                scratch: vec![0; CHUNK],
            },
            start: Instant::ZERO + spec.start,
            failed: false,
            fallback: false,
            subflows: BTreeMap::new(),
            client_subflow_paths: BTreeMap::new(),
            n_paths,
        }
    }

    /// When the client connects.
    pub fn start_time(&self) -> Instant {
        self.start
    }

    /// The paths of the flow.
    pub fn paths(&self) -> &[usize] {
        &self.spec.paths
    }

    fn sender_side(&self) -> usize {
        match self.spec.direction {
            Direction::Upload => CLIENT,
            Direction::Download => SERVER,
        }
    }

    fn receiver_side(&self) -> usize {
        SERVER - self.sender_side()
    }

    fn event(
        &self,
        now: Instant,
        kind: &str,
        path: Option<usize>,
        detail: String,
    ) -> TimelineEvent {
        TimelineEvent {
            time_s: now.as_secs_f64(),
            kind: kind.to_string(),
            flow: Some(self.index),
            path,
            detail,
        }
    }

    /// Starts listening on the server.
    pub fn listen(&mut self, timeline: &mut Vec<TimelineEvent>) {
        if let Err(e) = self.sides[SERVER].ep.listen(SERVER_PORT) {
            self.failed = true;
            timeline.push(self.event(
                Instant::ZERO,
                "connect-failed",
                None,
                format!("listen: {e}"),
            ));
        }
    }

    /// Connects the client (at the flow's start time).
    pub fn connect(&mut self, now: Instant, timeline: &mut Vec<TimelineEvent>) {
        let addrs: Vec<IpAddr> = self
            .spec
            .paths
            .iter()
            .map(|&p| IpAddr::V4(client_addr(p, self.index)))
            .collect();
        let client = &mut self.sides[CLIENT];
        let mut params = client.ep.connect_params(addrs, server_socket(self.index));
        params.mptcp = self.spec.kind == FlowKind::Mptcp;
        params.congestion = self.spec.cc;
        match client.ep.connect(now, params) {
            Ok(c) => client.conn = Some(c),
            Err(e) => {
                self.failed = true;
                timeline.push(self.event(now, "connect-failed", None, e.to_string()));
            }
        }
    }

    /// Whether the flow is over: delivered and closed (both sides closed, or both shut down
    /// with the peer's end seen), or failed.
    pub fn finished(&self) -> bool {
        if self.failed {
            return true;
        }
        self.receiver.eof_at.is_some()
            && self
                .sides
                .iter()
                .all(|s| s.closed || (s.shut && s.peer_finished))
    }

    /// Reacts to one engine event of side `side`.
    pub fn on_event(
        &mut self,
        side: usize,
        now: Instant,
        ev: Event,
        timeline: &mut Vec<TimelineEvent>,
    ) {
        match ev {
            Event::Connected(c) => {
                self.sides[side].conn = Some(c);
                self.after_established(side, now, timeline);
            }
            Event::Incoming { conn, .. } => {
                if self.sides[side].conn.is_some() {
                    // One connection per flow: refuse extras.
                    self.sides[side].ep.abort(now, conn);
                } else {
                    self.sides[side].conn = Some(conn);
                    self.after_established(side, now, timeline);
                }
            }
            Event::Readable(_) => {
                if side == self.receiver_side() {
                    self.read(now, timeline);
                }
            }
            Event::Writable(_) => {
                if side == self.sender_side() {
                    self.write();
                }
            }
            Event::PeerFinished(_) => {
                self.sides[side].peer_finished = true;
                if side == self.receiver_side() {
                    self.read(now, timeline);
                } else {
                    self.snapshot();
                }
            }
            Event::FellBack(_) => {
                if !self.fallback {
                    self.fallback = true;
                    timeline.push(self.event(
                        now,
                        "fallback",
                        None,
                        format!("{} side", side_name(side)),
                    ));
                }
                self.snapshot_if_sender(side);
            }
            Event::SubflowUp {
                subflow,
                local,
                remote,
                ..
            } => {
                if side == CLIENT {
                    let path = path_of_ip(local.ip(), self.n_paths);
                    if let Some(p) = path {
                        self.client_subflow_paths.insert(subflow, p);
                    }
                    timeline.push(self.event(
                        now,
                        "subflow-up",
                        path,
                        format!("subflow {} {local} -> {remote}", subflow.0),
                    ));
                }
                self.snapshot_if_sender(side);
            }
            Event::SubflowDown {
                subflow, reason, ..
            } => {
                if side == CLIENT {
                    let path = self.client_subflow_paths.get(&subflow).copied();
                    timeline.push(self.event(
                        now,
                        "subflow-down",
                        path,
                        format!("subflow {} {reason:?}", subflow.0),
                    ));
                }
                self.snapshot_if_sender(side);
            }
            Event::Closed { conn, reason } => {
                if self.sides[side].conn == Some(conn) {
                    self.sides[side].conn = None;
                    self.sides[side].closed = true;
                    if reason != CloseReason::Normal && self.receiver.eof_at.is_none() {
                        self.failed = true;
                    }
                    timeline.push(self.event(
                        now,
                        "connection-closed",
                        None,
                        format!("{} side: {reason:?}", side_name(side)),
                    ));
                }
            }
        }
    }

    fn after_established(&mut self, side: usize, now: Instant, timeline: &mut Vec<TimelineEvent>) {
        if side == self.sender_side() {
            self.write();
            self.snapshot();
        } else {
            self.read(now, timeline);
        }
    }

    fn write(&mut self) {
        let side = self.sender_side();
        let Some(conn) = self.sides[side].conn else {
            return;
        };
        let s = &mut self.sender;
        loop {
            if s.off == s.chunk.len() {
                if s.gen.remaining() == 0 {
                    break;
                }
                s.gen.next_chunk(&mut s.chunk, CHUNK);
                s.off = 0;
            }
            match self.sides[side].ep.send(conn, &s.chunk[s.off..]) {
                Ok(0) | Err(WriteError::Blocked) => return,
                Ok(n) => {
                    s.off += n;
                    s.written += n as u64;
                }
                Err(WriteError::Finished) | Err(WriteError::Closed) => {
                    self.failed = true;
                    return;
                }
            }
        }
        if !self.sides[side].shut {
            self.sides[side].shut = true;
            if self.sides[side].ep.shutdown(conn).is_err() {
                self.failed = true;
            }
        }
    }

    fn read(&mut self, now: Instant, timeline: &mut Vec<TimelineEvent>) {
        let side = self.receiver_side();
        let Some(conn) = self.sides[side].conn else {
            return;
        };
        if self.receiver.eof_at.is_some() {
            return;
        }
        loop {
            match self.sides[side].ep.recv(conn, &mut self.receiver.scratch) {
                Ok(0) => {
                    self.receiver.eof_at = Some(now);
                    self.snapshot();
                    let t = now.saturating_duration_since(self.start).as_secs_f64();
                    timeline.push(self.event(
                        now,
                        "flow-complete",
                        None,
                        format!("{} bytes in {t:.6} s", self.receiver.count),
                    ));
                    if !self.sides[side].shut {
                        self.sides[side].shut = true;
                        let _ = self.sides[side].ep.shutdown(conn);
                    }
                    return;
                }
                Ok(n) => {
                    let n = n.min(self.receiver.scratch.len());
                    let scratch = std::mem::take(&mut self.receiver.scratch);
                    self.receiver.verify(&scratch[..n]);
                    self.receiver.scratch = scratch;
                    self.receiver.count += n as u64;
                }
                Err(ReadError::Blocked) | Err(ReadError::Closed) => return,
            }
        }
    }

    fn snapshot_if_sender(&mut self, side: usize) {
        if side == self.sender_side() {
            self.snapshot();
        }
    }

    /// Records the data sender's connection counters (kept per subflow, so subflows that
    /// close later keep their last values).
    pub fn snapshot(&mut self) {
        let side = &self.sides[self.sender_side()];
        let Some(conn) = side.conn else { return };
        let Some(stats) = side.ep.stats(conn) else {
            return;
        };
        self.fallback |= stats.fallback;
        for sf in stats.subflows {
            self.subflows.insert(sf.id, sf);
        }
    }

    /// Bytes sent so far per path, ascending by path (subflows on the same path summed).
    pub fn bytes_per_path(&self) -> Vec<(usize, u64)> {
        let from_server = self.sender_side() == SERVER;
        let mut per: BTreeMap<usize, u64> = BTreeMap::new();
        for sf in self.subflows.values() {
            let ip = if from_server {
                sf.remote.ip()
            } else {
                sf.local.ip()
            };
            if let Some(p) = path_of_ip(ip, self.n_paths) {
                *per.entry(p).or_default() += sf.bytes_sent;
            }
        }
        per.into_iter().collect()
    }

    /// The flow's report at time `end`.
    pub fn report(&self, end: Instant) -> FlowReport {
        let bytes = self.spec.bytes;
        let delivered = self.receiver.count;
        let integrity_ok = self.receiver.eof_at.is_some()
            && delivered == bytes
            && self.sender.written == bytes
            && !self.receiver.corrupt;
        let completion = self
            .receiver
            .eof_at
            .map(|t| t.saturating_duration_since(self.start).as_secs_f64());
        let elapsed =
            completion.unwrap_or_else(|| end.saturating_duration_since(self.start).as_secs_f64());
        let goodput_bps = if elapsed > 0.0 {
            delivered as f64 * 8.0 / elapsed
        } else {
            0.0
        };
        let from_server = self.sender_side() == SERVER;
        let subflows = self
            .subflows
            .values()
            .map(|sf| SubflowReport {
                path: path_of_ip(
                    if from_server {
                        sf.remote.ip()
                    } else {
                        sf.local.ip()
                    },
                    self.n_paths,
                ),
                bytes: sf.bytes_sent,
                retransmits: sf.retransmits,
                fast_recoveries: sf.fast_recoveries,
                rtos: sf.rto_count,
                srtt_ms: sf.srtt.map(|d| d.as_nanos() as f64 / 1e6),
            })
            .collect();
        FlowReport {
            kind: self.spec.kind.name().to_string(),
            bytes_sent: self.sender.written,
            bytes_delivered: delivered,
            integrity_ok,
            goodput_bps,
            completion_time_s: completion,
            fallback: self.fallback,
            subflows,
        }
    }
}

fn side_name(side: usize) -> &'static str {
    if side == CLIENT {
        "client"
    } else {
        "server"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receiver(total: u64) -> (Receiver, Vec<u8>) {
        let mut g = PayloadGen::new(42, total);
        let mut all = Vec::new();
        let mut buf = Vec::new();
        loop {
            g.next_chunk(&mut buf, 1000);
            if buf.is_empty() {
                break;
            }
            all.extend_from_slice(&buf);
        }
        let r = Receiver {
            count: 0,
            expected: PayloadGen::new(42, total),
            expected_chunk: Vec::new(),
            expected_off: 0,
            corrupt: false,
            eof_at: None,
            scratch: Vec::new(),
        };
        (r, all)
    }

    #[test]
    fn intact_stream_in_odd_pieces_verifies() {
        let (mut r, all) = receiver(200_000);
        for piece in all.chunks(7_777) {
            r.verify(piece);
        }
        assert!(!r.corrupt);
    }

    #[test]
    fn one_flipped_byte_is_detected() {
        let (mut r, mut all) = receiver(200_000);
        all[150_001] ^= 0x10;
        for piece in all.chunks(1_460) {
            r.verify(piece);
        }
        assert!(r.corrupt);
    }

    #[test]
    fn extra_bytes_are_detected() {
        let (mut r, mut all) = receiver(10_000);
        all.push(0);
        r.verify(&all);
        assert!(r.corrupt);
    }
}
