//! RFC 8684 / TCP conformance tests, one per row of the checklist in
//! `/work/shared/MPTCP-CONFORMANCE.md` (test names start with the row ID). Most tests
//! drive a single endpoint with hand-built packets (`script`); a few use the two-endpoint
//! harness of `tests/util`.

#[path = "../util/mod.rs"]
mod util;

mod script;

mod data;
mod handshake;
mod hostile;
mod join;
mod signal;
mod tcp;
