//! # mptcp-net: the MPTCP stack on a real network
//!
//! The sans-IO engine of `mptcp-proto` driven by a tokio event loop over a TUN device:
//! - [`Runtime`] creates (or attaches to) the TUN device, routes the stack's addresses to it,
//!   enables forwarding, runs the loop, and undoes the host configuration when dropped;
//! - [`MptcpStream`] (tokio `AsyncRead` + `AsyncWrite`) and [`MptcpListener`] are the
//!   application's API;
//! - [`Backend`], [`NetStream`] and [`NetListener`] offer the same API over the host kernel's
//!   `IPPROTO_MPTCP` sockets, chosen at run time;
//! - [`signal::terminated`] lets a program stop cleanly on Ctrl-C.
#![warn(missing_docs)]

pub mod backend;
mod driver;
mod icmp;
pub mod kernel;
pub mod listener;
pub mod pcap;
pub mod runtime;
pub mod signal;
mod state;
pub mod stream;
pub mod tun;

pub use backend::{Backend, NetListener, NetStream};
pub use listener::MptcpListener;
pub use runtime::{Handle, Runtime, RuntimeConfig};
pub use state::ACCEPT_BACKLOG;
pub use stream::{AbortHandle, MptcpStream, StatsHandle};
