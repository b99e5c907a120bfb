//! OLIA, the Opportunistic Linked Increases Algorithm (Khalili, Gast, Popovic, Le Boudec,
//! "MPTCP is not Pareto-optimal: performance issues and a possible solution", IEEE/ACM ToN
//! 21(5), 2013; draft-khalili-mptcp-congestion-control-05), coupled congestion control.
//!
//! Slow start and the response to loss are Reno's, per subflow. In congestion avoidance
//! each ACK of `acked` bytes on path r changes its window by
//!
//! ```text
//! acked * MSS_r * ( (w_r / rtt_r^2) / (sum_p w_p / rtt_p)^2 + alpha_r / w_r )
//! ```
//!
//! which is the draft's per-packet increase with windows in bytes. `alpha_r` moves window
//! from the paths with the largest window (the set M) to the best paths (the set B: largest
//! `l_p / rtt_p^2`, with `l_p` the bytes delivered between the last two losses or since the
//! last one, whichever is larger) that are not in M (the collected paths C = B \ M):
//!
//! ```text
//! alpha_r =  1 / (|P| |C|)   if r is in C,
//! alpha_r = -1 / (|P| |M|)   if r is in M and C is not empty,
//! alpha_r =  0               otherwise.
//! ```
//!
//! P is the set of paths in use. With one path C is empty and OLIA is Reno. As in Linux's
//! `mptcp_olia.c`, the sets compare windows and `l_p * rtt_q^2` exactly (integers).

use super::reno::Reno;
use super::{coupled_paths, rtt_secs, CcView, Controller, PathInfo};
use crate::time::Instant;

/// OLIA congestion control for one subflow.
#[derive(Debug, Clone)]
pub struct Olia {
    reno: Reno,
    /// Fractional bytes of window change not yet applied (may be negative).
    carry: f64,
    /// Bytes acknowledged since the last loss (the draft's `l2r`).
    since_loss: u64,
    /// Bytes acknowledged between the last two losses (`l1r`).
    between_losses: u64,
}

impl Olia {
    /// A controller with the given MSS and initial window.
    pub fn new(mss: u32, initial_window: u64) -> Self {
        Olia {
            reno: Reno::new(mss, initial_window),
            carry: 0.0,
            since_loss: 0,
            between_losses: 0,
        }
    }

    /// A loss: the bytes since the previous one become the last inter-loss distance.
    /// A loss with nothing delivered since the previous one (a repeated timeout) changes
    /// nothing, as in Linux.
    fn record_loss(&mut self) {
        if self.since_loss > 0 {
            self.between_losses = self.since_loss;
            self.since_loss = 0;
        }
    }
}

/// Squared RTT in microseconds, for exact comparisons of `l / rtt^2`. The RTT is bounded to
/// [1 µs, 2^31 µs] so that `l * rtt^2` fits in a u128.
fn rtt_us_squared(p: &PathInfo) -> u128 {
    let us = p.srtt.as_micros().clamp(1, 1 << 31);
    us * us
}

/// Whether `a` is a better path than `b`: `l_a / rtt_a^2 > l_b / rtt_b^2`.
fn better(a: &PathInfo, b: &PathInfo) -> bool {
    u128::from(a.loss_interval) * rtt_us_squared(b)
        > u128::from(b.loss_interval) * rtt_us_squared(a)
}

/// Whether `a` and `b` are equally good: `l_a / rtt_a^2 == l_b / rtt_b^2`.
fn as_good(a: &PathInfo, b: &PathInfo) -> bool {
    u128::from(a.loss_interval) * rtt_us_squared(b)
        == u128::from(b.loss_interval) * rtt_us_squared(a)
}

/// OLIA's `alpha_r` for path `me` of `paths` (every path in use; 0 if `me` is not one).
pub fn alpha(paths: &[PathInfo], me: usize) -> f64 {
    let Some(mine) = paths.get(me) else {
        return 0.0;
    };
    let Some(best) = paths
        .iter()
        .reduce(|best, p| if better(p, best) { p } else { best })
    else {
        return 0.0;
    };
    let max_w = paths.iter().map(|p| p.cwnd).max().unwrap_or(0);
    let in_m = |p: &PathInfo| p.cwnd == max_w;
    let in_c = |p: &PathInfo| !in_m(p) && as_good(p, best);
    let n_m = paths.iter().filter(|p| in_m(p)).count();
    let n_c = paths.iter().filter(|p| in_c(p)).count();
    let n_p = paths.len() as f64;
    if n_c == 0 {
        0.0
    } else if in_c(mine) {
        1.0 / (n_p * n_c as f64)
    } else if in_m(mine) {
        -1.0 / (n_p * n_m as f64)
    } else {
        0.0
    }
}

/// OLIA's window change in bytes (negative: a decrease) for `acked` bytes acknowledged on
/// path `me` of `paths` in congestion avoidance, with sender MSS `mss`.
pub fn increase(paths: &[PathInfo], me: usize, acked: u64, mss: u64) -> f64 {
    let Some(mine) = paths.get(me) else {
        return 0.0;
    };
    let w = mine.cwnd.max(1) as f64;
    let rtt = rtt_secs(mine);
    let sum: f64 = paths.iter().map(|p| p.cwnd as f64 / rtt_secs(p)).sum();
    let coupled = if sum > 0.0 {
        (w / (rtt * rtt)) / (sum * sum)
    } else {
        1.0 / w
    };
    let inc = acked as f64 * mss as f64 * (coupled + alpha(paths, me) / w);
    if inc.is_finite() {
        inc
    } else {
        0.0
    }
}

impl Controller for Olia {
    fn on_ack(&mut self, now: Instant, acked: u64, view: &CcView<'_>) {
        let _ = now;
        if acked == 0 {
            return;
        }
        self.since_loss = self.since_loss.saturating_add(acked);
        let mut acked = acked;
        if self.reno.window() < self.reno.ssthresh() {
            acked = self.reno.slow_start(acked);
            if acked == 0 {
                return;
            }
        }
        let mss = self.reno.mss64();
        let (paths, me) = coupled_paths(view, self.reno.window(), self.loss_interval());
        match me {
            // Alone (or outside the view): Reno's own congestion avoidance, as Linux.
            Some(me) if paths.len() > 1 => {
                let inc = increase(&paths, me, acked, mss);
                self.reno.apply_credit(&mut self.carry, inc);
            }
            _ => self.reno.congestion_avoidance(acked),
        }
    }
    fn on_recovery_ack(&mut self, _now: Instant, acked: u64) {
        self.since_loss = self.since_loss.saturating_add(acked);
    }
    fn on_congestion_event(&mut self, now: Instant, in_flight: u64, view: &CcView<'_>) {
        self.record_loss();
        self.carry = 0.0;
        self.reno.on_congestion_event(now, in_flight, view);
    }
    fn on_rto(&mut self, now: Instant, in_flight: u64) {
        self.record_loss();
        self.carry = 0.0;
        self.reno.on_rto(now, in_flight);
    }
    fn on_rto_in_recovery(&mut self, now: Instant) {
        // The loss that started this recovery was already counted.
        self.carry = 0.0;
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
    fn loss_interval(&self) -> u64 {
        self.since_loss.max(self.between_losses)
    }
    fn name(&self) -> &'static str {
        "olia"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Duration;

    fn path(cwnd: u64, rtt_ms: u64, loss_interval: u64) -> PathInfo {
        PathInfo {
            cwnd,
            srtt: Duration::from_millis(rtt_ms),
            mss: 1000,
            active: true,
            loss_interval,
        }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9 * b.abs().max(1.0)
    }

    #[test]
    fn olia_alpha_one_collected_path() {
        // l / rtt^2: P0 40000 / 0.1^2 = 4e6, P1 40000 / 0.1^2 = 4e6, P2 80000 / 0.2^2 = 2e6.
        // B = {P0, P1}; M = {P0} (20000 is the largest window); C = B \ M = {P1}.
        // |P| = 3, |C| = 1, |M| = 1: alpha = -1/3, +1/3, 0.
        let paths = [
            path(20_000, 100, 40_000),
            path(10_000, 100, 40_000),
            path(10_000, 200, 80_000),
        ];
        assert!(close(alpha(&paths, 0), -1.0 / 3.0), "{}", alpha(&paths, 0));
        assert!(close(alpha(&paths, 1), 1.0 / 3.0), "{}", alpha(&paths, 1));
        assert_eq!(alpha(&paths, 2), 0.0);
    }

    #[test]
    fn olia_alpha_zero_when_best_path_has_the_largest_window() {
        // P0 80000 / 0.01 = 8e6 beats P1 40000 / 0.01 = 4e6: B = {P0} = M, C is empty.
        let paths = [path(20_000, 100, 80_000), path(10_000, 100, 40_000)];
        assert_eq!(alpha(&paths, 0), 0.0);
        assert_eq!(alpha(&paths, 1), 0.0);
    }

    #[test]
    fn olia_alpha_two_max_window_paths() {
        // l / rtt^2: P0 = P1 = 10000 / 0.01 = 1e6; P2 10000 / 0.05^2 = 4e6.
        // B = {P2}; M = {P0, P1} (both 20000); C = {P2}.
        // alpha_2 = 1 / (3 * 1) = 1/3; alpha_0 = alpha_1 = -1 / (3 * 2) = -1/6.
        let paths = [
            path(20_000, 100, 10_000),
            path(20_000, 100, 10_000),
            path(10_000, 50, 10_000),
        ];
        assert!(close(alpha(&paths, 2), 1.0 / 3.0));
        assert!(close(alpha(&paths, 0), -1.0 / 6.0));
        assert!(close(alpha(&paths, 1), -1.0 / 6.0));
        // The alphas of a connection sum to zero: window moves, it is not created.
        let sum: f64 = (0..3).map(|i| alpha(&paths, i)).sum();
        assert!(sum.abs() < 1e-12);
    }

    #[test]
    fn olia_alpha_before_any_loss() {
        // No loss yet: every l is 0, every path is "best"; M = {P0}, C = {P1}, |P| = 2.
        let paths = [path(20_000, 100, 0), path(10_000, 30, 0)];
        assert!(close(alpha(&paths, 0), -0.5));
        assert!(close(alpha(&paths, 1), 0.5));
        // Equal windows: M holds both, C is empty.
        let paths = [path(10_000, 100, 0), path(10_000, 30, 0)];
        assert_eq!(alpha(&paths, 0), 0.0);
        assert_eq!(alpha(&paths, 1), 0.0);
    }

    #[test]
    fn olia_increase_hand_computed() {
        // P0: w 20000 @ 100 ms, P1: w 10000 @ 100 ms, both l = 10000 (equally best);
        // M = {P0}, C = {P1}: alpha_0 = -1/2, alpha_1 = +1/2.
        // sum w/rtt = 200000 + 100000 = 3e5 B/s, squared 9e10.
        // P1: (10000 / 0.01) / 9e10 = 1.1111e-5, + 0.5 / 10000 = 5e-5 -> 6.1111e-5 per
        //     byte^2; times acked * MSS = 1000 * 1000: 61.111 bytes.
        // P0: (20000 / 0.01) / 9e10 = 2.2222e-5, - 0.5 / 20000 = 2.5e-5 -> -2.7778e-6;
        //     times 1e6: -2.778 bytes (the largest window gives way).
        let paths = [path(20_000, 100, 10_000), path(10_000, 100, 10_000)];
        let i1 = increase(&paths, 1, 1000, 1000);
        let i0 = increase(&paths, 0, 1000, 1000);
        assert!((i1 - 61.111_111).abs() < 1e-3, "{i1}");
        assert!((i0 + 2.777_778).abs() < 1e-3, "{i0}");
        // Out of range: nothing.
        assert_eq!(increase(&paths, 2, 1000, 1000), 0.0);
    }

    #[test]
    fn olia_single_path_increase_is_reno() {
        // One path: alpha = 0 and (w / rtt^2) / (w / rtt)^2 = 1 / w: Reno's MSS * acked / w.
        for (w, rtt, acked) in [(10_000, 100, 1000), (123_456, 7, 1460), (2_920, 250, 1)] {
            let paths = [path(w, rtt, 5_000)];
            let inc = increase(&paths, 0, acked, 1000);
            let reno = acked as f64 * 1000.0 / w as f64;
            assert!(close(inc, reno), "{inc} vs {reno}");
        }
        // And over many RTTs of congestion avoidance the windows stay within one MSS.
        let mut olia = Olia::new(1000, 10_000);
        let mut reno = Reno::new(1000, 10_000);
        olia.exit_slow_start();
        reno.exit_slow_start();
        for _ in 0..100 {
            let paths = [path(olia.window(), 100, 0)];
            let view = CcView {
                paths: &paths,
                me: 0,
            };
            let segs = reno.window() / 1000;
            for _ in 0..segs {
                olia.on_ack(Instant::ZERO, 1000, &view);
                reno.on_ack(Instant::ZERO, 1000, &view);
            }
        }
        // Reno grew 100 MSS (one per RTT).
        assert_eq!(reno.window(), 110_000);
        // Alone, OLIA runs Reno's own congestion avoidance: the same window, byte for byte.
        assert_eq!(olia.window(), reno.window());
    }

    #[test]
    fn olia_counts_bytes_between_losses() {
        let mut olia = Olia::new(1000, 10_000);
        let paths = [path(10_000, 100, 0)];
        let view = CcView {
            paths: &paths,
            me: 0,
        };
        olia.on_ack(Instant::ZERO, 3000, &view);
        olia.on_ack(Instant::ZERO, 2000, &view);
        // l2 = 5000 since the start, l1 = 0.
        assert_eq!(olia.loss_interval(), 5000);
        olia.on_congestion_event(Instant::ZERO, 10_000, &view);
        // l1 = 5000, l2 = 0.
        assert_eq!(olia.loss_interval(), 5000);
        olia.on_recovery_ack(Instant::ZERO, 4000);
        olia.on_ack(Instant::ZERO, 3000, &view);
        // l2 = 7000 > l1.
        assert_eq!(olia.loss_interval(), 7000);
        // A timeout during recovery is not a new loss.
        olia.on_rto_in_recovery(Instant::ZERO);
        assert_eq!(olia.loss_interval(), 7000);
        olia.on_rto(Instant::ZERO, 5000);
        // l1 = 7000; a second timeout with nothing delivered in between keeps it.
        olia.on_rto(Instant::ZERO, 5000);
        assert_eq!(olia.loss_interval(), 7000);
        olia.on_ack(Instant::ZERO, 100, &view);
        olia.on_congestion_event(Instant::ZERO, 2000, &view);
        // l1 = 100 now, l2 = 0.
        assert_eq!(olia.loss_interval(), 100);
    }

    #[test]
    fn olia_loss_halves_like_reno() {
        let mut olia = Olia::new(1000, 40_000);
        let paths = [path(40_000, 50, 0), path(10_000, 50, 0)];
        let view = CcView {
            paths: &paths,
            me: 0,
        };
        olia.on_congestion_event(Instant::ZERO, 36_000, &view);
        assert_eq!(olia.window(), 18_000);
        assert_eq!(olia.ssthresh(), 18_000);
    }

    #[test]
    fn olia_outside_the_view_is_reno() {
        let mut olia = Olia::new(1000, 20_000);
        olia.exit_slow_start();
        // Reno's byte counting: one MSS once a whole window (20000 bytes) is acknowledged.
        olia.on_ack(Instant::ZERO, 10_000, &CcView { paths: &[], me: 0 });
        assert_eq!(olia.window(), 20_000);
        olia.on_ack(Instant::ZERO, 10_000, &CcView { paths: &[], me: 0 });
        assert_eq!(olia.window(), 21_000);
    }

    #[test]
    fn olia_largest_window_shrinks_and_stays_in_congestion_avoidance() {
        // Our path P0 and P1 are equally good (same l, same RTT) and ours has the larger
        // window: each 1000-byte ACK changes it by -25/9 = -2.778 bytes (see
        // olia_increase_hand_computed). The window moves in whole segments: 350 ACKs
        // (-972 bytes of credit) leave it alone, 370 (-1028) take one MSS off.
        let mut olia = Olia::new(1000, 20_000);
        olia.exit_slow_start();
        let ack = |olia: &mut Olia, k: u64| {
            // on_ack counts the 1000 bytes first: l_0 = 11000 + 1000 k, like P1's.
            olia.since_loss = 10_000 + 1000 * k;
            let paths = [
                path(olia.window(), 100, 0),
                path(10_000, 100, 11_000 + 1000 * k),
            ];
            let view = CcView {
                paths: &paths,
                me: 0,
            };
            olia.on_ack(Instant::ZERO, 1000, &view);
        };
        for k in 0..350u64 {
            ack(&mut olia, k);
        }
        assert_eq!(olia.window(), 20_000);
        for k in 350..370u64 {
            ack(&mut olia, k);
        }
        assert_eq!(olia.window(), 19_000);
        // Below the old ssthresh, yet not back in slow start.
        assert_eq!(olia.ssthresh(), 19_000);
        // Once P0 is strictly better than P1 (l_0 > l_1), B = M = {P0}: alpha 0, it grows
        // by (19000 / 0.01) / (290000)^2 * 1e6 = 22.59 bytes per ACK: 44 ACKs (994 bytes)
        // leave the window alone, the 45th (1017) adds one MSS.
        olia.carry = 0.0; // the credit left by the decrease aside
        let paths = [path(19_000, 100, 0), path(10_000, 100, 1000)];
        let view = CcView {
            paths: &paths,
            me: 0,
        };
        for _ in 0..44 {
            olia.on_ack(Instant::ZERO, 1000, &view);
        }
        assert_eq!(olia.window(), 19_000);
        olia.on_ack(Instant::ZERO, 1000, &view);
        assert_eq!(olia.window(), 20_000);
    }
}
