//! Timer expiry: retransmission (RFC 6298), delayed ACK, keepalive, TIME_WAIT, and the
//! connection's ADD_ADDR and DATA_FIN retransmissions and path-manager timer.

use super::{ConnTimer, Connection, Mode, Role};
use crate::event::CloseReason;
use crate::tcp::subflow::{Timer, TIMER_COUNT};
use crate::tcp::TcpState;
use crate::time::{Duration, Instant};

/// Keepalive probes before giving up (Linux tcp_keepalive_probes).
const KEEPALIVE_PROBES: u32 = 9;
/// Bytes resent at once by the data-level retransmission timer.
const DATA_RETRANSMIT_CHUNK: u64 = 16 * 1024;

/// Interval between keepalive probes.
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(75);

impl Connection {
    /// Runs every expired timer.
    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        for idx in 0..self.subflows.len() {
            for t in [
                Timer::Rto,
                Timer::DelayedAck,
                Timer::Keepalive,
                Timer::TimeWait,
            ] {
                let due = self.subflows[idx].timers[t as usize].is_some_and(|at| at <= now);
                if due {
                    self.subflows[idx].timers[t as usize] = None;
                    self.on_subflow_timer(now, idx, t);
                }
            }
        }
        if self.conn_timers[ConnTimer::AddAddr as usize].is_some_and(|t| t <= now) {
            // Due announcements go out on the next pure ACK; re-armed when sent.
            self.conn_timers[ConnTimer::AddAddr as usize] = None;
            if let Some(i) = self.subflows.iter().position(|s| s.state.can_send()) {
                self.subflows[i].ack_now = true;
            }
        }
        if self.conn_timers[ConnTimer::DataRetransmit as usize].is_some_and(|t| t <= now) {
            self.conn_timers[ConnTimer::DataRetransmit as usize] = None;
            self.on_data_retransmit_timer(now);
        }
        if self.conn_timers[ConnTimer::PathManager as usize].is_some_and(|t| t <= now) {
            self.conn_timers[ConnTimer::PathManager as usize] = None;
            self.on_pm_timer(now);
        }
        // The join delay ended: the endpoint opens the waiting subflows after this call.
        if self.conn_timers[ConnTimer::JoinDelay as usize].is_some_and(|t| t <= now) {
            self.conn_timers[ConnTimer::JoinDelay as usize] = None;
        }
        if self.conn_timers[ConnTimer::Scheduler as usize].is_some_and(|t| t <= now) {
            // The scheduler wanted another look: the endpoint polls the connection next.
            self.conn_timers[ConnTimer::Scheduler as usize] = None;
        }
        if self.conn_timers[ConnTimer::DataFin as usize].is_some_and(|t| t <= now) {
            self.conn_timers[ConnTimer::DataFin as usize] = None;
            if self.mode == Mode::Mptcp && !self.data_fin_acked && self.data_fin_sent {
                self.data_fin_pending = true;
            }
        }
    }

    fn on_subflow_timer(&mut self, now: Instant, idx: usize, t: Timer) {
        match t {
            Timer::Rto => self.on_rto_timer(now, idx),
            Timer::DelayedAck => self.subflows[idx].ack_now = true,
            Timer::Keepalive => {
                let Some(idle) = self.config.keepalive else {
                    return;
                };
                let sf = &mut self.subflows[idx];
                if !sf.state.is_synchronized() {
                    return;
                }
                if now - sf.last_rx < idle {
                    sf.timers[Timer::Keepalive as usize] = Some(sf.last_rx + idle);
                    return;
                }
                if sf.keepalive_probes >= KEEPALIVE_PROBES {
                    self.subflow_closed(idx, CloseReason::Timeout);
                    return;
                }
                sf.keepalive_probes += 1;
                sf.probe_now = true;
                sf.timers[Timer::Keepalive as usize] = Some(now + KEEPALIVE_INTERVAL);
            }
            Timer::TimeWait => {
                let time_wait = self.config.time_wait;
                let orphaned = self.closed.is_some();
                let sf = &mut self.subflows[idx];
                if sf.state == TcpState::FinWait2 {
                    // Our FIN was acknowledged and the peer's never came. While the
                    // connection lives the peer may still send (half-close); once it is
                    // over, a subflow silent for `time_wait` is closed (Linux
                    // tcp_fin_timeout for orphaned sockets) instead of lingering forever.
                    let quiet_until = sf.last_rx + time_wait;
                    if !orphaned {
                        sf.timers[Timer::TimeWait as usize] = Some(now + time_wait);
                        return;
                    }
                    if quiet_until > now {
                        sf.timers[Timer::TimeWait as usize] = Some(quiet_until);
                        return;
                    }
                }
                let sf = &mut self.subflows[idx];
                sf.timers = [None; TIMER_COUNT];
                self.subflow_closed(idx, CloseReason::Normal);
            }
        }
    }

    fn on_rto_timer(&mut self, now: Instant, idx: usize) {
        let (initial, min, max) = self.rto_bounds();
        let syn_retries = self.config.syn_retries;
        let sf = &mut self.subflows[idx];
        match sf.state {
            TcpState::SynSent | TcpState::SynReceived => {
                // A join still opening when the connection is over has nothing to carry.
                if idx != 0 && sf.state == TcpState::SynSent && self.closed.is_some() {
                    self.subflow_closed(idx, CloseReason::Normal);
                    return;
                }
                sf.syn_retries += 1;
                sf.rto_backoff += 1;
                sf.rto_since.get_or_insert(now);
                let out_of_retries = sf.syn_retries > syn_retries;
                if out_of_retries && self.timed_out(now, idx, initial) {
                    let initial_sf = idx == 0;
                    self.subflow_closed(idx, CloseReason::Timeout);
                    if initial_sf {
                        self.close(CloseReason::Timeout);
                    }
                    return;
                }
                // Linux: after a few MP_CAPABLE SYN retransmissions retry without MPTCP.
                let sf = &self.subflows[idx];
                if sf.state == TcpState::SynSent
                    && idx == 0
                    && self.role == Role::Client
                    && self.offer_mptcp
                    && sf.syn_retries > self.config.syn_retries_before_fallback
                {
                    self.offer_mptcp = false;
                }
                let cap = self.probe_cap(idx);
                let sf = &mut self.subflows[idx];
                sf.syn_pending = true;
                sf.arm_rto_capped(now, initial, min, max, cap);
                return;
            }
            TcpState::Closed | TcpState::TimeWait => return,
            _ => {}
        }
        // MP_JOIN third ACK not yet acknowledged (RFC 8684 §3.2).
        if let Some(js) = sf.join {
            if !js.fully_established && sf.active_open {
                sf.syn_retries += 1;
                sf.rto_backoff += 1;
                if sf.syn_retries > syn_retries {
                    sf.request_reset(
                        crate::wire::MpTcpRst::REASON_UNSPECIFIED,
                        CloseReason::Timeout,
                    );
                    return;
                }
                sf.handshake_ack_pending = true;
                sf.arm_rto_with(now, initial, min, max);
                return;
            }
        }
        if sf.snd_una < sf.snd_max {
            if sf.rto_backoff >= self.config.max_retransmissions && self.timed_out(now, idx, min) {
                self.subflow_closed(idx, CloseReason::Timeout);
                if self.mode == Mode::Tcp {
                    self.close(CloseReason::Timeout);
                }
                return;
            }
            // Put the stuck data on the other subflows too (RFC 8684 §3.3.6), once per
            // episode: at the first timeout that finds another subflow working (in a total
            // outage that is the first one after another path returned).
            let others = self
                .subflows
                .iter()
                .enumerate()
                .any(|(i, s)| i != idx && self.subflow_usable(s) && !s.stale);
            // Probing a failed path costs one segment per probe: a multipath connection
            // probes at least every `multipath_rto_max`, so the subflow is used again soon
            // after its path returns rather than after minutes of backoff.
            let cap = self.probe_cap(idx);
            let stale_after = self.config.stale_after_rtos;
            let sf = &mut self.subflows[idx];
            sf.on_rto_stale_after(now, stale_after);
            sf.arm_rto_capped(now, initial, min, max, cap);
            if others && !sf.reinjected {
                sf.reinjected = true;
                self.reinject_from(idx);
            }
            return;
        }
        // Nothing outstanding: a window probe if data waits behind a closed window.
        let blocked = match self.mode {
            Mode::Tcp => sf.unsent() > 0 && sf.snd_wnd == 0,
            Mode::Mptcp => {
                self.data_nxt < self.send_buf.end() && self.data_nxt >= self.snd_wnd_edge
            }
        };
        if blocked {
            let sf = &mut self.subflows[idx];
            sf.probe_now = true;
            sf.rto_backoff = (sf.rto_backoff + 1).min(10);
            sf.arm_rto_with(now, initial, min, max);
        }
    }

    /// Whether the connection is multipath: MPTCP with more than one subflow opened or
    /// tried (live, opening or lost). Its subflows probe failed paths often
    /// (`EndpointConfig::multipath_rto_max`).
    pub(crate) fn is_multipath(&self) -> bool {
        self.mode == Mode::Mptcp && self.subflows.len() > 1
    }

    /// Cap on the backed-off retransmission timeout of subflow `idx` (data, and the SYN of
    /// a join, which probes a path the same way): `multipath_rto_max` on a multipath
    /// connection, else `max_rto`. The initial subflow's handshake is never capped.
    pub(crate) fn probe_cap(&self, idx: usize) -> Duration {
        let max = self.config.max_rto;
        let opening = self
            .subflows
            .get(idx)
            .is_some_and(|s| !s.state.is_synchronized());
        if self.is_multipath() && !(idx == 0 && opening) {
            self.config.multipath_rto_max.min(max)
        } else {
            max
        }
    }

    /// Whether subflow `idx` has gone unanswered long enough to give up, its retry count
    /// being reached. Uncapped timeouts need nothing more; capped ones must also have
    /// lasted as long as the uncapped backoff from `base` would have (Linux's
    /// `tcp_model_timeout`), so capping changes how often a path is probed, not how long.
    fn timed_out(&self, now: Instant, idx: usize, base: Duration) -> bool {
        let Some(sf) = self.subflows.get(idx) else {
            return true;
        };
        if self.probe_cap(idx) >= self.config.max_rto {
            return true;
        }
        let retries = if sf.state.is_synchronized() {
            self.config.max_retransmissions
        } else {
            self.config.syn_retries
        };
        let since = sf.rto_since.unwrap_or(now);
        now - since >= model_timeout(retries, base, self.config.max_rto)
    }

    /// The data-level retransmission timeout: longest subflow RTO, doubled per timeout.
    fn data_rto(&self) -> Duration {
        let (initial, min, max) = self.rto_bounds();
        let base = self
            .subflows
            .iter()
            .filter(|s| s.state.is_synchronized())
            .map(|s| s.rtt.rto(initial, min, max))
            .max()
            .unwrap_or(initial);
        base.saturating_mul(1 << self.data_rtx_backoff.min(6))
            .min(max)
    }

    /// Arms the data-level retransmission timer while data waits for its DATA_ACK.
    pub(crate) fn arm_data_retransmit(&mut self, now: Instant) {
        let slot = ConnTimer::DataRetransmit as usize;
        if self.mode != Mode::Mptcp || self.data_nxt <= self.data_una {
            self.conn_timers[slot] = None;
            return;
        }
        if self.conn_timers[slot].is_none() {
            self.conn_timers[slot] = Some(now + self.data_rto());
        }
    }

    /// The DATA_ACK did not move for a data-level RTO. If the data at its edge is no longer
    /// in flight on any subflow (acknowledged at subflow level yet never DATA_ACKed: the
    /// peer dropped it, e.g. outside its MPTCP window), send it again (RFC 8684 §3.3.6).
    fn on_data_retransmit_timer(&mut self, now: Instant) {
        if self.mode != Mode::Mptcp || self.data_nxt <= self.data_una {
            return;
        }
        let una = self.data_una;
        let in_flight = self.subflows.iter().any(|s| {
            s.state.is_synchronized()
                && s.tx_maps.iter().any(|m| {
                    m.data <= una
                        && una < m.data + u64::from(m.len)
                        && m.ssn + (una - m.data) >= s.snd_una
                })
        });
        if !in_flight && self.reinject.is_empty() {
            let end = self.data_nxt.min(una + DATA_RETRANSMIT_CHUNK);
            if self.reinject.insert(una, end) {
                self.stats.reinjected_bytes += end - una;
            }
        }
        self.data_rtx_backoff = self.data_rtx_backoff.saturating_add(1);
        self.conn_timers[ConnTimer::DataRetransmit as usize] = Some(now + self.data_rto());
    }

    /// Arms a window-probe timer on a subflow when data waits behind a zero window and
    /// nothing is in flight to bring an update.
    pub(crate) fn arm_persist(&mut self, now: Instant) {
        let blocked = match self.mode {
            Mode::Tcp => self
                .subflows
                .first()
                .is_some_and(|s| s.unsent() > 0 && s.snd_wnd == 0),
            Mode::Mptcp => {
                self.data_nxt < self.send_buf.end() && self.data_nxt >= self.snd_wnd_edge
            }
        };
        if !blocked {
            return;
        }
        let (initial, min, max) = self.rto_bounds();
        let in_flight = self.subflows.iter().any(|s| s.snd_una < s.snd_max);
        if in_flight {
            return;
        }
        if let Some(sf) = self.subflows.iter_mut().find(|s| s.state.can_send()) {
            if sf.timers[Timer::Rto as usize].is_none() {
                sf.arm_rto_with(now, initial, min, max);
            }
        }
    }

    /// Keepalive timer after activity.
    pub(crate) fn arm_keepalive(&mut self, idx: usize) {
        if let (Some(idle), Some(sf)) = (self.config.keepalive, self.subflows.get_mut(idx)) {
            if sf.state.is_synchronized() {
                sf.timers[Timer::Keepalive as usize] = Some(sf.last_rx + idle);
            }
        }
    }
}

/// How long `retries` timeouts take with exponential backoff from `base`, each capped at
/// `max` (Linux's `tcp_model_timeout`).
fn model_timeout(retries: u32, base: Duration, max: Duration) -> Duration {
    let mut total = Duration::ZERO;
    let mut rto = base.min(max);
    for _ in 0..retries.min(64) {
        total = total.saturating_add(rto);
        rto = rto.saturating_mul(2).min(max);
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_timeout_doubles_up_to_the_cap() {
        let ms = Duration::from_millis;
        assert_eq!(model_timeout(0, ms(200), ms(120_000)), Duration::ZERO);
        assert_eq!(model_timeout(3, ms(200), ms(120_000)), ms(1400));
        // 0.2 + 0.4 + 0.8 + 1.6 + 4 x 2 s.
        assert_eq!(model_timeout(8, ms(200), ms(2000)), ms(11_000));
        // Linux's defaults: 15 retries from 200 ms take over 13 minutes.
        assert!(model_timeout(15, ms(200), ms(120_000)) > Duration::from_secs(800));
        assert_eq!(model_timeout(u32::MAX, ms(1), ms(1)), ms(64));
    }
}
