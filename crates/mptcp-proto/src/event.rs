//! What the engine tells the application.

use crate::endpoint::{ConnectionHandle, SubflowId};
use std::net::SocketAddr;

/// Why a connection or subflow ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// Both sides finished (DATA_FIN / FIN exchanged and acknowledged).
    Normal,
    /// The application aborted it.
    LocalAbort,
    /// The peer reset it (RST, or MP_FASTCLOSE at connection level).
    PeerReset,
    /// Retransmissions or the handshake timed out.
    Timeout,
    /// The peer violated the protocol (bad HMAC, inconsistent mapping, ...).
    ProtocolError,
    /// The connection attempt was refused (RST in answer to SYN).
    Refused,
    /// The path manager or a REMOVE_ADDR closed the subflow.
    Removed,
    /// The driver reported the subflow's local address down
    /// ([`crate::Endpoint::address_down`]).
    AddressDown,
}

/// An event for the application, drained with [`crate::Endpoint::poll_event`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// An outgoing connection completed its handshake.
    Connected(ConnectionHandle),
    /// A listener accepted a new connection (its handshake completed).
    Incoming {
        /// The new connection.
        conn: ConnectionHandle,
        /// The peer's address of the initial subflow.
        remote: SocketAddr,
        /// The local address of the initial subflow.
        local: SocketAddr,
    },
    /// Data can be read.
    Readable(ConnectionHandle),
    /// Send-buffer space became available after a send returned less than asked.
    Writable(ConnectionHandle),
    /// The peer will send no more data (DATA_FIN, or FIN in plain TCP); pending data stays readable.
    PeerFinished(ConnectionHandle),
    /// The connection runs as plain TCP (the peer or a middlebox did not keep MPTCP).
    FellBack(ConnectionHandle),
    /// A subflow finished its handshake.
    SubflowUp {
        /// Connection.
        conn: ConnectionHandle,
        /// Subflow.
        subflow: SubflowId,
        /// Local address.
        local: SocketAddr,
        /// Remote address.
        remote: SocketAddr,
    },
    /// A subflow ended.
    SubflowDown {
        /// Connection.
        conn: ConnectionHandle,
        /// Subflow.
        subflow: SubflowId,
        /// Why.
        reason: CloseReason,
    },
    /// The connection is gone; its handle is no longer valid.
    Closed {
        /// Connection.
        conn: ConnectionHandle,
        /// Why.
        reason: CloseReason,
    },
}
