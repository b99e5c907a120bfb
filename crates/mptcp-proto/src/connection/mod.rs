//! The MPTCP connection.

pub mod reassembly;
pub mod send_buffer;
