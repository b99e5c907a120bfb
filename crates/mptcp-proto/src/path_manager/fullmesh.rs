//! The full mesh: a subflow for every (local address, remote address) pair.

use super::{
    announce_configured, missing, OpenSubflow, PathManager, PmAction, PmContext, PmSubflow, Rejoin,
};
use crate::event::CloseReason;
use crate::time::Instant;
use std::net::{IpAddr, SocketAddr};

/// Client: one subflow for every pair of a usable local address and a peer address of the
/// same family (the initial one unless flag C forbids it, and every announced one, also
/// those announced later), kept open: a lost pair is opened again (see [`Rejoin`]), and a
/// local address reported up again gets its pairs back at once. Server: announces its
/// configured extra addresses (as [`super::DefaultPm`]).
///
/// Unlike the default, a local address other than the initial one also joins every
/// announced address: 2 local × 2 remote addresses give 4 subflows, not 3.
#[derive(Debug, Clone)]
pub struct FullMeshPm {
    announce: Vec<IpAddr>,
    rejoin: Rejoin,
}

impl FullMeshPm {
    /// A manager that announces `announce` when it serves a connection.
    pub fn new(announce: Vec<IpAddr>, rejoin: Rejoin) -> Self {
        FullMeshPm { announce, rejoin }
    }

    fn desired(ctx: &PmContext<'_>) -> Vec<OpenSubflow> {
        let mut out = Vec::new();
        if !ctx.is_client {
            return out;
        }
        for remote in ctx.remotes() {
            if !ctx.joinable(remote) {
                continue;
            }
            for local in ctx.usable_locals() {
                if local.is_ipv4() == remote.is_ipv4() {
                    out.push(OpenSubflow::new(local, remote));
                }
            }
        }
        out
    }
}

impl PathManager for FullMeshPm {
    fn name(&self) -> &'static str {
        "fullmesh"
    }

    fn on_established(&mut self, ctx: &PmContext<'_>) -> Vec<PmAction> {
        if !ctx.is_client {
            return announce_configured(ctx, &self.announce, false);
        }
        missing(ctx, &self.rejoin, &Self::desired(ctx), &[])
    }

    fn on_add_addr(&mut self, ctx: &PmContext<'_>, _id: u8, _addr: SocketAddr) -> Vec<PmAction> {
        missing(ctx, &self.rejoin, &Self::desired(ctx), &[])
    }

    fn on_remove_addr(&mut self, _ctx: &PmContext<'_>, _id: u8, addr: Option<SocketAddr>) {
        if let Some(a) = addr {
            self.rejoin.forget_remote(a.ip());
        }
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
        let wanted = Self::desired(ctx)
            .iter()
            .any(|o| (o.local, o.remote) == (sf.local.ip(), sf.remote));
        if wanted {
            self.rejoin.lost(ctx, sf, reason);
        }
        Vec::new()
    }

    fn on_address_up(&mut self, ctx: &PmContext<'_>, ip: IpAddr) -> Vec<PmAction> {
        super::address_up(ctx, &mut self.rejoin, ip, &Self::desired(ctx))
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

    fn pm() -> FullMeshPm {
        FullMeshPm::new(Vec::new(), Rejoin::new(Some(RejoinPolicy::default())))
    }

    #[test]
    fn every_pair_including_later_announcements() {
        let mut c = Ctx::client(&["10.0.0.1", "10.1.0.1", "fd00::1"], "10.9.0.1:80");
        let mut pm = pm();
        let first = pm.on_established(&c.ctx());
        // The IPv6 address has no IPv4 peer to pair with.
        assert_eq!(opens(&first), vec![(ip("10.1.0.1"), sa("10.9.0.1:80"))]);
        c.apply_opens(&first);
        c.remote_addrs.push((1, sa("10.9.1.1:80")));
        c.remote_addrs.push((2, sa("[fd00:9::1]:80")));
        let added = pm.on_add_addr(&c.ctx(), 2, sa("[fd00:9::1]:80"));
        assert_eq!(
            opens(&added),
            vec![
                (ip("10.0.0.1"), sa("10.9.1.1:80")),
                (ip("10.1.0.1"), sa("10.9.1.1:80")),
                (ip("fd00::1"), sa("[fd00:9::1]:80")),
            ]
        );
        c.apply_opens(&added);
        assert_eq!(c.subflows.len(), 5);
        assert!(pm.on_add_addr(&c.ctx(), 1, sa("10.9.1.1:80")).is_empty());
    }

    #[test]
    fn flag_c_limit_and_down_addresses() {
        let mut c = Ctx::client(&["10.0.0.1", "10.1.0.1", "10.2.0.1"], "10.9.0.1:80");
        c.deny_join_initial = true;
        c.down_addrs.push(ip("10.2.0.1"));
        c.remote_addrs.push((1, sa("10.9.1.1:80")));
        let mut pm = pm();
        assert_eq!(
            opens(&pm.on_established(&c.ctx())),
            vec![
                (ip("10.0.0.1"), sa("10.9.1.1:80")),
                (ip("10.1.0.1"), sa("10.9.1.1:80"))
            ]
        );
        c.max_subflows = 2;
        assert_eq!(pm.on_established(&c.ctx()).len(), 1);
    }

    #[test]
    fn lost_pairs_come_back_and_a_returning_address_gets_all_its_pairs() {
        let mut c = Ctx::client(&["10.0.0.1", "10.1.0.1"], "10.9.0.1:80");
        c.remote_addrs.push((1, sa("10.9.1.1:80")));
        let mut pm = pm();
        let all = pm.on_established(&c.ctx());
        assert_eq!(all.len(), 3);
        c.apply_opens(&all);
        // The initial subflow times out: retried from the same address.
        let initial = c.drop_subflow("10.0.0.1:4000");
        c.now = at_ms(500);
        pm.on_subflow_closed(&c.ctx(), &initial, CloseReason::Timeout);
        c.now = at_ms(700);
        assert_eq!(
            opens(&pm.on_timeout(&c.ctx())),
            vec![(ip("10.0.0.1"), sa("10.9.0.1:80"))]
        );
        // 10.1.0.1 goes down, its two subflows with it; when it is back, both return.
        c.down_addrs.push(ip("10.1.0.1"));
        pm.on_address_down(&c.ctx(), ip("10.1.0.1"));
        let a = c.drop_subflow("10.1.0.1:5001");
        let b = c.drop_subflow("10.1.0.1:5003");
        pm.on_subflow_closed(&c.ctx(), &a, CloseReason::AddressDown);
        pm.on_subflow_closed(&c.ctx(), &b, CloseReason::AddressDown);
        c.down_addrs.clear();
        c.now = at_ms(4_000);
        let mut back = opens(&pm.on_address_up(&c.ctx(), ip("10.1.0.1")));
        back.sort();
        assert_eq!(
            back,
            vec![
                (ip("10.1.0.1"), sa("10.9.0.1:80")),
                (ip("10.1.0.1"), sa("10.9.1.1:80"))
            ]
        );
    }
}
