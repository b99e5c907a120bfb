//! The default path manager, shaped like Linux's in-kernel one with every extra local
//! address a `subflow` endpoint and announced addresses accepted.

use super::{
    announce_configured, missing, OpenSubflow, PathManager, PmAction, PmContext, PmSubflow, Rejoin,
};
use crate::event::CloseReason;
use crate::time::Instant;
use std::net::{IpAddr, SocketAddr};

/// Client: one subflow from each local address to the peer's initial address (none with
/// flag C), and one subflow to each address the peer announces, from the local address the
/// initial subflow uses. Server: announces its configured extra addresses. Lost subflows
/// are opened again (see [`Rejoin`]).
#[derive(Debug, Clone)]
pub struct DefaultPm {
    announce: Vec<IpAddr>,
    rejoin: Rejoin,
}

impl DefaultPm {
    /// A manager that announces `announce` when it serves a connection.
    pub fn new(announce: Vec<IpAddr>, rejoin: Rejoin) -> Self {
        DefaultPm { announce, rejoin }
    }

    /// Every subflow this manager wants, as a multiset of pairs (a client's only).
    fn desired(ctx: &PmContext<'_>) -> Vec<OpenSubflow> {
        let mut out = Vec::new();
        if !ctx.is_client {
            return out;
        }
        let initial = ctx.initial_remote;
        if ctx.joinable(initial) {
            for local in ctx.usable_locals() {
                if local.is_ipv4() == initial.is_ipv4() {
                    out.push(OpenSubflow::new(local, initial));
                }
            }
        }
        for (_, remote) in ctx.remote_addrs {
            if *remote == initial || !ctx.joinable(*remote) {
                continue;
            }
            if let Some(local) = ctx.primary_local(*remote) {
                out.push(OpenSubflow::new(local, *remote));
            }
        }
        out
    }

    fn wanted(ctx: &PmContext<'_>, local: IpAddr, remote: SocketAddr) -> bool {
        Self::desired(ctx)
            .iter()
            .any(|o| (o.local, o.remote) == (local, remote))
    }
}

impl PathManager for DefaultPm {
    fn name(&self) -> &'static str {
        "default"
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
        if Self::wanted(ctx, sf.local.ip(), sf.remote) {
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

    fn pm() -> DefaultPm {
        DefaultPm::new(Vec::new(), Rejoin::new(Some(RejoinPolicy::default())))
    }

    #[test]
    fn client_opens_one_subflow_per_local_address_to_the_initial_remote() {
        let c = Ctx::client(&["10.0.0.1", "10.1.0.1", "10.2.0.1"], "10.9.0.1:80");
        assert_eq!(
            opens(&pm().on_established(&c.ctx())),
            vec![
                (ip("10.1.0.1"), sa("10.9.0.1:80")),
                (ip("10.2.0.1"), sa("10.9.0.1:80"))
            ]
        );
    }

    #[test]
    fn announced_addresses_are_joined_once_from_the_initial_local_address() {
        let mut c = Ctx::client(&["10.0.0.1", "10.1.0.1"], "10.9.0.1:80");
        let mut pm = pm();
        let first = pm.on_established(&c.ctx());
        c.apply_opens(&first);
        c.remote_addrs.push((1, sa("10.9.1.1:80")));
        let added = pm.on_add_addr(&c.ctx(), 1, sa("10.9.1.1:80"));
        // Not a full mesh: no 10.1.0.1 -> 10.9.1.1.
        assert_eq!(opens(&added), vec![(ip("10.0.0.1"), sa("10.9.1.1:80"))]);
        c.apply_opens(&added);
        // The same announcement again (retransmitted ADD_ADDR) opens nothing more.
        assert!(pm.on_add_addr(&c.ctx(), 1, sa("10.9.1.1:80")).is_empty());
    }

    #[test]
    fn flag_c_and_the_subflow_limit_are_respected() {
        let mut c = Ctx::client(&["10.0.0.1", "10.1.0.1"], "10.9.0.1:80");
        c.deny_join_initial = true;
        let mut pm = pm();
        assert!(pm.on_established(&c.ctx()).is_empty());
        c.remote_addrs.push((1, sa("10.9.1.1:80")));
        c.remote_addrs.push((2, sa("10.9.2.1:80")));
        assert_eq!(
            opens(&pm.on_add_addr(&c.ctx(), 2, sa("10.9.2.1:80"))),
            vec![
                (ip("10.0.0.1"), sa("10.9.1.1:80")),
                (ip("10.0.0.1"), sa("10.9.2.1:80"))
            ]
        );
        c.max_subflows = 2;
        assert_eq!(pm.on_add_addr(&c.ctx(), 2, sa("10.9.2.1:80")).len(), 1);
    }

    #[test]
    fn server_announces_its_configured_addresses_but_opens_nothing() {
        let c = Ctx::server("10.9.0.1:80", "10.0.0.1:4000", &["10.9.1.1"]);
        let mut pm = DefaultPm::new(vec![ip("10.9.0.1"), ip("10.9.1.1")], Rejoin::default());
        assert_eq!(
            pm.on_established(&c.ctx()),
            vec![PmAction::Announce {
                id: 2,
                addr: ip("10.9.1.1"),
                until_acked: false
            }]
        );
        assert!(pm.on_add_addr(&c.ctx(), 1, sa("10.0.1.1:4000")).is_empty());
    }

    #[test]
    fn a_lost_subflow_is_opened_again_but_a_finished_one_is_not() {
        let mut c = Ctx::client(&["10.0.0.1", "10.1.0.1"], "10.9.0.1:80");
        let mut pm = pm();
        let sf = c.subflow("10.1.0.1:5000", "10.9.0.1:80");
        c.drop_subflow("10.1.0.1:5000");
        c.now = at_ms(1_000);
        assert!(pm
            .on_subflow_closed(&c.ctx(), &sf, CloseReason::Normal)
            .is_empty());
        assert_eq!(pm.poll_timeout(), None);
        pm.on_subflow_closed(&c.ctx(), &sf, CloseReason::Timeout);
        assert_eq!(pm.poll_timeout(), Some(at_ms(1_200)));
        // Meanwhile an unrelated event does not open the pair twice.
        c.remote_addrs.push((1, sa("10.9.1.1:80")));
        assert_eq!(
            opens(&pm.on_add_addr(&c.ctx(), 1, sa("10.9.1.1:80"))),
            vec![(ip("10.0.0.1"), sa("10.9.1.1:80"))]
        );
        c.now = at_ms(1_200);
        assert_eq!(
            opens(&pm.on_timeout(&c.ctx())),
            vec![(ip("10.1.0.1"), sa("10.9.0.1:80"))]
        );
    }

    #[test]
    fn an_address_that_comes_back_is_used_at_once() {
        let mut c = Ctx::client(&["10.0.0.1", "10.1.0.1"], "10.9.0.1:80");
        let mut pm = pm();
        c.down_addrs.push(ip("10.1.0.1"));
        assert!(pm.on_established(&c.ctx()).is_empty());
        c.now = at_ms(3_000);
        c.down_addrs.clear();
        assert_eq!(
            opens(&pm.on_address_up(&c.ctx(), ip("10.1.0.1"))),
            vec![(ip("10.1.0.1"), sa("10.9.0.1:80"))]
        );
        // A subflow lost while its address is down waits for the address.
        let sf = c.subflow("10.1.0.1:5000", "10.9.0.1:80");
        c.drop_subflow("10.1.0.1:5000");
        c.down_addrs.push(ip("10.1.0.1"));
        pm.on_address_down(&c.ctx(), ip("10.1.0.1"));
        pm.on_subflow_closed(&c.ctx(), &sf, CloseReason::AddressDown);
        assert_eq!(pm.poll_timeout(), None);
        c.down_addrs.clear();
        c.now = at_ms(9_000);
        assert_eq!(pm.on_address_up(&c.ctx(), ip("10.1.0.1")).len(), 1);
    }
}
