//! Errors of the application-facing calls. Peer misbehaviour is not an error of a call:
//! it is handled inside the engine (reset, MP_FAIL, fallback) and shows in counters and events.

/// Why `connect` failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectError {
    /// No local address was given, or none matches the remote's family.
    #[error("no local address of the remote address's family")]
    NoLocalAddress,
    /// The connection table is full (`max_connections`).
    #[error("too many connections (limit {0})")]
    TooManyConnections(usize),
    /// No free local port.
    #[error("no free local port")]
    NoFreePort,
}

/// Why `send` or `shutdown` failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WriteError {
    /// The send buffer is full; wait for [`crate::Event::Writable`].
    #[error("send buffer full")]
    Blocked,
    /// The application already shut the sending side down.
    #[error("sending side already shut down")]
    Finished,
    /// The connection is closed or the handle is unknown.
    #[error("connection closed")]
    Closed,
}

/// Why `recv` returned no data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    /// Nothing to read yet; wait for [`crate::Event::Readable`].
    #[error("no data available")]
    Blocked,
    /// The connection is closed or the handle is unknown.
    #[error("connection closed")]
    Closed,
}

/// Why `listen` failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ListenError {
    /// Already listening on that port.
    #[error("port {0} already has a listener")]
    AlreadyListening(u16),
}
