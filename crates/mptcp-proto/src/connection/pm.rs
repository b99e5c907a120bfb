//! The connection side of path management: the view a path manager gets, the events it is
//! told about, and the actions it asks for (the policies live in `path_manager/`).

use super::{Announcement, ConnTimer, Connection, Mode, Role};
use crate::event::CloseReason;
use crate::path_manager::{PathManager, PmAction, PmContext, PmSubflow};
use crate::tcp::subflow::Timer;
use crate::tcp::TcpState;
use crate::time::Instant;
use crate::wire::MpTcpRst;
use std::net::{IpAddr, SocketAddr};

/// Most subflow closures waiting to be told to the path manager.
const MAX_DEFERRED: usize = 64;
/// Most subflows waiting to be opened, and most addresses announced per connection.
const MAX_PENDING_OPENS: usize = 64;
const MAX_ANNOUNCEMENTS: usize = 16;
/// Most local addresses a connection tracks (in use or down).
const MAX_LOCAL_ADDRS: usize = 32;

impl Connection {
    /// The path manager's view of one subflow.
    fn pm_subflow(&self, idx: usize) -> Option<PmSubflow> {
        let sf = self.subflows.get(idx)?;
        Some(PmSubflow {
            local: sf.local,
            remote: sf.remote,
            initial: idx == 0,
            established: sf.state.is_synchronized(),
            backup: sf.backup_local,
        })
    }

    /// Runs `f` with the path manager and a view of the connection for it; `None` before
    /// the first subflow exists.
    pub(crate) fn with_path_manager<R>(
        &mut self,
        now: Instant,
        f: impl FnOnce(&mut dyn PathManager, &PmContext<'_>) -> R,
    ) -> Option<R> {
        let mut live: Vec<PmSubflow> = (0..self.subflows.len())
            .filter(|&i| self.subflows[i].state != TcpState::Closed)
            .filter_map(|i| self.pm_subflow(i))
            .collect();
        // Opens asked for but not yet made (the endpoint makes them after this input) are
        // subflows in the making: two events in one segment must not open a pair twice.
        live.extend(self.pending_opens.iter().map(|o| PmSubflow {
            local: SocketAddr::new(o.local, 0),
            remote: o.remote,
            initial: false,
            established: false,
            backup: o.backup,
        }));
        let first = self.subflows.first()?;
        let ctx = PmContext {
            now,
            is_client: self.role == Role::Client,
            local_addrs: &self.local_addrs,
            down_addrs: &self.down_addrs,
            initial_local: first.local,
            initial_remote: first.remote,
            deny_join_initial: self.peer_deny_join_initial,
            subflows: &live,
            remote_addrs: &self.remote_addrs,
            max_subflows: self.config.max_subflows,
        };
        Some(f(self.path_manager.as_mut(), &ctx))
    }

    /// Runs a path-manager callback and applies the actions it returns. Only for a live
    /// MPTCP connection whose keys are known to both sides.
    pub(crate) fn pm_call(
        &mut self,
        now: Instant,
        f: impl FnOnce(&mut dyn PathManager, &PmContext<'_>) -> Vec<PmAction>,
    ) {
        if !self.pm_active() {
            return;
        }
        if let Some(actions) = self.with_path_manager(now, f) {
            self.apply_pm_actions(now, actions);
        }
        self.arm_pm_timer();
    }

    fn pm_active(&self) -> bool {
        self.mode == Mode::Mptcp && self.fully_established && self.closed.is_none()
    }

    fn apply_pm_actions(&mut self, now: Instant, actions: Vec<PmAction>) {
        for a in actions {
            match a {
                PmAction::Open(o) => {
                    if self.pending_opens.len() < MAX_PENDING_OPENS {
                        self.pending_opens.push(o);
                    }
                }
                PmAction::Announce {
                    id,
                    addr,
                    until_acked,
                } => {
                    if self
                        .announcements
                        .iter()
                        .any(|a| a.id == id || a.addr == addr)
                        || self.announcements.len() >= MAX_ANNOUNCEMENTS
                    {
                        continue;
                    }
                    self.announcements.push(Announcement {
                        id,
                        addr,
                        retries_left: if until_acked {
                            u32::MAX
                        } else {
                            self.config.add_addr_retries
                        },
                        next_at: Some(now),
                        echoed: false,
                    });
                    let slot = &mut self.conn_timers[ConnTimer::AddAddr as usize];
                    *slot = Some(slot.map_or(now, |t| t.min(now)));
                }
                PmAction::SetBackup {
                    local,
                    remote,
                    backup,
                } => {
                    if let Some(idx) = self.subflows.iter().position(|s| {
                        s.local == local && s.remote == remote && s.state != TcpState::Closed
                    }) {
                        self.set_backup(idx, backup);
                    }
                }
            }
        }
    }

    /// The connection-level slot of the path manager's timer follows its deadline.
    fn arm_pm_timer(&mut self) {
        self.conn_timers[ConnTimer::PathManager as usize] = if self.pm_active() {
            self.path_manager.poll_timeout()
        } else {
            None
        };
    }

    /// The path manager's timer expired.
    pub(crate) fn on_pm_timer(&mut self, now: Instant) {
        self.pm_call(now, |pm, ctx| pm.on_timeout(ctx));
    }

    /// A joined subflow completed its handshake (for a passive join: its HMAC checked).
    pub(crate) fn pm_subflow_up(&mut self, now: Instant, idx: usize) {
        let Some(sf) = self.pm_subflow(idx) else {
            return;
        };
        // A join to an address we announced acknowledges the announcement (the thesis'
        // implicit acknowledgment): no more retransmissions even if no echo ever arrives.
        if let Some(a) = self
            .announcements
            .iter_mut()
            .find(|a| a.addr == sf.local.ip())
        {
            a.echoed = true;
            a.next_at = None;
            // The next announcement, if any, may go.
            self.conn_timers[ConnTimer::AddAddr as usize] = self.announcement_deadline();
        }
        self.pm_call(now, |pm, ctx| pm.on_subflow_established(ctx, &sf));
    }

    /// Notes a subflow closure for the path manager (told on the next [`Self::pm_flush`]:
    /// closures happen deep in packet and timer processing, where the time is not at hand).
    pub(crate) fn pm_note_closed(&mut self, idx: usize, reason: CloseReason, was_up: bool) {
        if let Some(mut sf) = self.pm_subflow(idx) {
            sf.established = was_up;
            if self.pm_closed.len() < MAX_DEFERRED {
                self.pm_closed.push((sf, reason));
            }
        }
    }

    /// Tells the path manager about the subflow closures noted since the last call.
    pub(crate) fn pm_flush(&mut self, now: Instant) {
        if self.pm_closed.is_empty() {
            return;
        }
        let closed = std::mem::take(&mut self.pm_closed);
        for (sf, reason) in closed {
            self.pm_call(now, |pm, ctx| pm.on_subflow_closed(ctx, &sf, reason));
        }
    }

    /// The driver reports `ip` usable (again). Subflows from it that are still alive
    /// retransmit at once instead of waiting for their backed-off timer; the path manager
    /// opens what it wants from it. A new address joins the connection's list (clients).
    pub(crate) fn address_up(&mut self, now: Instant, ip: IpAddr) {
        self.down_addrs.retain(|a| *a != ip);
        if !self.local_addrs.contains(&ip)
            && self.role == Role::Client
            && self.local_addrs.len() < MAX_LOCAL_ADDRS
        {
            self.local_addrs.push(ip);
        }
        for sf in self.subflows.iter_mut() {
            if sf.local.ip() != ip || !sf.state.is_synchronized() {
                continue;
            }
            if sf.snd_una < sf.snd_max && sf.timers[Timer::Rto as usize].is_some() {
                sf.rto_backoff = 0;
                sf.timers[Timer::Rto as usize] = Some(now);
            }
        }
        self.pm_call(now, |pm, ctx| pm.on_address_up(ctx, ip));
    }

    /// The driver reports `ip` down. Its subflows are reset (their data goes to the other
    /// subflows) unless they are all the connection has: those ride the outage out on
    /// their timers, as a single-path TCP connection would. The path manager opens nothing
    /// from `ip` until it is reported up.
    pub(crate) fn address_down(&mut self, now: Instant, ip: IpAddr) {
        if !self.down_addrs.contains(&ip) && self.down_addrs.len() < MAX_LOCAL_ADDRS {
            self.down_addrs.push(ip);
        }
        self.pm_call(now, |pm, ctx| {
            pm.on_address_down(ctx, ip);
            Vec::new()
        });
        let elsewhere = self
            .subflows
            .iter()
            .any(|s| s.local.ip() != ip && s.state.can_send() && s.reset_pending.is_none());
        if !elsewhere || self.mode != Mode::Mptcp {
            return;
        }
        for idx in 0..self.subflows.len() {
            let sf = &mut self.subflows[idx];
            if sf.local.ip() == ip
                && sf.state != TcpState::Closed
                && sf.state != TcpState::TimeWait
                && sf.reset_pending.is_none()
            {
                sf.request_reset(MpTcpRst::REASON_UNSPECIFIED, CloseReason::AddressDown);
                self.reinject_from(idx);
            }
        }
    }

    /// Whether we set flag C: refuse joins to our initial address and port.
    pub(crate) fn deny_join_initial_local(&self) -> bool {
        self.config.deny_join_initial_addr || self.path_manager.deny_join_initial()
    }
}
