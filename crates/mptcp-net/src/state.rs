//! The state shared between the event loop and the application's streams and listeners:
//! the engine itself, per-connection wakers and flags, and the accept queues.
//!
//! One mutex guards it all; nobody holds it across an `.await`. Wakers are registered under
//! the lock and events are dispatched under the lock, so no wake-up is lost.

use mptcp_proto::{CloseReason, ConnectionHandle, Endpoint, Event, Instant};
use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Waker;
use tokio::sync::Notify;

/// Most connections waiting in one listener's accept queue; further ones are aborted.
pub const ACCEPT_BACKLOG: usize = 128;

/// What the application side knows about one connection.
#[derive(Debug, Default)]
pub(crate) struct ConnState {
    /// The handshake completed (Connected or Incoming was seen).
    pub connected: bool,
    /// The peer sent its DATA_FIN (FIN in plain TCP).
    pub peer_finished: bool,
    /// The connection is gone, and why.
    pub closed: Option<CloseReason>,
    /// No stream owns it any more: the loop discards what arrives until it closes.
    pub detached: bool,
    /// The application shut its sending side down.
    pub shut_down: bool,
    /// Peer address of the initial subflow.
    pub remote: Option<SocketAddr>,
    /// Local address of the initial subflow.
    pub local: Option<SocketAddr>,
    pub read_waker: Option<Waker>,
    pub write_waker: Option<Waker>,
    /// Waits for the handshake or for the close.
    pub state_waker: Option<Waker>,
    /// The attempt failed before the engine said so (ICMP destination unreachable).
    pub unreachable: bool,
    /// The connection fell back to TCP after the handshake (options removed on the path,
    /// checksum failure): remembered past the close, unlike the engine's counters.
    pub fell_back: bool,
}

impl ConnState {
    fn wake_all(&mut self) {
        for w in [
            self.read_waker.take(),
            self.write_waker.take(),
            self.state_waker.take(),
        ]
        .into_iter()
        .flatten()
        {
            w.wake();
        }
    }
}

/// One listening port.
#[derive(Debug, Default)]
pub(crate) struct ListenQueue {
    pub ready: VecDeque<ConnectionHandle>,
    pub waker: Option<Waker>,
}

/// Everything behind the mutex.
pub(crate) struct State {
    pub ep: Endpoint,
    pub conns: HashMap<ConnectionHandle, ConnState>,
    pub listeners: HashMap<u16, ListenQueue>,
    /// The stack's own addresses (one per path).
    pub addrs: Vec<IpAddr>,
    /// The event loop stopped; this says why.
    pub stopped: Option<String>,
}

impl State {
    /// Delivers the engine's pending events to the streams and listeners.
    pub fn dispatch_events(&mut self, now: Instant) {
        let mut scratch = [0u8; 16 * 1024];
        while let Some(ev) = self.ep.poll_event() {
            match ev {
                Event::Connected(h) => {
                    if let Some(c) = self.conns.get_mut(&h) {
                        c.connected = true;
                        c.wake_all();
                    }
                }
                Event::Incoming {
                    conn,
                    remote,
                    local,
                } => {
                    let queue = self.listeners.get_mut(&local.port());
                    match queue {
                        Some(q) if q.ready.len() < ACCEPT_BACKLOG => {
                            q.ready.push_back(conn);
                            if let Some(w) = q.waker.take() {
                                w.wake();
                            }
                            self.conns.insert(
                                conn,
                                ConnState {
                                    connected: true,
                                    remote: Some(remote),
                                    local: Some(local),
                                    ..ConnState::default()
                                },
                            );
                        }
                        _ => self.ep.abort(now, conn),
                    }
                }
                Event::Readable(h) | Event::PeerFinished(h) => {
                    let peer_fin = matches!(ev, Event::PeerFinished(_));
                    let detached = match self.conns.get_mut(&h) {
                        Some(c) => {
                            c.peer_finished |= peer_fin;
                            if let Some(w) = c.read_waker.take() {
                                w.wake();
                            }
                            c.detached
                        }
                        None => true,
                    };
                    if detached {
                        // Nobody reads it: keep the window open until the peer closes.
                        while matches!(self.ep.recv(h, &mut scratch), Ok(n) if n > 0) {}
                    }
                }
                Event::Writable(h) => {
                    if let Some(w) = self.conns.get_mut(&h).and_then(|c| c.write_waker.take()) {
                        w.wake();
                    }
                }
                Event::Closed { conn, reason } => {
                    let remove = match self.conns.get_mut(&conn) {
                        Some(c) => {
                            c.closed = Some(reason);
                            c.wake_all();
                            c.detached
                        }
                        None => false,
                    };
                    if remove {
                        self.conns.remove(&conn);
                    }
                }
                Event::FellBack(h) => {
                    if let Some(c) = self.conns.get_mut(&h) {
                        c.fell_back = true;
                    }
                }
                Event::SubflowUp { .. } | Event::SubflowDown { .. } => {}
            }
        }
    }

    /// An ICMP destination-unreachable quoting `(local, remote)`: a connection attempt from
    /// that tuple fails at once (an established connection ignores it, RFC 5927 style).
    pub fn on_unreachable(&mut self, now: Instant, local: SocketAddr, remote: SocketAddr) {
        let hit = self.conns.iter().find_map(|(h, c)| {
            if c.connected || c.closed.is_some() || c.remote != Some(remote) {
                return None;
            }
            let stats = self.ep.stats(*h)?;
            (stats.subflows.first()?.local == local).then_some(*h)
        });
        if let Some(h) = hit {
            self.ep.abort(now, h);
            if let Some(c) = self.conns.get_mut(&h) {
                c.unreachable = true;
                c.wake_all();
            }
        }
    }

    /// The loop stopped: every waiting task learns it.
    pub fn stop(&mut self, why: String) {
        self.stopped = Some(why);
        for c in self.conns.values_mut() {
            c.wake_all();
        }
        for q in self.listeners.values_mut() {
            if let Some(w) = q.waker.take() {
                w.wake();
            }
        }
    }

    /// The error a call gets once the loop stopped.
    pub fn stopped_error(&self) -> Option<io::Error> {
        self.stopped
            .as_ref()
            .map(|why| io::Error::new(io::ErrorKind::BrokenPipe, format!("stack stopped: {why}")))
    }
}

/// What the event loop and the application handles share.
pub(crate) struct Shared {
    state: Mutex<State>,
    /// Wakes the event loop after an application call changed the engine.
    pub wake_loop: Notify,
    /// The epoch of the engine's clock.
    pub epoch: std::time::Instant,
}

impl Shared {
    pub fn new(ep: Endpoint, addrs: Vec<IpAddr>) -> Arc<Self> {
        Arc::new(Shared {
            state: Mutex::new(State {
                ep,
                conns: HashMap::new(),
                listeners: HashMap::new(),
                addrs,
                stopped: None,
            }),
            wake_loop: Notify::new(),
            epoch: std::time::Instant::now(),
        })
    }

    /// Locks the state; a poisoned lock (a panic elsewhere) is taken over as is.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The engine's current time.
    pub fn now(&self) -> Instant {
        let nanos = u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX);
        Instant::from_nanos(nanos)
    }

    /// The wall-clock instant of an engine time, for sleeping.
    pub fn to_tokio(&self, t: Instant) -> tokio::time::Instant {
        let d = std::time::Duration::from_nanos(t.as_nanos());
        match self.epoch.checked_add(d) {
            Some(i) => tokio::time::Instant::from_std(i),
            None => tokio::time::Instant::now() + std::time::Duration::from_secs(86_400),
        }
    }
}

/// Maps why a connection closed onto the error an I/O call reports.
pub(crate) fn close_error(reason: CloseReason) -> io::Error {
    let (kind, msg) = match reason {
        CloseReason::Normal => (io::ErrorKind::NotConnected, "connection closed"),
        CloseReason::LocalAbort => (io::ErrorKind::ConnectionAborted, "connection aborted"),
        CloseReason::PeerReset => (io::ErrorKind::ConnectionReset, "connection reset by peer"),
        CloseReason::Timeout => (io::ErrorKind::TimedOut, "connection timed out"),
        CloseReason::ProtocolError => (io::ErrorKind::InvalidData, "protocol error"),
        CloseReason::Refused => (io::ErrorKind::ConnectionRefused, "connection refused"),
        CloseReason::Removed => (io::ErrorKind::ConnectionAborted, "connection removed"),
        CloseReason::AddressDown => (io::ErrorKind::ConnectionAborted, "local address down"),
    };
    io::Error::new(kind, msg)
}
