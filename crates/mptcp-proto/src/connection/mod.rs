//! The MPTCP connection (RFC 8684), also used for plain TCP and after fallback: one data
//! stream spread over subflows.
//!
//! This file holds the state and the application-facing calls; the stages live beside it:
//! `input` (segments in), `output` (segments out), `timers`, `signal` (ADD_ADDR,
//! REMOVE_ADDR, MP_PRIO, FASTCLOSE), `schedule` (assigning data to subflows), `orp`
//! (opportunistic retransmission and penalisation), `pm` (the
//! path manager's view, events and actions).

mod autotune;
pub(crate) mod input;
mod orp;
pub(crate) mod output;
mod pm;
pub mod reassembly;
mod schedule;
pub mod send_buffer;
mod signal;
mod timers;

use crate::config::EndpointConfig;
use crate::congestion::CcAlgorithm;
use crate::endpoint::{ConnectionHandle, SubflowId};
use crate::error::{ReadError, WriteError};
use crate::event::{CloseReason, Event};
use crate::path_manager::{OpenSubflow, PathManager, PmSubflow};
use crate::range_set::RangeSet;
use crate::scheduler::Scheduler;
use crate::stats::{ConnectionStats, SubflowStats};
use crate::tcp::{Subflow, TcpState};
use crate::time::{Duration, Instant};
use autotune::RecvAutotune;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use reassembly::Reassembly;
use send_buffer::{SendBuffer, SendFlags};
use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// Which side opened the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// We sent the first SYN.
    Client,
    /// A listener accepted it.
    Server,
}

/// The protocol the data stream currently runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// MPTCP offered or negotiated; DSS mappings in use.
    Mptcp,
    /// Plain TCP: never offered, refused, or fallen back (infinite mapping).
    Tcp,
}

/// An address announced with ADD_ADDR, waiting for its echo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Announcement {
    pub id: u8,
    pub addr: IpAddr,
    pub retries_left: u32,
    pub next_at: Option<Instant>,
    pub echoed: bool,
}

/// Connection-level timers.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ConnTimer {
    AddAddr = 0,
    DataFin = 1,
    /// Data-level retransmission (RFC 8684 §3.3.6): the DATA_ACK stopped moving.
    DataRetransmit = 2,
    /// The path manager's own timer (re-opening lost subflows).
    PathManager = 3,
    /// The end of `EndpointConfig::join_delay`: requested subflows may open.
    JoinDelay = 4,
    /// The scheduler asked to be asked again ([`crate::scheduler::Scheduler::retry_at`]).
    Scheduler = 5,
}

/// Number of [`ConnTimer`]s.
pub(crate) const CONN_TIMER_COUNT: usize = 6;

/// A connection and its subflows.
#[derive(Debug)]
pub struct Connection {
    pub(crate) handle: ConnectionHandle,
    pub(crate) role: Role,
    pub(crate) config: Arc<EndpointConfig>,
    pub(crate) rng: ChaCha8Rng,
    pub(crate) cc_algorithm: CcAlgorithm,
    pub(crate) mode: Mode,
    /// MPTCP was negotiated at some point.
    pub(crate) mptcp_negotiated: bool,
    pub(crate) fell_back: bool,
    /// Client: still put MP_CAPABLE on SYNs (false after `syn_retries_before_fallback`).
    pub(crate) offer_mptcp: bool,
    pub(crate) local_key: u64,
    pub(crate) remote_key: Option<u64>,
    #[allow(dead_code)]
    pub(crate) local_token: u32,
    pub(crate) remote_token: u32,
    pub(crate) local_idsn: u64,
    pub(crate) remote_idsn: u64,
    pub(crate) checksum: bool,
    pub(crate) peer_deny_join_initial: bool,
    /// Both keys known to both sides (RFC 8684 §3.1): joins and DSS-only operation allowed.
    pub(crate) fully_established: bool,
    /// The application was told the connection exists.
    pub(crate) announced_to_app: bool,
    pub(crate) subflows: Vec<Subflow>,
    pub(crate) next_subflow_id: u32,
    pub(crate) local_addrs: Vec<IpAddr>,
    /// Addresses the peer announced: (ID, address with port).
    pub(crate) remote_addrs: Vec<(u8, SocketAddr)>,
    pub(crate) announcements: Vec<Announcement>,
    /// ADD_ADDR echoes to send: (ID, address, port).
    pub(crate) pending_echoes: VecDeque<(u8, IpAddr, Option<u16>)>,
    /// Address IDs to withdraw with REMOVE_ADDR.
    pub(crate) pending_remove: Vec<u8>,
    /// Subflows the path manager wants opened; the endpoint allocates ports.
    pub(crate) pending_opens: Vec<OpenSubflow>,
    /// Requested subflows wait until then (`EndpointConfig::join_delay` after the
    /// connection became fully established).
    pub(crate) joins_allowed_at: Option<Instant>,
    /// Local addresses reported down or withdrawn: no subflow starts from them.
    pub(crate) down_addrs: Vec<IpAddr>,
    /// Address IDs the path manager chose for local addresses (MP_JOIN, REMOVE_ADDR).
    pub(crate) local_ids: Vec<(IpAddr, u8)>,
    /// Subflow closures not yet told to the path manager.
    pub(crate) pm_closed: Vec<(PmSubflow, CloseReason)>,
    // --- sending (data offsets relative to local IDSN + 1) ---
    pub(crate) send_buf: SendBuffer,
    /// Highest DATA_ACK received.
    pub(crate) data_una: u64,
    /// Next data offset not yet assigned to any subflow.
    pub(crate) data_nxt: u64,
    /// Peer's receive-window right edge (data offset).
    pub(crate) snd_wnd_edge: u64,
    /// Data offsets to send again on another subflow.
    pub(crate) reinject: RangeSet,
    /// The application shut the sending side down.
    pub(crate) shutdown: bool,
    /// DATA_FIN acknowledged.
    pub(crate) data_fin_acked: bool,
    /// The DATA_FIN must be (re)sent.
    pub(crate) data_fin_pending: bool,
    /// The DATA_FIN was sent at least once.
    pub(crate) data_fin_sent: bool,
    pub(crate) writable_wanted: bool,
    // --- receiving (data offsets relative to remote IDSN + 1) ---
    pub(crate) recv: Reassembly,
    /// Offset of the peer's DATA_FIN (or FIN in plain TCP).
    pub(crate) rcv_fin: Option<u64>,
    pub(crate) peer_finished_reported: bool,
    pub(crate) rcv_adv_edge: u64,
    /// Receive-buffer autotuning: the buffer the window is advertised from.
    pub(crate) rcv_tune: RecvAutotune,
    /// Fallback receive mapping: (subflow offset, data offset) of the same byte.
    pub(crate) rx_infinite: Option<(u64, u64)>,
    /// Fallback send mapping likewise.
    pub(crate) tx_infinite: Option<(u64, u64)>,
    pub(crate) conn_timers: [Option<Instant>; CONN_TIMER_COUNT],
    /// Consecutive data-level retransmission timeouts without progress.
    pub(crate) data_rtx_backoff: u32,
    pub(crate) scheduler: Box<dyn Scheduler>,
    pub(crate) path_manager: Box<dyn PathManager>,
    pub(crate) events: VecDeque<Event>,
    pub(crate) stats: ConnectionStats,
    /// The connection is over for the application (Closed was reported).
    pub(crate) closed: Option<CloseReason>,
    pub(crate) close_reported: bool,
    /// 4-tuples of subflows that ended; the endpoint drops them from its table.
    pub(crate) removed_tuples: Vec<(SocketAddr, SocketAddr)>,
    /// A DATA_ACK was received at least once.
    pub(crate) data_ack_seen: bool,
    /// A DSS mapping (or MP_CAPABLE with data) was received at least once.
    pub(crate) mapping_seen: bool,
    /// Opportunistic retransmission resent everything slower subflows held below this
    /// data offset.
    pub(crate) orp_high: u64,
    /// After our checksum failure on a lone subflow: MP_FAILs still to repeat on ACKs
    /// until the peer answers (MP_FAIL or infinite mapping), in case the first is lost.
    pub(crate) mp_fail_repeats: u8,
    /// After the peer's MP_FAIL on a lone subflow: the next data segment carries an
    /// infinite mapping (RFC 8684 §3.7).
    pub(crate) send_infinite_map: bool,
    /// Subflow to try first in `poll_transmit`.
    pub(crate) tx_cursor: usize,
    /// Reused buffer for payload copies.
    pub(crate) scratch: Vec<u8>,
}

impl Connection {
    /// A new connection with no subflow yet.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        handle: ConnectionHandle,
        role: Role,
        config: Arc<EndpointConfig>,
        seed: u64,
        mptcp: bool,
        cc: CcAlgorithm,
        local_key: u64,
        local_addrs: Vec<IpAddr>,
        scheduler: Box<dyn Scheduler>,
        path_manager: Box<dyn PathManager>,
    ) -> Self {
        let send_buffer = config.send_buffer;
        let max_ranges = config.max_ooo_ranges;
        Connection {
            handle,
            role,
            rng: ChaCha8Rng::seed_from_u64(seed),
            cc_algorithm: cc,
            mode: if mptcp { Mode::Mptcp } else { Mode::Tcp },
            mptcp_negotiated: false,
            fell_back: false,
            offer_mptcp: mptcp,
            local_key,
            remote_key: None,
            local_token: crate::crypto::token(local_key),
            remote_token: 0,
            local_idsn: crate::crypto::idsn(local_key),
            remote_idsn: 0,
            checksum: config.checksum,
            peer_deny_join_initial: false,
            fully_established: false,
            announced_to_app: false,
            subflows: Vec::new(),
            next_subflow_id: 0,
            local_addrs,
            remote_addrs: Vec::new(),
            announcements: Vec::new(),
            pending_echoes: VecDeque::new(),
            pending_remove: Vec::new(),
            pending_opens: Vec::new(),
            joins_allowed_at: None,
            down_addrs: Vec::new(),
            local_ids: Vec::new(),
            pm_closed: Vec::new(),
            send_buf: SendBuffer::new(0, send_buffer),
            data_una: 0,
            data_nxt: 0,
            snd_wnd_edge: 65535,
            reinject: RangeSet::new(max_ranges),
            shutdown: false,
            data_fin_acked: false,
            data_fin_pending: false,
            data_fin_sent: false,
            writable_wanted: false,
            recv: Reassembly::new(0),
            rcv_fin: None,
            peer_finished_reported: false,
            rcv_adv_edge: 0,
            rcv_tune: RecvAutotune::new(
                config.recv_buffer as u64,
                config.recv_buffer_autotune,
                u64::from(config.mss),
            ),
            rx_infinite: None,
            tx_infinite: None,
            conn_timers: [None; CONN_TIMER_COUNT],
            data_rtx_backoff: 0,
            scheduler,
            path_manager,
            events: VecDeque::new(),
            stats: ConnectionStats::default(),
            closed: None,
            close_reported: false,
            removed_tuples: Vec::new(),
            orp_high: 0,
            mp_fail_repeats: 0,
            send_infinite_map: false,
            mapping_seen: false,
            data_ack_seen: false,
            tx_cursor: 0,
            scratch: Vec::new(),
            config,
        }
    }

    /// The connection's handle.
    pub fn handle(&self) -> ConnectionHandle {
        self.handle
    }

    /// Our window shift: the smallest that lets the receive buffer be advertised.
    pub(crate) fn rcv_wscale(&self) -> u8 {
        let mut shift = 0u8;
        while (self.config.recv_buffer >> shift) > 65535 && shift < 14 {
            shift += 1;
        }
        shift
    }

    /// Creates a subflow record and returns its index.
    pub(crate) fn add_subflow(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        state: TcpState,
    ) -> usize {
        let id = SubflowId(self.next_subflow_id);
        self.next_subflow_id += 1;
        let iss = crate::SeqNum(self.rng.gen());
        let ts_offset: u32 = self.rng.gen();
        let mss = u32::from(self.config.mss);
        let iw = u64::from(self.config.initial_window_segments) * u64::from(mss);
        let cc = self.cc_algorithm.build(mss, iw);
        let mut sf = Subflow::new(
            id,
            local,
            remote,
            state,
            iss,
            ts_offset,
            mss,
            cc,
            self.config.max_ooo_ranges,
            now,
        );
        sf.rcv_wscale = self.rcv_wscale();
        sf.trusted = self.config.trusted_addrs.contains(&local.ip());
        if self.config.backup_addrs.contains(&local.ip()) {
            sf.backup_local = true;
            // MP_JOIN carries flag B; an initial subflow can only say so with MP_PRIO.
            sf.send_mp_prio = self.subflows.is_empty();
        }
        self.subflows.push(sf);
        self.subflows.len() - 1
    }

    /// Subflows not yet closed (handshaking, established, closing or in TIME_WAIT).
    pub(crate) fn live_subflows(&self) -> usize {
        self.subflows
            .iter()
            .filter(|s| s.state != TcpState::Closed)
            .count()
    }

    /// Index of a subflow by ID.
    pub(crate) fn subflow_index(&self, id: SubflowId) -> Option<usize> {
        self.subflows.iter().position(|s| s.id == id)
    }

    /// Pushes an application event (bounded: duplicates of the last one are dropped).
    pub(crate) fn push_event(&mut self, ev: Event) {
        if matches!(ev, Event::Readable(_) | Event::Writable(_))
            && self.events.iter().any(|e| *e == ev)
        {
            return;
        }
        if self.events.len() < 256 {
            self.events.push_back(ev);
        }
    }

    /// Data-level acknowledgment value to send (offset, including a consumed DATA_FIN).
    pub(crate) fn data_ack_offset(&self) -> u64 {
        let next = self.recv.next_offset();
        match self.rcv_fin {
            Some(f) if next >= f => f + 1,
            _ => next,
        }
    }

    /// The receive buffer the window is advertised from: `EndpointConfig::recv_buffer`,
    /// or less while autotuning has not grown it (and opened the window) that far.
    pub(crate) fn recv_buffer(&self) -> u64 {
        self.rcv_tune.offered()
    }

    /// Largest RTT among the subflows that can receive, for receive-buffer autotuning: the
    /// receiver-side estimate from timestamps, else the sender-side smoothed RTT.
    pub(crate) fn recv_rtt_max(&self) -> Option<Duration> {
        self.subflows
            .iter()
            .filter(|s| s.state.can_receive())
            .filter_map(|s| s.rcv_rtt.or(s.rtt.srtt()))
            .max()
    }

    /// One autotuning step after `len` new bytes arrived at `now`.
    pub(crate) fn autotune_recv_buffer(&mut self, now: Instant, len: u64) {
        let receiving = self
            .subflows
            .iter()
            .filter(|s| s.state.can_receive())
            .count();
        self.rcv_tune.on_subflows(receiving);
        self.rcv_tune.on_segment(len);
        let rtt = self.recv_rtt_max();
        let read = self.recv.read_offset();
        let unread = self.recv.readable_len() as u64;
        self.rcv_tune.on_data(now, read, unread, rtt);
    }

    /// Our receive window in bytes, never shrinking the advertised right edge.
    pub(crate) fn receive_window(&mut self) -> u64 {
        let ack = self.recv.next_offset();
        let unread = self.recv.readable_len() as u64;
        let free = self.recv_buffer().saturating_sub(unread);
        let edge = (self.recv.read_offset() + unread + free).max(self.rcv_adv_edge);
        let edge = edge.max(ack);
        self.rcv_adv_edge = edge;
        edge - ack
    }

    /// Bytes kept by subflows for retransmission after the send buffer released them.
    pub(crate) fn retained_bytes(&self) -> usize {
        self.subflows.iter().map(|s| s.retained_bytes).sum()
    }

    /// Application write.
    pub(crate) fn send(&mut self, data: &[u8], flags: SendFlags) -> Result<usize, WriteError> {
        if self.closed.is_some() {
            return Err(WriteError::Closed);
        }
        if self.shutdown {
            return Err(WriteError::Finished);
        }
        // Retained copies count against the send buffer.
        let room = self.send_buf.space().saturating_sub(self.retained_bytes());
        let n = self
            .send_buf
            .push_with(&data[..data.len().min(room)], flags);
        self.stats.bytes_written += n as u64;
        if n < data.len() {
            self.writable_wanted = true;
        }
        if n == 0 && !data.is_empty() {
            return Err(WriteError::Blocked);
        }
        Ok(n)
    }

    /// Application read.
    pub(crate) fn recv(&mut self, buf: &mut [u8]) -> Result<usize, ReadError> {
        let n = self.recv.read(buf);
        if n > 0 {
            self.stats.bytes_read += n as u64;
            // Window update when the window opened a lot (RFC 9293 §3.8.6.2.2).
            let before = self.rcv_adv_edge.saturating_sub(self.recv.next_offset());
            let after = {
                let unread = self.recv.readable_len() as u64;
                self.recv_buffer()
                    .saturating_sub(unread + self.recv.out_of_order_bytes())
            };
            let threshold = (self.recv_buffer() / 4).max(2 * u64::from(self.config.mss));
            if after > before + threshold
                || (before < u64::from(self.config.mss) && after >= u64::from(self.config.mss))
            {
                if let Some(sf) = self.subflows.iter_mut().find(|s| s.state.is_synchronized()) {
                    sf.ack_now = true;
                }
            }
            return Ok(n);
        }
        if buf.is_empty() {
            return Ok(0);
        }
        if self.rcv_fin.is_some_and(|f| self.recv.next_offset() >= f) {
            return Ok(0);
        }
        if self.closed.is_some() {
            return Err(ReadError::Closed);
        }
        Err(ReadError::Blocked)
    }

    /// Application shutdown of the sending side.
    pub(crate) fn shutdown(&mut self) -> Result<(), WriteError> {
        if self.closed.is_some() {
            return Err(WriteError::Closed);
        }
        self.shutdown = true;
        Ok(())
    }

    /// Offset of our DATA_FIN, once the application shut down.
    pub(crate) fn data_fin_offset(&self) -> Option<u64> {
        self.shutdown.then(|| self.send_buf.end())
    }

    /// Application abort: MP_FASTCLOSE (or RST) on every subflow.
    pub(crate) fn abort(&mut self) {
        if self.closed.is_some() {
            return;
        }
        let reason = if self.mode == Mode::Mptcp && self.remote_key.is_some() {
            1
        } else {
            0
        };
        for sf in self.subflows.iter_mut() {
            if sf.state != TcpState::Closed && sf.state != TcpState::TimeWait {
                sf.request_reset(reason, CloseReason::LocalAbort);
            }
        }
        if self.mode == Mode::Mptcp && self.remote_key.is_some() {
            self.stats.mp_fastclose_tx += 1;
        }
        self.close(CloseReason::LocalAbort);
    }

    /// Marks the connection over for the application.
    pub(crate) fn close(&mut self, reason: CloseReason) {
        if self.closed.is_none() {
            self.closed = Some(reason);
        }
    }

    /// Whether every subflow is gone and the application was told: the endpoint may drop it.
    pub(crate) fn is_drained(&self) -> bool {
        self.close_reported && self.subflows.iter().all(|s| s.state == TcpState::Closed)
    }

    /// Bytes held in buffers.
    pub(crate) fn buffered_bytes(&self) -> usize {
        let pending: usize = self
            .subflows
            .iter()
            .flat_map(|s| s.rx_maps.iter())
            .filter_map(|m| m.pending.as_ref().map(|(b, _)| b.len()))
            .sum::<usize>()
            + self
                .subflows
                .iter()
                .map(|s| s.rx_unmapped_bytes)
                .sum::<usize>()
            + self.retained_bytes();
        self.send_buf.len()
            + self.recv.readable_len()
            + self.recv.out_of_order_bytes() as usize
            + pending
    }

    /// Counters, with a snapshot of every subflow.
    pub(crate) fn stats(&self) -> ConnectionStats {
        let mut st = self.stats.clone();
        st.mptcp = self.mptcp_negotiated;
        st.fallback = self.fell_back;
        st.checksum = self.checksum && self.mode == Mode::Mptcp;
        st.bytes_acked = self.data_una.min(self.send_buf.end());
        st.recv_buffer = self.recv_buffer();
        st.subflows = self
            .subflows
            .iter()
            .map(|s| SubflowStats {
                id: s.id,
                local: s.local,
                remote: s.remote,
                established: s.state.is_synchronized() && s.state != TcpState::TimeWait,
                backup: s.backup_local || s.backup_remote,
                trusted: s.trusted,
                bytes_sent: s.stats.bytes_sent,
                bytes_acked: s.snd_una.saturating_sub(1),
                bytes_received: s.stats.bytes_received,
                segments_sent: s.stats.segments_sent,
                segments_received: s.stats.segments_received,
                retransmits: s.stats.retransmits,
                rto_count: s.stats.rto_count,
                fast_recoveries: s.stats.fast_recoveries,
                challenge_acks: s.stats.challenge_acks,
                challenge_acks_limited: s.stats.challenge_acks_limited,
                rst_ignored: s.stats.rst_ignored,
                srtt: s.rtt.srtt(),
                min_rtt: s.rtt.min_rtt(),
                cwnd: s.cc.window(),
                ssthresh: s.cc.ssthresh(),
                mss: s.mss,
            })
            .collect();
        st
    }

    /// Configured RTO bounds.
    pub(crate) fn rto_bounds(&self) -> (Duration, Duration, Duration) {
        (
            self.config.initial_rto,
            self.config.min_rto,
            self.config.max_rto,
        )
    }

    /// The earliest timer of the connection and its subflows.
    pub(crate) fn next_timeout(&self) -> Option<Instant> {
        let sub = self.subflows.iter().filter_map(|s| s.next_timeout()).min();
        let conn = self.conn_timers.iter().flatten().min().copied();
        match (sub, conn) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Switches to plain TCP on the single remaining subflow (RFC 8684 §3.7).
    pub(crate) fn fall_back(&mut self) {
        if self.mode == Mode::Tcp {
            return;
        }
        self.mode = Mode::Tcp;
        self.fell_back = true;
        self.push_event(Event::FellBack(self.handle));
        if let Some(sf) = self.subflows.first_mut() {
            // Everything from here on maps one to one.
            let rx_base = sf.rcv_nxt.max(1);
            self.rx_infinite = Some((rx_base, self.recv.next_offset()));
            let tx_ssn = sf.map_end;
            self.tx_infinite = Some((tx_ssn, self.data_nxt));
        }
    }

    /// Plain TCP from the start: subflow and data sequence numbers map one to one.
    pub(crate) fn use_plain_tcp(&mut self) {
        self.mode = Mode::Tcp;
        self.tx_infinite = Some((1, 0));
        self.rx_infinite = Some((1, 0));
    }

    /// Marks a subflow closed and records its 4-tuple for removal; reinjects its data.
    pub(crate) fn subflow_closed(&mut self, idx: usize, reason: CloseReason) {
        let Some(sf) = self.subflows.get_mut(idx) else {
            return;
        };
        if sf.state == TcpState::Closed {
            return;
        }
        let was_up = sf.state.is_synchronized();
        sf.state = TcpState::Closed;
        sf.timers = [None; crate::tcp::subflow::TIMER_COUNT];
        let tuple = (sf.local, sf.remote);
        let id = sf.id;
        self.removed_tuples.push(tuple);
        self.pm_note_closed(idx, reason, was_up);
        self.reinject_from(idx);
        if let Some(sf) = self.subflows.get_mut(idx) {
            sf.clear_mappings();
            sf.rx_maps.clear();
            sf.rx_unmapped.clear();
            sf.rx_unmapped_bytes = 0;
        }
        let reported = self
            .subflows
            .get_mut(idx)
            .is_none_or(|s| std::mem::replace(&mut s.down_reported, true));
        if was_up && !reported {
            self.push_event(Event::SubflowDown {
                conn: self.handle,
                subflow: id,
                reason,
            });
        }
        // The connection dies with its last subflow unless it is already over.
        let any_alive = self
            .subflows
            .iter()
            .any(|s| s.state != TcpState::Closed && s.state != TcpState::TimeWait);
        if !any_alive && self.closed.is_none() {
            let done =
                self.data_fin_acked && self.rcv_fin.is_some_and(|f| self.recv.next_offset() >= f);
            self.close(if done { CloseReason::Normal } else { reason });
        }
    }

    /// Queues a subflow's unacknowledged data for reinjection on other subflows.
    pub(crate) fn reinject_from(&mut self, idx: usize) {
        if self.mode != Mode::Mptcp {
            return;
        }
        let Some(sf) = self.subflows.get(idx) else {
            return;
        };
        let from = sf.snd_una;
        let mut ranges = Vec::new();
        for m in sf.tx_maps.iter() {
            let s = m.ssn.max(from);
            let e = m.ssn_end();
            if s >= e {
                continue;
            }
            let ds = m.data + (s - m.ssn);
            let de = m.data + (e - m.ssn);
            let ds = ds.max(self.data_una);
            if ds < de {
                ranges.push((ds, de));
            }
        }
        for (s, e) in ranges {
            if self.reinject.insert(s, e) {
                self.stats.reinjected_bytes += e - s;
            }
        }
    }

    /// Releases DATA_ACKed send-buffer bytes and reports writability. Mappings that a
    /// subflow may still have to resend keep a copy of their bytes.
    pub(crate) fn release_send_buffer(&mut self) {
        let floor = self
            .data_una
            .min(self.reinject.first().map_or(u64::MAX, |r| r.0));
        let start = self.send_buf.start();
        if floor <= start {
            return;
        }
        // Copies never exceed one send buffer's worth: a subflow that would need more is
        // reset with "too much outstanding data" (RFC 8684 §3.6) and its data is reinjected.
        let retain = self.mode == Mode::Mptcp;
        let mut budget = self
            .config
            .send_buffer
            .saturating_sub(self.retained_bytes());
        for sf in self.subflows.iter_mut() {
            if !retain || sf.state == TcpState::Closed || sf.reset_pending.is_some() {
                continue;
            }
            let una = sf.snd_una;
            // The part of each unacknowledged mapping about to leave the buffer and not yet copied.
            let missing = |m: &crate::tcp::subflow::TxMap| -> Option<(u64, u64)> {
                if m.ssn_end() <= una {
                    return None;
                }
                let have_end = m.data + m.retained.as_ref().map_or(0, |r| r.len() as u64);
                let want_end = floor.min(m.data + u64::from(m.len));
                (want_end > have_end && have_end >= start).then_some((have_end, want_end))
            };
            // With ascending mappings, those at or above the floor need nothing.
            let ascending = sf.maps_ascending;
            let relevant = |m: &&crate::tcp::subflow::TxMap| !ascending || m.data < floor;
            let need: usize = sf
                .tx_maps
                .iter()
                .take_while(relevant)
                .filter_map(&missing)
                .map(|(a, b)| (b - a) as usize)
                .sum();
            if need == 0 {
                continue;
            }
            if need > budget {
                sf.request_reset(
                    crate::wire::MpTcpRst::REASON_TOO_MUCH_DATA,
                    CloseReason::ProtocolError,
                );
                continue;
            }
            budget -= need;
            sf.retained_bytes += need;
            for m in sf.tx_maps.iter_mut() {
                let Some((from, to)) = missing(m) else {
                    continue;
                };
                let mut copy = m.retained.take().map(|b| b.into_vec()).unwrap_or_default();
                let old = copy.len();
                copy.resize(old + (to - from) as usize, 0);
                if self.send_buf.copy_out(from, &mut copy[old..]) {
                    m.retained = Some(copy.into_boxed_slice());
                } else {
                    sf.retained_bytes -= (to - from) as usize;
                    copy.truncate(old);
                    m.retained = (!copy.is_empty()).then(|| copy.into_boxed_slice());
                }
            }
        }
        let before = self.send_buf.space();
        self.send_buf.release_below(floor);
        if self.writable_wanted
            && self.send_buf.space() > before
            && self.send_buf.space() >= self.config.send_buffer / 4
        {
            self.writable_wanted = false;
            self.push_event(Event::Writable(self.handle));
        }
    }
}
