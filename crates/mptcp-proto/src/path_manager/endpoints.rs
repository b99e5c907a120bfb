//! `endpoints`: Linux's in-kernel path manager (net/mptcp/pm_kernel.c, formerly
//! pm_netlink.c) over an endpoint table, as configured there with
//! `ip mptcp endpoint add ADDR [id N] [signal] [subflow] [backup] [fullmesh]` and
//! `ip mptcp limits set subflows N add_addr_accepted N`.
//!
//! Behaviour reproduced (both roles run the same rules, as in the kernel):
//! - When the connection is established, the endpoint holding the initial subflow's local
//!   address is consumed (and, if marked `backup`, the initial subflow is marked backup with
//!   MP_PRIO). Then every `signal` endpoint is announced with ADD_ADDR (the kernel announces
//!   one at a time, each after the previous one was echoed; here they all go at once), and
//!   every `subflow` endpoint opens, while fewer than `subflows` extra subflows exist: one
//!   subflow to the peer's initial address (none if the peer set flag C), or, if also
//!   `fullmesh`, one to each distinct peer address that already has a subflow. `backup`
//!   endpoints open their subflows with MP_JOIN flag B. An endpoint that is both `signal`
//!   and `subflow` is announced and opens subflows.
//! - When the peer announces an address, while fewer than `add_addr_accepted` announced
//!   addresses were accepted and fewer than `subflows` extra subflows exist, and no subflow
//!   goes to it yet: one subflow from each `fullmesh` endpoint, or, without any, one from
//!   the address routing would pick (here: the initial subflow's local address).
//! - Joins from the peer are accepted while fewer than `subflows` extra subflows exist.
//! - The limits count extra subflows (the initial one is not counted), as the kernel does.
//!
//! Beyond the kernel: subflows this manager opened are opened again when lost (unless
//! `EndpointConfig::rejoin` is `None`), and an endpoint whose address was down when the
//! connection was established opens its subflows when the address is reported up.

use super::{OpenSubflow, PathManager, PmAction, PmContext, PmSubflow, Rejoin};
use crate::event::CloseReason;
use crate::time::Instant;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

/// The flags of an endpoint (`ip mptcp endpoint` flags).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PmEndpointFlags {
    /// Announce the address to the peer with ADD_ADDR.
    pub signal: bool,
    /// Open a subflow from the address.
    pub subflow: bool,
    /// Subflows from the address have backup priority.
    pub backup: bool,
    /// Open subflows from the address to every peer address (and use it to join
    /// addresses the peer announces).
    pub fullmesh: bool,
}

/// One endpoint: a local address and what to do with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PmEndpoint {
    /// The local address.
    pub addr: IpAddr,
    /// Address ID (1..=255); `None`: the lowest one free.
    pub id: Option<u8>,
    /// Flags.
    pub flags: PmEndpointFlags,
}

impl PmEndpoint {
    /// An endpoint with an automatic ID.
    pub fn new(addr: IpAddr, flags: PmEndpointFlags) -> Self {
        PmEndpoint {
            addr,
            id: None,
            flags,
        }
    }
}

/// Limits on what the endpoint table may add to a connection (`ip mptcp limits`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PmLimits {
    /// Most extra subflows (opened or accepted), the initial one not counted.
    pub subflows: u32,
    /// Most peer announcements acted upon.
    pub add_addr_accepted: u32,
}

impl Default for PmLimits {
    /// The kernel's defaults: 2 subflows, no announcement accepted.
    fn default() -> Self {
        PmLimits {
            subflows: 2,
            add_addr_accepted: 0,
        }
    }
}

/// The kernel's largest limit and largest table.
pub const MAX_PM_LIMIT: u32 = 8;

/// An endpoint or limits description that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad {what} {text:?}: {reason}")]
pub struct PmConfigError {
    /// "endpoint" or "limits".
    pub what: &'static str,
    /// The text as given.
    pub text: String,
    /// What is wrong.
    pub reason: String,
}

impl FromStr for PmEndpoint {
    type Err = PmConfigError;

    /// `ADDR [id N] [signal] [subflow] [backup] [fullmesh]`, as `ip mptcp endpoint add`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |reason: &str| PmConfigError {
            what: "endpoint",
            text: s.to_string(),
            reason: reason.to_string(),
        };
        let mut words = s.split_whitespace();
        let addr = words
            .next()
            .ok_or_else(|| bad("no address"))?
            .parse::<IpAddr>()
            .map_err(|_| bad("the first word must be an IP address"))?;
        let mut ep = PmEndpoint::new(addr, PmEndpointFlags::default());
        while let Some(w) = words.next() {
            match w {
                "signal" => ep.flags.signal = true,
                "subflow" => ep.flags.subflow = true,
                "backup" => ep.flags.backup = true,
                "fullmesh" => ep.flags.fullmesh = true,
                "id" => {
                    let id = words
                        .next()
                        .and_then(|v| v.parse::<u8>().ok())
                        .filter(|v| *v != 0)
                        .ok_or_else(|| bad("id takes a number from 1 to 255"))?;
                    ep.id = Some(id);
                }
                _ => return Err(bad(&format!("unknown word {w:?}"))),
            }
        }
        if ep.flags.signal && ep.flags.fullmesh {
            return Err(bad("signal and fullmesh exclude each other (as in Linux)"));
        }
        Ok(ep)
    }
}

impl FromStr for PmLimits {
    type Err = PmConfigError;

    /// `[subflows N] [add_addr_accepted N]`, as `ip mptcp limits set` (N at most 8).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |reason: &str| PmConfigError {
            what: "limits",
            text: s.to_string(),
            reason: reason.to_string(),
        };
        let mut limits = PmLimits::default();
        let mut words = s.split_whitespace();
        while let Some(w) = words.next() {
            let n = words
                .next()
                .and_then(|v| v.parse::<u32>().ok())
                .filter(|v| *v <= MAX_PM_LIMIT)
                .ok_or_else(|| bad(&format!("{w} takes a number from 0 to {MAX_PM_LIMIT}")))?;
            match w {
                "subflows" | "subflow" => limits.subflows = n,
                "add_addr_accepted" => limits.add_addr_accepted = n,
                _ => return Err(bad(&format!("unknown word {w:?}"))),
            }
        }
        Ok(limits)
    }
}

/// Most pairs remembered as opened by this manager (the scope of re-opening).
const MAX_OPENED: usize = 32;

/// Linux's in-kernel path manager over an endpoint table (see the module documentation).
#[derive(Debug, Clone)]
pub struct EndpointsPm {
    /// (ID, endpoint), in configuration order.
    table: Vec<(u8, PmEndpoint)>,
    limits: PmLimits,
    /// Endpoint IDs this connection consumed (the kernel's `id_avail_bitmap`, inverted).
    used: Vec<u8>,
    mpc_accounted: bool,
    /// Peer announcements acted upon.
    accepted: u32,
    opened: Vec<(IpAddr, SocketAddr)>,
    rejoin: Rejoin,
}

impl EndpointsPm {
    /// A manager over `endpoints` (IDs resolved; a repeated address and entries past the
    /// eighth are ignored, as the kernel refuses them).
    pub fn new(endpoints: &[PmEndpoint], limits: PmLimits, rejoin: Rejoin) -> Self {
        let mut table: Vec<(u8, PmEndpoint)> = Vec::new();
        let explicit: Vec<u8> = endpoints.iter().filter_map(|e| e.id).collect();
        let mut next = 1u8;
        for ep in endpoints {
            if table.len() >= MAX_PM_LIMIT as usize || table.iter().any(|(_, e)| e.addr == ep.addr)
            {
                continue;
            }
            let id = match ep.id {
                Some(id) if !table.iter().any(|(i, _)| *i == id) => id,
                Some(_) => continue,
                None => {
                    while explicit.contains(&next) || table.iter().any(|(i, _)| *i == next) {
                        next = next.saturating_add(1);
                    }
                    next
                }
            };
            table.push((id, *ep));
        }
        EndpointsPm {
            table,
            limits,
            used: Vec::new(),
            mpc_accounted: false,
            accepted: 0,
            opened: Vec::new(),
            rejoin,
        }
    }

    /// The resolved table: (ID, endpoint).
    pub fn table(&self) -> &[(u8, PmEndpoint)] {
        &self.table
    }

    fn note_opened(&mut self, local: IpAddr, remote: SocketAddr) {
        if self.opened.len() < MAX_OPENED && !self.opened.contains(&(local, remote)) {
            self.opened.push((local, remote));
        }
    }

    /// The kernel's "create subflow or signal address" step, restricted to endpoints on
    /// `only` when given.
    fn create(&mut self, ctx: &PmContext<'_>, only: Option<IpAddr>) -> Vec<PmAction> {
        let mut out = Vec::new();
        if !self.mpc_accounted {
            self.mpc_accounted = true;
            let first = ctx.initial_local.ip();
            if let Some((id, ep)) = self.table.iter().find(|(_, e)| e.addr == first) {
                self.used.push(*id);
                if ep.flags.backup {
                    if let Some(sf) = ctx.subflows.iter().find(|s| s.initial) {
                        out.push(PmAction::SetBackup {
                            local: sf.local,
                            remote: sf.remote,
                            backup: true,
                        });
                    }
                }
            }
        }
        let skip =
            |ep: &PmEndpoint| only.is_some_and(|ip| ip != ep.addr) || !ctx.addr_usable(ep.addr);
        let mut signal_and_subflow = Vec::new();
        for (id, ep) in self.table.iter() {
            if skip(ep) || !ep.flags.signal || self.used.contains(id) {
                continue;
            }
            self.used.push(*id);
            out.push(PmAction::Announce {
                id: *id,
                addr: ep.addr,
                until_acked: false,
            });
            if ep.flags.subflow {
                signal_and_subflow.push(*id);
            }
        }
        let mut extra = ctx.extra_subflows();
        let mut total = ctx.subflows.len();
        let limit = self.limits.subflows as usize;
        let table = self.table.clone();
        for (id, ep) in table.iter() {
            if extra >= limit {
                break;
            }
            let both = signal_and_subflow.contains(id);
            if skip(ep) || !ep.flags.subflow || (self.used.contains(id) && !both) {
                continue;
            }
            if !both {
                self.used.push(*id);
            }
            let family = |r: &SocketAddr| r.is_ipv4() == ep.addr.is_ipv4();
            let remotes: Vec<SocketAddr> = if ep.flags.fullmesh {
                let mut rs: Vec<SocketAddr> = Vec::new();
                for s in ctx.subflows {
                    let r = s.remote;
                    if family(&r)
                        && ctx.joinable(r)
                        && !rs.contains(&r)
                        && ctx.count(ep.addr, r) == 0
                    {
                        rs.push(r);
                    }
                }
                rs
            } else if ctx.joinable(ctx.initial_remote) && family(&ctx.initial_remote) {
                vec![ctx.initial_remote]
            } else {
                Vec::new()
            };
            for remote in remotes {
                if extra >= limit || total >= ctx.max_subflows {
                    break;
                }
                out.push(PmAction::Open(OpenSubflow {
                    local: ep.addr,
                    remote,
                    backup: ep.flags.backup,
                    local_id: Some(*id),
                }));
                self.note_opened(ep.addr, remote);
                extra += 1;
                total += 1;
            }
        }
        out
    }
}

impl PathManager for EndpointsPm {
    fn name(&self) -> &'static str {
        "endpoints"
    }

    fn on_established(&mut self, ctx: &PmContext<'_>) -> Vec<PmAction> {
        self.create(ctx, None)
    }

    fn on_add_addr(&mut self, ctx: &PmContext<'_>, id: u8, addr: SocketAddr) -> Vec<PmAction> {
        let limit = self.limits.subflows as usize;
        let extra = ctx.extra_subflows();
        if self.accepted >= self.limits.add_addr_accepted
            || extra >= limit
            || ctx.subflows.iter().any(|s| s.remote == addr)
            || !ctx.joinable(addr)
        {
            return Vec::new();
        }
        let mut locals: Vec<(IpAddr, bool, Option<u8>)> = self
            .table
            .iter()
            .filter(|(_, e)| {
                e.flags.fullmesh && e.addr.is_ipv4() == addr.is_ipv4() && ctx.addr_usable(e.addr)
            })
            .map(|(i, e)| (e.addr, e.flags.backup, Some(*i)))
            .collect();
        if locals.is_empty() {
            locals.extend(ctx.primary_local(addr).map(|a| (a, false, None)));
        }
        // Within both the extra-subflow limit and the connection's.
        let room = (limit - extra).min(ctx.max_subflows.saturating_sub(ctx.subflows.len()));
        let mut out = Vec::new();
        for (local, backup, local_id) in locals.into_iter().take(room) {
            out.push(PmAction::Open(OpenSubflow {
                local,
                remote: addr,
                backup,
                local_id,
            }));
            self.note_opened(local, addr);
        }
        if !out.is_empty() && id != 0 {
            self.accepted += 1;
        }
        out
    }

    fn on_remove_addr(&mut self, _ctx: &PmContext<'_>, id: u8, addr: Option<SocketAddr>) {
        if id != 0 && self.accepted > 0 {
            self.accepted -= 1;
        }
        if let Some(a) = addr {
            self.rejoin.forget_remote(a.ip());
        }
    }

    fn allow_join(&mut self, ctx: &PmContext<'_>, _local: SocketAddr, _remote: SocketAddr) -> bool {
        ctx.extra_subflows() < self.limits.subflows as usize
    }

    fn on_subflow_established(&mut self, ctx: &PmContext<'_>, sf: &PmSubflow) -> Vec<PmAction> {
        self.rejoin.established(ctx.now, sf.local.ip(), sf.remote);
        // The kernel runs its creation step again on every new subflow (a fullmesh
        // endpoint may now have a new peer address to go to).
        self.create(ctx, None)
    }

    fn on_subflow_closed(
        &mut self,
        ctx: &PmContext<'_>,
        sf: &PmSubflow,
        reason: CloseReason,
    ) -> Vec<PmAction> {
        if self.opened.contains(&(sf.local.ip(), sf.remote)) && ctx.addr_usable(sf.local.ip()) {
            self.rejoin.lost(ctx, sf, reason);
        }
        Vec::new()
    }

    fn on_address_up(&mut self, ctx: &PmContext<'_>, ip: IpAddr) -> Vec<PmAction> {
        self.rejoin.address_up(ctx.now, ip);
        let mut out = self.rejoin.due(ctx);
        // The retries count against the limits of the creation step.
        let subflows = super::with_opens(ctx, &out);
        let ctx2 = PmContext {
            subflows: &subflows,
            ..*ctx
        };
        out.extend(self.create(&ctx2, Some(ip)));
        out
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
    use super::super::testutil::{ip, opens, sa, Ctx};
    use super::*;

    fn ep(s: &str) -> PmEndpoint {
        s.parse().unwrap()
    }

    fn pm(eps: &[&str], limits: &str) -> EndpointsPm {
        let table: Vec<PmEndpoint> = eps.iter().map(|s| ep(s)).collect();
        EndpointsPm::new(&table, limits.parse().unwrap(), Rejoin::default())
    }

    #[test]
    fn endpoint_and_limit_syntax_follows_iproute2() {
        let e = ep("10.1.0.1 id 7 subflow backup");
        assert_eq!(e.addr, ip("10.1.0.1"));
        assert_eq!(e.id, Some(7));
        assert!(e.flags.subflow && e.flags.backup && !e.flags.signal && !e.flags.fullmesh);
        assert!(ep("fd00::2 signal").flags.signal);
        for bad in [
            "",
            "nothing",
            "10.0.0.1 id",
            "10.0.0.1 id 0",
            "10.0.0.1 wings",
            "10.0.0.1 signal fullmesh",
        ] {
            assert!(bad.parse::<PmEndpoint>().is_err(), "{bad:?}");
        }
        let l: PmLimits = "subflows 4 add_addr_accepted 3".parse().unwrap();
        assert_eq!((l.subflows, l.add_addr_accepted), (4, 3));
        assert_eq!("".parse::<PmLimits>(), Ok(PmLimits::default()));
        assert_eq!(
            PmLimits::default(),
            PmLimits {
                subflows: 2,
                add_addr_accepted: 0
            }
        );
        assert!("subflows 9".parse::<PmLimits>().is_err());
        assert!("subflows".parse::<PmLimits>().is_err());
        assert!("paths 2".parse::<PmLimits>().is_err());
    }

    #[test]
    fn ids_are_explicit_or_the_lowest_free_and_duplicates_are_dropped() {
        let p = pm(
            &[
                "10.0.0.1 subflow",
                "10.1.0.1 id 1 subflow",
                "10.2.0.1 signal",
                "10.1.0.1 signal",
                "10.3.0.1 id 2 subflow",
            ],
            "",
        );
        let ids: Vec<(u8, IpAddr)> = p.table().iter().map(|(i, e)| (*i, e.addr)).collect();
        assert_eq!(
            ids,
            vec![
                (3, ip("10.0.0.1")),
                (1, ip("10.1.0.1")),
                (4, ip("10.2.0.1")),
                (2, ip("10.3.0.1")),
            ]
        );
    }

    #[test]
    fn subflow_endpoints_open_to_the_initial_address_within_the_limit() {
        let c = Ctx::client(&["10.0.0.1"], "10.9.0.1:80");
        let mut p = pm(
            &[
                "10.0.0.1 subflow",
                "10.1.0.1 subflow",
                "10.2.0.1 subflow backup",
                "10.3.0.1 subflow",
            ],
            "subflows 2",
        );
        let acts = p.on_established(&c.ctx());
        // The initial subflow's endpoint is consumed, not reused; the limit stops 10.3.0.1.
        assert_eq!(
            acts,
            vec![
                PmAction::Open(OpenSubflow {
                    local: ip("10.1.0.1"),
                    remote: sa("10.9.0.1:80"),
                    backup: false,
                    local_id: Some(2),
                }),
                PmAction::Open(OpenSubflow {
                    local: ip("10.2.0.1"),
                    remote: sa("10.9.0.1:80"),
                    backup: true,
                    local_id: Some(3),
                }),
            ]
        );
        // Running the step again (next subflow up) adds nothing: endpoints are consumed.
        let mut c2 = c.clone();
        c2.apply_opens(&acts);
        assert!(p.on_established(&c2.ctx()).is_empty());
    }

    #[test]
    fn flag_c_consumes_plain_endpoints_without_opening() {
        let mut c = Ctx::client(&["10.0.0.1"], "10.9.0.1:80");
        c.deny_join_initial = true;
        let mut p = pm(&["10.1.0.1 subflow"], "subflows 4 add_addr_accepted 1");
        assert!(p.on_established(&c.ctx()).is_empty());
        // The unique address announced later is joined from the routing choice.
        c.remote_addrs.push((1, sa("10.9.1.1:80")));
        assert_eq!(
            opens(&p.on_add_addr(&c.ctx(), 1, sa("10.9.1.1:80"))),
            vec![(ip("10.0.0.1"), sa("10.9.1.1:80"))]
        );
    }

    #[test]
    fn a_backup_endpoint_on_the_initial_address_marks_the_initial_subflow() {
        let c = Ctx::client(&["10.0.0.1"], "10.9.0.1:80");
        let mut p = pm(&["10.0.0.1 subflow backup"], "");
        assert_eq!(
            p.on_established(&c.ctx()),
            vec![PmAction::SetBackup {
                local: sa("10.0.0.1:4000"),
                remote: sa("10.9.0.1:80"),
                backup: true
            }]
        );
        assert!(p.on_established(&c.ctx()).is_empty(), "only once");
    }

    #[test]
    fn signal_endpoints_are_announced_with_their_ids() {
        let s = Ctx::server("10.9.0.1:80", "10.0.0.1:4000", &[]);
        let mut p = pm(
            &["10.9.0.1 signal", "10.9.1.1 signal", "10.9.2.1 id 9 signal"],
            "",
        );
        assert_eq!(
            p.on_established(&s.ctx()),
            vec![
                PmAction::Announce {
                    id: 2,
                    addr: ip("10.9.1.1"),
                    until_acked: false
                },
                PmAction::Announce {
                    id: 9,
                    addr: ip("10.9.2.1"),
                    until_acked: false
                },
            ]
        );
        // A signal + subflow endpoint is announced and opens a subflow too.
        let c = Ctx::client(&["10.0.0.1"], "10.9.0.1:80");
        let mut p = pm(&["10.1.0.1 signal subflow"], "");
        let acts = p.on_established(&c.ctx());
        assert_eq!(acts.len(), 2);
        assert!(matches!(acts[0], PmAction::Announce { id: 1, .. }));
        assert_eq!(opens(&acts), vec![(ip("10.1.0.1"), sa("10.9.0.1:80"))]);
    }

    #[test]
    fn fullmesh_endpoints_go_to_every_known_peer_address() {
        let mut c = Ctx::client(&["10.0.0.1"], "10.9.0.1:80");
        c.subflow("10.0.0.1:4001", "10.9.1.1:80");
        let mut p = pm(
            &["10.1.0.1 subflow fullmesh"],
            "subflows 8 add_addr_accepted 8",
        );
        let mut got = opens(&p.on_established(&c.ctx()));
        got.sort();
        assert_eq!(
            got,
            vec![
                (ip("10.1.0.1"), sa("10.9.0.1:80")),
                (ip("10.1.0.1"), sa("10.9.1.1:80"))
            ]
        );
        // And it joins announced addresses, instead of the routing choice.
        c.remote_addrs.push((2, sa("10.9.2.1:80")));
        assert_eq!(
            opens(&p.on_add_addr(&c.ctx(), 2, sa("10.9.2.1:80"))),
            vec![(ip("10.1.0.1"), sa("10.9.2.1:80"))]
        );
    }

    #[test]
    fn add_addr_accepted_and_subflows_limit_announcements() {
        let mut c = Ctx::client(&["10.0.0.1"], "10.9.0.1:80");
        c.remote_addrs.push((1, sa("10.9.1.1:80")));
        c.remote_addrs.push((2, sa("10.9.2.1:80")));
        // The kernel's default limits accept no announcement.
        let mut p = pm(&[], "");
        assert!(p.on_add_addr(&c.ctx(), 1, sa("10.9.1.1:80")).is_empty());
        let mut p = pm(&[], "subflows 4 add_addr_accepted 1");
        let first = p.on_add_addr(&c.ctx(), 1, sa("10.9.1.1:80"));
        assert_eq!(opens(&first), vec![(ip("10.0.0.1"), sa("10.9.1.1:80"))]);
        c.apply_opens(&first);
        assert!(p.on_add_addr(&c.ctx(), 2, sa("10.9.2.1:80")).is_empty());
        // A withdrawal frees the slot.
        p.on_remove_addr(&c.ctx(), 1, Some(sa("10.9.1.1:80")));
        assert_eq!(p.on_add_addr(&c.ctx(), 2, sa("10.9.2.1:80")).len(), 1);
        // The subflows limit applies too.
        let mut p = pm(&[], "subflows 1 add_addr_accepted 8");
        assert!(p.on_add_addr(&c.ctx(), 2, sa("10.9.2.1:80")).is_empty());
    }

    #[test]
    fn incoming_joins_are_limited_by_subflows() {
        let mut s = Ctx::server("10.9.0.1:80", "10.0.0.1:4000", &[]);
        let mut p = pm(&[], "subflows 1");
        let (l, r) = (sa("10.9.0.1:80"), sa("10.1.0.1:4000"));
        assert!(p.allow_join(&s.ctx(), l, r));
        s.subflow("10.9.0.1:80", "10.1.0.1:4000");
        assert!(!p.allow_join(&s.ctx(), l, sa("10.2.0.1:4000")));
        let mut p = pm(&[], "subflows 0");
        let s = Ctx::server("10.9.0.1:80", "10.0.0.1:4000", &[]);
        assert!(!p.allow_join(&s.ctx(), l, r));
    }

    #[test]
    fn an_endpoint_down_at_start_opens_when_its_address_comes_up() {
        let mut c = Ctx::client(&["10.0.0.1"], "10.9.0.1:80");
        c.down_addrs.push(ip("10.1.0.1"));
        let mut p = pm(&["10.1.0.1 subflow"], "");
        assert!(p.on_established(&c.ctx()).is_empty());
        c.down_addrs.clear();
        assert_eq!(
            opens(&p.on_address_up(&c.ctx(), ip("10.1.0.1"))),
            vec![(ip("10.1.0.1"), sa("10.9.0.1:80"))]
        );
    }
}
