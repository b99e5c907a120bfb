//! # mptcp-sim: a deterministic discrete-event network simulator for the mptcp-proto engine
//!
//! A [`Scenario`] (read from a TOML file, see DESIGN.md) describes paths (rate, delay, queue,
//! loss, reordering, duplication, middleboxes, a timeline of events) and flows (bulk transfers
//! over MPTCP or TCP). [`run`] drives real [`mptcp_proto::Endpoint`]s over simulated links
//! with a virtual clock and seeded randomness, and returns a [`Report`]: the same scenario and
//! seed always give the same report (apart from the wall-clock time).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod scenario;
pub mod units;

pub use scenario::{Scenario, ScenarioError};
pub mod link;
pub mod pool;
pub mod middlebox;
pub mod packet;
