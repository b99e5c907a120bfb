//! [`MptcpStream`]: one connection of the user-space stack as a tokio `AsyncRead` +
//! `AsyncWrite`. `poll_shutdown` closes the sending side (DATA_FIN); dropping the stream
//! closes it gracefully and lets the loop discard whatever still arrives.

use crate::runtime::Handle;
use crate::state::{close_error, ConnState, Shared};
use mptcp_proto::{CloseReason, ConnectionHandle, ConnectionStats, ReadError, WriteError};
use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A connection of the user-space stack.
pub struct MptcpStream {
    shared: Arc<Shared>,
    conn: ConnectionHandle,
}

/// Reads a connection's counters independently of its [`MptcpStream`] (for monitoring
/// while another task reads and writes).
#[derive(Clone)]
pub struct StatsHandle {
    shared: Arc<Shared>,
    conn: ConnectionHandle,
}

impl std::fmt::Debug for StatsHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatsHandle")
            .field("conn", &self.conn)
            .finish()
    }
}

impl StatsHandle {
    /// Counters of the connection and of each subflow; `None` once it is gone.
    pub fn stats(&self) -> Option<ConnectionStats> {
        self.shared.lock().ep.stats(self.conn)
    }
}

impl std::fmt::Debug for MptcpStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MptcpStream")
            .field("conn", &self.conn)
            .finish()
    }
}

impl MptcpStream {
    pub(crate) fn new(shared: Arc<Shared>, conn: ConnectionHandle) -> Self {
        MptcpStream { shared, conn }
    }

    /// Opens a connection to `remote` from the stack's addresses (the first one of the
    /// remote's family carries the initial subflow, the others join) and waits for the
    /// handshake.
    pub async fn connect(handle: &Handle, remote: SocketAddr) -> io::Result<MptcpStream> {
        let shared = handle.shared.clone();
        let conn = {
            let mut st = shared.lock();
            if let Some(e) = st.stopped_error() {
                return Err(e);
            }
            let now = shared.now();
            let params = st.ep.connect_params(st.addrs.clone(), remote);
            let conn = st
                .ep
                .connect(now, params)
                .map_err(|e| io::Error::new(io::ErrorKind::AddrNotAvailable, e.to_string()))?;
            st.conns.insert(
                conn,
                ConnState {
                    remote: Some(remote),
                    ..ConnState::default()
                },
            );
            conn
        };
        shared.wake_loop.notify_one();
        // Built before waiting: cancelling the connect aborts the attempt in `Drop`.
        let stream = MptcpStream::new(shared, conn);
        poll_fn(|cx| stream.poll_state(cx, false)).await?;
        Ok(stream)
    }

    /// Ready once connected (or, with `until_closed`, once closed); errors on failure.
    fn poll_state(&self, cx: &mut Context<'_>, until_closed: bool) -> Poll<io::Result<()>> {
        let mut st = self.shared.lock();
        let stopped = st.stopped_error();
        let Some(c) = st.conns.get_mut(&self.conn) else {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "unknown connection",
            )));
        };
        if c.unreachable {
            return Poll::Ready(Err(io::Error::other(
                "no route to host (ICMP destination unreachable)",
            )));
        }
        match c.closed {
            Some(CloseReason::Normal) if until_closed || c.connected => {
                return Poll::Ready(Ok(()));
            }
            Some(reason) => return Poll::Ready(Err(close_error(reason))),
            None => {}
        }
        if c.connected && !until_closed {
            return Poll::Ready(Ok(()));
        }
        if let Some(e) = stopped {
            return Poll::Ready(Err(e));
        }
        c.state_waker = Some(cx.waker().clone());
        Poll::Pending
    }

    /// Waits until the connection is fully closed (both DATA_FINs exchanged and
    /// acknowledged), so that nothing sent is lost when the process exits right after.
    pub async fn closed(&self) -> io::Result<()> {
        poll_fn(|cx| self.poll_state(cx, true)).await
    }

    /// Counters of the connection and of each subflow; `None` once it is gone.
    pub fn stats(&self) -> Option<ConnectionStats> {
        self.shared.lock().ep.stats(self.conn)
    }

    /// A handle that reads this connection's counters while another task owns the stream.
    pub fn stats_handle(&self) -> StatsHandle {
        StatsHandle {
            shared: self.shared.clone(),
            conn: self.conn,
        }
    }

    /// Whether the connection runs as plain TCP (the peer did not negotiate MPTCP or a
    /// middlebox broke it).
    pub fn is_fallback(&self) -> bool {
        self.stats().is_some_and(|s| !s.mptcp || s.fallback)
            || self
                .shared
                .lock()
                .conns
                .get(&self.conn)
                .is_some_and(|c| c.fell_back)
    }

    /// Peer address of the initial subflow.
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.shared
            .lock()
            .conns
            .get(&self.conn)
            .and_then(|c| c.remote)
    }

    /// Local address of the initial subflow.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        let st = self.shared.lock();
        st.conns.get(&self.conn).and_then(|c| c.local).or_else(|| {
            st.ep
                .stats(self.conn)
                .and_then(|s| s.subflows.first().map(|f| f.local))
        })
    }

    /// Aborts the connection (MP_FASTCLOSE, or RST in plain TCP).
    pub fn abort(&self) {
        self.abort_handle().abort();
    }

    /// A handle that can abort this connection from another task (e.g. on Ctrl-C while
    /// the stream itself is busy in a copy loop).
    pub fn abort_handle(&self) -> AbortHandle {
        AbortHandle {
            shared: self.shared.clone(),
            conn: self.conn,
        }
    }
}

/// Aborts one connection of the runtime; see [`MptcpStream::abort_handle`].
#[derive(Clone)]
pub struct AbortHandle {
    shared: Arc<Shared>,
    conn: ConnectionHandle,
}

impl std::fmt::Debug for AbortHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AbortHandle")
            .field("conn", &self.conn)
            .finish()
    }
}

impl AbortHandle {
    /// Aborts the connection (MP_FASTCLOSE, or RST in plain TCP); the runtime's loop sends it.
    pub fn abort(&self) {
        let now = self.shared.now();
        self.shared.lock().ep.abort(now, self.conn);
        self.shared.wake_loop.notify_one();
    }

    /// Aborts, then waits (at most `limit`) until the runtime has sent the resets: no
    /// subflow of the connection is still up. For callers about to stop the runtime.
    pub async fn abort_and_flush(&self, limit: std::time::Duration) {
        self.abort();
        let deadline = tokio::time::Instant::now() + limit;
        while tokio::time::Instant::now() < deadline {
            let up = self
                .shared
                .lock()
                .ep
                .stats(self.conn)
                .is_some_and(|s| s.subflows.iter().any(|f| f.established));
            if !up {
                // The loop has built the resets; let it write them out.
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }
}

impl AsyncRead for MptcpStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let mut st = this.shared.lock();
        let result = st.ep.recv(this.conn, buf.initialize_unfilled());
        let stopped = st.stopped_error();
        let Some(c) = st.conns.get_mut(&this.conn) else {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "unknown connection",
            )));
        };
        let poll = match result {
            Ok(n) => {
                buf.advance(n);
                Poll::Ready(Ok(()))
            }
            Err(ReadError::Blocked) => match (c.closed, stopped) {
                (Some(CloseReason::Normal), _) => Poll::Ready(Ok(())),
                (Some(r), _) => Poll::Ready(Err(close_error(r))),
                (None, Some(e)) => Poll::Ready(Err(e)),
                (None, None) => {
                    c.read_waker = Some(cx.waker().clone());
                    Poll::Pending
                }
            },
            Err(ReadError::Closed) => match c.closed {
                Some(CloseReason::Normal) | None => Poll::Ready(Ok(())),
                Some(r) => Poll::Ready(Err(close_error(r))),
            },
        };
        drop(st);
        // Reading may open the window: let the loop send the update.
        this.shared.wake_loop.notify_one();
        poll
    }
}

impl AsyncWrite for MptcpStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if data.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let mut st = this.shared.lock();
        if let Some(e) = st.stopped_error() {
            return Poll::Ready(Err(e));
        }
        let result = st.ep.send(this.conn, data);
        let closed = st.conns.get(&this.conn).and_then(|c| c.closed);
        let poll = match result {
            Ok(n) if n > 0 => Poll::Ready(Ok(n)),
            Ok(_) | Err(WriteError::Blocked) => match closed {
                Some(r) => Poll::Ready(Err(close_error(r))),
                None => {
                    if let Some(c) = st.conns.get_mut(&this.conn) {
                        c.write_waker = Some(cx.waker().clone());
                    }
                    return Poll::Pending;
                }
            },
            Err(WriteError::Finished) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "sending side already shut down",
            ))),
            Err(WriteError::Closed) => Poll::Ready(Err(match closed {
                Some(r) if r != CloseReason::Normal => close_error(r),
                _ => io::Error::new(io::ErrorKind::BrokenPipe, "connection closed"),
            })),
        };
        drop(st);
        this.shared.wake_loop.notify_one();
        poll
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // The loop sends as soon as the engine lets it; there is nothing to flush.
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let mut st = this.shared.lock();
        let result = st.ep.shutdown(this.conn);
        let closed = st.conns.get(&this.conn).and_then(|c| c.closed);
        if let Some(c) = st.conns.get_mut(&this.conn) {
            c.shut_down = true;
        }
        drop(st);
        this.shared.wake_loop.notify_one();
        match result {
            Ok(()) | Err(WriteError::Finished) => Poll::Ready(Ok(())),
            Err(WriteError::Blocked) => Poll::Ready(Ok(())),
            Err(WriteError::Closed) => match closed {
                Some(r) if r != CloseReason::Normal => Poll::Ready(Err(close_error(r))),
                _ => Poll::Ready(Ok(())),
            },
        }
    }
}

impl Drop for MptcpStream {
    fn drop(&mut self) {
        let now = self.shared.now();
        let mut st = self.shared.lock();
        let Some(c) = st.conns.get_mut(&self.conn) else {
            return;
        };
        if c.closed.is_some() {
            st.conns.remove(&self.conn);
            return;
        }
        c.detached = true;
        c.read_waker = None;
        c.write_waker = None;
        c.state_waker = None;
        let (connected, shut_down) = (c.connected, c.shut_down);
        if !connected {
            st.ep.abort(now, self.conn);
            st.conns.remove(&self.conn);
        } else {
            if !shut_down {
                let _ = st.ep.shutdown(self.conn);
            }
            let mut scratch = [0u8; 16 * 1024];
            while matches!(st.ep.recv(self.conn, &mut scratch), Ok(n) if n > 0) {}
        }
        drop(st);
        self.shared.wake_loop.notify_one();
    }
}
