//! `ndiffports:N`: N subflows over one address pair, told apart by their source ports
//! (the out-of-tree Linux kernel's manager for single-homed hosts, e.g. in data centres
//! where ECMP hashes each port pair onto its own path).

use super::{missing, OpenSubflow, PathManager, PmAction, PmContext, PmSubflow, Rejoin};
use crate::event::CloseReason;
use crate::time::Instant;
use std::net::IpAddr;

/// Client: keeps `n` subflows (the initial one included) from the initial local address to
/// the initial remote address; each join gets a fresh source port from the endpoint.
/// Announced addresses are ignored. With flag C (no joins to the initial address) only the
/// initial subflow exists. A lost subflow is opened again (see [`Rejoin`]). Server: nothing.
#[derive(Debug, Clone)]
pub struct NDiffPortsPm {
    n: u8,
    rejoin: Rejoin,
}

impl NDiffPortsPm {
    /// A manager keeping `n` subflows.
    pub fn new(n: u8, rejoin: Rejoin) -> Self {
        NDiffPortsPm { n, rejoin }
    }

    fn desired(&self, ctx: &PmContext<'_>) -> Vec<OpenSubflow> {
        let local = ctx.initial_local.ip();
        if !ctx.is_client || !ctx.joinable(ctx.initial_remote) || !ctx.addr_usable(local) {
            return Vec::new();
        }
        vec![OpenSubflow::new(local, ctx.initial_remote); usize::from(self.n)]
    }
}

impl PathManager for NDiffPortsPm {
    fn name(&self) -> &'static str {
        "ndiffports"
    }

    fn on_established(&mut self, ctx: &PmContext<'_>) -> Vec<PmAction> {
        missing(ctx, &self.rejoin, &self.desired(ctx), &[])
    }

    fn on_subflow_established(&mut self, ctx: &PmContext<'_>, sf: &PmSubflow) -> Vec<PmAction> {
        self.rejoin.established(ctx.now, sf.local.ip(), sf.remote);
        Vec::new()
    }

    fn on_subflow_closed(
        &mut self,
        ctx: &PmContext<'_>,
        sf: &PmSubflow,
        reason: CloseReason,
    ) -> Vec<PmAction> {
        let pair = (ctx.initial_local.ip(), ctx.initial_remote);
        if ctx.is_client && (sf.local.ip(), sf.remote) == pair {
            // Only up to N: the live ones and those already waiting count.
            let kept = ctx.count(pair.0, pair.1) + self.rejoin.pending(pair.0, pair.1);
            if kept < usize::from(self.n) {
                self.rejoin.lost(ctx, sf, reason);
            }
        }
        Vec::new()
    }

    fn on_address_up(&mut self, ctx: &PmContext<'_>, ip: IpAddr) -> Vec<PmAction> {
        let desired = self.desired(ctx);
        super::address_up(ctx, &mut self.rejoin, ip, &desired)
    }

    fn on_address_down(&mut self, _ctx: &PmContext<'_>, ip: IpAddr) {
        self.rejoin.address_down(ip);
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.rejoin.next_at()
    }

    fn on_timeout(&mut self, ctx: &PmContext<'_>) -> Vec<PmAction> {
        self.rejoin.due(ctx)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{at_ms, ip, opens, sa, Ctx};
    use super::super::RejoinPolicy;
    use super::*;

    fn pm(n: u8) -> NDiffPortsPm {
        NDiffPortsPm::new(n, Rejoin::new(Some(RejoinPolicy::default())))
    }

    #[test]
    fn n_subflows_over_the_initial_pair_only() {
        let pair = (ip("10.0.0.1"), sa("10.9.0.1:80"));
        for n in 1..=4u8 {
            let mut c = Ctx::client(&["10.0.0.1", "10.1.0.1"], "10.9.0.1:80");
            let mut pm = pm(n);
            let first = pm.on_established(&c.ctx());
            assert_eq!(opens(&first), vec![pair; usize::from(n) - 1], "n = {n}");
            c.apply_opens(&first);
            // Announcements are ignored, and nothing more is opened.
            c.remote_addrs.push((1, sa("10.9.1.1:80")));
            assert!(pm.on_add_addr(&c.ctx(), 1, sa("10.9.1.1:80")).is_empty());
            assert!(pm.on_established(&c.ctx()).is_empty());
        }
    }

    #[test]
    fn flag_c_the_limit_and_the_server_side() {
        let mut c = Ctx::client(&["10.0.0.1"], "10.9.0.1:80");
        c.deny_join_initial = true;
        assert!(pm(3).on_established(&c.ctx()).is_empty());
        c.deny_join_initial = false;
        c.max_subflows = 2;
        assert_eq!(pm(3).on_established(&c.ctx()).len(), 1);
        let s = Ctx::server("10.9.0.1:80", "10.0.0.1:4000", &[]);
        assert!(pm(3).on_established(&s.ctx()).is_empty());
    }

    #[test]
    fn lost_subflows_are_topped_up_to_n() {
        let mut c = Ctx::client(&["10.0.0.1"], "10.9.0.1:80");
        let mut pm = pm(3);
        let first = pm.on_established(&c.ctx());
        c.apply_opens(&first);
        assert_eq!(c.subflows.len(), 3);
        let a = c.drop_subflow("10.0.0.1:5001");
        let b = c.drop_subflow("10.0.0.1:5002");
        c.now = at_ms(100);
        pm.on_subflow_closed(&c.ctx(), &a, CloseReason::PeerReset);
        pm.on_subflow_closed(&c.ctx(), &b, CloseReason::Timeout);
        // Neither had completed its handshake: the second attempt waits 400 ms.
        c.now = at_ms(499);
        assert!(pm.on_timeout(&c.ctx()).is_empty());
        c.now = at_ms(500);
        let again = pm.on_timeout(&c.ctx());
        assert_eq!(opens(&again).len(), 2);
        c.apply_opens(&again);
        // A third loss while N are kept (two of them still opening) does not add a fourth.
        let extra = crate::path_manager::PmSubflow {
            local: sa("10.0.0.1:7000"),
            ..c.subflows[1]
        };
        pm.on_subflow_closed(&c.ctx(), &extra, CloseReason::Timeout);
        assert_eq!(pm.poll_timeout(), None);
    }
}
