//! Round-trip time estimation and the retransmission timeout (RFC 6298).

use crate::time::Duration;

/// Smoothed RTT, variance and minimum, per RFC 6298 §2.
#[derive(Debug, Clone)]
pub struct RttEstimator {
    srtt: Option<Duration>,
    rttvar: Duration,
    min_rtt: Option<Duration>,
    latest: Duration,
}

impl RttEstimator {
    /// An estimator with no samples yet.
    pub fn new() -> Self {
        todo!("rtt helper")
    }
    /// Feeds one RTT measurement (RFC 6298 §2.2/2.3, alpha 1/8, beta 1/4).
    pub fn on_sample(&mut self, sample: Duration) {
        let _ = sample;
        todo!("rtt helper")
    }
    /// Smoothed RTT, or `None` before the first sample.
    pub fn srtt(&self) -> Option<Duration> {
        self.srtt
    }
    /// RTT variance.
    pub fn rttvar(&self) -> Duration {
        self.rttvar
    }
    /// Smallest sample seen.
    pub fn min_rtt(&self) -> Option<Duration> {
        self.min_rtt
    }
    /// Most recent sample.
    pub fn latest(&self) -> Duration {
        self.latest
    }
    /// RTO = SRTT + max(G, 4 RTTVAR), clamped to `[min, max]`; `initial` before any sample
    /// (RFC 6298 §2.1: 1 s).
    pub fn rto(&self, initial: Duration, min: Duration, max: Duration) -> Duration {
        let _ = (initial, min, max);
        todo!("rtt helper")
    }
}

impl Default for RttEstimator {
    fn default() -> Self {
        Self::new()
    }
}
