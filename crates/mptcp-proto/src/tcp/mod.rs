//! One subflow's TCP.
pub mod rtt;
