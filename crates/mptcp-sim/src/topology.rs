//! Addresses and routing.
//!
//! Flow `f` has a client and a server endpoint of its own. The client's address on path `p`
//! is 10.{p}.{f}.1; the server is 10.254.{f}.1 port [`SERVER_PORT`], and also has a second,
//! "unique" address 10.254.{f}.2 (announced by the `lb-server` path manager; the server's
//! addresses do not pick the path, so a subflow to either takes the path of its client
//! address). A NAT on path `p`
//! shows the client as 10.253.{p}.1. A packet from a client address goes up the link of that
//! address's path; a packet to a client (or NAT) address goes down the link of its path.

use crate::middlebox::nat_addr;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// The port every server listens on.
pub const SERVER_PORT: u16 = 5201;

/// Client address of flow `flow` on path `path`.
pub fn client_addr(path: usize, flow: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, path as u8, flow as u8, 1)
}

/// Server address of flow `flow`.
pub fn server_addr(flow: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, 254, flow as u8, 1)
}

/// The second address of flow `flow`'s server (the unique address behind a load balancer).
pub fn server_unique_addr(flow: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, 254, flow as u8, 2)
}

/// Server socket address of flow `flow`.
pub fn server_socket(flow: usize) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(server_addr(flow)), SERVER_PORT)
}

/// The path of a client-side address (a client address or a NAT address), if it is one.
pub fn path_of_client_side(addr: Ipv4Addr, n_paths: usize) -> Option<usize> {
    let o = addr.octets();
    let p = if o[0] == 10 && o[1] == 253 && o[3] == 1 {
        usize::from(o[2])
    } else if o[0] == 10 && o[1] < 253 && o[3] == 1 {
        usize::from(o[1])
    } else {
        return None;
    };
    (p < n_paths && (o[1] != 253 || addr == nat_addr(p))).then_some(p)
}

/// Same as [`path_of_client_side`] for any IP address.
pub fn path_of_ip(addr: IpAddr, n_paths: usize) -> Option<usize> {
    match addr {
        IpAddr::V4(a) => path_of_client_side(a, n_paths),
        IpAddr::V6(_) => None,
    }
}

/// The flow of a client address 10.{p}.{f}.1 (not a NAT address).
pub fn flow_of_client(addr: Ipv4Addr, n_flows: usize) -> Option<usize> {
    let o = addr.octets();
    (o[0] == 10 && o[1] < 253 && o[3] == 1 && usize::from(o[2]) < n_flows)
        .then_some(usize::from(o[2]))
}

/// The flow of a server address 10.254.{f}.1 or 10.254.{f}.2.
pub fn flow_of_server(addr: Ipv4Addr, n_flows: usize) -> Option<usize> {
    let o = addr.octets();
    (o[0] == 10 && o[1] == 254 && (o[3] == 1 || o[3] == 2) && usize::from(o[2]) < n_flows)
        .then_some(usize::from(o[2]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_round_trip() {
        let a = client_addr(3, 7);
        assert_eq!(a, Ipv4Addr::new(10, 3, 7, 1));
        assert_eq!(path_of_client_side(a, 4), Some(3));
        assert_eq!(path_of_client_side(a, 3), None);
        assert_eq!(flow_of_client(a, 8), Some(7));
        assert_eq!(flow_of_client(a, 7), None);
        assert_eq!(path_of_client_side(nat_addr(2), 4), Some(2));
        assert_eq!(flow_of_client(nat_addr(2), 4), None);
        assert_eq!(flow_of_server(server_addr(5), 6), Some(5));
        assert_eq!(flow_of_server(server_unique_addr(5), 6), Some(5));
        assert_eq!(flow_of_server(Ipv4Addr::new(10, 254, 5, 3), 6), None);
        assert_eq!(path_of_client_side(server_unique_addr(5), 6), None);
        assert_eq!(path_of_client_side(server_addr(5), 6), None);
        assert_eq!(server_socket(0).port(), 5201);
    }
}
