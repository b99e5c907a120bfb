//! BALIA, the Balanced Linked Adaptation algorithm (Peng, Walid, Hwang, Low, "Multipath
//! TCP: Analysis, Design, and Implementation", IEEE/ACM ToN 24(1), 2016), coupled
//! congestion control; the reference behaviour is Linux's out-of-tree `mptcp_balia.c`.
//!
//! With `x_p = w_p / rtt_p` the rate of path p and `alpha_r = max_p x_p / x_r`:
//!
//! - each ACK of `acked` bytes on path r in congestion avoidance grows `w_r` by
//!   `acked * MSS_r * (x_r / rtt_r) / (sum_p x_p)^2 * (1 + alpha_r)/2 * (4 + alpha_r)/5`
//!   (the paper's per-packet increase with windows in bytes);
//! - each loss on path r takes `w_r / 2 * min(alpha_r, 1.5)` off the window.
//!
//! With one path `alpha = 1` and both are Reno's. The increase is never more than Reno's
//! `acked * MSS / w_r`. As this stack's Reno does (RFC 5681 eq. (4)), `w_r` in the decrease
//! is the flight size when the loss is detected, and the result is at least two segments.
//! Slow start and timeouts are Reno's.

use super::reno::Reno;
use super::{coupled_paths, rtt_secs, CcView, Controller, PathInfo};
use crate::time::Instant;

/// Largest `alpha` the decrease uses (the paper's `min(alpha_r, 1.5)`).
const MAX_DECREASE_ALPHA: f64 = 1.5;

/// BALIA congestion control for one subflow.
#[derive(Debug, Clone)]
pub struct Balia {
    reno: Reno,
    /// Fractional bytes of window growth not yet applied.
    carry: f64,
}

impl Balia {
    /// A controller with the given MSS and initial window.
    pub fn new(mss: u32, initial_window: u64) -> Self {
        Balia {
            reno: Reno::new(mss, initial_window),
            carry: 0.0,
        }
    }
}

/// A path's rate `w / rtt`, bytes per second.
fn rate(p: &PathInfo) -> f64 {
    p.cwnd as f64 / rtt_secs(p)
}

/// BALIA's `alpha_r = max_p x_p / x_r` for path `me` of `paths` (every path in use); at
/// least 1, and 1 when `me` is not one of them or sends at rate zero.
pub fn alpha(paths: &[PathInfo], me: usize) -> f64 {
    let Some(mine) = paths.get(me) else {
        return 1.0;
    };
    let x = rate(mine);
    let max = paths.iter().map(rate).fold(x, f64::max);
    let a = max / x;
    if a.is_finite() {
        a.max(1.0)
    } else {
        1.0
    }
}

/// BALIA's window increase in bytes for `acked` bytes acknowledged on path `me` of `paths`
/// in congestion avoidance, with sender MSS `mss`.
pub fn increase(paths: &[PathInfo], me: usize, acked: u64, mss: u64) -> f64 {
    let Some(mine) = paths.get(me) else {
        return 0.0;
    };
    let sum: f64 = paths.iter().map(rate).sum();
    if sum <= 0.0 {
        return 0.0;
    }
    let a = alpha(paths, me);
    let inc = acked as f64 * mss as f64 * (rate(mine) / rtt_secs(mine)) / (sum * sum)
        * ((1.0 + a) / 2.0)
        * ((4.0 + a) / 5.0);
    if inc.is_finite() {
        inc.max(0.0)
    } else {
        0.0
    }
}

/// BALIA's window after a loss on path `me` of `paths` with `in_flight` bytes outstanding:
/// `in_flight - in_flight / 2 * min(alpha, 1.5)` (before the two-segment floor).
pub fn after_loss(paths: &[PathInfo], me: usize, in_flight: u64) -> u64 {
    let a = alpha(paths, me).min(MAX_DECREASE_ALPHA);
    // Rounded up so that alpha = 1 gives exactly Reno's in_flight / 2.
    let cut = (in_flight as f64 / 2.0 * a).ceil() as u64;
    in_flight.saturating_sub(cut)
}

impl Controller for Balia {
    fn on_ack(&mut self, now: Instant, acked: u64, view: &CcView<'_>) {
        let _ = now;
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
        let mss = self.reno.mss64();
        let (paths, me) = coupled_paths(view, self.reno.window(), 0);
        match me {
            // Alone (or outside the view): Reno's own congestion avoidance, as Linux.
            Some(me) if paths.len() > 1 => {
                let inc = increase(&paths, me, acked, mss);
                self.reno.apply_credit(&mut self.carry, inc);
            }
            _ => self.reno.congestion_avoidance(acked),
        }
    }
    fn on_congestion_event(&mut self, now: Instant, in_flight: u64, view: &CcView<'_>) {
        let _ = now;
        self.carry = 0.0;
        let (paths, me) = coupled_paths(view, self.reno.window(), 0);
        let target = match me {
            Some(me) => after_loss(&paths, me, in_flight),
            None => in_flight / 2,
        };
        self.reno.reduce_to(target);
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
        "balia"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::congestion::Controller;
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
    fn balia_increase_hand_computed() {
        // P0: w 20000 @ 100 ms -> x0 = 200000 B/s; P1: w 10000 @ 200 ms -> x1 = 50000 B/s.
        // sum x = 250000, squared 6.25e10; max x = 200000.
        // P1: alpha = 200000 / 50000 = 4; (1 + 4)/2 * (4 + 4)/5 = 2.5 * 1.6 = 4;
        //     x1 / rtt1 = 250000; 250000 / 6.25e10 * 4 = 1.6e-5; times acked * MSS = 1e6:
        //     16 bytes (Reno: 1e6 / 10000 = 100).
        // P0: alpha = 1; 1 * 1 = 1; x0 / rtt0 = 2e6; 2e6 / 6.25e10 = 3.2e-5 -> 32 bytes
        //     (Reno: 50).
        let paths = [path(20_000, 100), path(10_000, 200)];
        assert!((alpha(&paths, 1) - 4.0).abs() < 1e-12);
        assert!((alpha(&paths, 0) - 1.0).abs() < 1e-12);
        let i1 = increase(&paths, 1, 1000, 1000);
        let i0 = increase(&paths, 0, 1000, 1000);
        assert!((i1 - 16.0).abs() < 1e-9, "{i1}");
        assert!((i0 - 32.0).abs() < 1e-9, "{i0}");
    }

    #[test]
    fn balia_increase_two_equal_paths() {
        // x0 = x1 = 100000 B/s (10000 @ 100 ms); alpha = 1; sum 200000, squared 4e10;
        // x / rtt = 1e6; 1e6 / 4e10 = 2.5e-5 -> 25 bytes per 1000-byte ACK: a quarter of
        // Reno's 100, as LIA.
        let paths = [path(10_000, 100), path(10_000, 100)];
        assert!((increase(&paths, 0, 1000, 1000) - 25.0).abs() < 1e-9);
    }

    #[test]
    fn balia_decrease_hand_computed() {
        let paths = [path(20_000, 100), path(10_000, 200)];
        // P1: alpha 4 -> min(4, 1.5) = 1.5: 10000 - 10000/2 * 1.5 = 10000 - 7500 = 2500.
        assert_eq!(after_loss(&paths, 1, 10_000), 2_500);
        // P0: alpha 1: 20000 - 10000 = 10000 (Reno).
        assert_eq!(after_loss(&paths, 0, 20_000), 10_000);
        // alpha between 1 and 1.5: P0 15000 @ 100 ms (x 150000), P1 12000 @ 100 ms
        // (x 120000): alpha_1 = 1.25; 12000 - 6000 * 1.25 = 12000 - 7500 = 4500.
        let paths = [path(15_000, 100), path(12_000, 100)];
        assert!((alpha(&paths, 1) - 1.25).abs() < 1e-12);
        assert_eq!(after_loss(&paths, 1, 12_000), 4_500);
        // Odd flight, alpha 1: Reno's 15 / 2 = 7.
        assert_eq!(after_loss(&[path(1000, 10)], 0, 15), 7);
    }

    #[test]
    fn balia_controller_loss_response() {
        // The slow path of balia_increase_hand_computed loses with 10000 bytes in flight.
        let mut b = Balia::new(1000, 10_000);
        let paths = [path(20_000, 100), path(10_000, 200)];
        let view = CcView {
            paths: &paths,
            me: 1,
        };
        b.on_congestion_event(Instant::ZERO, 10_000, &view);
        assert_eq!(b.window(), 2_500);
        assert_eq!(b.ssthresh(), 2_500);
        // Two segments at least.
        b.on_congestion_event(Instant::ZERO, 3_000, &view);
        assert_eq!(b.window(), 2_000);
    }

    #[test]
    fn balia_single_path_is_reno() {
        for (w, rtt, acked) in [(10_000, 100, 1000), (123_456, 7, 1460), (2_920, 250, 1)] {
            let paths = [path(w, rtt)];
            let inc = increase(&paths, 0, acked, 1000);
            let reno = acked as f64 * 1000.0 / w as f64;
            assert!((inc - reno).abs() < 1e-9 * reno.max(1.0), "{inc} vs {reno}");
            assert_eq!(after_loss(&paths, 0, w), w / 2);
        }
        let mut balia = Balia::new(1000, 10_000);
        let mut reno = Reno::new(1000, 10_000);
        balia.exit_slow_start();
        reno.exit_slow_start();
        for _ in 0..100 {
            let paths = [path(balia.window(), 100)];
            let view = CcView {
                paths: &paths,
                me: 0,
            };
            for _ in 0..reno.window() / 1000 {
                balia.on_ack(Instant::ZERO, 1000, &view);
                reno.on_ack(Instant::ZERO, 1000, &view);
            }
        }
        assert_eq!(reno.window(), 110_000);
        // Alone, BALIA runs Reno's own congestion avoidance: the same window, byte for byte.
        assert_eq!(balia.window(), reno.window());
    }
}
