//! Segments in: the TCP state machine of each subflow (RFC 9293 §3.10.7 with RFC 5961 and
//! RFC 7323 checks) and the MPTCP handshakes and data-level processing (RFC 8684 §3.1-3.3).

use super::{ConnTimer, Connection, Mode, Role};
use crate::crypto;
use crate::event::{CloseReason, Event};
use crate::seq::{Dsn, SeqNum};
use crate::tcp::subflow::{JoinState, RxMap, Timer};
use crate::tcp::{unwrap_seq, TcpState};
use crate::time::Instant;
use crate::wire::{
    AddAddr, Dss, MpCapable, MpFail, MpFastclose, MpJoin, MpPrio, MpTcpRst, MptcpOption,
    RemoveAddr, TcpOption, TcpRepr,
};
use smallvec::SmallVec;
use std::net::SocketAddr;

/// MP_FAILs repeated on ACKs after a checksum fallback until the peer answers.
const MP_FAIL_REPEATS: u8 = 8;
/// Receive-buffer bytes per receive mapping kept (see `max_rx_maps`): about one segment.
const MIN_MAPPING_BYTES: usize = 1024;
/// Receive mappings allowed beyond that limit for the mapping covering the next expected
/// byte.
const IN_ORDER_SLACK: usize = 4;

/// The options of one segment, sorted out once.
#[derive(Debug, Default, Clone)]
pub(crate) struct SegOptions {
    pub mss: Option<u16>,
    pub wscale: Option<u8>,
    pub sack_permitted: bool,
    pub timestamp: Option<(u32, u32)>,
    pub sack: SmallVec<[(SeqNum, SeqNum); 4]>,
    pub mpc: Option<MpCapable>,
    pub join: Option<MpJoin>,
    pub dss: Option<Dss>,
    pub add_addr: SmallVec<[AddAddr; 1]>,
    pub remove_addr: Option<RemoveAddr>,
    pub prio: Option<MpPrio>,
    pub fail: Option<MpFail>,
    pub fastclose: Option<MpFastclose>,
    pub tcprst: Option<MpTcpRst>,
    /// Some MPTCP option was present.
    pub any_mptcp: bool,
}

impl SegOptions {
    /// Sorts the options of `seg`; the first of each MPTCP kind wins.
    pub(crate) fn from_repr(seg: &TcpRepr<'_>) -> Self {
        let mut o = SegOptions::default();
        for opt in seg.options.iter() {
            match opt {
                TcpOption::Mss(m) => o.mss = Some(*m),
                TcpOption::WindowScale(w) => o.wscale = Some(*w),
                TcpOption::SackPermitted => o.sack_permitted = true,
                TcpOption::Timestamp { tsval, tsecr } => o.timestamp = Some((*tsval, *tsecr)),
                TcpOption::Sack(blocks) => o.sack = blocks.clone(),
                TcpOption::Mptcp(m) => {
                    o.any_mptcp = true;
                    match m {
                        MptcpOption::MpCapable(x) => o.mpc = o.mpc.or(Some(*x)),
                        MptcpOption::MpJoin(x) => o.join = o.join.or(Some(*x)),
                        MptcpOption::Dss(x) => o.dss = o.dss.or(Some(*x)),
                        MptcpOption::AddAddr(x) => {
                            if o.add_addr.len() < 4 {
                                o.add_addr.push(*x)
                            }
                        }
                        MptcpOption::RemoveAddr(x) => {
                            if o.remove_addr.is_none() {
                                o.remove_addr = Some(x.clone())
                            }
                        }
                        MptcpOption::MpPrio(x) => o.prio = o.prio.or(Some(*x)),
                        MptcpOption::MpFail(x) => o.fail = o.fail.or(Some(*x)),
                        MptcpOption::MpFastclose(x) => o.fastclose = o.fastclose.or(Some(*x)),
                        MptcpOption::MpTcpRst(x) => o.tcprst = o.tcprst.or(Some(*x)),
                        MptcpOption::Unknown { .. } => {}
                    }
                }
                _ => {}
            }
        }
        o
    }

    /// An MP_CAPABLE acceptable on a SYN (RFC 8684 §3.1; Linux's strict checks): 4 bytes,
    /// version >= 1, H set, B clear.
    pub(crate) fn syn_mpc(&self) -> Option<MpCapable> {
        self.mpc.filter(|m| {
            m.sender_key.is_none()
                && m.version >= 1
                && m.flags & MpCapable::FLAG_B == 0
                && m.flags & MpCapable::FLAG_H != 0
        })
    }

    /// An MP_CAPABLE acceptable on a SYN/ACK or later: version 1, H set, B clear, with a key.
    pub(crate) fn keyed_mpc(&self) -> Option<MpCapable> {
        self.mpc.filter(|m| {
            m.sender_key.is_some()
                && m.version == 1
                && m.flags & MpCapable::FLAG_B == 0
                && m.flags & MpCapable::FLAG_H != 0
        })
    }
}

impl Connection {
    /// Client: the initial subflow, SYN queued.
    pub(crate) fn start_client(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
    ) -> usize {
        let idx = self.add_subflow(now, local, remote, TcpState::SynSent);
        if self.mode == Mode::Tcp {
            self.use_plain_tcp();
        }
        self.subflows[idx].syn_pending = true;
        idx
    }

    /// Client: a joined subflow (RFC 8684 §3.2), SYN queued.
    pub(crate) fn open_join(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        backup: bool,
        local_id: Option<u8>,
    ) -> Option<usize> {
        if self.mode != Mode::Mptcp
            || !self.fully_established
            || self.remote_key.is_none()
            || self.closed.is_some()
        {
            return None;
        }
        let alive = self.live_subflows();
        if alive >= self.config.max_subflows {
            return None;
        }
        if let Some(id) = local_id {
            if !self.local_ids.iter().any(|(a, _)| *a == local.ip()) && self.local_ids.len() < 32 {
                self.local_ids.push((local.ip(), id));
            }
        }
        let local_addr_id = self.local_addr_id(local.ip());
        let remote_addr_id = self
            .remote_addrs
            .iter()
            .find(|(_, a)| a.ip() == remote.ip())
            .map_or(0, |(id, _)| *id);
        let nonce = rand::Rng::gen(&mut self.rng);
        let idx = self.add_subflow(now, local, remote, TcpState::SynSent);
        let sf = &mut self.subflows[idx];
        sf.join = Some(JoinState {
            local_nonce: nonce,
            remote_nonce: 0,
            local_addr_id,
            remote_addr_id,
            fully_established: false,
        });
        sf.local_addr_id = local_addr_id;
        sf.remote_addr_id = remote_addr_id;
        // Backup by the path manager's choice or by `EndpointConfig::backup_addrs`.
        sf.backup_local |= backup;
        sf.syn_pending = true;
        Some(idx)
    }

    /// Our address ID for a local address: the one the path manager chose or announced,
    /// else its position in our address list (0 = initial).
    pub(crate) fn local_addr_id(&self, ip: std::net::IpAddr) -> u8 {
        if let Some(first) = self.subflows.first() {
            if first.local.ip() == ip {
                return 0;
            }
        }
        if let Some((_, id)) = self.local_ids.iter().find(|(a, _)| *a == ip) {
            return *id;
        }
        if let Some(a) = self.announcements.iter().find(|a| a.addr == ip) {
            return a.id;
        }
        self.local_addrs
            .iter()
            .position(|a| *a == ip)
            .map_or(0, |p| (p + 1).min(255) as u8)
    }

    /// Applies the SYN's TCP options to a subflow (RFC 7323 §2.2, RFC 2018 §2, RFC 9293 §3.7.1).
    fn negotiate_syn_options(
        &mut self,
        idx: usize,
        seg: &TcpRepr<'_>,
        opts: &SegOptions,
        we_offered: bool,
    ) {
        let our_mss = u32::from(self.config.mss);
        let sf = &mut self.subflows[idx];
        sf.irs = seg.seq;
        sf.rcv_nxt = 1;
        sf.mss = our_mss.min(u32::from(opts.mss.unwrap_or(536)).max(64));
        sf.cc.on_mss(sf.mss);
        sf.wscale_ok = opts.wscale.is_some();
        match opts.wscale {
            Some(w) => sf.snd_wscale = w.min(14),
            None => {
                sf.snd_wscale = 0;
                sf.rcv_wscale = 0;
            }
        }
        sf.sack_ok = opts.sack_permitted;
        if let Some((tsval, _)) = opts.timestamp {
            sf.ts_ok = true;
            sf.ts_recent = tsval;
        } else {
            sf.ts_ok = false;
        }
        let _ = we_offered;
        sf.snd_wnd = u64::from(seg.window);
        sf.max_snd_wnd = sf.snd_wnd;
    }

    /// Server: the initial subflow from a SYN (RFC 9293 LISTEN state; RFC 8684 §3.1).
    pub(crate) fn accept_syn(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        seg: &TcpRepr<'_>,
        opts: &SegOptions,
    ) -> usize {
        let idx = self.add_subflow(now, local, remote, TcpState::SynReceived);
        self.negotiate_syn_options(idx, seg, opts, false);
        match (self.mode, opts.syn_mpc()) {
            (Mode::Mptcp, Some(mpc)) => {
                self.checksum |= mpc.flags & MpCapable::FLAG_A != 0;
                self.peer_deny_join_initial = mpc.flags & MpCapable::FLAG_C != 0;
            }
            _ => self.use_plain_tcp(),
        }
        self.subflows[idx].syn_pending = true;
        idx
    }

    /// Server: a joined subflow from an MP_JOIN SYN whose token matched (RFC 8684 §3.2).
    pub(crate) fn accept_join(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        seg: &TcpRepr<'_>,
        opts: &SegOptions,
    ) -> Option<usize> {
        let Some(MpJoin::Syn {
            backup,
            addr_id,
            nonce,
            ..
        }) = opts.join
        else {
            return None;
        };
        self.stats.mp_join_syn_rx += 1;
        if self.mode != Mode::Mptcp
            || self.remote_key.is_none()
            || self.closed.is_some()
            || self.shutdown && self.data_fin_acked
        {
            return None;
        }
        let alive = self.live_subflows();
        if alive >= self.config.max_subflows {
            return None;
        }
        // Flag C: refuse joins to our initial address and port.
        if self.deny_join_initial_local() && self.subflows.first().is_some_and(|s| s.local == local)
        {
            return None;
        }
        if self.with_path_manager(now, |pm, ctx| pm.allow_join(ctx, local, remote)) == Some(false) {
            return None;
        }
        let local_addr_id = self.local_addr_id(local.ip());
        let local_nonce = rand::Rng::gen(&mut self.rng);
        let idx = self.add_subflow(now, local, remote, TcpState::SynReceived);
        self.negotiate_syn_options(idx, seg, opts, false);
        let sf = &mut self.subflows[idx];
        sf.join = Some(JoinState {
            local_nonce,
            remote_nonce: nonce,
            local_addr_id,
            remote_addr_id: addr_id,
            fully_established: false,
        });
        sf.local_addr_id = local_addr_id;
        sf.remote_addr_id = addr_id;
        sf.backup_remote = backup;
        sf.syn_pending = true;
        Some(idx)
    }

    /// One segment for subflow `idx` (already matched by 4-tuple).
    pub(crate) fn handle_segment(
        &mut self,
        now: Instant,
        idx: usize,
        seg: &TcpRepr<'_>,
        opts: &SegOptions,
    ) {
        let Some(sf) = self.subflows.get_mut(idx) else {
            return;
        };
        sf.stats.segments_received += 1;
        sf.last_rx = now;
        sf.keepalive_probes = 0;
        match sf.state {
            TcpState::Closed => {}
            TcpState::SynSent => self.on_syn_sent(now, idx, seg, opts),
            _ => self.on_synchronized(now, idx, seg, opts),
        }
        // A subflow in TIME_WAIT carries nothing more: it is down for the application.
        if let Some(sf) = self.subflows.get_mut(idx) {
            if sf.state == TcpState::TimeWait && !sf.down_reported {
                sf.down_reported = true;
                let id = sf.id;
                self.push_event(Event::SubflowDown {
                    conn: self.handle,
                    subflow: id,
                    reason: CloseReason::Normal,
                });
            }
        }
    }

    /// RFC 9293 §3.10.7.3: SYN-SENT.
    fn on_syn_sent(&mut self, now: Instant, idx: usize, seg: &TcpRepr<'_>, opts: &SegOptions) {
        let sf = &self.subflows[idx];
        let ack_ok = seg.flags.ack() && seg.ack == sf.seq_of(1);
        if seg.flags.ack() && !ack_ok {
            return;
        }
        if seg.flags.rst() {
            if ack_ok {
                let initial = idx == 0;
                self.subflow_closed(idx, CloseReason::Refused);
                if initial {
                    self.close(CloseReason::Refused);
                }
            }
            return;
        }
        if !seg.flags.syn() || !ack_ok {
            // Simultaneous open is not supported: ignore.
            return;
        }
        self.negotiate_syn_options(idx, seg, opts, true);
        {
            let sf = &mut self.subflows[idx];
            // RFC 7323 RTTM: the SYN/ACK echoes the SYN it answers, so even after a SYN
            // retransmission (no sample by Karn's rule) the handshake measures the RTT.
            // Without it a join that needed a retransmitted SYN (a path that just came
            // back) starts on the initial RTT guess, and the scheduler's window guard
            // takes it for a very slow path.
            sf.ts_echo = opts.timestamp.filter(|_| sf.ts_ok).map(|(_, ecr)| ecr);
            sf.snd_wnd = u64::from(seg.window) << sf.snd_wscale;
            sf.snd_wl1 = 0;
            sf.snd_wl2 = 1;
            sf.state = TcpState::Established;
            sf.syn_pending = false;
        }
        let initial_rtt = self.config.initial_rto;
        let view_paths: Vec<_> = self
            .subflows
            .iter()
            .map(|s| s.path_info(initial_rtt))
            .collect();
        let view = crate::congestion::CcView {
            paths: &view_paths,
            me: idx,
        };
        self.subflows[idx].on_ack(now, 1, &[], false, false, &view);
        self.subflows[idx].ack_now = true;
        if self.subflows[idx].join.is_some() {
            self.on_join_synack(now, idx, opts);
            return;
        }
        // The initial subflow: did the server keep MPTCP?
        if self.mode == Mode::Mptcp {
            match opts.keyed_mpc().filter(|m| m.receiver_key.is_none()) {
                Some(mpc) if self.offer_mptcp => {
                    let key = mpc.sender_key.unwrap_or(0);
                    self.set_remote_key(key);
                    self.checksum |= mpc.flags & MpCapable::FLAG_A != 0;
                    self.peer_deny_join_initial = mpc.flags & MpCapable::FLAG_C != 0;
                    self.mptcp_negotiated = true;
                    self.subflows[idx].handshake_ack_pending = true;
                }
                _ => self.fall_back_at_start(),
            }
        }
        self.announced_to_app = true;
        self.push_event(Event::Connected(self.handle));
        let (l, r, id) = (
            self.subflows[idx].local,
            self.subflows[idx].remote,
            self.subflows[idx].id,
        );
        self.push_event(Event::SubflowUp {
            conn: self.handle,
            subflow: id,
            local: l,
            remote: r,
        });
    }

    /// Records the peer's key and what derives from it.
    pub(crate) fn set_remote_key(&mut self, key: u64) {
        self.remote_key = Some(key);
        self.remote_token = crypto::token(key);
        self.remote_idsn = crypto::idsn(key);
    }

    /// Client side of MP_JOIN: check the SYN/ACK's HMAC (RFC 8684 §3.2).
    fn on_join_synack(&mut self, now: Instant, idx: usize, opts: &SegOptions) {
        let Some(remote_key) = self.remote_key else {
            return;
        };
        let local_key = self.local_key;
        let ok = match (opts.join, self.subflows[idx].join) {
            (
                Some(MpJoin::SynAck {
                    backup,
                    addr_id,
                    hmac,
                    nonce,
                }),
                Some(mut js),
            ) => {
                let expected =
                    crypto::join_hmac_truncated(remote_key, local_key, nonce, js.local_nonce);
                if expected == hmac {
                    js.remote_nonce = nonce;
                    js.remote_addr_id = addr_id;
                    let sf = &mut self.subflows[idx];
                    sf.join = Some(js);
                    sf.remote_addr_id = addr_id;
                    sf.backup_remote = backup;
                    sf.handshake_ack_pending = true;
                    let (a, b, c) = self.rto_bounds();
                    self.subflows[idx].arm_rto_with(now, a, b, c);
                    true
                } else {
                    self.stats.mp_join_hmac_failure += 1;
                    false
                }
            }
            _ => false,
        };
        if !ok {
            self.subflows[idx].request_reset(MpTcpRst::REASON_MPTCP, CloseReason::ProtocolError);
            return;
        }
        let sf = &self.subflows[idx];
        let (l, r, id) = (sf.local, sf.remote, sf.id);
        self.push_event(Event::SubflowUp {
            conn: self.handle,
            subflow: id,
            local: l,
            remote: r,
        });
        self.pm_subflow_up(now, idx);
    }

    /// RFC 9293 §3.10.7.4: every synchronized state and SYN-RECEIVED.
    fn on_synchronized(&mut self, now: Instant, idx: usize, seg: &TcpRepr<'_>, opts: &SegOptions) {
        let recv_window = self.config.recv_buffer as u64;
        let mptcp = self.mode == Mode::Mptcp;
        let sf = &mut self.subflows[idx];
        let seg_off = unwrap_seq(sf.rcv_nxt, sf.irs, seg.seq);
        let seg_len = seg.payload.len() as u64 + u64::from(seg.flags.fin());
        // PAWS (RFC 7323 §5).
        if sf.ts_ok && !seg.flags.rst() {
            if let Some((tsval, _)) = opts.timestamp {
                if (tsval.wrapping_sub(sf.ts_recent) as i32) < 0 {
                    sf.ack_now = true;
                    return;
                }
            }
        }
        // Acceptability (RFC 9293 §3.10.7.4 first check). With MPTCP the real window is at
        // data level; the subflow accepts anything within the buffer's reach.
        let wnd = if mptcp {
            recv_window
        } else {
            sf.rcv_wnd_adv.max(recv_window.min(sf.rcv_wnd_adv + 1))
        };
        // RFC 9293: a zero-length segment is acceptable from RCV.NXT on. Keepalive and
        // window probes sit at RCV.NXT - 1 precisely so that they are not, and get an ACK.
        let acceptable = if seg_len == 0 {
            seg_off >= sf.rcv_nxt && seg_off <= sf.rcv_nxt + wnd
        } else {
            // A sequence number before the ISN unwraps to just below 2^64: saturate.
            seg_off.saturating_add(seg_len) > sf.rcv_nxt && seg_off < sf.rcv_nxt + wnd.max(1)
        };
        if seg.flags.rst() {
            self.on_rst(now, idx, seg_off, opts);
            return;
        }
        if !acceptable {
            sf.ack_now = true;
            return;
        }
        if let (true, Some((tsval, tsecr))) = (sf.ts_ok, opts.timestamp) {
            if seg_off <= sf.rcv_nxt {
                sf.ts_recent = tsval;
            }
            if !seg.payload.is_empty() {
                sf.on_data_timestamp(now, tsecr);
            }
        }
        if seg.flags.syn() {
            if sf.state == TcpState::SynReceived && seg.seq == sf.irs {
                sf.syn_pending = true;
            } else {
                // RFC 5961 §4: challenge ACK.
                sf.challenge_ack(now);
            }
            return;
        }
        if !seg.flags.ack() {
            return;
        }
        if sf.state == TcpState::SynReceived {
            if seg.ack != sf.seq_of(1) {
                return;
            }
            if !self.complete_passive_open(now, idx, opts) {
                return;
            }
        }
        if !self.process_ack(now, idx, seg, seg_off, opts) {
            return;
        }
        if self.mode == Mode::Tcp && self.mp_fail_repeats > 0 {
            // After our MP_FAIL: the peer's MP_FAIL or infinite mapping answers it.
            let infinite = opts
                .dss
                .is_some_and(|d| d.mapping.is_some_and(|m| m.data_len == 0));
            if opts.fail.is_some() || infinite {
                self.mp_fail_repeats = 0;
                for sf in self.subflows.iter_mut() {
                    sf.mp_fail = None;
                    sf.mp_fail_due = false;
                }
                self.stats.mp_fail_rx += u64::from(opts.fail.is_some());
                self.stats.infinite_map_rx += u64::from(infinite);
            }
        }
        let mut payload_ok = true;
        if self.mode == Mode::Mptcp {
            payload_ok = self.process_mptcp_options(now, idx, seg, opts);
            if self
                .subflows
                .get(idx)
                .is_none_or(|s| s.state == TcpState::Closed)
                || self.subflows[idx].reset_pending.is_some()
            {
                // Closed or condemned (e.g. a mapping that contradicts an earlier one): none
                // of this segment's data may reach the stream.
                return;
            }
        }
        if !seg.payload.is_empty() {
            if payload_ok {
                self.process_data(now, idx, seg_off, seg.payload, opts);
            } else {
                // Its mapping could not be kept: accepting the bytes would strand them (the
                // peer sends a mapping once, on its first segment). Let the peer resend.
                self.subflows[idx].ack_now = true;
            }
        }
        if seg.flags.fin() {
            let fin_off = seg_off + seg.payload.len() as u64;
            self.subflows[idx].fin_rcvd = Some(fin_off);
        }
        self.process_fin(idx);
    }

    /// RFC 5961 §3.2: a RST resets only when its sequence number is exactly RCV.NXT.
    fn on_rst(&mut self, now: Instant, idx: usize, seg_off: u64, opts: &SegOptions) {
        let sf = &mut self.subflows[idx];
        if seg_off != sf.rcv_nxt {
            if seg_off > sf.rcv_nxt && seg_off < sf.rcv_nxt + self.config.recv_buffer as u64 {
                sf.challenge_ack(now);
            } else {
                sf.stats.rst_ignored += 1;
            }
            return;
        }
        if opts.tcprst.is_some() {
            self.stats.mp_rst_rx += 1;
        }
        if let Some(fc) = opts.fastclose {
            self.on_fastclose(fc);
        }
        let sf = &self.subflows[idx];
        let reason = if sf.state == TcpState::SynReceived {
            CloseReason::Refused
        } else {
            CloseReason::PeerReset
        };
        if self.mode == Mode::Tcp || self.live_subflows() == 1 && !self.mptcp_negotiated {
            self.close(CloseReason::PeerReset);
        }
        self.subflow_closed(idx, reason);
    }

    /// MP_FASTCLOSE (RFC 8684 §3.5): only with our own key.
    pub(crate) fn on_fastclose(&mut self, fc: MpFastclose) {
        if fc.receiver_key != self.local_key {
            self.stats.mp_fastclose_bad_key += 1;
            return;
        }
        self.stats.mp_fastclose_rx += 1;
        for sf in self.subflows.iter_mut() {
            if sf.state != TcpState::Closed && sf.state != TcpState::TimeWait {
                sf.request_reset(MpTcpRst::REASON_UNSPECIFIED, CloseReason::PeerReset);
            }
        }
        self.close(CloseReason::PeerReset);
    }

    /// SYN-RECEIVED + acceptable ACK: the passive open completes.
    fn complete_passive_open(&mut self, now: Instant, idx: usize, opts: &SegOptions) -> bool {
        if let Some(js) = self.subflows[idx].join {
            let Some(remote_key) = self.remote_key else {
                return false;
            };
            let ok = match opts.join {
                Some(MpJoin::Ack { hmac }) => {
                    let full = crypto::join_hmac(
                        remote_key,
                        self.local_key,
                        js.remote_nonce,
                        js.local_nonce,
                    );
                    full[..20] == hmac[..]
                }
                _ => false,
            };
            if !ok {
                self.stats.mp_join_hmac_failure += 1;
                self.subflows[idx]
                    .request_reset(MpTcpRst::REASON_PROHIBITED, CloseReason::ProtocolError);
                return false;
            }
            let sf = &mut self.subflows[idx];
            sf.state = TcpState::Established;
            sf.syn_pending = false;
            if let Some(j) = sf.join.as_mut() {
                j.fully_established = true;
            }
            // The "fourth ACK" lets the client send data (RFC 8684 §3.2).
            sf.ack_now = true;
            let (l, r, id) = (sf.local, sf.remote, sf.id);
            self.push_event(Event::SubflowUp {
                conn: self.handle,
                subflow: id,
                local: l,
                remote: r,
            });
            self.pm_subflow_up(now, idx);
            return true;
        }
        // The initial subflow: the keys (RFC 8684 §3.1).
        if self.mode == Mode::Mptcp {
            let mpc = opts
                .keyed_mpc()
                .filter(|m| m.receiver_key == Some(self.local_key));
            match mpc {
                Some(m) => {
                    self.set_remote_key(m.sender_key.unwrap_or(0));
                    self.checksum |= m.flags & MpCapable::FLAG_A != 0;
                    self.mptcp_negotiated = true;
                    self.fully_established = true;
                    if let Some(len) = m.data_len {
                        // MP_CAPABLE with data: the mapping starts at IDSN + 1, SSN 1.
                        let dsn = Dsn(self.remote_idsn.wrapping_add(1));
                        self.add_rx_map(idx, 1, dsn, u32::from(len), m.checksum, false);
                    }
                }
                // No keys on the segment that completes the handshake (third ACK lost or
                // stripped, even if DSS follows): Linux falls back here; so do we.
                None => self.fall_back_at_start(),
            }
        }
        let sf = &mut self.subflows[idx];
        sf.state = TcpState::Established;
        sf.syn_pending = false;
        let (l, r, id) = (sf.local, sf.remote, sf.id);
        self.announced_to_app = true;
        self.push_event(Event::Incoming {
            conn: self.handle,
            remote: r,
            local: l,
        });
        self.push_event(Event::SubflowUp {
            conn: self.handle,
            subflow: id,
            local: l,
            remote: r,
        });
        if self.mode == Mode::Mptcp {
            self.on_fully_established(now);
        }
        true
    }

    /// Fallback before any data flowed: identity mappings from the start.
    pub(crate) fn fall_back_at_start(&mut self) {
        self.use_plain_tcp();
        self.fell_back = true;
        // After a completed MP_CAPABLE handshake the peer speaks MPTCP: one final infinite
        // mapping tells it (RFC 8684 §3.7, FB-06), then no MPTCP option at all.
        if self.mptcp_negotiated {
            self.send_infinite_map = true;
        }
        self.push_event(Event::FellBack(self.handle));
    }

    /// The connection became fully established: path manager actions.
    pub(crate) fn on_fully_established(&mut self, now: Instant) {
        self.fully_established = true;
        if self.joins_allowed_at.is_none() {
            let at = now + self.config.join_delay;
            self.joins_allowed_at = Some(at);
            if at > now {
                self.conn_timers[ConnTimer::JoinDelay as usize] = Some(at);
            }
        }
        self.pm_call(now, |pm, ctx| pm.on_established(ctx));
    }

    /// The ACK field: RFC 5961 §5.2 range check, window update, SACK, congestion control.
    /// Returns false when the segment must be dropped.
    fn process_ack(
        &mut self,
        now: Instant,
        idx: usize,
        seg: &TcpRepr<'_>,
        seg_off: u64,
        opts: &SegOptions,
    ) -> bool {
        let initial_rtt = self.config.initial_rto;
        let sf = &mut self.subflows[idx];
        let ack_off = unwrap_seq(sf.snd_una, sf.iss, seg.ack);
        // RFC 5961 §5.2: acceptable from SND.UNA - MAX.SND.WND to SND.NXT.
        if ack_off > sf.snd_max || ack_off + sf.max_snd_wnd.max(65535) < sf.snd_una {
            sf.challenge_ack(now);
            return false;
        }
        let wnd = u64::from(seg.window) << sf.snd_wscale;
        let mut window_changed = false;
        if sf.snd_wl1 < seg_off || (sf.snd_wl1 == seg_off && sf.snd_wl2 <= ack_off) {
            window_changed = wnd != sf.snd_wnd;
            sf.snd_wnd = wnd;
            sf.max_snd_wnd = sf.max_snd_wnd.max(wnd);
            sf.snd_wl1 = seg_off;
            sf.snd_wl2 = ack_off;
        }
        let mut blocks: SmallVec<[(u64, u64); 4]> = SmallVec::new();
        if sf.sack_ok {
            for (l, r) in opts.sack.iter() {
                let s = unwrap_seq(sf.snd_una, sf.iss, *l);
                let e = unwrap_seq(sf.snd_una, sf.iss, *r);
                if s < e && e <= sf.snd_max {
                    blocks.push((s, e));
                }
            }
        }
        let paths: SmallVec<[crate::congestion::PathInfo; 8]> = self
            .subflows
            .iter()
            .map(|s| s.path_info(initial_rtt))
            .collect();
        let view = crate::congestion::CcView {
            paths: &paths,
            me: idx,
        };
        let sf = &mut self.subflows[idx];
        let has_data = !seg.payload.is_empty() || seg.flags.fin();
        sf.ts_echo = opts.timestamp.map(|(_, ecr)| ecr);
        let newly = sf.on_ack(now, ack_off, &blocks, has_data, window_changed, &view);
        if newly > 0 || sf.snd_una >= sf.snd_max {
            let (a, b, c) = (
                self.config.initial_rto,
                self.config.min_rto,
                self.config.max_rto,
            );
            let sf = &mut self.subflows[idx];
            if sf.snd_una < sf.snd_max {
                sf.arm_rto_with(now, a, b, c);
            }
        }
        let sf = &mut self.subflows[idx];
        // Client MP_JOIN: any ACK after our third ACK is the fourth ACK.
        if let Some(js) = sf.join.as_mut() {
            if !js.fully_established && sf.active_open {
                js.fully_established = true;
                sf.handshake_ack_pending = false;
                if sf.snd_una >= sf.snd_max {
                    sf.timers[Timer::Rto as usize] = None;
                }
            }
        }
        // Our FIN acknowledged.
        if let Some(f) = sf.fin_off {
            if sf.snd_una > f {
                match sf.state {
                    TcpState::FinWait1 => {
                        sf.state = TcpState::FinWait2;
                        // Checked then: an orphaned FIN-WAIT-2 does not last (Linux
                        // tcp_fin_timeout), see `on_timer`.
                        sf.timers[Timer::TimeWait as usize] = Some(now + self.config.time_wait);
                    }
                    TcpState::Closing => {
                        sf.state = TcpState::TimeWait;
                        sf.timers[Timer::TimeWait as usize] = Some(now + self.config.time_wait);
                    }
                    TcpState::LastAck => {
                        self.subflow_closed(idx, CloseReason::Normal);
                        return false;
                    }
                    _ => {}
                }
            }
        }
        if self.mode == Mode::Tcp {
            self.tcp_data_ack(idx);
        } else if newly > 0 {
            self.release_send_buffer();
        }
        true
    }

    /// Plain TCP / fallback: the subflow's ACK is the data-level ACK.
    fn tcp_data_ack(&mut self, idx: usize) {
        let Some((ssn0, d0)) = self.tx_infinite else {
            return;
        };
        let sf = &self.subflows[idx];
        if sf.snd_una < ssn0 {
            return;
        }
        let fin_extra = u64::from(sf.fin_off.is_some_and(|f| sf.snd_una > f));
        let acked = (d0 + (sf.snd_una - ssn0) - fin_extra).min(self.send_buf.end());
        if acked > self.data_una {
            self.data_una = acked;
            self.snd_wnd_edge = self.data_una + sf.snd_wnd;
            self.release_send_buffer();
        }
        if fin_extra == 1 && self.shutdown {
            self.data_fin_acked = true;
        }
    }

    /// DSS, ADD_ADDR, REMOVE_ADDR, MP_PRIO, MP_FAIL, MP_FASTCLOSE on an acceptable segment.
    /// Returns false when the segment's payload must not be accepted: it carried a mapping
    /// the receiver could not keep.
    fn process_mptcp_options(
        &mut self,
        now: Instant,
        idx: usize,
        seg: &TcpRepr<'_>,
        opts: &SegOptions,
    ) -> bool {
        let mut payload_ok = true;
        // Whether a segment without options may show a peer (or path) without MPTCP: pure
        // ACKs may, and so may in-order data that no known mapping covers. Other data may
        // continue a mapping whose first segment (the only one with the DSS) is lost or
        // still on its way.
        let judged = seg.payload.is_empty() || {
            let sf = &self.subflows[idx];
            let off = unwrap_seq(sf.rcv_nxt, sf.irs, seg.seq);
            off == sf.rcv_nxt && !self.rx_map_covers(idx, off)
        };
        // Client: the first DATA_ACK makes the connection fully established (RFC 8684 §3.1).
        if let Some(dss) = opts.dss {
            if let Some(dack) = dss.data_ack {
                self.data_ack_seen = true;
                self.process_data_ack(dack.value, dack.wide, seg.window, idx);
                if !self.fully_established && self.role == Role::Client {
                    self.on_fully_established(now);
                }
            }
            if let Some(map) = dss.mapping {
                let expected = Dsn(self
                    .remote_idsn
                    .wrapping_add(1)
                    .wrapping_add(self.recv.next_offset()));
                let dsn = if map.wide {
                    Dsn(map.dsn)
                } else {
                    expected.expand(map.dsn as u32)
                };
                if map.data_len == 0 {
                    // Infinite mapping (RFC 8684 §3.7): the peer fell back.
                    self.stats.infinite_map_rx += 1;
                    let sf = &self.subflows[idx];
                    let ssn = unwrap_seq(sf.rcv_nxt, SeqNum(0), SeqNum(map.ssn));
                    let data_off = dsn.0.wrapping_sub(self.remote_idsn.wrapping_add(1));
                    self.fall_back();
                    self.rx_infinite = Some((ssn, data_off));
                    self.place_held_as_tcp();
                } else {
                    let mut len = u32::from(map.data_len);
                    if dss.data_fin {
                        let fin_dsn = dsn + u64::from(len - 1);
                        let fin_off = fin_dsn.0.wrapping_sub(self.remote_idsn.wrapping_add(1));
                        if fin_off >= self.recv.next_offset().saturating_sub(1)
                            && fin_off < self.recv.next_offset() + (1 << 40)
                        {
                            self.rcv_fin.get_or_insert(fin_off);
                        }
                        len -= 1;
                    }
                    if len > 0 && map.ssn != 0 {
                        let sf = &self.subflows[idx];
                        let ssn = unwrap_seq(sf.rcv_nxt, SeqNum(0), SeqNum(map.ssn));
                        payload_ok &=
                            self.add_rx_map(idx, ssn, dsn, len, map.checksum, dss.data_fin);
                    }
                    if dss.data_fin {
                        self.check_peer_finished();
                        self.subflows[idx].ack_now = true;
                    }
                }
            }
        } else if self.data_ack_seen
            && self.fully_established
            && idx == 0
            && self.next_subflow_id == 1
            && !seg.flags.fin()
            && judged
            && !opts.any_mptcp
            && self.subflows[idx].snd_una > self.data_una + 1
        {
            // A peer that keeps MPTCP puts a DATA_ACK on every pure ACK; this one
            // acknowledged data at subflow level without it: it fell back (its side saw the
            // DSS options vanish). Only safe on a connection that never had another subflow,
            // where subflow and data sequence numbers still map one to one (see `judged`).
            let rcv = self.subflows[idx].rcv_nxt.max(1);
            self.fall_back_at_start();
            self.rx_infinite = Some((rcv, self.recv.next_offset()));
            self.place_held_as_tcp();
            return true;
        } else if !self.data_ack_seen
            && judged
            && idx == 0
            && !opts.any_mptcp
            && self.live_subflows() == 1
        {
            // RFC 8684 §3.7: our data is acknowledged but no DATA_ACK ever came: the path
            // strips DSS options. Fall back to TCP. (A segment with any MPTCP option, such
            // as an ADD_ADDR that left no room for a DSS, shows the options get through.)
            // (Only segments that can show it: see `judged`.)
            let sf = &self.subflows[idx];
            if sf.snd_una > 1 {
                let rcv = sf.rcv_nxt.max(1);
                self.fall_back_at_start();
                self.rx_infinite = Some((rcv, self.recv.next_offset()));
                self.place_held_as_tcp();
                return true;
            }
        }
        // The client repeats MP_CAPABLE on its first data until it hears a DATA_ACK
        // (RFC 8684 §3.1): that mapping starts at IDSN + 1, SSN 1.
        if let (Role::Server, Some(m)) = (self.role, opts.mpc) {
            if let (Some(len), true) = (
                m.data_len,
                m.receiver_key == Some(self.local_key) && m.sender_key == self.remote_key,
            ) {
                let dsn = Dsn(self.remote_idsn.wrapping_add(1));
                payload_ok &= self.add_rx_map(idx, 1, dsn, u32::from(len), m.checksum, false);
            }
        }
        for aa in opts.add_addr.iter() {
            self.on_add_addr(now, *aa);
        }
        if let Some(ra) = opts.remove_addr.as_ref() {
            self.on_remove_addr(now, ra);
        }
        if let Some(prio) = opts.prio {
            self.stats.mp_prio_rx += 1;
            if let Some(sf) = self.subflows.get_mut(idx) {
                sf.backup_remote = prio.backup;
            }
        }
        if opts.fail.is_some() {
            // RFC 8684 §3.7: our data failed the peer's checksum. Alone on one subflow with
            // contiguous data: answer with MP_FAIL, send an infinite mapping and continue
            // as TCP. Otherwise this subflow goes; its data is reinjected on the others.
            self.stats.mp_fail_rx += 1;
            if self.infinite_fallback_allowed() {
                let dsn = self
                    .remote_idsn
                    .wrapping_add(1)
                    .wrapping_add(self.recv.next_offset());
                self.fall_back();
                self.place_held_as_tcp();
                self.send_infinite_map = true;
                if let Some(sf) = self.subflows.get_mut(idx) {
                    sf.mp_fail = Some(dsn);
                    sf.mp_fail_due = true;
                }
            } else if let Some(sf) = self.subflows.get_mut(idx) {
                sf.request_reset(MpTcpRst::REASON_MIDDLEBOX, CloseReason::ProtocolError);
            }
        }
        if let Some(fc) = opts.fastclose {
            self.on_fastclose(fc);
        }
        payload_ok
    }

    /// A DATA_ACK (RFC 8684 §3.3.2); the window is relative to it (§3.3.4).
    fn process_data_ack(&mut self, value: u64, wide: bool, window: u16, idx: usize) {
        let base = self.local_idsn.wrapping_add(1);
        let current = Dsn(base.wrapping_add(self.data_una));
        let dack = if wide {
            Dsn(value)
        } else {
            current.expand(value as u32)
        };
        let off = dack.0.wrapping_sub(base);
        let max = self.data_nxt.max(self.reinject.last().map_or(0, |r| r.1))
            + u64::from(self.data_fin_sent);
        if off < self.data_una || off > max {
            return;
        }
        let wscale = self.subflows.get(idx).map_or(0, |s| s.snd_wscale);
        let edge = off + (u64::from(window) << wscale);
        self.snd_wnd_edge = self.snd_wnd_edge.max(edge);
        if off > self.data_una {
            let fin = self.data_fin_offset();
            self.data_una = off.min(self.send_buf.end());
            if fin.is_some_and(|f| off > f) {
                self.data_fin_acked = true;
                self.conn_timers[super::ConnTimer::DataFin as usize] = None;
            }
            self.reinject.remove_below(self.data_una);
            // Progress: the data-level retransmission timer starts over (re-armed when data
            // is next scheduled).
            self.conn_timers[super::ConnTimer::DataRetransmit as usize] = None;
            self.data_rtx_backoff = 0;
            self.release_send_buffer();
        }
    }

    /// Records a receive mapping; inconsistent ones reset the subflow (RFC 8684 §3.3.1).
    /// Returns false when the mapping is needed but could not be kept (table or buffer
    /// full, or inconsistent): the caller must then not accept the segment's payload.
    pub(crate) fn add_rx_map(
        &mut self,
        idx: usize,
        ssn: u64,
        dsn: Dsn,
        len: u32,
        checksum: Option<u16>,
        data_fin: bool,
    ) -> bool {
        let use_csum = self.checksum;
        let wants_pending = use_csum && checksum.is_some();
        // The mapping must start before the furthest our window ever reached (data offset
        // from the connection's start; a mapping below what was delivered is a retransmission
        // and fine, one before the stream's start is not).
        let doff = dsn.0.wrapping_sub(self.remote_idsn.wrapping_add(1));
        let window_ok = doff < (1 << 62) && doff <= self.data_window_end();
        // Receive-side bytes already held (reassembly and checksum collection buffers).
        let held_rx = self.buffered_bytes() - self.send_buf.len();
        let recv_buffer = self.config.recv_buffer;
        let max_maps = self.max_rx_maps();
        let Some(sf) = self.subflows.get_mut(idx) else {
            return false;
        };
        // A mapping before the start of the subflow unwraps to just below 2^64.
        let Some(end) = ssn.checked_add(u64::from(len)) else {
            return false;
        };
        if end <= sf.rcv_nxt {
            return true;
        }
        // A checksummed mapping holds `len` bytes until it completes: keep that within the
        // receive buffer, or any peer can make us allocate 512 x 64 KiB per subflow.
        if wants_pending && held_rx + len as usize > recv_buffer {
            return false;
        }
        let pos = sf.rx_maps.partition_point(|m| m.ssn < ssn);
        if let Some(m) = sf.rx_maps.get(pos) {
            if m.ssn == ssn && m.dsn == dsn {
                return true;
            }
        }
        // RFC 8684 §3.3.1: a mapping may repeat or overlap an earlier one only where both
        // give the same DSN for the same subflow byte; and it must lie where our window
        // lets the peer send. Anything else would corrupt the stream: reset the subflow
        // (Linux: MPTcpExt DSSNotMatching, MP_TCPRST "MPTCP-specific error").
        let overlap_ok = |m: &RxMap| {
            let (s, e) = (m.ssn.max(ssn), m.ssn_end().min(end));
            s >= e || m.dsn.0.wrapping_add(s - m.ssn) == dsn.0.wrapping_add(s - ssn)
        };
        let neighbours_ok = pos
            .checked_sub(1)
            .and_then(|p| sf.rx_maps.get(p))
            .is_none_or(overlap_ok)
            && sf
                .rx_maps
                .range(pos..)
                .take_while(|m| m.ssn < end)
                .all(overlap_ok);
        if !neighbours_ok || !window_ok {
            sf.request_reset(MpTcpRst::REASON_MPTCP, CloseReason::ProtocolError);
            self.stats.dss_mapping_errors += 1;
            return false;
        }
        self.mapping_seen = true;
        let Some(sf) = self.subflows.get_mut(idx) else {
            return false;
        };
        // The mapping of the next expected byte always fits (a few beyond the limit): a
        // table full of out-of-order mappings must not block the one that fills the hole.
        let limit = if ssn <= sf.rcv_nxt {
            max_maps + IN_ORDER_SLACK
        } else {
            max_maps
        };
        if sf.rx_maps.len() >= limit {
            return false;
        }
        let pending =
            wants_pending.then(|| (vec![0u8; len as usize], crate::range_set::RangeSet::new(64)));
        sf.rx_maps.insert(
            pos,
            RxMap {
                ssn,
                dsn,
                len,
                checksum: if use_csum { checksum } else { None },
                data_fin,
                pending,
            },
        );
        self.place_unmapped(idx, ssn, end);
        true
    }

    /// Most receive mappings kept per subflow: enough for a receive buffer full of
    /// out-of-order single-segment mappings (a loss on a fast path leaves a window's worth
    /// of them waiting), at least 512.
    fn max_rx_maps(&self) -> usize {
        (self.config.recv_buffer / MIN_MAPPING_BYTES).max(512)
    }

    /// Places held out-of-order bytes that the new mapping `[ssn, end)` covers.
    fn place_unmapped(&mut self, idx: usize, ssn: u64, end: u64) {
        loop {
            let sf = &mut self.subflows[idx];
            // The first held segment that reaches into the mapping.
            let key = sf
                .rx_unmapped
                .range(..end)
                .find(|(k, v)| **k + v.len() as u64 > ssn)
                .map(|(k, _)| *k);
            let Some(key) = key else { return };
            let Some(bytes) = sf.rx_unmapped.remove(&key) else {
                return;
            };
            sf.rx_unmapped_bytes -= bytes.len();
            let mut off = key;
            let mut data = &bytes[..];
            while !data.is_empty() {
                let n = self.place_mapped(idx, off, data);
                if n == 0 {
                    break;
                }
                off += n as u64;
                data = &data[n..];
            }
            // What the mapping does not cover waits for the next one.
            if !data.is_empty() && !self.rx_map_covers(idx, off) {
                let sf = &mut self.subflows[idx];
                sf.rx_unmapped_bytes += data.len();
                sf.rx_unmapped.insert(off, data.to_vec());
            }
            if off == key {
                // Nothing placed (window full): stop rather than loop.
                return;
            }
        }
    }

    /// After a fallback, bytes held for a mapping that will never come are plain TCP data:
    /// place them one to one (they were already acknowledged at subflow level).
    fn place_held_as_tcp(&mut self) {
        for idx in 0..self.subflows.len() {
            let held = std::mem::take(&mut self.subflows[idx].rx_unmapped);
            self.subflows[idx].rx_unmapped_bytes = 0;
            for (mut off, bytes) in held {
                let mut data = &bytes[..];
                while !data.is_empty() {
                    let n = self.place_infinite(off, data);
                    if n == 0 {
                        break;
                    }
                    off += n as u64;
                    data = &data[n..];
                }
            }
        }
    }

    /// Whether a known receive mapping of subflow `idx` covers offset `off`.
    fn rx_map_covers(&self, idx: usize, off: u64) -> bool {
        let sf = &self.subflows[idx];
        let pos = sf.rx_maps.partition_point(|m| m.ssn_end() <= off);
        sf.rx_maps.get(pos).is_some_and(|m| m.ssn <= off)
    }

    /// Holds out-of-order bytes that arrived before their mapping; false when the
    /// receive buffer has no room for them (the peer then resends).
    fn hold_unmapped(&mut self, idx: usize, off: u64, data: &[u8]) -> bool {
        let held_rx = self.buffered_bytes() - self.send_buf.len();
        if held_rx + data.len() > self.config.recv_buffer {
            return false;
        }
        let sf = &mut self.subflows[idx];
        if sf.rx_unmapped.len() >= self.config.max_ooo_ranges {
            return false;
        }
        if let Some(old) = sf.rx_unmapped.get(&off) {
            if old.len() >= data.len() {
                return true;
            }
        }
        let old = sf.rx_unmapped.insert(off, data.to_vec());
        sf.rx_unmapped_bytes += data.len();
        sf.rx_unmapped_bytes -= old.map_or(0, |o| o.len());
        true
    }

    /// Payload of an acceptable segment: place it by data sequence number.
    fn process_data(
        &mut self,
        now: Instant,
        idx: usize,
        seg_off: u64,
        payload: &[u8],
        _opts: &SegOptions,
    ) {
        let sf = &self.subflows[idx];
        if !sf.state.can_receive() && sf.state != TcpState::SynReceived {
            return;
        }
        // Trim what was already received.
        let skip = sf.rcv_nxt.saturating_sub(seg_off);
        if skip >= payload.len() as u64 {
            self.subflows[idx].ack_now = true;
            return;
        }
        let mut off = seg_off + skip;
        let mut data = &payload[skip as usize..];
        // Out of order with no room to remember it: drop it, the peer will resend.
        let end = off + data.len() as u64;
        if off > sf.rcv_nxt && !sf.rcv_ooo.can_insert(off, end) {
            self.subflows[idx].ack_now = true;
            return;
        }
        let mut accepted_end = off;
        let mut out_of_order = off > self.subflows[idx].rcv_nxt;
        // RFC 8684 §3.7: data on the first subflow before any mapping was ever received
        // means a middlebox removed the DSS options: fall back to TCP from here.
        if self.mode == Mode::Mptcp
            && !self.mapping_seen
            && self.subflows[idx].join.is_none()
            && self.live_subflows() == 1
            && self.subflows[idx].rx_maps.is_empty()
            && off == self.subflows[idx].rcv_nxt
        {
            self.fall_back_at_start();
            self.rx_infinite = Some((self.subflows[idx].rcv_nxt, self.recv.next_offset()));
            self.place_held_as_tcp();
            // Our own data so far went out with mappings starting at SSN 1 / data offset 0.
            self.tx_infinite = Some((1, 0));
        }
        let segment_out_of_order = out_of_order;
        while !data.is_empty() {
            let n = match self.mode {
                Mode::Tcp => self.place_infinite(off, data),
                Mode::Mptcp => self.place_mapped(idx, off, data),
            };
            if n == 0 {
                // Out of order and ahead of its mapping (only a mapping's first segment
                // needs to carry it): keep it until the mapping arrives.
                if self.mode == Mode::Mptcp
                    && segment_out_of_order
                    && !self.rx_map_covers(idx, off)
                    && self.hold_unmapped(idx, off, data)
                {
                    off += data.len() as u64;
                    accepted_end = off;
                } else if self.mode == Mode::Mptcp
                    && !segment_out_of_order
                    && off == seg_off + skip
                    && !self.rx_map_covers(idx, off)
                {
                    // In-order data no mapping covers, where falling back is no longer
                    // possible (a join, or other subflows): a middlebox removed the DSS
                    // (RFC 8684 §3.7; Linux resets with MP_TCPRST "middlebox
                    // interference"). Left unacknowledged, the peer would retransmit it
                    // for ever and the subflow would never close.
                    self.stats.dss_mapping_errors += 1;
                    self.subflows[idx]
                        .request_reset(MpTcpRst::REASON_MIDDLEBOX, CloseReason::ProtocolError);
                    return;
                }
                break;
            }
            off += n as u64;
            accepted_end = off;
            data = &data[n..];
        }
        let start = seg_off + skip;
        if accepted_end > start {
            self.autotune_recv_buffer(now, accepted_end - start);
            let filled = self.subflows[idx].on_received(start, accepted_end);
            out_of_order |= filled;
            let sf = &mut self.subflows[idx];
            sf.unacked_segments += 1;
            if out_of_order || sf.unacked_segments >= 2 {
                sf.ack_now = true;
            } else if sf.timers[Timer::DelayedAck as usize].is_none() {
                sf.timers[Timer::DelayedAck as usize] = Some(now + self.config.delayed_ack);
            }
            if self.recv.readable_len() > 0 {
                self.push_event(Event::Readable(self.handle));
            }
            self.prune_rx_maps(idx);
            self.check_peer_finished();
        } else {
            self.subflows[idx].ack_now = true;
        }
    }

    /// Data offset limit the receive buffer allows.
    fn data_window_end(&self) -> u64 {
        self.recv.read_offset() + self.config.recv_buffer as u64
    }

    /// Plain TCP: place bytes one to one; returns how many were accepted.
    fn place_infinite(&mut self, off: u64, data: &[u8]) -> usize {
        let Some((ssn0, d0)) = self.rx_infinite else {
            return 0;
        };
        if off < ssn0 {
            // Before the fallback point: not mapped.
            return 0;
        }
        // `d0` comes from the peer's infinite mapping: any value, so no overflow allowed.
        let Some(doff) = d0.checked_add(off - ssn0) else {
            return 0;
        };
        let room = self.data_window_end().saturating_sub(doff);
        let n = (data.len() as u64).min(room) as usize;
        if n == 0 {
            return 0;
        }
        let out = self.recv.insert(doff, &data[..n]);
        self.stats.duplicate_bytes += out.duplicate_bytes;
        n
    }

    /// MPTCP: place bytes through the receive mapping covering `off`.
    fn place_mapped(&mut self, idx: usize, off: u64, data: &[u8]) -> usize {
        let remote_base = self.remote_idsn.wrapping_add(1);
        let window_end = self.data_window_end();
        let next = self.recv.next_offset();
        let sf = &mut self.subflows[idx];
        let pos = sf.rx_maps.partition_point(|m| m.ssn_end() <= off);
        let Some(map) = sf.rx_maps.get_mut(pos) else {
            return 0;
        };
        if map.ssn > off {
            return 0;
        }
        let within = off - map.ssn;
        let n = (data.len() as u64).min(map.ssn_end() - off) as usize;
        let dsn = map.dsn + within;
        let doff = dsn.0.wrapping_sub(remote_base);
        if let Some((buf, have)) = map.pending.as_mut() {
            // Checksummed mapping: collect, verify when complete (RFC 8684 §3.3.1).
            let w = within as usize;
            if let Some(dst) = buf.get_mut(w..w + n) {
                dst.copy_from_slice(&data[..n]);
            }
            have.insert(within, within + n as u64);
            if have.covers(0, u64::from(map.len)) {
                let ssn_rel = map.ssn as u32;
                let expect = map.checksum.unwrap_or(0);
                let wire_len = (map.len + u32::from(map.data_fin)) as u16;
                let ok = crypto::dss_checksum(map.dsn.0, ssn_rel, wire_len, buf) == expect;
                let map_doff = map.dsn.0.wrapping_sub(remote_base);
                let map_ssn = map.ssn;
                let bytes = std::mem::take(buf);
                map.pending = None;
                if !ok {
                    self.stats.dss_checksum_errors += 1;
                    return if self.on_checksum_failure(idx, map_ssn, map_doff, &bytes) {
                        n
                    } else {
                        0
                    };
                }
                if map_doff.wrapping_sub(next) < (1 << 62) || map_doff < next {
                    let out = self.recv.insert(map_doff, &bytes);
                    self.stats.duplicate_bytes += out.duplicate_bytes;
                }
            }
            return n;
        }
        // Old data (a reinjected duplicate) or within the window.
        if doff.wrapping_sub(next) >= (1 << 62) {
            // Below what was delivered: a duplicate.
            let dup_end = doff.wrapping_add(n as u64);
            if dup_end.wrapping_sub(next) < (1 << 62) && dup_end > next {
                let k = (next.wrapping_sub(doff)) as usize;
                let out = self.recv.insert(next, &data[k..n]);
                self.stats.duplicate_bytes += out.duplicate_bytes + k as u64;
            } else {
                self.stats.duplicate_bytes += n as u64;
            }
            return n;
        }
        let room = window_end.saturating_sub(doff);
        let n = (n as u64).min(room) as usize;
        if n == 0 {
            return 0;
        }
        let out = self.recv.insert(doff, &data[..n]);
        self.stats.duplicate_bytes += out.duplicate_bytes;
        n
    }

    /// Whether an infinite mapping may still replace MPTCP (as Linux's
    /// `allow_infinite_fallback`): one subflow ever and no data sent twice, so subflow and
    /// data sequence numbers map one to one on both sides.
    fn infinite_fallback_allowed(&self) -> bool {
        self.next_subflow_id == 1
            && self.live_subflows() == 1
            && self.stats.reinjected_bytes == 0
            && self.stats.opportunistic_retransmissions == 0
    }

    /// A DSS checksum failed on the mapping at subflow offset `map_ssn`, data offset
    /// `map_doff` (RFC 8684 §3.7). On a lone subflow whose data is contiguous up to the
    /// mapping, fall back to TCP from the mapping's start: its bytes (as the middlebox left
    /// them, as plain TCP would deliver them) and all that follows are the stream, and
    /// MP_FAIL tells the peer, who answers with an infinite mapping. Otherwise the subflow is
    /// reset with MP_FAIL and "middlebox interference"; the mapping is not DATA_ACKed, so
    /// the peer sends it again on another subflow. Returns whether the bytes were taken.
    fn on_checksum_failure(
        &mut self,
        idx: usize,
        map_ssn: u64,
        map_doff: u64,
        bytes: &[u8],
    ) -> bool {
        let dsn = self.remote_idsn.wrapping_add(1).wrapping_add(map_doff);
        let lone = self.infinite_fallback_allowed() && map_doff == self.recv.next_offset();
        if !lone {
            if let Some(sf) = self.subflows.get_mut(idx) {
                sf.mp_fail = Some(dsn);
                sf.request_reset(MpTcpRst::REASON_MIDDLEBOX, CloseReason::ProtocolError);
            }
            return false;
        }
        self.fall_back();
        self.rx_infinite = Some((map_ssn, map_doff));
        let sf = &mut self.subflows[idx];
        sf.mp_fail = Some(dsn);
        sf.mp_fail_due = true;
        self.mp_fail_repeats = MP_FAIL_REPEATS;
        self.place_infinite(map_ssn, bytes);
        // Later mappings' bytes collected while their checksums were pending.
        let later: Vec<(u64, Vec<u8>)> = self.subflows[idx]
            .rx_maps
            .iter_mut()
            .filter(|m| m.ssn >= map_ssn + bytes.len() as u64)
            .filter_map(|m| {
                let ssn = m.ssn;
                m.pending.take().map(|(buf, have)| {
                    have.iter()
                        .filter_map(|(s, e)| {
                            buf.get(s as usize..e as usize)
                                .map(|b| (ssn + s, b.to_vec()))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .flatten()
            .collect();
        for (off, b) in later {
            self.place_infinite(off, &b);
        }
        self.subflows[idx].rx_maps.clear();
        self.place_held_as_tcp();
        true
    }

    /// Drops receive mappings that are fully delivered.
    fn prune_rx_maps(&mut self, idx: usize) {
        let sf = &mut self.subflows[idx];
        while let Some(m) = sf.rx_maps.front() {
            if m.ssn_end() <= sf.rcv_nxt && m.pending.is_none() {
                sf.rx_maps.pop_front();
            } else {
                break;
            }
        }
    }

    /// Reports the end of the peer's data once everything before its (DATA_)FIN arrived.
    pub(crate) fn check_peer_finished(&mut self) {
        if self.peer_finished_reported {
            return;
        }
        if let Some(f) = self.rcv_fin {
            if self.recv.next_offset() >= f {
                self.peer_finished_reported = true;
                self.push_event(Event::PeerFinished(self.handle));
                self.push_event(Event::Readable(self.handle));
                for sf in self.subflows.iter_mut() {
                    if sf.state.is_synchronized() {
                        sf.ack_now = true;
                        break;
                    }
                }
            }
        }
    }

    /// A FIN on the subflow once all before it arrived (RFC 9293 §3.10.7.4 eighth step).
    fn process_fin(&mut self, idx: usize) {
        let now_tw = self.config.time_wait;
        let sf = &mut self.subflows[idx];
        let Some(f) = sf.fin_rcvd else { return };
        if sf.rcv_nxt != f {
            return;
        }
        sf.rcv_nxt = f + 1;
        sf.ack_now = true;
        let our_fin_acked = sf.fin_off.is_some_and(|o| sf.snd_una > o);
        match sf.state {
            TcpState::Established | TcpState::SynReceived => sf.state = TcpState::CloseWait,
            TcpState::FinWait1 if our_fin_acked => {
                sf.state = TcpState::TimeWait;
            }
            TcpState::FinWait1 => sf.state = TcpState::Closing,
            TcpState::FinWait2 => sf.state = TcpState::TimeWait,
            _ => {}
        }
        if sf.state == TcpState::TimeWait {
            sf.timers = [None; crate::tcp::subflow::TIMER_COUNT];
            sf.timers[Timer::TimeWait as usize] = Some(sf.last_rx + now_tw);
        }
        // MPTCP: the peer closed this subflow only (RFC 8684 §3.3.3: a FIN closes the
        // subflow, not the connection). Close our side too; its data goes to the others.
        if self.mode == Mode::Mptcp && self.closed.is_none() {
            let sf = &mut self.subflows[idx];
            if sf.state == TcpState::CloseWait && sf.fin_off.is_none() {
                sf.fin_off = Some(sf.map_end);
                self.reinject_from(idx);
            }
        }
        if self.mode == Mode::Tcp {
            if let Some((ssn0, d0)) = self.rx_infinite {
                if f >= ssn0 {
                    if let Some(fin) = d0.checked_add(f - ssn0) {
                        self.rcv_fin.get_or_insert(fin);
                    }
                }
            }
            self.check_peer_finished();
        }
    }
}
