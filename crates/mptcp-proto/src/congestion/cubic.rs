//! CUBIC (RFC 9438), uncoupled.

use super::reno::ABC_LIMIT_SEGMENTS;
use super::{CcView, Controller};
use crate::time::{Duration, Instant};

/// CUBIC scaling constant C (RFC 9438 §5.1), in segments per second cubed.
const C: f64 = 0.4;
/// Multiplicative decrease factor beta_cubic (RFC 9438 §4.6).
const BETA: f64 = 0.7;
/// Additive increase factor of the Reno-friendly estimate (RFC 9438 §4.3):
/// 3 (1 - beta) / (1 + beta).
const ALPHA: f64 = 3.0 * (1.0 - BETA) / (1.0 + BETA);

/// CUBIC congestion control.
#[derive(Debug, Clone)]
pub struct Cubic {
    mss: u32,
    cwnd: u64,
    ssthresh: u64,
    /// Initial window, for the restart window after idle.
    initial_window: u64,
    /// Window just before the last reduction, W_max, in bytes (0 before any congestion).
    w_max: f64,
    /// cwnd just before the last congestion event (cwnd_prior), in bytes.
    cwnd_prior: f64,
    /// Start of the current congestion-avoidance epoch, if one is running.
    epoch_start: Option<Instant>,
    /// Window at which the current epoch's cubic curve is centred (W_max of §4.2), bytes.
    origin: f64,
    /// K of the current epoch, seconds.
    k: f64,
    /// Reno-friendly window estimate W_est (RFC 9438 §4.3), bytes.
    w_est: f64,
    /// Fractional bytes of window increase not yet applied to `cwnd`.
    frac: f64,
}

/// K = cbrt((W_max - cwnd_epoch) / C) in seconds; windows in segments (RFC 9438 Fig. 2).
fn cubic_k(w_max_seg: f64, cwnd_epoch_seg: f64) -> f64 {
    let d = (w_max_seg - cwnd_epoch_seg) / C;
    if d > 0.0 && d.is_finite() {
        d.cbrt()
    } else {
        0.0
    }
}

/// W_cubic(t) = C (t - K)^3 + W_max, in segments (RFC 9438 Fig. 1).
fn w_cubic(t: f64, k: f64, w_max_seg: f64) -> f64 {
    let d = t - k;
    C * d * d * d + w_max_seg
}

impl Cubic {
    /// A controller with the given MSS and initial window.
    pub fn new(mss: u32, initial_window: u64) -> Self {
        let mss = mss.max(1);
        let iw = initial_window.max(u64::from(mss));
        Cubic {
            mss,
            cwnd: iw,
            ssthresh: u64::MAX,
            initial_window: iw,
            w_max: 0.0,
            cwnd_prior: 0.0,
            epoch_start: None,
            origin: 0.0,
            k: 0.0,
            w_est: 0.0,
            frac: 0.0,
        }
    }

    fn mss64(&self) -> u64 {
        u64::from(self.mss.max(1))
    }

    fn mss_f(&self) -> f64 {
        self.mss64() as f64
    }

    /// Starts a congestion-avoidance epoch at `now` (RFC 9438 §4.2).
    fn start_epoch(&mut self, now: Instant) {
        let cwnd = self.cwnd as f64;
        self.epoch_start = Some(now);
        if self.w_max > cwnd {
            self.origin = self.w_max;
            self.k = cubic_k(self.w_max / self.mss_f(), cwnd / self.mss_f());
        } else {
            // No earlier congestion, or already above it: the curve starts at its plateau.
            self.origin = cwnd;
            self.k = 0.0;
        }
        self.w_est = cwnd;
        self.frac = 0.0;
    }

    /// Adds `bytes` (possibly fractional) to cwnd.
    fn grow(&mut self, bytes: f64) {
        if bytes.is_nan() || bytes <= 0.0 {
            return;
        }
        self.frac += bytes;
        let whole = self.frac.floor();
        self.frac -= whole;
        // `as` saturates for huge values.
        self.cwnd = self.cwnd.saturating_add(whole as u64);
    }

    fn congestion_avoidance(&mut self, now: Instant, acked: u64, rtt: Duration) {
        if self.epoch_start.is_none() {
            self.start_epoch(now);
        }
        let epoch = self.epoch_start.unwrap_or(now);
        let mss = self.mss_f();
        let cwnd = self.cwnd as f64;
        let acked = acked as f64;
        let t = now.saturating_duration_since(epoch).as_secs_f64();
        let rtt = rtt.as_secs_f64();

        // Reno-friendly estimate (§4.3): alpha_cubic per window acked, 1 once past cwnd_prior.
        let alpha = if self.w_est >= self.cwnd_prior {
            1.0
        } else {
            ALPHA
        };
        self.w_est += alpha * mss * acked / cwnd;

        let origin_seg = self.origin / mss;
        let w_t = w_cubic(t, self.k, origin_seg) * mss;
        if w_t < self.w_est {
            // Reno-friendly region: follow the estimate.
            if self.w_est > cwnd {
                self.grow(self.w_est - cwnd);
            }
            return;
        }
        // Concave / convex regions (§4.4, §4.5): aim at W_cubic(t + RTT), clamped to
        // [cwnd, 1.5 cwnd], and move by (target - cwnd) / cwnd per segment acked.
        let target = (w_cubic(t + rtt, self.k, origin_seg) * mss).clamp(cwnd, 1.5 * cwnd);
        self.grow((target - cwnd) * acked / cwnd);
    }

    /// Window reduction shared by loss and RTO (RFC 9438 §4.6, §4.7).
    fn reduce(&mut self, in_flight: u64) {
        let cwnd = self.cwnd as f64;
        // Fast convergence: release bandwidth if the window did not recover its old maximum.
        self.w_max = if cwnd < self.w_max {
            cwnd * (1.0 + BETA) / 2.0
        } else {
            cwnd
        };
        self.cwnd_prior = cwnd;
        let ss = (in_flight as f64 * BETA) as u64;
        self.ssthresh = ss.max(2 * self.mss64());
        self.epoch_start = None;
        self.frac = 0.0;
    }
}

impl Controller for Cubic {
    fn on_ack(&mut self, now: Instant, acked: u64, view: &CcView<'_>) {
        if acked == 0 {
            return;
        }
        if self.cwnd < self.ssthresh {
            // Slow start as Reno, with ABC (L = 2 MSS), never past ssthresh.
            let inc = acked.min(ABC_LIMIT_SEGMENTS * self.mss64());
            self.cwnd = self.cwnd.saturating_add(inc).min(self.ssthresh);
            return;
        }
        let rtt = view.paths.get(view.me).map_or(Duration::ZERO, |p| p.srtt);
        self.congestion_avoidance(now, acked, rtt);
    }
    fn on_congestion_event(&mut self, _now: Instant, in_flight: u64, _view: &CcView<'_>) {
        self.reduce(in_flight);
        self.cwnd = self.ssthresh;
    }
    fn on_rto(&mut self, _now: Instant, in_flight: u64) {
        self.reduce(in_flight);
        self.cwnd = self.mss64();
    }
    fn exit_slow_start(&mut self) {
        if self.cwnd < self.ssthresh {
            self.ssthresh = self.cwnd;
        }
    }
    fn on_rto_in_recovery(&mut self, _now: Instant) {
        self.cwnd = self.mss64();
        self.epoch_start = None;
    }
    fn on_idle_restart(&mut self, _now: Instant) {
        // RFC 5681 §4.1 restart window; the cubic curve must not count idle time as growth
        // time (RFC 9438 §5.8), so a new epoch starts with the next ACK.
        self.cwnd = self.cwnd.min(self.initial_window);
        self.epoch_start = None;
        self.frac = 0.0;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::congestion::PathInfo;

    const MSS: u32 = 1000;
    const M: u64 = MSS as u64;

    fn path(srtt: Duration) -> [PathInfo; 1] {
        [PathInfo {
            cwnd: 10 * M,
            srtt,
            mss: MSS,
            active: true,
            loss_interval: 0,
        }]
    }

    fn close(a: f64, b: f64, eps: f64) -> bool {
        (a - b).abs() <= eps
    }

    /// Acks one window's worth of data, one MSS per ACK, all at `now`.
    fn ack_one_rtt(cc: &mut Cubic, now: Instant, view: &CcView<'_>) {
        let segs = cc.window() / M;
        for _ in 0..segs {
            cc.on_ack(now, M, view);
        }
    }

    #[test]
    fn congestion_cubic_k_and_w_hand_computed() {
        // W_max = 100 segments, cwnd_epoch = beta * W_max = 70:
        // K = cbrt(100 * 0.3 / 0.4) = cbrt(75) = 4.217163326508746 s.
        let k = cubic_k(100.0, 70.0);
        assert!(close(k, 4.217163326508746, 1e-12), "{k}");
        // W(t) = 0.4 (t - K)^3 + 100.
        assert!(close(w_cubic(0.0, k, 100.0), 70.0, 1e-9));
        assert!(close(w_cubic(1.0, k, 100.0), 86.68076383512988, 1e-9));
        assert!(close(w_cubic(2.0, k, 100.0), 95.64033568663878, 1e-9));
        assert!(close(w_cubic(k, k, 100.0), 100.0, 1e-12));
        assert!(close(w_cubic(5.0, k, 100.0), 100.1918993394395, 1e-9));
        assert!(close(w_cubic(6.0, k, 100.0), 102.26670325646442, 1e-9));
        // W_max = 1000: K = cbrt(750) = 9.085602964160698 s.
        assert!(close(cubic_k(1000.0, 700.0), 9.085602964160698, 1e-12));
        // Already above W_max, or degenerate inputs: K = 0, never NaN.
        assert_eq!(cubic_k(50.0, 70.0), 0.0);
        assert_eq!(cubic_k(0.0, 0.0), 0.0);
        assert_eq!(cubic_k(f64::INFINITY, 1.0), 0.0);
    }

    #[test]
    fn congestion_cubic_slow_start_doubles_per_rtt() {
        let p = path(Duration::from_millis(100));
        let view = CcView { paths: &p, me: 0 };
        let mut cc = Cubic::new(MSS, 10 * M);
        assert_eq!(cc.ssthresh(), u64::MAX);
        assert_eq!(cc.name(), "cubic");
        ack_one_rtt(&mut cc, Instant::ZERO, &view);
        assert_eq!(cc.window(), 20 * M);
        ack_one_rtt(&mut cc, Instant::ZERO, &view);
        assert_eq!(cc.window(), 40 * M);
        // ABC: a 5-MSS stretch ACK grows by at most 2 MSS.
        cc.on_ack(Instant::ZERO, 5 * M, &view);
        assert_eq!(cc.window(), 42 * M);
    }

    #[test]
    fn congestion_cubic_loss_reduces_by_beta() {
        let p = path(Duration::from_millis(100));
        let view = CcView { paths: &p, me: 0 };
        let mut cc = Cubic::new(MSS, 100 * M);
        cc.on_congestion_event(Instant::ZERO, 100 * M, &view);
        assert_eq!(cc.window(), 70 * M);
        assert_eq!(cc.ssthresh(), 70 * M);
        assert!(close(cc.w_max, 100_000.0, 1e-9));
        // Floor of two segments.
        cc.on_congestion_event(Instant::ZERO, M, &view);
        assert_eq!(cc.ssthresh(), 2 * M);
    }

    #[test]
    fn congestion_cubic_fast_convergence() {
        let p = path(Duration::from_millis(100));
        let view = CcView { paths: &p, me: 0 };
        let mut cc = Cubic::new(MSS, 100 * M);
        cc.on_congestion_event(Instant::ZERO, 100 * M, &view);
        // Second loss before recovering W_max = 100 segments: W_max = 70 * 1.7 / 2 = 59.5.
        cc.on_congestion_event(Instant::ZERO, 70 * M, &view);
        assert!(close(cc.w_max, 59_500.0, 1e-6), "{}", cc.w_max);
        assert_eq!(cc.window(), 49 * M);
    }

    #[test]
    fn congestion_cubic_reaches_w_max_at_k() {
        // W_max = 1000 segments so the Reno-friendly estimate (70% + ~0.53 segment per RTT)
        // stays well below the cubic curve for the whole test.
        let srtt = Duration::from_millis(100);
        let p = path(srtt);
        let view = CcView { paths: &p, me: 0 };
        let mut cc = Cubic::new(MSS, 1000 * M);
        let t0 = Instant::from_micros(1_000_000);
        cc.on_congestion_event(t0, 1000 * M, &view);
        assert_eq!(cc.window(), 700 * M);
        // K = cbrt(1000 * 0.3 / 0.4) = cbrt(750).
        let k = 9.085602964160698;
        // One window of ACKs per RTT until t = K.
        let mut now = t0;
        let end = t0 + Duration::from_secs_f64(k);
        let mut last = cc.window();
        let mut grew_first_second = 0;
        while now < end {
            ack_one_rtt(&mut cc, now, &view);
            assert!(cc.window() >= last, "window never shrinks in CA");
            if now < t0 + Duration::from_secs(1) {
                grew_first_second = cc.window() - 700 * M;
            }
            last = cc.window();
            now += srtt;
        }
        assert!(close(cc.k, k, 1e-9));
        let w = cc.window() as f64 / M as f64;
        assert!((995.0..=1001.0).contains(&w), "cwnd at K = {w} segments");
        // Concave: W(1 s) - W(0) = 0.4 (K^3 - (K - 1)^3) = 88.6 segments in the first
        // second (the window trails the target a little), versus 0.5 in the last one.
        assert!(grew_first_second > 80 * M, "{grew_first_second}");
        // Convex after the plateau: t = K + 2 s (plus lookahead) -> W = 0.4 * 8 + 1000.
        for _ in 0..20 {
            ack_one_rtt(&mut cc, now, &view);
            now += srtt;
        }
        let w = cc.window() as f64 / M as f64;
        assert!(
            (1002.0..=1006.0).contains(&w),
            "cwnd at K + 2 s = {w} segments"
        );
        assert!(cc.w_est < 800.0 * M as f64);
    }

    #[test]
    fn congestion_cubic_concave_growth_tracks_curve() {
        let srtt = Duration::from_millis(100);
        let p = path(srtt);
        let view = CcView { paths: &p, me: 0 };
        let mut cc = Cubic::new(MSS, 100 * M);
        let t0 = Instant::ZERO;
        cc.on_congestion_event(t0, 100 * M, &view);
        let mut now = t0;
        for _ in 0..20 {
            ack_one_rtt(&mut cc, now, &view);
            now += srtt;
        }
        // After 2 s the curve is at 95.64 segments (96.0 one RTT ahead).
        let w = cc.window() as f64 / M as f64;
        assert!((94.5..=96.5).contains(&w), "cwnd at 2 s = {w} segments");
    }

    #[test]
    fn congestion_cubic_reno_friendly_region_with_long_rtt() {
        // With a very long RTT the Reno estimate outgrows the cubic curve, so the window
        // must grow at least like W_est: 70 + alpha (~0.53) segments per RTT... and once
        // W_est passes cwnd_prior, 1 segment per RTT.
        let srtt = Duration::from_secs(10);
        let p = path(srtt);
        let view = CcView { paths: &p, me: 0 };
        let mut cc = Cubic::new(MSS, 10 * M);
        cc.on_congestion_event(Instant::ZERO, 10 * M, &view);
        assert_eq!(cc.window(), 7 * M);
        // Within the same instant (t = 0) the curve sits at 7 segments; W_est grows.
        let mut now = Instant::ZERO;
        for _ in 0..10 {
            ack_one_rtt(&mut cc, now, &view);
            now += Duration::from_millis(1);
        }
        let w = cc.window() as f64 / M as f64;
        assert!(w >= 7.0 + 10.0 * ALPHA - 1.0, "cwnd = {w}");
    }

    #[test]
    fn congestion_cubic_zero_rtt_and_huge_times_are_finite() {
        let p = path(Duration::ZERO);
        let view = CcView { paths: &p, me: 0 };
        let mut cc = Cubic::new(MSS, 10 * M);
        cc.on_congestion_event(Instant::ZERO, 10 * M, &view);
        cc.on_ack(Instant::ZERO, M, &view);
        cc.on_ack(Instant::ZERO, M, &view);
        assert!(cc.window() >= 7 * M);
        // An epoch running for ~584 years: growth capped at 1.5 cwnd per window, no NaN.
        cc.on_ack(Instant::MAX, M, &view);
        let w = cc.window();
        assert!((7 * M..=11 * M).contains(&w), "{w}");
        assert!(cc.frac.is_finite() && cc.w_est.is_finite());
        // An empty path list falls back to zero RTT rather than panicking.
        let empty = CcView { paths: &[], me: 3 };
        cc.on_ack(Instant::MAX, M, &empty);
    }

    #[test]
    fn congestion_cubic_rto_resets_epoch() {
        let srtt = Duration::from_millis(100);
        let p = path(srtt);
        let view = CcView { paths: &p, me: 0 };
        let mut cc = Cubic::new(MSS, 100 * M);
        cc.on_congestion_event(Instant::ZERO, 100 * M, &view);
        ack_one_rtt(&mut cc, Instant::ZERO, &view);
        assert!(cc.epoch_start.is_some());
        cc.on_rto(Instant::from_micros(500_000), 80 * M);
        assert!(cc.epoch_start.is_none());
        assert_eq!(cc.window(), M);
        assert_eq!(cc.ssthresh(), 56 * M);
        // Slow start again up to ssthresh: 1, 2, 4, 8, 16, 32 segments.
        let t1 = Instant::from_micros(600_000);
        for _ in 0..5 {
            ack_one_rtt(&mut cc, t1, &view);
        }
        assert_eq!(cc.window(), 32 * M);
        // Slow start stops at 56; the rest of the round runs congestion avoidance in a new
        // epoch starting now. W_max was cut by fast convergence (the RTO hit below the old
        // W_max of 100): W_max = 0.85 * cwnd at the RTO, still above 56, so K > 0.
        ack_one_rtt(&mut cc, t1, &view);
        let w = cc.window();
        assert!((56 * M..57 * M).contains(&w), "{w}");
        assert_eq!(cc.epoch_start, Some(t1));
        assert!(
            cc.w_max > 56_000.0 && cc.w_max < 100_000.0 * 0.85 + 1000.0,
            "{}",
            cc.w_max
        );
        assert!(cc.k > 0.0 && close(cc.k, cubic_k(cc.w_max / 1000.0, 56.0), 1e-12));
    }

    #[test]
    fn congestion_cubic_idle_restart() {
        let p = path(Duration::from_millis(100));
        let view = CcView { paths: &p, me: 0 };
        let mut cc = Cubic::new(MSS, 10 * M);
        ack_one_rtt(&mut cc, Instant::ZERO, &view);
        cc.on_idle_restart(Instant::ZERO);
        assert_eq!(cc.window(), 10 * M);
    }
}
