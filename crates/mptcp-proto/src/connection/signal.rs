//! Address signalling (RFC 8684 §3.4): ADD_ADDR (HMAC-checked, echoed) and REMOVE_ADDR,
//! and subflow priority changes (§3.3.8 MP_PRIO).

use super::Connection;
use crate::crypto;
use crate::event::CloseReason;
use crate::tcp::TcpState;
use crate::time::Instant;
use crate::wire::{AddAddr, MpTcpRst, RemoveAddr};
use std::net::{IpAddr, SocketAddr};

impl Connection {
    /// The announcement to send (or resend) now, if any.
    ///
    /// One announcement is outstanding at a time (sent, neither echoed nor given up); the
    /// next goes out once it is echoed or given up. Linux handles one received ADD_ADDR at a
    /// time: one that arrives while it is still busy with the previous is dropped without an
    /// echo (MPTcpExtAddAddrDrop), and a peer whose sending side has closed by the time the
    /// retransmission comes never joins that address.
    pub(crate) fn due_announcement(&self, now: Instant) -> Option<usize> {
        let i = self.current_announcement()?;
        self.announcements[i]
            .next_at
            .is_some_and(|t| t <= now)
            .then_some(i)
    }

    /// When the current announcement is due (the ADD_ADDR timer).
    pub(crate) fn announcement_deadline(&self) -> Option<Instant> {
        self.announcements[self.current_announcement()?].next_at
    }

    /// The outstanding announcement, or else the first one not sent yet.
    fn current_announcement(&self) -> Option<usize> {
        let waiting = |a: &super::Announcement| !a.echoed && a.next_at.is_some();
        let sent = |a: &super::Announcement| a.retries_left < self.config.add_addr_retries;
        self.announcements
            .iter()
            .position(|a| waiting(a) && sent(a))
            .or_else(|| self.announcements.iter().position(waiting))
    }

    /// An ADD_ADDR arrived: an echo of ours, or a new address of the peer.
    pub(crate) fn on_add_addr(&mut self, now: Instant, aa: AddAddr) {
        if aa.echo {
            self.stats.add_addr_echo_rx += 1;
            if let Some(a) = self
                .announcements
                .iter_mut()
                .find(|a| a.id == aa.addr_id && a.addr == aa.addr)
            {
                a.echoed = true;
                a.next_at = None;
            }
            // The next announcement, if any, may go.
            self.conn_timers[super::ConnTimer::AddAddr as usize] = self.announcement_deadline();
            return;
        }
        self.stats.add_addr_rx += 1;
        let Some(remote_key) = self.remote_key else {
            return;
        };
        let expected =
            crypto::add_addr_hmac(remote_key, self.local_key, aa.addr_id, aa.addr, aa.port);
        if aa.hmac != Some(expected) {
            self.stats.add_addr_bad_hmac += 1;
            return;
        }
        if self.pending_echoes.len() < 8 {
            self.pending_echoes
                .push_back((aa.addr_id, aa.addr, aa.port));
        }
        // A non-echo ADD_ADDR also means the peer has our key (RFC 8684 §3.1).
        let Some(first) = self.subflows.first() else {
            return;
        };
        let port = aa.port.unwrap_or(first.remote.port());
        let addr = SocketAddr::new(aa.addr, port);
        if let Some(&(id, a)) = self
            .remote_addrs
            .iter()
            .find(|(id, a)| *id == aa.addr_id || *a == addr)
        {
            // A retransmission repeats both; anything else conflicts with what we keep.
            if (id, a) != (aa.addr_id, addr) {
                self.stats.add_addr_dropped += 1;
            }
            return;
        }
        if self.remote_addrs.len() >= self.config.max_remote_addrs {
            self.stats.add_addr_dropped += 1;
            return;
        }
        self.remote_addrs.push((aa.addr_id, addr));
        // Before the connection is fully established the path manager sees the address
        // in `remote_addrs` when it is told about the establishment.
        self.pm_call(now, |pm, ctx| pm.on_add_addr(ctx, aa.addr_id, addr));
    }

    /// The peer withdrew addresses: close the subflows that use them (RFC 8684 §3.4.2).
    pub(crate) fn on_remove_addr(&mut self, now: Instant, ra: &RemoveAddr) {
        self.stats.remove_addr_rx += 1;
        for id in ra.addr_ids.iter() {
            let addr = self
                .remote_addrs
                .iter()
                .find(|(i, _)| i == id)
                .map(|(_, a)| *a);
            self.pm_call(now, |pm, ctx| {
                pm.on_remove_addr(ctx, *id, addr);
                Vec::new()
            });
            self.remote_addrs.retain(|(i, _)| i != id);
            for sf in self.subflows.iter_mut() {
                if sf.remote_addr_id == *id
                    && sf.state != TcpState::Closed
                    && sf.state != TcpState::TimeWait
                {
                    sf.request_reset(MpTcpRst::REASON_UNSPECIFIED, CloseReason::Removed);
                }
            }
        }
    }

    /// Application: change our priority for a subflow (sends MP_PRIO on it).
    pub(crate) fn set_backup(&mut self, idx: usize, backup: bool) {
        if let Some(sf) = self.subflows.get_mut(idx) {
            if sf.backup_local != backup {
                sf.backup_local = backup;
                sf.send_mp_prio = true;
            }
        }
    }

    /// Application: close one subflow with a FIN (the connection goes on over the others;
    /// RFC 8684 §3.3.3). Refused for the last subflow: close the connection instead.
    pub(crate) fn close_subflow(&mut self, idx: usize) -> bool {
        let alive = self.subflows.iter().filter(|s| s.state.can_send()).count();
        let Some(sf) = self.subflows.get_mut(idx) else {
            return false;
        };
        if self.mode != crate::connection::Mode::Mptcp || alive < 2 || !sf.state.can_send() {
            return false;
        }
        if sf.fin_off.is_none() {
            sf.fin_off = Some(sf.map_end);
        }
        self.reinject_from(idx);
        true
    }

    /// Application: stop using a local address: REMOVE_ADDR and reset its subflows.
    pub(crate) fn remove_local_addr(&mut self, ip: IpAddr) {
        let id = self.local_addr_id(ip);
        let mut any = false;
        let alive = self.live_subflows();
        let on_it = self
            .subflows
            .iter()
            .filter(|s| s.local.ip() == ip && s.state != TcpState::Closed)
            .count();
        for sf in self.subflows.iter_mut() {
            if sf.local.ip() == ip
                && sf.state != TcpState::Closed
                && sf.state != TcpState::TimeWait
                && alive > on_it
            {
                sf.request_reset(MpTcpRst::REASON_UNSPECIFIED, CloseReason::Removed);
                any = true;
            }
        }
        self.local_addrs.retain(|a| *a != ip);
        // The path manager opens nothing more from it (until reported up again).
        if !self.down_addrs.contains(&ip) && self.down_addrs.len() < 32 {
            self.down_addrs.push(ip);
        }
        if any && !self.pending_remove.contains(&id) {
            self.pending_remove.push(id);
        }
    }
}
