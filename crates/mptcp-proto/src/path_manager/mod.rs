//! Path managers: which extra subflows to open, which addresses to announce, and when to
//! open a lost subflow again (RFC 8684 §3.4 leaves the policy to the implementation).
//!
//! A path manager is a per-connection policy object. The connection calls it on events
//! (established, ADD_ADDR or REMOVE_ADDR received, subflow up or closed, a local address
//! up or down, its own timer) with a read-only [`PmContext`], and applies the
//! [`PmAction`]s it returns: open a subflow, announce an address, change a priority.
//!
//! # Choosing one: the spec grammar
//!
//! `EndpointConfig::path_manager` holds a [`PathManagerKind`], parsed from a spec by
//! [`PathManagerKind::from_name`] (the simulator's `path_manager = "..."` and the CLI's
//! `--path-manager` use the same grammar):
//!
//! ```text
//! spec   = name [ ":" param ]
//! name   = "default" | "fullmesh" | "ndiffports" | "endpoints" | "lb-server"
//! ndiffports:N      N = total subflows over the initial address pair, 1..=64
//!                   ("ndiffports" alone means N = 2)
//! lb-server:backup  also mark the initial subflow backup once a join to the unique address
//!                   is up
//! ```
//! The other names take no parameter. [`PathManagerKind`]'s `Display` prints the canonical
//! spec, which parses back to the same value.
//!
//! # The managers
//!
//! | name | client opens | server | lost subflows |
//! |---|---|---|---|
//! | `default` ([`DefaultPm`]) | one subflow per local address to the initial remote address; one to each announced address, from the initial local address | announces `announce_addrs` | re-opened |
//! | `fullmesh` ([`FullMeshPm`]) | every (local address, remote address) pair, announced ones included | announces `announce_addrs` | re-opened |
//! | `ndiffports:N` ([`NDiffPortsPm`]) | N subflows over the initial address pair (new source ports) | nothing | re-opened |
//! | `endpoints` ([`EndpointsPm`]) | Linux's in-kernel PM over `pm_endpoints` and `pm_limits` (both roles) | same | the ones it opened, re-opened |
//! | `lb-server` ([`LbServerPm`]) | as `default` | flag C on the initial subflow, `announce_addrs` announced until echoed or joined | as `default` |
//!
//! `default` is Linux-like (the kernel with each extra address a `subflow` endpoint and ADD_ADDRs
//! accepted): with two local and two remote addresses it opens three subflows, while
//! `fullmesh` opens four. Before the split, `default` was a full mesh; no test relied on the
//! difference (the simulator's servers announce nothing, and tests with an announcing server
//! use one client address, where both give the same subflows).
//!
//! Re-opening ("rejoin") follows `EndpointConfig::rejoin` (see [`Rejoin`]): a subflow lost to a
//! timeout or a reset is opened again after a short, growing delay (capped, by default at
//! 1 s), paused while its local address is reported down, and retried at once when the
//! driver reports the address up again ([`crate::Endpoint::address_up`]).

mod default;
mod endpoints;
mod fullmesh;
mod lb_server;
mod ndiffports;
mod rejoin;
#[cfg(test)]
mod testutil;

pub use default::DefaultPm;
pub use endpoints::{
    EndpointsPm, PmConfigError, PmEndpoint, PmEndpointFlags, PmLimits, MAX_PM_LIMIT,
};
pub use fullmesh::FullMeshPm;
pub use lb_server::LbServerPm;
pub use ndiffports::NDiffPortsPm;
pub use rejoin::{Rejoin, RejoinPolicy};

use crate::config::EndpointConfig;
use crate::event::CloseReason;
use crate::time::Instant;
use std::net::{IpAddr, SocketAddr};

/// One live subflow as a path manager sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PmSubflow {
    /// Our address and port.
    pub local: SocketAddr,
    /// The peer's address and port.
    pub remote: SocketAddr,
    /// The connection's first subflow (MP_CAPABLE).
    pub initial: bool,
    /// Its handshake completed.
    pub established: bool,
    /// We asked for backup priority on it.
    pub backup: bool,
}

/// What a path manager sees of its connection.
#[derive(Debug, Clone, Copy)]
pub struct PmContext<'a> {
    /// The current time.
    pub now: Instant,
    /// We opened the connection.
    pub is_client: bool,
    /// Local addresses the connection may use (client: as given to connect, plus addresses
    /// reported up later; server: the initial local address then the announced ones).
    /// Addresses in `down_addrs` are listed here too.
    pub local_addrs: &'a [IpAddr],
    /// Local addresses reported down (or withdrawn): no subflow may start from them.
    pub down_addrs: &'a [IpAddr],
    /// Our address of the initial subflow.
    pub initial_local: SocketAddr,
    /// The peer's address of the initial subflow.
    pub initial_remote: SocketAddr,
    /// The peer set flag C: no joins to its initial address and port.
    pub deny_join_initial: bool,
    /// Every subflow not yet closed, handshaking ones included.
    pub subflows: &'a [PmSubflow],
    /// Addresses the peer announced (address ID, address; port 0 = the initial port).
    pub remote_addrs: &'a [(u8, SocketAddr)],
    /// Most subflows allowed (`EndpointConfig::max_subflows`).
    pub max_subflows: usize,
}

impl PmContext<'_> {
    /// Whether a subflow may start from `ip` now (not reported down).
    pub fn addr_usable(&self, ip: IpAddr) -> bool {
        !self.down_addrs.contains(&ip)
    }

    /// Local addresses that are not down, in order.
    pub fn usable_locals(&self) -> impl Iterator<Item = IpAddr> + '_ {
        self.local_addrs
            .iter()
            .copied()
            .filter(|a| self.addr_usable(*a))
    }

    /// The local address the routing table would pick towards `remote`: the initial
    /// subflow's, else the first usable one of the same family.
    pub fn primary_local(&self, remote: SocketAddr) -> Option<IpAddr> {
        let first = self.initial_local.ip();
        if first.is_ipv4() == remote.is_ipv4() && self.addr_usable(first) {
            return Some(first);
        }
        self.usable_locals()
            .find(|a| a.is_ipv4() == remote.is_ipv4())
    }

    /// The peer's addresses: the initial one, then the announced ones.
    pub fn remotes(&self) -> Vec<SocketAddr> {
        let mut out = vec![self.initial_remote];
        for (_, a) in self.remote_addrs {
            if !out.contains(a) {
                out.push(*a);
            }
        }
        out
    }

    /// Whether a join to `remote` is allowed (flag C forbids the initial address and port).
    pub fn joinable(&self, remote: SocketAddr) -> bool {
        !(self.deny_join_initial && remote == self.initial_remote)
    }

    /// Live subflows from `local` to `remote`.
    pub fn count(&self, local: IpAddr, remote: SocketAddr) -> usize {
        self.subflows
            .iter()
            .filter(|s| s.local.ip() == local && s.remote == remote)
            .count()
    }

    /// Live subflows other than the initial one (Linux's `msk->pm.subflows`).
    pub fn extra_subflows(&self) -> usize {
        self.subflows.iter().filter(|s| !s.initial).count()
    }
}

/// A subflow to open: from a local address to a remote address (the endpoint picks a free
/// source port, so the same pair may be opened more than once).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenSubflow {
    /// Source address.
    pub local: IpAddr,
    /// Destination address and port.
    pub remote: SocketAddr,
    /// Ask for backup priority (MP_JOIN flag B).
    pub backup: bool,
    /// Address ID to put in the MP_JOIN; `None`: the connection's own numbering.
    pub local_id: Option<u8>,
}

impl OpenSubflow {
    /// A regular subflow with the connection's address numbering.
    pub fn new(local: IpAddr, remote: SocketAddr) -> Self {
        OpenSubflow {
            local,
            remote,
            backup: false,
            local_id: None,
        }
    }
}

/// What a path manager asks the connection to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PmAction {
    /// Open a joined subflow (RFC 8684 §3.2).
    Open(OpenSubflow),
    /// Announce a local address with ADD_ADDR (RFC 8684 §3.4.1). It is sent again every
    /// `add_addr_timeout` until echoed or joined, at most `add_addr_retries` times unless
    /// `until_acked`.
    Announce {
        /// Address ID.
        id: u8,
        /// The address (port: the connection's).
        addr: IpAddr,
        /// Retransmit without limit until echoed or joined.
        until_acked: bool,
    },
    /// Change our priority of one subflow (MP_PRIO, RFC 8684 §3.3.8).
    SetBackup {
        /// Our address and port of the subflow.
        local: SocketAddr,
        /// The peer's address and port of the subflow.
        remote: SocketAddr,
        /// Backup (true) or regular.
        backup: bool,
    },
}

/// Path-management policy. Every callback but [`PathManager::name`] has a default that does
/// nothing, so a policy implements only what it reacts to.
pub trait PathManager: Send + core::fmt::Debug {
    /// Short name.
    fn name(&self) -> &'static str;

    /// Set flag C in our MP_CAPABLE and refuse joins to our initial address and port (in
    /// addition to `EndpointConfig::deny_join_initial_addr`).
    fn deny_join_initial(&self) -> bool {
        false
    }

    /// The connection is fully established.
    fn on_established(&mut self, _ctx: &PmContext<'_>) -> Vec<PmAction> {
        Vec::new()
    }

    /// The peer announced `addr` with ID `id` (already in `ctx.remote_addrs`).
    fn on_add_addr(&mut self, _ctx: &PmContext<'_>, _id: u8, _addr: SocketAddr) -> Vec<PmAction> {
        Vec::new()
    }

    /// The peer withdrew the address with ID `id` (its subflows are being reset).
    fn on_remove_addr(&mut self, _ctx: &PmContext<'_>, _id: u8, _addr: Option<SocketAddr>) {}

    /// The peer asks to join from `remote` to our `local`: accept it?
    fn allow_join(
        &mut self,
        _ctx: &PmContext<'_>,
        _local: SocketAddr,
        _remote: SocketAddr,
    ) -> bool {
        true
    }

    /// A joined subflow completed its handshake (it is in `ctx.subflows`).
    fn on_subflow_established(&mut self, _ctx: &PmContext<'_>, _sf: &PmSubflow) -> Vec<PmAction> {
        Vec::new()
    }

    /// A subflow ended (no longer in `ctx.subflows`); `sf.established` tells whether it had
    /// completed its handshake. Not called once the connection is over.
    fn on_subflow_closed(
        &mut self,
        _ctx: &PmContext<'_>,
        _sf: &PmSubflow,
        _reason: CloseReason,
    ) -> Vec<PmAction> {
        Vec::new()
    }

    /// The driver reports a local address usable again (or new: it is in `ctx.local_addrs`).
    fn on_address_up(&mut self, _ctx: &PmContext<'_>, _ip: IpAddr) -> Vec<PmAction> {
        Vec::new()
    }

    /// The driver reports a local address down (it is in `ctx.down_addrs`).
    fn on_address_down(&mut self, _ctx: &PmContext<'_>, _ip: IpAddr) {}

    /// When [`PathManager::on_timeout`] wants to run.
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }

    /// The time from [`PathManager::poll_timeout`] has come.
    fn on_timeout(&mut self, _ctx: &PmContext<'_>) -> Vec<PmAction> {
        Vec::new()
    }
}

/// Announcements of a server's configured extra addresses (ID = index + 1), skipping the
/// initial local address.
pub(crate) fn announce_configured(
    ctx: &PmContext<'_>,
    configured: &[IpAddr],
    until_acked: bool,
) -> Vec<PmAction> {
    configured
        .iter()
        .enumerate()
        .filter(|(_, a)| **a != ctx.initial_local.ip())
        .map(|(i, a)| PmAction::Announce {
            id: (i + 1).min(255) as u8,
            addr: *a,
            until_acked,
        })
        .collect()
}

/// The subflows of `desired` (a multiset of pairs) that neither exist, nor wait in
/// `rejoin`, nor were given up, nor are among the `issued` actions, within the subflow
/// limit (which the `issued` opens count against).
pub(crate) fn missing(
    ctx: &PmContext<'_>,
    rejoin: &Rejoin,
    desired: &[OpenSubflow],
    issued: &[PmAction],
) -> Vec<PmAction> {
    let issued_opens: Vec<(IpAddr, SocketAddr)> = issued
        .iter()
        .filter_map(|a| match a {
            PmAction::Open(o) => Some((o.local, o.remote)),
            _ => None,
        })
        .collect();
    let mut out: Vec<PmAction> = Vec::new();
    let mut seen: Vec<(IpAddr, SocketAddr)> = Vec::new();
    for d in desired {
        let key = (d.local, d.remote);
        let before = seen.iter().filter(|k| **k == key).count();
        seen.push(key);
        let have = ctx.count(d.local, d.remote)
            + rejoin.pending(d.local, d.remote)
            + issued_opens.iter().filter(|k| **k == key).count();
        if before < have || rejoin.abandoned(d.local, d.remote) {
            continue;
        }
        if ctx.subflows.len() + issued_opens.len() + out.len() >= ctx.max_subflows {
            break;
        }
        out.push(PmAction::Open(*d));
    }
    out
}

/// `ctx.subflows` plus a handshaking entry for each `Open` among `issued` (port 0).
pub(crate) fn with_opens(ctx: &PmContext<'_>, issued: &[PmAction]) -> Vec<PmSubflow> {
    let mut out = ctx.subflows.to_vec();
    for a in issued {
        if let PmAction::Open(o) = a {
            out.push(PmSubflow {
                local: SocketAddr::new(o.local, 0),
                remote: o.remote,
                initial: false,
                established: false,
                backup: o.backup,
            });
        }
    }
    out
}

/// What a manager does when `ip` comes (back) up: every retry of `ip` goes at once, then
/// the pairs of `desired` from `ip` that are missing are opened.
pub(crate) fn address_up(
    ctx: &PmContext<'_>,
    rejoin: &mut Rejoin,
    ip: IpAddr,
    desired: &[OpenSubflow],
) -> Vec<PmAction> {
    rejoin.address_up(ctx.now, ip);
    let mut out = rejoin.due(ctx);
    let from_ip: Vec<OpenSubflow> = desired.iter().copied().filter(|o| o.local == ip).collect();
    let more = missing(ctx, rejoin, &from_ip, &out);
    out.extend(more);
    out
}

/// A path-manager spec that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad path manager {spec:?}: {reason} (known: {})", PATH_MANAGER_NAMES.join(", "))]
pub struct UnknownPathManager {
    /// The spec as given.
    pub spec: String,
    /// What is wrong with it.
    pub reason: String,
}

/// The built-in path managers, chosen per endpoint (`EndpointConfig::path_manager`); each
/// new connection gets its own instance from [`PathManagerKind::build`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PathManagerKind {
    /// Linux-like: one subflow per local address, joins to announced addresses ([`DefaultPm`]).
    #[default]
    Default,
    /// Every (local, remote) address pair ([`FullMeshPm`]).
    FullMesh,
    /// This many subflows over the initial address pair ([`NDiffPortsPm`]).
    NDiffPorts(u8),
    /// Linux's endpoint table ([`EndpointsPm`]).
    Endpoints,
    /// Server behind a layer-4 load balancer ([`LbServerPm`]).
    LbServer {
        /// Mark the initial subflow backup once a join to the unique address is up.
        backup: bool,
    },
}

/// Path-manager specs accepted by [`PathManagerKind::from_name`] (`N` is a number).
pub const PATH_MANAGER_NAMES: &[&str] = &[
    "default",
    "fullmesh",
    "ndiffports:N",
    "endpoints",
    "lb-server",
    "lb-server:backup",
];

/// Largest N of `ndiffports:N`.
pub const MAX_NDIFFPORTS: u8 = 64;

impl PathManagerKind {
    /// Parses a spec (see the module documentation for the grammar).
    pub fn from_name(spec: &str) -> Result<Self, UnknownPathManager> {
        let bad = |reason: &str| UnknownPathManager {
            spec: spec.to_string(),
            reason: reason.to_string(),
        };
        let (name, param) = match spec.split_once(':') {
            Some((n, p)) => (n, Some(p)),
            None => (spec, None),
        };
        let no_param = |kind: PathManagerKind| match param {
            None => Ok(kind),
            Some(_) => Err(bad("this path manager takes no parameter")),
        };
        match name {
            "default" => no_param(PathManagerKind::Default),
            "fullmesh" => no_param(PathManagerKind::FullMesh),
            "endpoints" => no_param(PathManagerKind::Endpoints),
            "ndiffports" => {
                let n = match param {
                    None => 2,
                    Some(p) => p
                        .parse::<u8>()
                        .ok()
                        .filter(|n| (1..=MAX_NDIFFPORTS).contains(n))
                        .ok_or_else(|| bad("N must be a number from 1 to 64"))?,
                };
                Ok(PathManagerKind::NDiffPorts(n))
            }
            "lb-server" => match param {
                None => Ok(PathManagerKind::LbServer { backup: false }),
                Some("backup") => Ok(PathManagerKind::LbServer { backup: true }),
                Some(_) => Err(bad("the only parameter is \"backup\"")),
            },
            _ => Err(bad("unknown name")),
        }
    }

    /// A fresh path manager for one connection.
    pub fn build(self, config: &EndpointConfig, is_client: bool) -> Box<dyn PathManager> {
        let rejoin = Rejoin::new(config.rejoin);
        match self {
            PathManagerKind::Default => {
                Box::new(DefaultPm::new(config.announce_addrs.clone(), rejoin))
            }
            PathManagerKind::FullMesh => {
                Box::new(FullMeshPm::new(config.announce_addrs.clone(), rejoin))
            }
            PathManagerKind::NDiffPorts(n) => Box::new(NDiffPortsPm::new(n, rejoin)),
            PathManagerKind::Endpoints => Box::new(EndpointsPm::new(
                &config.pm_endpoints,
                config.pm_limits,
                rejoin,
            )),
            PathManagerKind::LbServer { backup } => Box::new(LbServerPm::new(
                is_client,
                backup,
                config.announce_addrs.clone(),
                rejoin,
            )),
        }
    }
}

impl core::fmt::Display for PathManagerKind {
    /// The canonical spec.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            PathManagerKind::Default => f.write_str("default"),
            PathManagerKind::FullMesh => f.write_str("fullmesh"),
            PathManagerKind::NDiffPorts(n) => write!(f, "ndiffports:{n}"),
            PathManagerKind::Endpoints => f.write_str("endpoints"),
            PathManagerKind::LbServer { backup: false } => f.write_str("lb-server"),
            PathManagerKind::LbServer { backup: true } => f.write_str("lb-server:backup"),
        }
    }
}

/// Builds a client-side path manager from a spec with the default configuration.
pub fn by_name(spec: &str) -> Result<Box<dyn PathManager>, UnknownPathManager> {
    PathManagerKind::from_name(spec).map(|k| k.build(&EndpointConfig::default(), true))
}

#[cfg(test)]
mod tests {
    use super::testutil::{ip, sa, Ctx};
    use super::*;

    #[test]
    fn specs_parse_and_print_back() {
        for (spec, kind) in [
            ("default", PathManagerKind::Default),
            ("fullmesh", PathManagerKind::FullMesh),
            ("ndiffports", PathManagerKind::NDiffPorts(2)),
            ("ndiffports:1", PathManagerKind::NDiffPorts(1)),
            ("ndiffports:64", PathManagerKind::NDiffPorts(64)),
            ("endpoints", PathManagerKind::Endpoints),
            ("lb-server", PathManagerKind::LbServer { backup: false }),
            (
                "lb-server:backup",
                PathManagerKind::LbServer { backup: true },
            ),
        ] {
            assert_eq!(PathManagerKind::from_name(spec), Ok(kind), "{spec}");
            let printed = kind.to_string();
            assert_eq!(PathManagerKind::from_name(&printed), Ok(kind), "{printed}");
        }
        assert_eq!(PathManagerKind::NDiffPorts(2).to_string(), "ndiffports:2");
    }

    #[test]
    fn bad_specs_are_refused_with_a_reason() {
        for spec in [
            "",
            "magic",
            "ndiffports:0",
            "ndiffports:65",
            "ndiffports:x",
            "ndiffports:",
            "fullmesh:2",
            "default:",
            "lb-server:front",
            "FULLMESH",
        ] {
            let e = PathManagerKind::from_name(spec).unwrap_err();
            assert_eq!(e.spec, spec);
            assert!(e.to_string().contains("ndiffports:N"), "{e}");
        }
    }

    #[test]
    fn every_listed_name_parses_once_n_is_filled_in() {
        for name in PATH_MANAGER_NAMES {
            let spec = name.replace('N', "3");
            let pm = by_name(&spec).unwrap();
            assert!(spec.starts_with(pm.name()), "{spec} built {}", pm.name());
        }
    }

    #[test]
    fn missing_counts_existing_subflows_pending_retries_and_the_limit() {
        // The initial subflow goes from 10.0.0.1.
        let mut c = Ctx::client(&["10.0.0.1", "10.1.0.1"], "10.9.0.1:80");
        let r = sa("10.9.0.1:80");
        let want = [
            OpenSubflow::new(ip("10.0.0.1"), r),
            OpenSubflow::new(ip("10.0.0.1"), r),
            OpenSubflow::new(ip("10.1.0.1"), r),
        ];
        let rejoin = Rejoin::new(None);
        // The existing subflow covers the first copy of its pair.
        assert_eq!(
            missing(&c.ctx(), &rejoin, &want, &[]),
            vec![PmAction::Open(want[1]), PmAction::Open(want[2])]
        );
        c.max_subflows = 2;
        assert_eq!(
            missing(&c.ctx(), &rejoin, &want, &[]),
            vec![PmAction::Open(want[1])]
        );
        // Opens already issued count as present and take room.
        c.max_subflows = 8;
        let issued = [PmAction::Open(want[2])];
        assert_eq!(
            missing(&c.ctx(), &rejoin, &want, &issued),
            vec![PmAction::Open(want[1])]
        );
        // A pair waiting for a retry counts as present.
        let mut waiting = Rejoin::new(Some(RejoinPolicy::default()));
        let lost = c.subflow("10.1.0.1:5000", "10.9.0.1:80");
        c.drop_subflow("10.1.0.1:5000");
        waiting.lost(&c.ctx(), &lost, CloseReason::Timeout);
        assert_eq!(
            missing(&c.ctx(), &waiting, &want, &[]),
            vec![PmAction::Open(want[1])]
        );
    }
}
