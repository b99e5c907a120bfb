//! LIA, the Linked Increases Algorithm (RFC 6356): coupled congestion control for MPTCP.
//!
//! Slow start and the response to loss are Reno's, per subflow. In congestion avoidance
//! each ACK of `acked` bytes on subflow i grows its window by
//! `min(alpha * acked * MSS_i / cwnd_total, acked * MSS_i / cwnd_i)` (RFC 6356 §3), with
//! `alpha = cwnd_total * max_i(cwnd_i / rtt_i^2) / (sum_i cwnd_i / rtt_i)^2` (§4): the
//! connection takes no more than one TCP flow on its best path would.

use super::reno::Reno;
use super::{coupled_paths, CcView, Controller, PathInfo};
use crate::time::Instant;

/// LIA congestion control for one subflow.
#[derive(Debug, Clone)]
pub struct Lia {
    reno: Reno,
    /// Fractional bytes of window growth not yet applied.
    carry: f64,
}

impl Lia {
    /// A controller with the given MSS and initial window.
    pub fn new(mss: u32, initial_window: u64) -> Self {
        Lia {
            reno: Reno::new(mss, initial_window),
            carry: 0.0,
        }
    }
}

/// RFC 6356 §4 alpha over the subflows that carry data (all of them if none is marked).
pub fn alpha(paths: &[PathInfo]) -> f64 {
    let active: Vec<&PathInfo> = paths.iter().filter(|p| p.active && p.cwnd > 0).collect();
    let used: Vec<&PathInfo> = if active.is_empty() {
        paths.iter().collect()
    } else {
        active
    };
    let total: f64 = used.iter().map(|p| p.cwnd as f64).sum();
    let rtt = |p: &PathInfo| p.srtt.as_secs_f64().max(1e-6);
    let best = used
        .iter()
        .map(|p| p.cwnd as f64 / (rtt(p) * rtt(p)))
        .fold(0.0, f64::max);
    let sum: f64 = used.iter().map(|p| p.cwnd as f64 / rtt(p)).sum();
    if sum <= 0.0 {
        return 1.0;
    }
    total * best / (sum * sum)
}

/// RFC 6356 §3: the window increase, in bytes, for `acked` bytes acknowledged on path `me`:
/// `min(alpha * acked * MSS / cwnd_total, acked * MSS / cwnd_me)`.
pub fn increase(paths: &[PathInfo], me: usize, acked: u64, mss: u64) -> f64 {
    let Some(mine) = paths.get(me) else {
        return 0.0;
    };
    let own = mine.cwnd.max(1) as f64;
    let total = paths.iter().map(|p| p.cwnd as f64).sum::<f64>().max(own);
    let coupled = alpha(paths) * acked as f64 * mss as f64 / total;
    let uncoupled = acked as f64 * mss as f64 / own;
    let inc = coupled.min(uncoupled);
    if inc.is_finite() {
        inc.max(0.0)
    } else {
        0.0
    }
}

impl Controller for Lia {
    fn on_ack(&mut self, now: Instant, acked: u64, view: &CcView<'_>) {
        if acked == 0 {
            return;
        }
        let mut acked = acked;
        if self.reno.window() < self.reno.ssthresh() {
            acked = self.reno.slow_start(acked);
            if acked == 0 {
                return;
            }
        }
        let _ = now;
        let (paths, me) = coupled_paths(view, self.reno.window(), 0);
        if me.is_none() || paths.len() == 1 {
            // Alone (or outside the view): LIA is Reno (RFC 6356 §3, alpha = 1), and Linux
            // runs Reno's own congestion avoidance then.
            self.reno.congestion_avoidance(acked);
            return;
        }
        let inc = increase(&paths, me.unwrap_or(0), acked, self.reno.mss64());
        self.reno.apply_credit(&mut self.carry, inc);
    }
    fn on_congestion_event(&mut self, now: Instant, in_flight: u64, view: &CcView<'_>) {
        self.carry = 0.0;
        self.reno.on_congestion_event(now, in_flight, view);
    }
    fn on_rto(&mut self, now: Instant, in_flight: u64) {
        self.carry = 0.0;
        self.reno.on_rto(now, in_flight);
    }
    fn on_rto_in_recovery(&mut self, now: Instant) {
        self.reno.on_rto_in_recovery(now);
    }
    fn exit_slow_start(&mut self) {
        self.reno.exit_slow_start();
    }
    fn on_idle_restart(&mut self, now: Instant) {
        self.reno.on_idle_restart(now);
    }
    fn on_mss(&mut self, mss: u32) {
        self.reno.on_mss(mss);
    }
    fn window(&self) -> u64 {
        self.reno.window()
    }
    fn ssthresh(&self) -> u64 {
        self.reno.ssthresh()
    }
    fn name(&self) -> &'static str {
        "lia"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Duration;

    fn path(cwnd: u64, rtt_ms: u64) -> PathInfo {
        PathInfo {
            cwnd,
            srtt: Duration::from_millis(rtt_ms),
            mss: 1000,
            active: true,
            loss_interval: 0,
        }
    }

    #[test]
    fn alpha_hand_computed() {
        // Equal paths: alpha = 2w * (w/r^2) / (2w/r)^2 = 1/2.
        let a = alpha(&[path(10_000, 100), path(10_000, 100)]);
        assert!((a - 0.5).abs() < 1e-9, "{a}");
        // One path: alpha = 1 (LIA is Reno).
        assert!((alpha(&[path(7_000, 30)]) - 1.0).abs() < 1e-9);
        // w1 = 10000 @ 100 ms, w2 = 20000 @ 200 ms:
        // total 30000; max(w/r^2) = max(1e6, 5e5) = 1e6; sum w/r = 1e5 + 1e5 = 2e5.
        // alpha = 30000 * 1e6 / 4e10 = 0.75.
        let a = alpha(&[path(10_000, 100), path(20_000, 200)]);
        assert!((a - 0.75).abs() < 1e-9, "{a}");
    }

    #[test]
    fn coupled_increase_on_two_equal_paths_is_half_of_reno() {
        let mut lia = Lia::new(1000, 10_000);
        lia.exit_slow_start();
        let paths = [path(10_000, 100), path(10_000, 100)];
        let view = CcView {
            paths: &paths,
            me: 0,
        };
        // Each 1000-byte ACK earns min(0.5 * 1000 * 1000 / 20000, 1000 * 1000 / 10000)
        // = 25 bytes of credit: 39 ACKs leave the window alone (975 bytes), 41 (1025) add
        // one whole MSS. Reno on one path adds one MSS per window (10 ACKs); two subflows each
        // growing at a quarter of that make half of Reno for the connection.
        assert!((increase(&paths, 0, 1000, 1000) - 25.0).abs() < 1e-9);
        for _ in 0..39 {
            lia.on_ack(Instant::ZERO, 1000, &view);
        }
        assert_eq!(lia.window(), 10_000);
        lia.on_ack(Instant::ZERO, 1000, &view);
        lia.on_ack(Instant::ZERO, 1000, &view);
        assert_eq!(lia.window(), 11_000);
    }

    #[test]
    fn lia_alone_is_exactly_reno() {
        // One subflow (or a view without the caller): Reno's own byte counting, step for
        // step, stretch ACKs included.
        let mut lia = Lia::new(1000, 10_000);
        let mut reno = Reno::new(1000, 10_000);
        let acks = [1000u64, 2000, 500, 7000, 1000, 3000, 1000, 1000, 4000, 2500];
        for round in 0..200 {
            for (i, &a) in acks.iter().enumerate() {
                let paths = [path(lia.window(), 100)];
                let view = if i % 2 == 0 {
                    CcView {
                        paths: &paths,
                        me: 0,
                    }
                } else {
                    CcView { paths: &[], me: 0 }
                };
                lia.on_ack(Instant::ZERO, a, &view);
                reno.on_ack(Instant::ZERO, a, &view);
                assert_eq!(lia.window(), reno.window(), "round {round} ack {i}");
            }
            if round % 50 == 49 {
                let paths = [path(lia.window(), 100)];
                let view = CcView {
                    paths: &paths,
                    me: 0,
                };
                lia.on_congestion_event(Instant::ZERO, lia.window(), &view);
                reno.on_congestion_event(Instant::ZERO, reno.window(), &view);
            }
        }
        assert!(reno.window() > 10_000);
    }

    #[test]
    fn lia_ignores_inactive_subflows() {
        // The other subflow timed out: it is not counted, so this one is alone.
        let mut lia = Lia::new(1000, 10_000);
        lia.exit_slow_start();
        let mut other = path(50_000, 100);
        other.active = false;
        let paths = [path(10_000, 100), other];
        let view = CcView {
            paths: &paths,
            me: 0,
        };
        for _ in 0..10 {
            lia.on_ack(Instant::ZERO, 1000, &view);
        }
        assert_eq!(lia.window(), 11_000);
    }

    #[test]
    fn never_more_aggressive_than_reno_on_its_own_path() {
        let mut lia = Lia::new(1000, 10_000);
        lia.exit_slow_start();
        // A subflow much smaller than the other: the uncoupled term caps the increase.
        let paths = [path(2_000, 10), path(100_000, 1000)];
        let view = CcView {
            paths: &paths,
            me: 0,
        };
        let mut reno = Reno::new(1000, 2_000);
        reno.exit_slow_start();
        let mut lia_small = Lia::new(1000, 2_000);
        lia_small.exit_slow_start();
        for _ in 0..50 {
            lia_small.on_ack(Instant::ZERO, 1000, &view);
            reno.on_ack(Instant::ZERO, 1000, &view);
        }
        assert!(lia_small.window() <= reno.window());
        let _ = lia;
    }

    #[test]
    fn loss_halves_the_window() {
        let mut lia = Lia::new(1000, 40_000);
        let paths = [path(40_000, 50)];
        let view = CcView {
            paths: &paths,
            me: 0,
        };
        lia.on_congestion_event(Instant::ZERO, 40_000, &view);
        assert_eq!(lia.window(), 20_000);
    }
}
