//! The endpoint: demultiplexes packets to connections (4-tuple and token tables), owns the
//! listeners and the limits, and is the engine's whole public surface.

use crate::config::EndpointConfig;
use crate::congestion::CcAlgorithm;
use crate::error::{ConnectError, ListenError, ReadError, WriteError};
use crate::event::Event;
use crate::stats::ConnectionStats;
use crate::time::Instant;
use std::net::{IpAddr, SocketAddr};

/// Opaque handle of a connection, never reused within an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionHandle(pub u64);

/// A subflow within its connection (0 = the initial subflow).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SubflowId(pub u32);

/// Metadata of one packet written by [`Endpoint::poll_transmit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub struct Transmit {
    /// Source address of the IP packet.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// Length of the IP packet in the buffer.
    pub len: usize,
}

/// Parameters of an outgoing connection.
#[derive(Debug, Clone)]
pub struct ConnectParams {
    /// Local addresses the connection may use; the first one of the remote's family carries
    /// the initial subflow, the others get joined subflows.
    pub local_addrs: Vec<IpAddr>,
    /// The server.
    pub remote: SocketAddr,
    /// Offer MPTCP (false: plain TCP). Defaults to the endpoint's setting.
    pub mptcp: bool,
    /// Congestion control. Defaults to the endpoint's setting.
    pub congestion: CcAlgorithm,
}

/// The engine. See the crate documentation for the call order.
pub struct Endpoint {
    config: EndpointConfig,
}

impl Endpoint {
    /// A new endpoint; `seed` drives every random choice (keys, ISNs, ports).
    pub fn new(config: EndpointConfig, seed: u64) -> Self {
        let _ = seed;
        Endpoint { config }
    }

    /// The configuration.
    pub fn config(&self) -> &EndpointConfig {
        &self.config
    }

    /// Default connect parameters from the endpoint configuration.
    pub fn connect_params(&self, local_addrs: Vec<IpAddr>, remote: SocketAddr) -> ConnectParams {
        ConnectParams { local_addrs, remote, mptcp: self.config.mptcp, congestion: self.config.congestion }
    }

    /// Accept connections to `port` on any local address.
    pub fn listen(&mut self, port: u16) -> Result<(), ListenError> {
        let _ = port;
        todo!("engine")
    }

    /// Starts a connection; the SYN goes out on the next `poll_transmit`.
    pub fn connect(&mut self, now: Instant, params: ConnectParams) -> Result<ConnectionHandle, ConnectError> {
        let _ = (now, params);
        todo!("engine")
    }

    /// Feeds one IP packet received from the network. Malformed packets are counted and dropped.
    pub fn handle_packet(&mut self, now: Instant, packet: &[u8]) {
        let _ = (now, packet);
        todo!("engine")
    }

    /// Writes the next packet to send into `buf` (cleared first), if any.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        let _ = (now, buf);
        todo!("engine")
    }

    /// The earliest time `handle_timeout` must be called, if any timer is armed.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        todo!("engine")
    }

    /// Runs every timer that expired at or before `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        let _ = now;
        todo!("engine")
    }

    /// The next application event.
    pub fn poll_event(&mut self) -> Option<Event> {
        todo!("engine")
    }

    /// Queues application data; returns how many bytes were accepted (possibly fewer than given).
    pub fn send(&mut self, conn: ConnectionHandle, data: &[u8]) -> Result<usize, WriteError> {
        let _ = (conn, data);
        todo!("engine")
    }

    /// Reads in-order data. `Ok(0)` means the peer finished and everything was read.
    pub fn recv(&mut self, conn: ConnectionHandle, buf: &mut [u8]) -> Result<usize, ReadError> {
        let _ = (conn, buf);
        todo!("engine")
    }

    /// Closes the sending side after the queued data (DATA_FIN / FIN).
    pub fn shutdown(&mut self, conn: ConnectionHandle) -> Result<(), WriteError> {
        let _ = conn;
        todo!("engine")
    }

    /// Aborts the connection (MP_FASTCLOSE, or RST in plain TCP).
    pub fn abort(&mut self, conn: ConnectionHandle) {
        let _ = conn;
        todo!("engine")
    }

    /// Counters of a connection, `None` for an unknown handle.
    pub fn stats(&self, conn: ConnectionHandle) -> Option<ConnectionStats> {
        let _ = conn;
        todo!("engine")
    }

    /// Number of live connections (for limits and tests).
    pub fn connection_count(&self) -> usize {
        todo!("engine")
    }

    /// Bytes of memory held in buffers across all connections (for the bounded-memory tests).
    pub fn buffered_bytes(&self) -> usize {
        todo!("engine")
    }
}
