//! One API over both stacks, chosen at run time (`--kernel`): [`Backend`] connects and
//! listens, [`NetStream`] and [`NetListener`] wrap either the user-space stack's types or the
//! kernel's tokio sockets.

use crate::kernel;
use crate::listener::MptcpListener;
use crate::runtime::Runtime;
use crate::stream::MptcpStream;
use mptcp_proto::ConnectionStats;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// Which stack carries the connections.
#[derive(Debug)]
pub enum Backend {
    /// The user-space stack on a TUN device.
    User(Runtime),
    /// The host kernel's MPTCP.
    Kernel {
        /// Source address of outgoing connections.
        local: Option<IpAddr>,
        /// Congestion control of the sockets (Linux name); the system default when `None`.
        cc: Option<String>,
    },
}

impl Backend {
    /// Opens a connection to `remote`.
    pub async fn connect(&self, remote: SocketAddr) -> io::Result<NetStream> {
        match self {
            Backend::User(rt) => Ok(NetStream::User(
                MptcpStream::connect(rt.handle(), remote).await?,
            )),
            Backend::Kernel { local, cc } => Ok(NetStream::Kernel(
                kernel::connect(remote, *local, cc.as_deref()).await?,
            )),
        }
    }

    /// Listens on `port`.
    pub fn listen(&self, port: u16) -> io::Result<NetListener> {
        match self {
            Backend::User(rt) => Ok(NetListener::User(MptcpListener::bind(rt.handle(), port)?)),
            Backend::Kernel { cc, .. } => {
                Ok(NetListener::Kernel(kernel::listen(port, cc.as_deref())?))
            }
        }
    }

    /// Stops the user-space stack cleanly (flushes the capture, undoes the host
    /// configuration); nothing to do for the kernel.
    pub async fn shutdown(self) {
        if let Backend::User(rt) = self {
            rt.shutdown().await;
        }
    }
}

/// A listener of either stack.
#[derive(Debug)]
pub enum NetListener {
    /// User-space stack.
    User(MptcpListener),
    /// Kernel.
    Kernel(TcpListener),
}

impl NetListener {
    /// Waits for the next connection.
    pub async fn accept(&self) -> io::Result<(NetStream, SocketAddr)> {
        match self {
            NetListener::User(l) => {
                let (s, a) = l.accept().await?;
                Ok((NetStream::User(s), a))
            }
            NetListener::Kernel(l) => {
                let (s, a) = l.accept().await?;
                Ok((NetStream::Kernel(s), a))
            }
        }
    }
}

/// A connection of either stack.
#[derive(Debug)]
pub enum NetStream {
    /// User-space stack.
    User(MptcpStream),
    /// Kernel.
    Kernel(TcpStream),
}

impl NetStream {
    /// A handle to abort the connection from another task (user-space stack only; the
    /// kernel's sockets are reset by closing them).
    pub fn abort_handle(&self) -> Option<crate::AbortHandle> {
        match self {
            NetStream::User(s) => Some(s.abort_handle()),
            NetStream::Kernel(_) => None,
        }
    }

    /// Whether the connection runs as plain TCP.
    pub fn is_fallback(&self) -> bool {
        match self {
            NetStream::User(s) => s.is_fallback(),
            NetStream::Kernel(s) => !kernel::is_mptcp(s),
        }
    }

    /// Per-connection and per-subflow counters (user-space stack only).
    pub fn stats(&self) -> Option<ConnectionStats> {
        match self {
            NetStream::User(s) => s.stats(),
            NetStream::Kernel(_) => None,
        }
    }

    /// Waits until the connection is fully closed, so that an exit right after loses
    /// nothing. The kernel keeps closing sockets by itself: nothing to wait for there.
    pub async fn closed(&self) -> io::Result<()> {
        match self {
            NetStream::User(s) => s.closed().await,
            NetStream::Kernel(_) => Ok(()),
        }
    }
}

impl AsyncRead for NetStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            NetStream::User(s) => Pin::new(s).poll_read(cx, buf),
            NetStream::Kernel(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for NetStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            NetStream::User(s) => Pin::new(s).poll_write(cx, data),
            NetStream::Kernel(s) => Pin::new(s).poll_write(cx, data),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            NetStream::User(s) => Pin::new(s).poll_flush(cx),
            NetStream::Kernel(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            NetStream::User(s) => Pin::new(s).poll_shutdown(cx),
            NetStream::Kernel(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}
