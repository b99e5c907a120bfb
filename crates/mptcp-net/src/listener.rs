//! [`MptcpListener`]: accepts connections to one port on every address of the user-space
//! stack. Connections beyond the accept backlog are aborted.

use crate::runtime::Handle;
use crate::state::{ListenQueue, Shared};
use crate::stream::MptcpStream;
use mptcp_proto::ListenError;
use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::Poll;

/// A listening port of the user-space stack.
pub struct MptcpListener {
    shared: Arc<Shared>,
    port: u16,
}

impl std::fmt::Debug for MptcpListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MptcpListener")
            .field("port", &self.port)
            .finish()
    }
}

impl MptcpListener {
    /// Starts accepting connections to `port`.
    pub fn bind(handle: &Handle, port: u16) -> io::Result<MptcpListener> {
        let shared = handle.shared.clone();
        {
            let mut st = shared.lock();
            if let Some(e) = st.stopped_error() {
                return Err(e);
            }
            if st.listeners.contains_key(&port) {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!("port {port} is already in use"),
                ));
            }
            match st.ep.listen(port) {
                // The engine keeps a port once listened to; the queue decides.
                Ok(()) | Err(ListenError::AlreadyListening(_)) => {}
            }
            st.listeners.insert(port, ListenQueue::default());
        }
        Ok(MptcpListener { shared, port })
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Waits for the next connection whose handshake completed.
    pub async fn accept(&self) -> io::Result<(MptcpStream, SocketAddr)> {
        let conn = poll_fn(|cx| {
            let mut st = self.shared.lock();
            let stopped = st.stopped_error();
            let Some(q) = st.listeners.get_mut(&self.port) else {
                return Poll::Ready(Err(io::Error::other("listener is gone")));
            };
            if let Some(c) = q.ready.pop_front() {
                return Poll::Ready(Ok(c));
            }
            if let Some(e) = stopped {
                return Poll::Ready(Err(e));
            }
            q.waker = Some(cx.waker().clone());
            Poll::Pending
        })
        .await?;
        let stream = MptcpStream::new(self.shared.clone(), conn);
        let peer = stream
            .peer_addr()
            .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)));
        Ok((stream, peer))
    }
}

impl Drop for MptcpListener {
    fn drop(&mut self) {
        let now = self.shared.now();
        let mut st = self.shared.lock();
        if let Some(q) = st.listeners.remove(&self.port) {
            for c in q.ready {
                st.ep.abort(now, c);
                st.conns.remove(&c);
            }
        }
        drop(st);
        self.shared.wake_loop.notify_one();
    }
}
