//! Deterministic discrete-event simulator (skeleton).
