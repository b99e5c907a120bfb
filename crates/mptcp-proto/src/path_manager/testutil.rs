//! Hand-built contexts for the path managers' unit tests.

use super::{PmAction, PmContext, PmSubflow};
use crate::time::{Duration, Instant};
use std::net::{IpAddr, SocketAddr};

pub(crate) fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

pub(crate) fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

pub(crate) fn at_ms(ms: u64) -> Instant {
    Instant::ZERO + Duration::from_millis(ms)
}

/// The owned data behind a [`PmContext`]; the first subflow added is the initial one.
#[derive(Debug, Clone)]
pub(crate) struct Ctx {
    pub now: Instant,
    pub is_client: bool,
    pub local_addrs: Vec<IpAddr>,
    pub down_addrs: Vec<IpAddr>,
    pub initial_local: SocketAddr,
    pub initial_remote: SocketAddr,
    pub deny_join_initial: bool,
    pub subflows: Vec<PmSubflow>,
    pub remote_addrs: Vec<(u8, SocketAddr)>,
    pub max_subflows: usize,
}

impl Ctx {
    /// A client with these local addresses whose initial subflow goes from the first one
    /// (port 4000) to `remote`, established.
    pub fn client(locals: &[&str], remote: &str) -> Self {
        let local_addrs: Vec<IpAddr> = locals.iter().map(|s| ip(s)).collect();
        let initial_local = SocketAddr::new(local_addrs[0], 4000);
        let mut c = Ctx {
            now: Instant::ZERO,
            is_client: true,
            local_addrs,
            down_addrs: Vec::new(),
            initial_local,
            initial_remote: sa(remote),
            deny_join_initial: false,
            subflows: Vec::new(),
            remote_addrs: Vec::new(),
            max_subflows: 8,
        };
        c.subflows.push(PmSubflow {
            local: initial_local,
            remote: sa(remote),
            initial: true,
            established: true,
            backup: false,
        });
        c
    }

    /// A server whose initial subflow arrived on `local` from `remote`.
    pub fn server(local: &str, remote: &str, announced: &[&str]) -> Self {
        let local_ip = sa(local).ip().to_string();
        let mut c = Ctx::client(&[local_ip.as_str()], remote);
        c.is_client = false;
        c.initial_local = sa(local);
        c.local_addrs = std::iter::once(sa(local).ip())
            .chain(announced.iter().map(|s| ip(s)))
            .collect();
        c.subflows[0].local = sa(local);
        c
    }

    /// Adds a live, established joined subflow.
    pub fn subflow(&mut self, local: &str, remote: &str) -> PmSubflow {
        let sf = PmSubflow {
            local: sa(local),
            remote: sa(remote),
            initial: false,
            established: true,
            backup: false,
        };
        self.subflows.push(sf);
        sf
    }

    /// Removes the live subflow from `local` (address and port) and returns it.
    pub fn drop_subflow(&mut self, local: &str) -> PmSubflow {
        let i = self
            .subflows
            .iter()
            .position(|s| s.local == sa(local))
            .expect("no such subflow");
        self.subflows.remove(i)
    }

    /// Adds live subflows for the `Open` actions, with ports from 5000 up.
    pub fn apply_opens(&mut self, actions: &[PmAction]) {
        for a in actions {
            if let PmAction::Open(o) = a {
                let port = 5000 + self.subflows.len() as u16;
                self.subflows.push(PmSubflow {
                    local: SocketAddr::new(o.local, port),
                    remote: o.remote,
                    initial: false,
                    established: false,
                    backup: o.backup,
                });
            }
        }
    }

    pub fn ctx(&self) -> PmContext<'_> {
        PmContext {
            now: self.now,
            is_client: self.is_client,
            local_addrs: &self.local_addrs,
            down_addrs: &self.down_addrs,
            initial_local: self.initial_local,
            initial_remote: self.initial_remote,
            deny_join_initial: self.deny_join_initial,
            subflows: &self.subflows,
            remote_addrs: &self.remote_addrs,
            max_subflows: self.max_subflows,
        }
    }
}

/// The (local, remote) pairs of the `Open` actions.
pub(crate) fn opens(actions: &[PmAction]) -> Vec<(IpAddr, SocketAddr)> {
    actions
        .iter()
        .filter_map(|a| match a {
            PmAction::Open(o) => Some((o.local, o.remote)),
            _ => None,
        })
        .collect()
}
