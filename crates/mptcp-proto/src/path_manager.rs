//! Path managers: which extra subflows to open and which addresses to announce
//! (RFC 8684 §3.4 leaves the policy to the implementation).

use std::net::{IpAddr, SocketAddr};

/// What a path manager sees of its connection.
#[derive(Debug, Clone, Copy)]
pub struct PmContext<'a> {
    /// We opened the connection.
    pub is_client: bool,
    /// Local addresses the connection may use (client: as given to connect; server: the
    /// initial local address then the announced ones).
    pub local_addrs: &'a [IpAddr],
    /// The peer's address of the initial subflow.
    pub initial_remote: SocketAddr,
    /// Our address of the initial subflow.
    pub initial_local: SocketAddr,
    /// The peer set flag C: no joins to its initial address and port.
    pub deny_join_initial: bool,
    /// (local address, remote address) of every current subflow, handshaking ones included.
    pub subflows: &'a [(IpAddr, SocketAddr)],
    /// Addresses the peer announced (address ID, address; port 0 = the initial port).
    pub remote_addrs: &'a [(u8, SocketAddr)],
    /// Most subflows allowed.
    pub max_subflows: usize,
}

/// A subflow to open: from a local address to a remote address.
pub type OpenSubflow = (IpAddr, SocketAddr);

/// Path-management policy.
pub trait PathManager: Send + core::fmt::Debug {
    /// The connection is fully established: subflows to open now.
    fn on_established(&mut self, ctx: &PmContext<'_>) -> Vec<OpenSubflow>;
    /// The peer announced `addr` with ID `id`: subflows to open.
    fn on_add_addr(&mut self, ctx: &PmContext<'_>, id: u8, addr: SocketAddr) -> Vec<OpenSubflow>;
    /// Addresses to announce with ADD_ADDR once established (server side), with their IDs.
    fn announcements(&mut self, ctx: &PmContext<'_>, configured: &[IpAddr]) -> Vec<(u8, IpAddr)>;
    /// Short name.
    fn name(&self) -> &'static str;
}

/// The default policy: a client opens one subflow per (local address, remote address) pair
/// it may use; a server announces its configured extra addresses.
#[derive(Debug, Clone, Default)]
pub struct DefaultPm;

impl DefaultPm {
    fn pairs(ctx: &PmContext<'_>, remotes: &[SocketAddr]) -> Vec<OpenSubflow> {
        let mut out = Vec::new();
        let mut count = ctx.subflows.len();
        for remote in remotes {
            if ctx.deny_join_initial && *remote == ctx.initial_remote {
                continue;
            }
            for local in ctx.local_addrs {
                if local.is_ipv4() != remote.is_ipv4() {
                    continue;
                }
                let exists = ctx.subflows.iter().any(|(l, r)| l == local && r == remote)
                    || out.iter().any(|(l, r)| l == local && r == remote);
                if exists || count >= ctx.max_subflows {
                    continue;
                }
                out.push((*local, *remote));
                count += 1;
            }
        }
        out
    }
}

impl PathManager for DefaultPm {
    fn on_established(&mut self, ctx: &PmContext<'_>) -> Vec<OpenSubflow> {
        if !ctx.is_client {
            return Vec::new();
        }
        let mut remotes = vec![ctx.initial_remote];
        remotes.extend(ctx.remote_addrs.iter().map(|(_, a)| *a));
        Self::pairs(ctx, &remotes)
    }

    fn on_add_addr(&mut self, ctx: &PmContext<'_>, _id: u8, addr: SocketAddr) -> Vec<OpenSubflow> {
        if !ctx.is_client {
            return Vec::new();
        }
        Self::pairs(ctx, &[addr])
    }

    fn announcements(&mut self, ctx: &PmContext<'_>, configured: &[IpAddr]) -> Vec<(u8, IpAddr)> {
        if ctx.is_client {
            return Vec::new();
        }
        configured
            .iter()
            .enumerate()
            .filter(|(_, a)| **a != ctx.initial_local.ip())
            .map(|(i, a)| ((i + 1).min(255) as u8, *a))
            .collect()
    }

    fn name(&self) -> &'static str {
        "default"
    }
}

/// A path-manager name that is not known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown path manager {0:?} (known: default, fullmesh)")]
pub struct UnknownPathManager(pub String);

/// The built-in path managers, chosen per endpoint (`EndpointConfig::path_manager`); each
/// new connection gets its own instance from [`PathManagerKind::build`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PathManagerKind {
    /// One subflow per (local, remote) address pair ([`DefaultPm`]).
    #[default]
    Default,
}

/// Path-manager names accepted by [`PathManagerKind::from_name`].
pub const PATH_MANAGER_NAMES: &[&str] = &["default", "fullmesh"];

impl PathManagerKind {
    /// Looks a path manager up by name.
    pub fn from_name(name: &str) -> Result<Self, UnknownPathManager> {
        match name {
            "default" | "fullmesh" => Ok(PathManagerKind::Default),
            other => Err(UnknownPathManager(other.to_string())),
        }
    }
    /// A fresh path manager for one connection.
    pub fn build(self) -> Box<dyn PathManager> {
        match self {
            PathManagerKind::Default => Box::new(DefaultPm),
        }
    }
}

/// Builds a path manager by name.
pub fn by_name(name: &str) -> Result<Box<dyn PathManager>, UnknownPathManager> {
    PathManagerKind::from_name(name).map(PathManagerKind::build)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn client_opens_one_subflow_per_pair() {
        let locals: Vec<IpAddr> = vec!["10.0.0.1".parse().unwrap(), "10.1.0.1".parse().unwrap()];
        let subflows = [(locals[0], sa("10.9.0.1:80"))];
        let ctx = PmContext {
            is_client: true,
            local_addrs: &locals,
            initial_remote: sa("10.9.0.1:80"),
            initial_local: sa("10.0.0.1:4000"),
            deny_join_initial: false,
            subflows: &subflows,
            remote_addrs: &[],
            max_subflows: 8,
        };
        let mut pm = DefaultPm;
        assert_eq!(
            pm.on_established(&ctx),
            vec![(locals[1], sa("10.9.0.1:80"))]
        );
        let added = pm.on_add_addr(&ctx, 1, sa("10.9.1.1:80"));
        assert_eq!(added.len(), 2);
        // Flag C: nothing towards the initial address.
        let ctx = PmContext {
            deny_join_initial: true,
            ..ctx
        };
        assert!(pm.on_established(&ctx).is_empty());
        // The limit counts existing subflows.
        let ctx = PmContext {
            max_subflows: 2,
            deny_join_initial: false,
            ..ctx
        };
        assert_eq!(pm.on_add_addr(&ctx, 1, sa("10.9.1.1:80")).len(), 1);
    }
}
