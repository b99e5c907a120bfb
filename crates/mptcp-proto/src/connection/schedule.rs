//! Assigning data to subflows: the scheduler picks a subflow, the connection creates a
//! mapping (RFC 8684 §3.3.1) that may span many segments. Reinjections go first.
//!
//! Each decision concerns one run of the send buffer (bytes with the same `trusted_only`
//! flag and, for a scheduler that reads data ages, write time; see [`super::send_buffer`]): data marked `trusted_only` is only
//! offered to trusted subflows, whatever the scheduler, and so are its reinjections and
//! opportunistic retransmissions (`super::orp`). A redundant scheduler's copies are made in
//! [`Connection::schedule_redundant`].

use super::{ConnTimer, Connection, Mode};
use crate::event::CloseReason;
use crate::scheduler::{SchedulerInput, SubflowView};
use crate::tcp::subflow::TxMap;
use crate::tcp::TcpState;
use crate::time::{Duration, Instant};
use smallvec::SmallVec;

/// Largest mapping: the data-level length field is 16 bits.
const MAX_MAPPING: u64 = crate::scheduler::MAX_CHUNK;

/// Most chunks assigned per scheduling pass (the next `poll_transmit` goes on).
const ROUNDS: usize = 64;

impl Connection {
    /// Assigns unsent data to subflows and handles the end of the data stream.
    pub(crate) fn schedule(&mut self, now: Instant) {
        if self.closed.is_some() && self.closed != Some(CloseReason::Normal) {
            return;
        }
        // Write times are recorded only for a scheduler that reads them: they cut the data
        // into more runs, hence more (smaller) decisions.
        if self.scheduler.uses_data_age() {
            self.send_buf.stamp(now);
        }
        match self.mode {
            Mode::Tcp => self.schedule_tcp(),
            Mode::Mptcp => self.schedule_mptcp(now),
        }
        self.check_close();
    }

    /// Plain TCP: everything goes to the one subflow, one to one.
    fn schedule_tcp(&mut self) {
        let Some((ssn0, d0)) = self.tx_infinite else {
            return;
        };
        let shutdown = self.shutdown;
        let Some(sf) = self
            .subflows
            .iter_mut()
            .find(|s| s.state != TcpState::Closed)
        else {
            return;
        };
        if !sf.state.is_synchronized() {
            return;
        }
        // Trusted-only data never goes on an untrusted subflow, even the only one: it
        // waits (and so does everything after it).
        let end = if sf.trusted {
            self.send_buf.end()
        } else {
            self.send_buf.next_trusted_only(self.data_nxt)
        };
        // Nagle (RFC 9293 §3.7.4): hold a small tail back while data is unacknowledged,
        // as the MPTCP scheduler does.
        let small = end.saturating_sub(self.data_nxt)
            < u64::from(sf.payload_hint.max(1)).saturating_sub(80);
        let hold = self.config.nagle && small && self.data_una < self.data_nxt && !shutdown;
        if self.data_nxt < end && !hold {
            let len = end - self.data_nxt;
            // One growing mapping: subflow offset = ssn0 + (data offset - d0).
            let ssn = ssn0 + (self.data_nxt - d0);
            match sf.tx_maps.back_mut() {
                Some(m)
                    if m.ssn_end() == ssn
                        && m.data + u64::from(m.len) == self.data_nxt
                        && u64::from(m.len) + len < u64::from(u32::MAX) =>
                {
                    m.len += len as u32;
                }
                _ => sf.push_mapping(TxMap::new(
                    ssn,
                    self.data_nxt,
                    len.min(u64::from(u32::MAX / 2)) as u32,
                )),
            }
            let added = sf.tx_maps.back().map_or(0, |m| m.ssn_end())
                - sf.map_end.min(sf.tx_maps.back().map_or(0, |m| m.ssn_end()));
            sf.map_end += added;
            self.data_nxt += added;
        }
        if shutdown
            && self.data_nxt == self.send_buf.end()
            && sf.fin_off.is_none()
            && sf.state.can_send()
        {
            sf.fin_off = Some(sf.map_end);
        }
    }

    /// Snapshots of the subflows for the scheduler. With `trusted_only`, untrusted subflows
    /// are unusable. Subflows that timed out are unusable while another one is fresh.
    fn subflow_views(&self, views: &mut SmallVec<[SubflowView; 8]>, trusted_only: bool) {
        let initial_rtt = self.config.initial_rto;
        let eligible =
            |s: &crate::tcp::Subflow| self.subflow_usable(s) && (!trusted_only || s.trusted);
        let any_fresh = self.subflows.iter().any(|s| eligible(s) && !s.stale);
        views.clear();
        for (i, s) in self.subflows.iter().enumerate() {
            views.push(SubflowView {
                index: i,
                srtt: s.rtt.srtt().unwrap_or(initial_rtt),
                rttvar: s.rtt.rttvar(),
                min_rtt: s.rtt.min_rtt().unwrap_or(initial_rtt),
                recovering: s.recovery.is_some(),
                cwnd: s.cc.window(),
                space: s.cwnd_space().saturating_sub(s.unsent()),
                outstanding: s.map_end.saturating_sub(s.snd_una),
                mss: u64::from(s.payload_hint.max(1)),
                backup: s.backup_local || s.backup_remote,
                trusted: s.trusted,
                usable: eligible(s) && (!s.stale || !any_fresh),
            });
        }
    }

    /// Maps data `[start, start + len)` onto the end of subflow `idx`, growing its last
    /// mapping when that one is contiguous and not yet (partly) sent.
    fn map_chunk(&mut self, idx: usize, start: u64, len: u64) {
        let sf = &mut self.subflows[idx];
        let ssn = sf.map_end;
        match sf.tx_maps.back_mut() {
            Some(m)
                if m.ssn_end() == ssn
                    && m.ssn >= sf.snd_nxt
                    && m.data + u64::from(m.len) == start
                    && u64::from(m.len) + len <= MAX_MAPPING
                    && m.checksum.is_none() =>
            {
                m.len += len as u32;
            }
            _ => sf.push_mapping(TxMap::new(ssn, start, len as u32)),
        }
        sf.map_end += len;
    }

    /// MPTCP: ask the scheduler for each chunk.
    fn schedule_mptcp(&mut self, now: Instant) {
        let bounds = self.rto_bounds();
        for sf in self
            .subflows
            .iter_mut()
            .filter(|s| s.state.is_synchronized())
        {
            sf.restart_if_idle(now, bounds);
        }
        let nagle = self.config.nagle;
        let redundant = self.scheduler.redundant();
        let mut views: SmallVec<[SubflowView; 8]> = SmallVec::new();
        let mut retry = None;
        for _round in 0..ROUNDS {
            let (start, limit, reinjecting) = match self.reinject.first() {
                Some((s, e)) => (s, e, true),
                None if redundant => break,
                None => {
                    let limit = self.send_buf.end().min(self.snd_wnd_edge);
                    if self.data_nxt >= limit {
                        break;
                    }
                    (self.data_nxt, limit, false)
                }
            };
            let avail = limit - start;
            // The run at `start`. Bytes are in the buffer until DATA_ACKed and reinjections
            // lie above the DATA_ACK, so it is known; if not, assume the strictest.
            // Runs whose ages the scheduler treats alike (and with the same flag) make one
            // run: a decision about them would be the same.
            let scheduler = &self.scheduler;
            let age =
                |a: &super::send_buffer::DataAttrs| a.since.map_or(Duration::ZERO, |t| now - t);
            let alike = |a: &super::send_buffer::DataAttrs, b: &super::send_buffer::DataAttrs| {
                a.trusted_only == b.trusted_only && scheduler.same_age_class(age(a), age(b))
            };
            let (attrs, run_end) = self.send_buf.span_at(start, limit, alike).unwrap_or((
                super::send_buffer::DataAttrs {
                    trusted_only: true,
                    since: None,
                },
                limit,
            ));
            let run = run_end.min(limit) - start;
            self.subflow_views(&mut views, attrs.trusted_only);
            let input = SchedulerInput {
                now,
                views: &views,
                oldest_unsent_age: attrs.since.map_or(Duration::ZERO, |t| now - t),
                bytes_unsent: (self.send_buf.end() - self.data_nxt) + self.reinject.total(),
                available: run,
                send_window: self
                    .snd_wnd_edge
                    .saturating_sub(self.data_una)
                    .min(self.config.send_buffer as u64),
                reinjection: reinjecting,
                trusted_only: attrs.trusted_only,
                opportunistic_retransmissions: self.stats.opportunistic_retransmissions,
            };
            let pick = self.scheduler.select(&input);
            retry = self.scheduler.retry_at();
            // An answer naming a subflow it may not use is a refusal.
            let Some(view) = pick
                .and_then(|i| views.iter().find(|v| v.index == i && v.usable))
                .copied()
            else {
                break;
            };
            // Round the chunk up to whole segments so a small window still sends full ones;
            // a new mapping's first segment is shorter by the mapping option.
            let mss = view.mss.max(1);
            let overhead = u64::from(self.subflows[view.index].map_overhead).min(mss - 1);
            let want = (view.space + overhead).div_ceil(mss).max(1) * mss - overhead;
            let chunk = avail.min(want).min(MAX_MAPPING);
            // Nagle looks at all the data waiting, not at this run only.
            if !reinjecting
                && nagle
                && chunk < view.mss.saturating_sub(80)
                && self.data_una < self.data_nxt
                && !self.shutdown
            {
                break;
            }
            let turn = self
                .scheduler
                .segments_per_turn()
                .map_or(u64::MAX, |n| n.max(1).saturating_mul(view.mss));
            let chunk = chunk.min(run).min(turn);
            self.map_chunk(view.index, start, chunk);
            if reinjecting {
                self.reinject.remove_below(start + chunk);
            } else {
                self.data_nxt += chunk;
            }
        }
        self.conn_timers[ConnTimer::Scheduler as usize] = retry;
        if redundant {
            self.schedule_redundant();
        } else {
            self.opportunistic_retransmission(now);
        }
        self.arm_data_retransmit(now);
        // The DATA_FIN follows the last byte (RFC 8684 §3.3.3).
        if self.shutdown
            && !self.data_fin_sent
            && !self.data_fin_pending
            && self.data_nxt == self.send_buf.end()
            && self.reinject.is_empty()
            && self.established_data_path()
        {
            self.data_fin_pending = true;
        }
    }

    /// Redundant scheduling: every usable subflow, fastest first, carries the data it has
    /// not carried yet, from the DATA_ACK on (older data needs no more copies). A subflow
    /// skips trusted-only data it may not carry once a trusted subflow has it, so
    /// `data_nxt` still means "everything below was assigned at least once".
    ///
    /// Memory: a subflow's copies of data DATA_ACKed elsewhere are kept by the subflow
    /// (`release_send_buffer`) and count against the application's room in `send`, so what
    /// a subflow holds unacknowledged (its kept copies plus data above the DATA_ACK, which
    /// is still in the send buffer) stays within one send buffer minus the others' copies:
    /// the copies fit and no subflow is reset for "too much outstanding data".
    fn schedule_redundant(&mut self) {
        let nagle = self.config.nagle;
        let initial_rtt = self.config.initial_rto;
        let mut views: SmallVec<[SubflowView; 8]> = SmallVec::new();
        self.subflow_views(&mut views, false);
        let mut order: SmallVec<[usize; 8]> =
            views.iter().filter(|v| v.usable).map(|v| v.index).collect();
        order.sort_by_key(|&i| (self.subflows[i].rtt.srtt().unwrap_or(initial_rtt), i));
        let limit = self.send_buf.end().min(self.snd_wnd_edge);
        for i in order {
            for _round in 0..ROUNDS {
                let sf = &self.subflows[i];
                let start = sf.redundant_next.max(self.data_una);
                if start >= limit {
                    break;
                }
                let Some((attrs, run_end)) = self.send_buf.attrs_at(start) else {
                    break;
                };
                if attrs.trusted_only && !sf.trusted {
                    if run_end <= self.data_nxt {
                        self.subflows[i].redundant_next = run_end;
                        continue;
                    }
                    break;
                }
                let space = sf.cwnd_space().saturating_sub(sf.unsent());
                if space == 0 {
                    break;
                }
                let mss = u64::from(sf.payload_hint.max(1));
                let chunk = (limit - start)
                    .min(space.div_ceil(mss) * mss)
                    .min(MAX_MAPPING);
                if start >= self.data_nxt
                    && nagle
                    && chunk < mss.saturating_sub(80)
                    && self.data_una < self.data_nxt
                    && !self.shutdown
                {
                    break;
                }
                let chunk = chunk.min(run_end - start);
                self.map_chunk(i, start, chunk);
                let end = start + chunk;
                self.stats.redundant_bytes += self.data_nxt.min(end).saturating_sub(start);
                self.data_nxt = self.data_nxt.max(end);
                self.subflows[i].redundant_next = end;
            }
        }
    }

    /// Whether some subflow can carry data-level signalling.
    fn established_data_path(&self) -> bool {
        self.subflows
            .iter()
            .any(|s| s.state.is_synchronized() && s.state != TcpState::TimeWait)
    }

    /// Whether the scheduler may put data on this subflow.
    pub(crate) fn subflow_usable(&self, s: &crate::tcp::Subflow) -> bool {
        if !s.state.can_send() || s.reset_pending.is_some() || s.fin_off.is_some() {
            return false;
        }
        if let Some(js) = s.join {
            if !js.fully_established {
                return false;
            }
        }
        // The client's initial subflow may carry data once the third ACK went out.
        true
    }

    /// Ends the connection once both DATA_FINs are done; subflows then close with FIN.
    fn check_close(&mut self) {
        let peer_done = self.rcv_fin.is_some_and(|f| self.recv.next_offset() >= f);
        if !(self.data_fin_acked && peer_done) {
            return;
        }
        if self.closed.is_none() {
            self.close(CloseReason::Normal);
        }
        if self.mode == Mode::Mptcp {
            for sf in self.subflows.iter_mut() {
                if sf.fin_off.is_none() && sf.state.can_send() {
                    sf.fin_off = Some(sf.map_end);
                }
            }
        }
    }
}
