//! # mptcp-sim: a deterministic discrete-event network simulator for the mptcp-proto engine
//!
//! A [`Scenario`] (read from a TOML file, see DESIGN.md) describes paths (rate, delay, queue,
//! loss, reordering, duplication, middleboxes, a timeline of events) and flows (bulk transfers
//! over MPTCP or TCP). [`run`] drives real [`mptcp_proto::Endpoint`]s over simulated links
//! with a virtual clock and seeded randomness, and returns a [`Report`]: the same scenario and
//! seed always give the same report (apart from the wall-clock time).
//!
//! Modules, one concern each: [`units`] (rates, sizes, durations), [`scenario`] (the file
//! format and its validation), [`link`] (one direction of a path), [`middlebox`] (packet
//! rewriting on a path), [`packet`] (raw IPv4/TCP access), [`pcap`] (captures),
//! [`topology`] (addresses and routing), [`flow`] (the application), [`sim`] (the event
//! loop), [`report`] (JSON and text output), [`soak`] (long randomized runs with integrity and
//! memory checks), [`rng`] (seeds and payload), [`pool`] (buffers).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod flow;
pub mod link;
pub mod middlebox;
pub mod packet;
pub mod pcap;
pub mod pool;
pub mod report;
pub mod rng;
pub mod scenario;
pub mod sim;
pub mod soak;
pub mod topology;
pub mod units;

pub use report::{FlowReport, PathSample, Report, SubflowReport, TimelineEvent};
pub use scenario::{Scenario, ScenarioError};
pub use sim::{run, RunOptions, SimError, Simulation};
