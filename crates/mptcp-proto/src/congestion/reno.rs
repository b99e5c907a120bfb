//! NewReno (RFC 5681, RFC 6582), uncoupled.

use super::{CcView, Controller};
use crate::time::Instant;

/// Appropriate Byte Counting limit L (RFC 3465 §2.2): at most this many MSS of window
/// growth per ACK in slow start.
pub(crate) const ABC_LIMIT_SEGMENTS: u64 = 2;

/// NewReno congestion control.
#[derive(Debug, Clone)]
pub struct Reno {
    mss: u32,
    cwnd: u64,
    ssthresh: u64,
    /// Bytes acked since the last congestion-avoidance increase.
    acked_accum: u64,
    /// Initial window, for the restart window after idle (RFC 5681 §4.1).
    initial_window: u64,
}

impl Reno {
    /// A controller with the given MSS and initial window.
    pub fn new(mss: u32, initial_window: u64) -> Self {
        let mss = mss.max(1);
        Reno {
            mss,
            cwnd: initial_window.max(u64::from(mss)),
            ssthresh: u64::MAX,
            acked_accum: 0,
            initial_window: initial_window.max(u64::from(mss)),
        }
    }

    pub(super) fn mss64(&self) -> u64 {
        u64::from(self.mss.max(1))
    }

    /// Slow start with ABC (RFC 3465, L = 2 MSS), never past ssthresh. Returns the part of
    /// the allowed increase that was left over once ssthresh was reached.
    pub(super) fn slow_start(&mut self, acked: u64) -> u64 {
        let inc = acked.min(ABC_LIMIT_SEGMENTS * self.mss64());
        let new = self.cwnd.saturating_add(inc).min(self.ssthresh);
        let used = new - self.cwnd;
        self.cwnd = new;
        inc - used
    }

    /// Congestion avoidance (RFC 5681 §3.1, byte counting): one MSS per cwnd of acked bytes,
    /// at most L = 2 MSS per ACK (RFC 3465 §2.2); a larger stretch ACK keeps at most one
    /// window of credit, so an absurd `acked` costs no time.
    pub(super) fn congestion_avoidance(&mut self, acked: u64) {
        self.acked_accum = self.acked_accum.saturating_add(acked);
        for _ in 0..ABC_LIMIT_SEGMENTS {
            if self.acked_accum < self.cwnd {
                return;
            }
            self.acked_accum -= self.cwnd;
            self.cwnd = self.cwnd.saturating_add(self.mss64());
        }
        self.acked_accum = self.acked_accum.min(self.cwnd);
    }

    /// Congestion avoidance of a coupled algorithm: `bytes` of window change (fractional,
    /// negative for OLIA's decrease) go into `credit`, and the window moves one whole MSS
    /// each time the credit reaches one MSS, at most L = 2 MSS per ACK (RFC 3465 §2.2), as
    /// Linux counts its coupled windows in packets (`snd_cwnd_cnt`). Growing in bytes
    /// instead changes when in the ACK train a sender adds its extra segment, and at a
    /// drop-tail queue that alone shifts which flow loses (a single-subflow LIA took 3-37 %
    /// more than Reno in the simulator, depending on how sub-MSS room was used).
    /// A decrease never takes the window below one MSS and keeps it in congestion avoidance.
    pub(super) fn apply_credit(&mut self, credit: &mut f64, bytes: f64) {
        if !bytes.is_finite() {
            return;
        }
        let mss = self.mss64();
        *credit += bytes;
        let step = mss as f64;
        for _ in 0..ABC_LIMIT_SEGMENTS {
            if *credit >= step {
                *credit -= step;
                self.cwnd = self.cwnd.saturating_add(mss);
            } else if *credit <= -step {
                *credit += step;
                self.cwnd = self.cwnd.saturating_sub(mss).max(mss);
                self.ssthresh = self.ssthresh.min(self.cwnd);
            } else {
                return;
            }
        }
        *credit = credit.clamp(-step, step);
    }

    /// Loss response of a coupled algorithm: ssthresh and cwnd to `target` (at least two
    /// segments, as RFC 5681 eq. (4)).
    pub(super) fn reduce_to(&mut self, target: u64) {
        self.ssthresh = target.max(2 * self.mss64());
        self.cwnd = self.ssthresh;
        self.acked_accum = 0;
    }

    fn reduced_ssthresh(&self, in_flight: u64) -> u64 {
        (in_flight / 2).max(2 * self.mss64())
    }
}

impl Controller for Reno {
    fn on_ack(&mut self, _now: Instant, acked: u64, _view: &CcView<'_>) {
        if acked == 0 {
            return;
        }
        let mut acked = acked;
        if self.cwnd < self.ssthresh {
            acked = self.slow_start(acked);
            if acked == 0 {
                return;
            }
        }
        self.congestion_avoidance(acked);
    }
    fn on_congestion_event(&mut self, _now: Instant, in_flight: u64, _view: &CcView<'_>) {
        self.ssthresh = self.reduced_ssthresh(in_flight);
        self.cwnd = self.ssthresh;
        self.acked_accum = 0;
    }
    fn on_rto(&mut self, _now: Instant, in_flight: u64) {
        self.ssthresh = self.reduced_ssthresh(in_flight);
        self.cwnd = self.mss64();
        self.acked_accum = 0;
    }
    fn exit_slow_start(&mut self) {
        if self.cwnd < self.ssthresh {
            self.ssthresh = self.cwnd;
        }
    }
    fn on_rto_in_recovery(&mut self, _now: Instant) {
        self.cwnd = self.mss64();
        self.acked_accum = 0;
    }
    fn on_idle_restart(&mut self, _now: Instant) {
        // RFC 5681 §4.1: cwnd = min(RW, cwnd) with RW = min(IW, cwnd).
        self.cwnd = self.cwnd.min(self.initial_window);
        self.acked_accum = 0;
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
        "reno"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::congestion::PathInfo;
    use crate::time::Duration;

    const MSS: u32 = 1000;
    const M: u64 = MSS as u64;

    fn paths() -> [PathInfo; 1] {
        [PathInfo {
            cwnd: 10 * M,
            srtt: Duration::from_millis(100),
            mss: MSS,
            active: true,
            loss_interval: 0,
        }]
    }

    /// Acks one window's worth of data, one MSS per ACK.
    fn ack_one_rtt(cc: &mut Reno, now: Instant) {
        let p = paths();
        let view = CcView { paths: &p, me: 0 };
        let segs = cc.window() / M;
        for _ in 0..segs {
            cc.on_ack(now, M, &view);
        }
    }

    #[test]
    fn congestion_reno_initial_state() {
        let cc = Reno::new(MSS, 10 * M);
        assert_eq!(cc.window(), 10 * M);
        assert_eq!(cc.ssthresh(), u64::MAX);
        assert_eq!(cc.name(), "reno");
    }

    #[test]
    fn congestion_reno_slow_start_doubles_per_rtt() {
        let mut cc = Reno::new(MSS, 10 * M);
        ack_one_rtt(&mut cc, Instant::ZERO);
        assert_eq!(cc.window(), 20 * M);
        ack_one_rtt(&mut cc, Instant::ZERO);
        assert_eq!(cc.window(), 40 * M);
    }

    #[test]
    fn congestion_reno_abc_limit_per_ack() {
        let mut cc = Reno::new(MSS, 10 * M);
        let p = paths();
        let view = CcView { paths: &p, me: 0 };
        // A stretch ACK of 5 MSS grows the window by at most L = 2 MSS.
        cc.on_ack(Instant::ZERO, 5 * M, &view);
        assert_eq!(cc.window(), 12 * M);
        // A partial segment grows it by the bytes acked.
        cc.on_ack(Instant::ZERO, 100, &view);
        assert_eq!(cc.window(), 12 * M + 100);
        cc.on_ack(Instant::ZERO, 0, &view);
        assert_eq!(cc.window(), 12 * M + 100);
    }

    #[test]
    fn congestion_reno_halves_on_loss() {
        let mut cc = Reno::new(MSS, 20 * M);
        let p = paths();
        let view = CcView { paths: &p, me: 0 };
        cc.on_congestion_event(Instant::ZERO, 20 * M, &view);
        assert_eq!(cc.ssthresh(), 10 * M);
        assert_eq!(cc.window(), 10 * M);
        // The floor is two segments.
        cc.on_congestion_event(Instant::ZERO, 3 * M, &view);
        assert_eq!(cc.ssthresh(), 2 * M);
        assert_eq!(cc.window(), 2 * M);
    }

    #[test]
    fn congestion_reno_ca_grows_one_mss_per_rtt() {
        let mut cc = Reno::new(MSS, 20 * M);
        let p = paths();
        let view = CcView { paths: &p, me: 0 };
        cc.on_congestion_event(Instant::ZERO, 20 * M, &view);
        assert_eq!(cc.window(), 10 * M);
        for rtt in 1..=5u64 {
            ack_one_rtt(&mut cc, Instant::ZERO);
            assert_eq!(cc.window(), (10 + rtt) * M);
        }
        // Less than a window of ACKs does not grow it.
        cc.on_ack(Instant::ZERO, 5 * M, &view);
        assert_eq!(cc.window(), 15 * M);
    }

    #[test]
    fn congestion_reno_ca_byte_counting_with_small_acks() {
        let mut cc = Reno::new(MSS, 10 * M);
        let p = paths();
        let view = CcView { paths: &p, me: 0 };
        cc.on_congestion_event(Instant::ZERO, 20 * M, &view);
        // 10 000 bytes of window acked in 100-byte pieces: exactly one MSS of growth.
        for _ in 0..99 {
            cc.on_ack(Instant::ZERO, 100, &view);
        }
        assert_eq!(cc.window(), 10 * M);
        cc.on_ack(Instant::ZERO, 100, &view);
        assert_eq!(cc.window(), 11 * M);
    }

    #[test]
    fn congestion_reno_slow_start_stops_at_ssthresh() {
        let mut cc = Reno::new(MSS, 10 * M);
        let p = paths();
        let view = CcView { paths: &p, me: 0 };
        cc.on_rto(Instant::ZERO, 9 * M);
        assert_eq!(cc.ssthresh(), 4500);
        assert_eq!(cc.window(), M);
        cc.on_ack(Instant::ZERO, M, &view);
        cc.on_ack(Instant::ZERO, M, &view);
        cc.on_ack(Instant::ZERO, M, &view);
        assert_eq!(cc.window(), 4 * M);
        // Crosses ssthresh: 500 bytes of slow start, the other 500 count towards CA.
        cc.on_ack(Instant::ZERO, M, &view);
        assert_eq!(cc.window(), 4500);
        assert_eq!(cc.acked_accum, 500);
    }

    #[test]
    fn congestion_reno_rto_collapses_window() {
        let mut cc = Reno::new(MSS, 40 * M);
        cc.on_rto(Instant::ZERO, 40 * M);
        assert_eq!(cc.ssthresh(), 20 * M);
        assert_eq!(cc.window(), M);
        ack_one_rtt(&mut cc, Instant::ZERO);
        assert_eq!(cc.window(), 2 * M);
    }

    #[test]
    fn congestion_reno_idle_restart() {
        let mut cc = Reno::new(MSS, 10 * M);
        ack_one_rtt(&mut cc, Instant::ZERO);
        assert_eq!(cc.window(), 20 * M);
        cc.on_idle_restart(Instant::ZERO);
        assert_eq!(cc.window(), 10 * M);
    }

    #[test]
    fn congestion_reno_credit_moves_whole_segments() {
        let mut cc = Reno::new(MSS, 10 * M);
        cc.exit_slow_start();
        let mut credit = 0.0;
        // 999.5 bytes of credit: no change yet.
        for _ in 0..5 {
            cc.apply_credit(&mut credit, 199.9);
        }
        assert_eq!(cc.window(), 10 * M);
        assert!((credit - 999.5).abs() < 1e-9);
        // Crossing one MSS adds exactly one MSS and keeps the remainder.
        cc.apply_credit(&mut credit, 0.75);
        assert_eq!(cc.window(), 11 * M);
        assert!((credit - 0.25).abs() < 1e-9);
        // A huge credit moves at most L = 2 MSS and keeps at most one MSS in reserve.
        cc.apply_credit(&mut credit, 1e12);
        assert_eq!(cc.window(), 13 * M);
        assert_eq!(credit, 1000.0);
        // Negative credit takes whole segments off and keeps congestion avoidance.
        let mut credit = 0.0;
        cc.apply_credit(&mut credit, -1500.0);
        assert_eq!(cc.window(), 12 * M);
        assert!(cc.ssthresh() <= cc.window());
        assert_eq!(credit, -500.0);
        // Never below one MSS; NaN and infinities are ignored.
        let mut credit = 0.0;
        for _ in 0..20 {
            cc.apply_credit(&mut credit, -2000.0);
        }
        assert_eq!(cc.window(), M);
        cc.apply_credit(&mut credit, f64::NAN);
        cc.apply_credit(&mut credit, f64::INFINITY);
        assert_eq!(cc.window(), M);
    }
}
