//! CUBIC (RFC 9438), uncoupled.

use super::{CcView, Controller};
use crate::time::Instant;

/// CUBIC congestion control.
#[derive(Debug, Clone)]
pub struct Cubic {
    mss: u32,
    cwnd: u64,
    ssthresh: u64,
}

impl Cubic {
    /// A controller with the given MSS and initial window.
    pub fn new(mss: u32, initial_window: u64) -> Self {
        let _ = (mss, initial_window);
        todo!("cc helper")
    }
}

impl Controller for Cubic {
    fn on_ack(&mut self, now: Instant, acked: u64, view: &CcView<'_>) {
        let _ = (now, acked, view);
        todo!("cc helper")
    }
    fn on_congestion_event(&mut self, now: Instant, in_flight: u64, view: &CcView<'_>) {
        let _ = (now, in_flight, view);
        todo!("cc helper")
    }
    fn on_rto(&mut self, now: Instant, in_flight: u64) {
        let _ = (now, in_flight);
        todo!("cc helper")
    }
    fn on_mss(&mut self, mss: u32) {
        self.mss = mss;
    }
    fn window(&self) -> u64 {
        self.cwnd
    }
    fn ssthresh(&self) -> u64 {
        self.ssthresh
    }
    fn name(&self) -> &'static str {
        "cubic"
    }
}
