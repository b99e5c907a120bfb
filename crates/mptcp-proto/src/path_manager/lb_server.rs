//! `lb-server`: a server behind a stateless layer-4 load balancer or anycast (Duchêne's
//! thesis, chapter 5; RFC 8684 §3.1 flag C and §3.4.1 ADD_ADDR echo).
//!
//! The load-balanced address (the VIP) only works for the initial subflow: a join sent to
//! it would be hashed to any server. So the server sets flag C in its SYN/ACK (the client
//! must not join the initial address and port), and announces its own unique address,
//! which the client then joins directly. Since the client cannot open any other subflow
//! before that announcement arrives, it is retransmitted until the client echoes it or
//! joins the address, without the usual retry limit (the thesis' implementation put it on
//! every packet until echoed; Linux uses a timer, which is what happens here too, every
//! `add_addr_timeout`). With `lb-server:backup` the initial subflow (through the load
//! balancer) is marked backup once a subflow to the unique address is up, so traffic
//! leaves the balancer while the initial subflow stays as a fallback (the thesis prefers
//! this to closing it).

use super::{announce_configured, DefaultPm, PathManager, PmAction, PmContext, PmSubflow, Rejoin};
use crate::event::CloseReason;
use crate::time::Instant;
use std::net::{IpAddr, SocketAddr};

/// Server side as described in the module documentation; on the client side of a
/// connection it behaves as [`DefaultPm`] (which honours flag C).
#[derive(Debug, Clone)]
pub struct LbServerPm {
    is_client: bool,
    backup: bool,
    announce: Vec<IpAddr>,
    marked: bool,
    client: DefaultPm,
}

impl LbServerPm {
    /// A manager for one connection; `announce` holds the server's unique address(es).
    pub fn new(is_client: bool, backup: bool, announce: Vec<IpAddr>, rejoin: Rejoin) -> Self {
        LbServerPm {
            is_client,
            backup,
            client: DefaultPm::new(Vec::new(), rejoin),
            announce,
            marked: false,
        }
    }
}

impl PathManager for LbServerPm {
    fn name(&self) -> &'static str {
        "lb-server"
    }

    fn deny_join_initial(&self) -> bool {
        !self.is_client
    }

    fn on_established(&mut self, ctx: &PmContext<'_>) -> Vec<PmAction> {
        if ctx.is_client {
            return self.client.on_established(ctx);
        }
        announce_configured(ctx, &self.announce, true)
    }

    fn on_add_addr(&mut self, ctx: &PmContext<'_>, id: u8, addr: SocketAddr) -> Vec<PmAction> {
        self.client.on_add_addr(ctx, id, addr)
    }

    fn on_remove_addr(&mut self, ctx: &PmContext<'_>, id: u8, addr: Option<SocketAddr>) {
        self.client.on_remove_addr(ctx, id, addr)
    }

    fn on_subflow_established(&mut self, ctx: &PmContext<'_>, sf: &PmSubflow) -> Vec<PmAction> {
        if ctx.is_client {
            return self.client.on_subflow_established(ctx, sf);
        }
        if !self.backup || self.marked || sf.initial || !self.announce.contains(&sf.local.ip()) {
            return Vec::new();
        }
        let Some(first) = ctx.subflows.iter().find(|s| s.initial) else {
            return Vec::new();
        };
        self.marked = true;
        vec![PmAction::SetBackup {
            local: first.local,
            remote: first.remote,
            backup: true,
        }]
    }

    fn on_subflow_closed(
        &mut self,
        ctx: &PmContext<'_>,
        sf: &PmSubflow,
        reason: CloseReason,
    ) -> Vec<PmAction> {
        self.client.on_subflow_closed(ctx, sf, reason)
    }

    fn on_address_up(&mut self, ctx: &PmContext<'_>, ip: IpAddr) -> Vec<PmAction> {
        self.client.on_address_up(ctx, ip)
    }

    fn on_address_down(&mut self, ctx: &PmContext<'_>, ip: IpAddr) {
        self.client.on_address_down(ctx, ip)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.client.poll_timeout()
    }

    fn on_timeout(&mut self, ctx: &PmContext<'_>) -> Vec<PmAction> {
        self.client.on_timeout(ctx)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{ip, opens, sa, Ctx};
    use super::*;

    #[test]
    fn server_sets_flag_c_and_announces_its_unique_address_until_acked() {
        let s = Ctx::server("10.9.0.1:80", "10.0.0.1:4000", &["10.9.1.1"]);
        let mut pm = LbServerPm::new(false, false, vec![ip("10.9.1.1")], Rejoin::default());
        assert!(pm.deny_join_initial());
        assert_eq!(
            pm.on_established(&s.ctx()),
            vec![PmAction::Announce {
                id: 1,
                addr: ip("10.9.1.1"),
                until_acked: true
            }]
        );
        // The client side of the same spec does not set flag C.
        assert!(!LbServerPm::new(true, false, vec![], Rejoin::default()).deny_join_initial());
    }

    #[test]
    fn backup_marks_the_initial_subflow_once_the_unique_address_is_joined() {
        let mut s = Ctx::server("10.9.0.1:80", "10.0.0.1:4000", &["10.9.1.1"]);
        let mut pm = LbServerPm::new(false, true, vec![ip("10.9.1.1")], Rejoin::default());
        pm.on_established(&s.ctx());
        // A join on another address does not count.
        let other = s.subflow("10.9.0.1:80", "10.0.0.1:4001");
        assert!(pm.on_subflow_established(&s.ctx(), &other).is_empty());
        let direct = s.subflow("10.9.1.1:80", "10.0.0.1:4002");
        assert_eq!(
            pm.on_subflow_established(&s.ctx(), &direct),
            vec![PmAction::SetBackup {
                local: sa("10.9.0.1:80"),
                remote: sa("10.0.0.1:4000"),
                backup: true
            }]
        );
        let again = s.subflow("10.9.1.1:80", "10.0.0.1:4003");
        assert!(pm.on_subflow_established(&s.ctx(), &again).is_empty());
        // Without the option nothing is marked.
        let mut plain = LbServerPm::new(false, false, vec![ip("10.9.1.1")], Rejoin::default());
        assert!(plain.on_subflow_established(&s.ctx(), &direct).is_empty());
    }

    #[test]
    fn client_side_behaves_as_the_default() {
        let mut c = Ctx::client(&["10.0.0.1", "10.1.0.1"], "10.9.0.1:80");
        c.deny_join_initial = true;
        let mut pm = LbServerPm::new(true, true, vec![], Rejoin::default());
        assert!(pm.on_established(&c.ctx()).is_empty());
        c.remote_addrs.push((1, sa("10.9.1.1:80")));
        assert_eq!(
            opens(&pm.on_add_addr(&c.ctx(), 1, sa("10.9.1.1:80"))),
            vec![(ip("10.0.0.1"), sa("10.9.1.1:80"))]
        );
    }
}
