//! # mptcp-proto: a sans-IO TCP and Multipath TCP v1 (RFC 8684) engine
//!
//! No sockets, no clock, no global randomness: the driver hands in IP packets and the
//! current time ([`time::Instant`]), and takes out IP packets, the next timer deadline and
//! application events. The same engine runs in the deterministic simulator (`mptcp-sim`),
//! in tests, and on a real network (`mptcp-net`).
//!
//! Call order for a driver, as in quinn-proto: feed inputs ([`Endpoint::handle_packet`],
//! [`Endpoint::handle_timeout`], application calls), then drain
//! [`Endpoint::poll_transmit`] until `None`, read [`Endpoint::poll_timeout`] and drain
//! [`Endpoint::poll_event`].
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod config;
pub mod congestion;
pub mod connection;
pub mod crypto;
pub mod endpoint;
pub mod error;
pub mod event;
pub mod path_manager;
pub mod range_set;
pub mod scheduler;
pub mod seq;
pub mod stats;
mod syn_cookie;
pub mod tcp;
pub mod time;
pub mod wire;

pub use config::{EndpointConfig, SynCookies};
pub use congestion::CcAlgorithm;
pub use connection::send_buffer::SendFlags;
pub use endpoint::{ConnectParams, ConnectionHandle, Endpoint, EndpointStats, SubflowId, Transmit};
pub use error::{ConnectError, ListenError, ReadError, WriteError};
pub use event::{CloseReason, Event};
pub use seq::{Dsn, SeqNum};
pub use stats::{ConnectionStats, SubflowStats};
pub use time::{Duration, Instant};
