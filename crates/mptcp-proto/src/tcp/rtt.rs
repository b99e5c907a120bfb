//! Round-trip time estimation and the retransmission timeout (RFC 6298).

use crate::time::Duration;

/// Clock granularity G of RFC 6298 §2.
const CLOCK_GRANULARITY: Duration = Duration::from_millis(1);

/// Nanoseconds of a duration, as u128 so the weighted sums cannot overflow.
fn duration_nanos(d: Duration) -> u128 {
    d.as_nanos()
}

fn from_nanos_sat(n: u128) -> Duration {
    Duration::from_nanos(u64::try_from(n).unwrap_or(u64::MAX))
}

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
        RttEstimator {
            srtt: None,
            rttvar: Duration::ZERO,
            min_rtt: None,
            latest: Duration::ZERO,
        }
    }
    /// Feeds one RTT measurement (RFC 6298 §2.2/2.3, alpha 1/8, beta 1/4).
    pub fn on_sample(&mut self, sample: Duration) {
        self.latest = sample;
        self.min_rtt = Some(self.min_rtt.map_or(sample, |m| m.min(sample)));
        match self.srtt {
            None => {
                // §2.2: SRTT <- R, RTTVAR <- R/2.
                self.srtt = Some(sample);
                self.rttvar = sample / 2;
            }
            Some(srtt) => {
                // §2.3: RTTVAR <- 3/4 RTTVAR + 1/4 |SRTT - R'| (using the old SRTT),
                // then SRTT <- 7/8 SRTT + 1/8 R'. Computed in nanoseconds to keep precision.
                let srtt_ns = duration_nanos(srtt);
                let r_ns = duration_nanos(sample);
                let var_ns = duration_nanos(self.rttvar);
                let diff = srtt_ns.abs_diff(r_ns);
                let new_var = (3 * var_ns + diff) / 4;
                let new_srtt = (7 * srtt_ns + r_ns) / 8;
                self.rttvar = from_nanos_sat(new_var);
                self.srtt = Some(from_nanos_sat(new_srtt));
            }
        }
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
        let Some(srtt) = self.srtt else {
            return initial;
        };
        let var_term = self.rttvar.saturating_mul(4).max(CLOCK_GRANULARITY);
        let rto = srtt.saturating_add(var_term);
        // Clamp without panicking if a caller passes min > max: max wins.
        rto.max(min).min(max)
    }
}

impl Default for RttEstimator {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INIT: Duration = Duration::from_secs(1);
    const MIN: Duration = Duration::from_millis(200);
    const MAX: Duration = Duration::from_secs(60);

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn rtt_initial_rto_before_samples() {
        let e = RttEstimator::new();
        assert_eq!(e.srtt(), None);
        assert_eq!(e.min_rtt(), None);
        assert_eq!(e.rttvar(), Duration::ZERO);
        assert_eq!(e.rto(INIT, MIN, MAX), INIT);
    }

    #[test]
    fn rtt_first_sample() {
        let mut e = RttEstimator::default();
        e.on_sample(ms(100));
        assert_eq!(e.srtt(), Some(ms(100)));
        assert_eq!(e.rttvar(), ms(50));
        assert_eq!(e.min_rtt(), Some(ms(100)));
        assert_eq!(e.latest(), ms(100));
        // 100 + 4 * 50 = 300 ms.
        assert_eq!(e.rto(INIT, MIN, MAX), ms(300));
    }

    #[test]
    fn rtt_second_and_third_samples() {
        let mut e = RttEstimator::new();
        e.on_sample(ms(100));
        e.on_sample(ms(200));
        // rttvar = 3/4 * 50 + 1/4 * |100 - 200| = 37.5 + 25 = 62.5 ms
        // srtt = 7/8 * 100 + 1/8 * 200 = 87.5 + 25 = 112.5 ms
        assert_eq!(e.rttvar(), Duration::from_micros(62_500));
        assert_eq!(e.srtt(), Some(Duration::from_micros(112_500)));
        assert_eq!(e.min_rtt(), Some(ms(100)));
        assert_eq!(e.latest(), ms(200));
        // 112.5 + 250 = 362.5 ms
        assert_eq!(e.rto(INIT, MIN, MAX), Duration::from_micros(362_500));

        e.on_sample(ms(50));
        // rttvar = 3/4 * 62.5 + 1/4 * |112.5 - 50| = 46.875 + 15.625 = 62.5 ms
        // srtt = 7/8 * 112.5 + 1/8 * 50 = 98.4375 + 6.25 = 104.6875 ms
        assert_eq!(e.rttvar(), Duration::from_micros(62_500));
        assert_eq!(e.srtt(), Some(Duration::from_nanos(104_687_500)));
        assert_eq!(e.min_rtt(), Some(ms(50)));
        assert_eq!(e.latest(), ms(50));
    }

    #[test]
    fn rtt_rto_clamped_to_min_and_max() {
        let mut e = RttEstimator::new();
        e.on_sample(ms(10));
        // 10 + 4 * 5 = 30 ms, below the 200 ms floor.
        assert_eq!(e.rto(INIT, MIN, MAX), MIN);
        let mut e = RttEstimator::new();
        e.on_sample(Duration::from_secs(30));
        // 30 + 60 = 90 s, above the 60 s ceiling.
        assert_eq!(e.rto(INIT, MIN, MAX), MAX);
    }

    #[test]
    fn rtt_rto_uses_clock_granularity_when_variance_vanishes() {
        let mut e = RttEstimator::new();
        for _ in 0..200 {
            e.on_sample(ms(40));
        }
        assert_eq!(e.srtt(), Some(ms(40)));
        assert!(e.rttvar() < Duration::from_micros(250));
        // max(G = 1 ms, 4 * rttvar) = 1 ms, no floor.
        assert_eq!(e.rto(INIT, Duration::ZERO, MAX), ms(41));
    }

    #[test]
    fn rtt_constant_samples_converge() {
        let mut e = RttEstimator::new();
        e.on_sample(ms(300));
        for _ in 0..100 {
            e.on_sample(ms(100));
        }
        let srtt = e.srtt().unwrap();
        assert!(
            srtt >= ms(100) && srtt < Duration::from_micros(100_100),
            "{srtt:?}"
        );
    }

    #[test]
    fn rtt_huge_samples_do_not_overflow() {
        let mut e = RttEstimator::new();
        e.on_sample(Duration::MAX);
        e.on_sample(Duration::ZERO);
        e.on_sample(Duration::MAX);
        assert_eq!(e.rto(INIT, MIN, MAX), MAX);
        assert_eq!(e.min_rtt(), Some(Duration::ZERO));
    }
}
