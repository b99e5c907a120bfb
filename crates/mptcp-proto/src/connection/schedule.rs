//! Assigning data to subflows: the scheduler picks a subflow, the connection creates a
//! mapping (RFC 8684 §3.3.1) that may span many segments. Reinjections go first.

use super::{Connection, Mode};
use crate::event::CloseReason;
use crate::scheduler::SubflowView;
use crate::tcp::subflow::TxMap;
use crate::tcp::TcpState;
use crate::time::Instant;

/// Largest mapping: the data-level length field is 16 bits.
const MAX_MAPPING: u64 = 64 * 1024 - 1024;

impl Connection {
    /// Assigns unsent data to subflows and handles the end of the data stream.
    pub(crate) fn schedule(&mut self, now: Instant) {
        if self.closed.is_some() && self.closed != Some(CloseReason::Normal) {
            return;
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
        let end = self.send_buf.end();
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
        if shutdown && self.data_nxt == end && sf.fin_off.is_none() && sf.state.can_send() {
            sf.fin_off = Some(sf.map_end);
        }
    }

    /// MPTCP: ask the scheduler for each chunk.
    fn schedule_mptcp(&mut self, now: Instant) {
        let initial_rtt = self.config.initial_rto;
        let nagle = self.config.nagle;
        let mut views: smallvec::SmallVec<[SubflowView; 8]> = smallvec::SmallVec::new();
        for _round in 0..64 {
            let (start, avail, reinjecting) = match self.reinject.first() {
                Some((s, e)) => (s, e - s, true),
                None => {
                    let limit = self.send_buf.end().min(self.snd_wnd_edge);
                    if self.data_nxt >= limit {
                        break;
                    }
                    (self.data_nxt, limit - self.data_nxt, false)
                }
            };
            views.clear();
            let any_fresh = self
                .subflows
                .iter()
                .any(|s| self.subflow_usable(s) && !s.stale);
            for (i, s) in self.subflows.iter().enumerate() {
                let usable = self.subflow_usable(s) && (!s.stale || !any_fresh);
                views.push(SubflowView {
                    index: i,
                    srtt: s.rtt.srtt().unwrap_or(initial_rtt),
                    cwnd: s.cc.window(),
                    space: s.cwnd_space().saturating_sub(s.unsent()),
                    backup: s.backup_local || s.backup_remote,
                    usable,
                });
            }
            let Some(idx) = self.scheduler.select(now, &views) else {
                break;
            };
            let space = views.iter().find(|v| v.index == idx).map_or(0, |v| v.space);
            let sf = &self.subflows[idx];
            let mss = u64::from(sf.payload_hint.max(1));
            // Round the chunk up to whole segments so a small window still sends full ones;
            // a new mapping's first segment is shorter by the mapping option.
            let overhead = u64::from(sf.map_overhead).min(mss - 1);
            let want = (space + overhead).div_ceil(mss).max(1) * mss - overhead;
            let chunk = avail.min(want).min(MAX_MAPPING);
            if !reinjecting
                && nagle
                && chunk < mss.saturating_sub(80)
                && self.data_una < self.data_nxt
                && !self.shutdown
            {
                break;
            }
            let sf = &mut self.subflows[idx];
            let ssn = sf.map_end;
            match sf.tx_maps.back_mut() {
                Some(m)
                    if m.ssn_end() == ssn
                        && m.ssn >= sf.snd_nxt
                        && m.data + u64::from(m.len) == start
                        && u64::from(m.len) + chunk <= MAX_MAPPING
                        && m.checksum.is_none() =>
                {
                    m.len += chunk as u32;
                }
                _ => sf.push_mapping(TxMap::new(ssn, start, chunk as u32)),
            }
            sf.map_end += chunk;
            if reinjecting {
                self.reinject.remove_below(start + chunk);
            } else {
                self.data_nxt += chunk;
            }
        }
        self.opportunistic_retransmission(now);
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

    /// When the peer's receive window blocks new data, the data at its left edge is stuck on
    /// a slow or lossy subflow: send it again on the fastest subflow with room and halve the
    /// window of the subflow that holds it (opportunistic retransmission and penalisation,
    /// Raiciu et al., NSDI 2012; seed 001 §4).
    fn opportunistic_retransmission(&mut self, now: Instant) {
        let blocked = self.data_nxt >= self.snd_wnd_edge && self.data_nxt > self.data_una;
        if !blocked || self.orp_done_for == Some(self.data_una) || !self.reinject.is_empty() {
            return;
        }
        let una = self.data_una;
        // The subflow whose unacknowledged mapping holds the blocking byte.
        let holder = self.subflows.iter().position(|s| {
            s.state != TcpState::Closed
                && s.tx_maps.iter().any(|m| {
                    m.data <= una
                        && una < m.data + u64::from(m.len)
                        && m.ssn + (una - m.data) >= s.snd_una
                })
        });
        let Some(holder) = holder else { return };
        let initial_rtt = self.config.initial_rto;
        let best = self
            .subflows
            .iter()
            .enumerate()
            .filter(|(i, s)| {
                *i != holder && self.subflow_usable(s) && !s.stale && s.cwnd_space() > s.unsent()
            })
            .min_by_key(|(i, s)| (s.rtt.srtt().unwrap_or(initial_rtt), *i))
            .map(|(i, _)| i);
        let Some(best) = best else { return };
        let holder_rtt = self.subflows[holder].rtt.srtt().unwrap_or(initial_rtt);
        let best_rtt = self.subflows[best].rtt.srtt().unwrap_or(initial_rtt);
        let holder_stuck = self.subflows[holder].recovery.is_some() || self.subflows[holder].stale;
        if best_rtt >= holder_rtt && !holder_stuck {
            return;
        }
        self.orp_done_for = Some(una);
        let sf = &self.subflows[best];
        let len = u64::from(sf.payload_hint.max(1)).min(self.data_nxt - una);
        if self.reinject.insert(una, una + len) {
            self.stats.reinjected_bytes += len;
        }
        // Penalise the holder at most once per its RTT.
        let h = &mut self.subflows[holder];
        if h.recovery.is_none() && h.last_penalty.is_none_or(|t| now - t >= holder_rtt) {
            h.last_penalty = Some(now);
            let pipe = h.pipe();
            let paths = [h.path_info(initial_rtt)];
            let view = crate::congestion::CcView {
                paths: &paths,
                me: 0,
            };
            h.cc.on_congestion_event(now, pipe, &view);
        }
        // Assign the reinjection now, on the chosen subflow.
        let sf = &mut self.subflows[best];
        let ssn = sf.map_end;
        sf.push_mapping(TxMap::new(ssn, una, len as u32));
        sf.map_end += len;
        self.reinject.remove_below(una + len);
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
