//! ECF: earliest completion first (Lim, Nahum, Towsley, Gibbens, "ECF: An MPTCP Path
//! Scheduler to Manage Heterogeneous Paths", CoNEXT 2017, Algorithm 1).
//!
//! When the fastest subflow `f` has no room and the default choice is a slower `s`, compare
//! how long `f` needs to send the `k` waiting bytes once its window frees up with what `s`
//! would take:
//!
//! ```text
//! n = 1 + k / CWND_f,  δ = max(σ_f, σ_s)
//! if n · RTT_f < (1 + waiting · β) (RTT_s + δ):
//!     if (k / CWND_s) · RTT_s ≥ 2 RTT_f + δ:  waiting = 1; wait for f
//!     else: use s
//! else: waiting = 0; use s
//! ```
//!
//! `k` is [`SchedulerInput::bytes_unsent`] (windows in bytes too), σ the RTT variation
//! (RTTVAR), β the hysteresis that keeps the scheduler waiting once it started to (0.25 in
//! the paper).

use super::{lowest_rtt, preferred, MinRtt, Scheduler, SchedulerInput};

/// Earliest-completion-first scheduler.
#[derive(Debug, Clone)]
pub struct Ecf {
    /// β × 1000.
    beta_milli: u32,
    /// The last decision was to wait for the fast subflow.
    waiting: bool,
}

impl Ecf {
    /// β × 1000 by default.
    pub const DEFAULT_BETA_MILLI: u32 = 250;

    /// A scheduler with β = `beta_milli` / 1000.
    pub fn new(beta_milli: u32) -> Self {
        Ecf {
            beta_milli,
            waiting: false,
        }
    }

    /// Whether the last decision was to wait.
    pub fn waiting(&self) -> bool {
        self.waiting
    }
}

impl Default for Ecf {
    fn default() -> Self {
        Ecf::new(Self::DEFAULT_BETA_MILLI)
    }
}

impl Scheduler for Ecf {
    fn select(&mut self, input: &SchedulerInput<'_>) -> Option<usize> {
        let fast = lowest_rtt(preferred(input.views))?;
        if fast.space > 0 {
            return Some(fast.index);
        }
        let best = MinRtt::choose(input.views)?;
        let slow = input.views.iter().find(|v| v.index == best)?;
        let k = input.bytes_unsent as f64;
        let rtt_f = fast.srtt.as_secs_f64();
        let rtt_s = slow.srtt.as_secs_f64();
        let delta = fast.rttvar.max(slow.rttvar).as_secs_f64();
        let beta = f64::from(self.beta_milli) / 1000.0;
        let n = 1.0 + k / fast.cwnd.max(1) as f64;
        let margin = if self.waiting { 1.0 + beta } else { 1.0 };
        if n * rtt_f < margin * (rtt_s + delta) {
            if k / slow.cwnd.max(1) as f64 * rtt_s >= 2.0 * rtt_f + delta {
                self.waiting = true;
                return None;
            }
            Some(best)
        } else {
            self.waiting = false;
            Some(best)
        }
    }
    fn name(&self) -> &'static str {
        "ecf"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::tests::view;
    use crate::scheduler::SubflowView;
    use crate::time::{Duration, Instant};

    fn input(views: &[SubflowView], k: u64) -> SchedulerInput<'_> {
        let mut i = SchedulerInput::new(Instant::ZERO, views);
        i.bytes_unsent = k;
        i
    }

    /// Fast: 10 ms, window 10 000, full. Slow: 100 ms, window 10 000, room.
    fn views() -> [SubflowView; 2] {
        [view(0, 10, 0), view(1, 100, 5000)]
    }

    #[test]
    fn fast_subflow_with_room_is_used() {
        let v = [view(0, 10, 1000), view(1, 100, 5000)];
        assert_eq!(Ecf::default().select(&input(&v, 10_000_000)), Some(0));
    }

    #[test]
    fn waits_for_the_fast_subflow_when_it_finishes_sooner() {
        let v = views();
        let mut s = Ecf::default();
        // k = 20 000: f needs n = 3 RTTs = 30 ms < 100 ms; s would need 2 · 100 ms ≥ 20 ms.
        assert_eq!(s.select(&input(&v, 20_000)), None);
        assert!(s.waiting());
    }

    #[test]
    fn uses_the_slow_subflow_for_a_large_backlog() {
        let v = views();
        let mut s = Ecf {
            waiting: true,
            ..Ecf::default()
        };
        // k = 10 MB: f needs 1001 RTTs = 10 s, far more than 100 ms: use s, stop waiting.
        assert_eq!(s.select(&input(&v, 10_000_000)), Some(1));
        assert!(!s.waiting());
    }

    #[test]
    fn slow_subflow_that_finishes_quickly_is_used() {
        // s only slightly slower (15 ms) with little data: (k / CWND_s) RTT_s = 7.5 ms, below
        // 2 RTT_f + δ = 21 ms, although f would finish first (15 ms < 16 ms).
        let mut v = [view(0, 10, 0), view(1, 15, 5000)];
        v[1].rttvar = Duration::from_millis(1);
        let mut s = Ecf::default();
        assert_eq!(s.select(&input(&v, 5000)), Some(1));
        assert!(!s.waiting());
    }

    #[test]
    fn hysteresis_keeps_waiting() {
        let v = views();
        // k = 100 000: n = 11, 110 ms: more than RTT_s (100 ms) but less than
        // (1 + β) RTT_s = 125 ms.
        let mut fresh = Ecf::default();
        assert_eq!(
            fresh.select(&input(&v, 100_000)),
            Some(1),
            "not waiting: use s"
        );
        let mut s = Ecf::default();
        assert_eq!(s.select(&input(&v, 20_000)), None);
        assert_eq!(
            s.select(&input(&v, 100_000)),
            None,
            "waiting: β keeps it waiting"
        );
        // Beyond the margin (k = 130 000: 140 ms > 125 ms) it switches and stops waiting.
        assert_eq!(s.select(&input(&v, 130_000)), Some(1));
        assert_eq!(s.select(&input(&v, 100_000)), Some(1), "no longer waiting");
        // β = 0: no hysteresis.
        let mut s0 = Ecf::new(0);
        assert_eq!(s0.select(&input(&v, 20_000)), None);
        assert_eq!(s0.select(&input(&v, 100_000)), Some(1));
    }

    #[test]
    fn rtt_variation_widens_the_wait() {
        // k = 100 000, not waiting: 110 ms vs 100 ms + δ. With δ = 20 ms f wins.
        let mut v = views();
        v[1].rttvar = Duration::from_millis(20);
        assert_eq!(Ecf::default().select(&input(&v, 100_000)), None);
    }

    #[test]
    fn nothing_with_room_waits() {
        let v = [view(0, 10, 0), view(1, 100, 0)];
        assert_eq!(Ecf::default().select(&input(&v, 100)), None);
    }
}
