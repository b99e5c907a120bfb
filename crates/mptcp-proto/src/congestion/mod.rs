//! Congestion control behind one trait. Each subflow owns a controller; the connection hands
//! every callback a [`CcView`] of all its subflows so coupled algorithms (LIA, OLIA, BALIA,
//! in a later change) can see the whole connection.

mod cubic;
pub mod lia;
mod reno;

pub use cubic::Cubic;
pub use lia::Lia;
pub use reno::Reno;

use crate::time::{Duration, Instant};

/// What a controller may know about one subflow of its connection.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PathInfo {
    /// Congestion window, bytes.
    pub cwnd: u64,
    /// Smoothed RTT (the initial RTO guess before any sample).
    pub srtt: Duration,
    /// Sender MSS, bytes.
    pub mss: u32,
    /// Whether the subflow may currently carry data (established, not failed).
    pub active: bool,
}

/// A snapshot of the connection's subflows; `me` indexes the subflow being called.
#[derive(Debug, Clone, Copy)]
pub struct CcView<'a> {
    /// All subflows of the connection.
    pub paths: &'a [PathInfo],
    /// Index of the calling subflow in `paths`.
    pub me: usize,
}

/// A congestion controller for one subflow. Windows are in bytes.
pub trait Controller: Send + core::fmt::Debug {
    /// `acked` new bytes were cumulatively acknowledged outside loss recovery.
    fn on_ack(&mut self, now: Instant, acked: u64, view: &CcView<'_>);
    /// Loss detected by duplicate ACKs / SACK (entering fast recovery, RFC 6675 / RFC 5681):
    /// `in_flight` bytes were outstanding.
    fn on_congestion_event(&mut self, now: Instant, in_flight: u64, view: &CcView<'_>);
    /// Retransmission timeout (RFC 5681 §3.1: ssthresh from flight size, cwnd to one MSS).
    fn on_rto(&mut self, now: Instant, in_flight: u64);
    /// Retransmission timeout during a loss recovery that already reduced ssthresh: the
    /// window collapses to one MSS but ssthresh stays (as Linux's `tcp_enter_loss`).
    fn on_rto_in_recovery(&mut self, now: Instant);
    /// Leave slow start without a loss (HyStart++, RFC 9406): ssthresh = cwnd.
    fn exit_slow_start(&mut self);
    /// The connection was idle for longer than an RTO (RFC 5681 §4.1 restart window).
    fn on_idle_restart(&mut self, now: Instant) {
        let _ = now;
    }
    /// The sender MSS changed.
    fn on_mss(&mut self, mss: u32);
    /// Current congestion window.
    fn window(&self) -> u64;
    /// Current slow-start threshold.
    fn ssthresh(&self) -> u64;
    /// Short name ("reno", "cubic", ...).
    fn name(&self) -> &'static str;
}

/// The built-in algorithms, selectable by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CcAlgorithm {
    /// NewReno (RFC 5681), uncoupled.
    #[default]
    Reno,
    /// CUBIC (RFC 9438), uncoupled.
    Cubic,
    /// LIA (RFC 6356), coupled across the connection's subflows.
    Lia,
}

/// A congestion-control name that is not known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown congestion control {0:?} (known: reno, cubic, lia)")]
pub struct UnknownCc(pub String);

impl CcAlgorithm {
    /// Looks an algorithm up by its name.
    pub fn from_name(name: &str) -> Result<Self, UnknownCc> {
        match name {
            "reno" => Ok(CcAlgorithm::Reno),
            "cubic" => Ok(CcAlgorithm::Cubic),
            "lia" => Ok(CcAlgorithm::Lia),
            other => Err(UnknownCc(other.to_string())),
        }
    }
    /// Builds a controller with an initial window of `initial_window` bytes (RFC 6928: 10 MSS).
    pub fn build(self, mss: u32, initial_window: u64) -> Box<dyn Controller> {
        match self {
            CcAlgorithm::Reno => Box::new(Reno::new(mss, initial_window)),
            CcAlgorithm::Cubic => Box::new(Cubic::new(mss, initial_window)),
            CcAlgorithm::Lia => Box::new(Lia::new(mss, initial_window)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn congestion_algorithm_by_name() {
        assert_eq!(CcAlgorithm::from_name("reno"), Ok(CcAlgorithm::Reno));
        assert_eq!(CcAlgorithm::from_name("cubic"), Ok(CcAlgorithm::Cubic));
        assert_eq!(CcAlgorithm::from_name("bbr"), Err(UnknownCc("bbr".into())));
        assert_eq!(CcAlgorithm::default(), CcAlgorithm::Reno);
    }

    #[test]
    fn congestion_build_controllers() {
        for (alg, name) in [(CcAlgorithm::Reno, "reno"), (CcAlgorithm::Cubic, "cubic")] {
            let cc = alg.build(1460, 14600);
            assert_eq!(cc.name(), name);
            assert_eq!(cc.window(), 14600);
            assert_eq!(cc.ssthresh(), u64::MAX);
        }
    }
}
