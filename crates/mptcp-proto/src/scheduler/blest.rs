//! BLEST: blocking estimation (Ferlin, Alay, Mehani, Boreli, "BLEST: Blocking
//! Estimation-based MPTCP Scheduler for Heterogeneous Networks", IFIP Networking 2016).
//!
//! When the default choice is a slower subflow `s` (the fastest subflow `f` has no room),
//! data sent on `s` occupies the connection's send window for one RTT of `s`. Meanwhile `f`
//! is expected to send (§3 of the paper, congestion avoidance: one more segment per RTT)
//!
//! ```text
//! X = MSS_f · (cwnd_f + (rtts − 1) / 2) · rtts,    rtts = RTT_s / RTT_f
//! ```
//!
//! bytes. If `λ · X > |W| − (outstanding_s + chunk)`, sending on `s` would block the window
//! for `f`: the scheduler skips `s` and waits for `f`. `|W|` is the connection-level send
//! window ([`SchedulerInput::send_window`]); the paper counts `MSS_s · (inflight_s + 1)`
//! for the slow side, here the bytes already assigned to `s` plus the chunk it would take.
//!
//! λ corrects the estimate at run time: it starts at 1.2 and, at most once per RTT of the
//! slow subflow, grows by 0.04 if opportunistic retransmissions happened since the last
//! update (the window blocked anyway: be more careful) and shrinks by 0.01 otherwise,
//! within [1.0, 1.3] (the constants of the authors' Linux implementation).

use super::{lowest_rtt, preferred, MinRtt, Scheduler, SchedulerInput, SubflowView};
use crate::time::Instant;

/// Blocking-estimation scheduler.
#[derive(Debug, Clone)]
pub struct Blest {
    /// λ × 1000.
    lambda_milli: u32,
    /// Last λ update.
    last_update: Option<Instant>,
    /// Opportunistic retransmissions counted at the last update.
    seen_orp: u64,
}

impl Blest {
    /// Initial λ × 1000 by default.
    pub const DEFAULT_LAMBDA_MILLI: u32 = 1200;
    /// Smallest λ × 1000.
    pub const MIN_LAMBDA_MILLI: u32 = 1000;
    /// Largest λ × 1000.
    pub const MAX_LAMBDA_MILLI: u32 = 1300;
    /// λ × 1000 decrease after an RTT without opportunistic retransmission.
    const GOOD_STEP: u32 = 10;
    /// λ × 1000 increase after an RTT with some.
    const BAD_STEP: u32 = 40;

    /// A scheduler starting with λ = `lambda_milli` / 1000 (clamped to [1.0, 1.3]).
    pub fn new(lambda_milli: u32) -> Self {
        Blest {
            lambda_milli: lambda_milli.clamp(Self::MIN_LAMBDA_MILLI, Self::MAX_LAMBDA_MILLI),
            last_update: None,
            seen_orp: 0,
        }
    }

    /// Current λ.
    pub fn lambda(&self) -> f64 {
        f64::from(self.lambda_milli) / 1000.0
    }

    /// X: bytes `fast` is expected to send during one RTT of `slow`.
    pub fn fast_bytes(fast: &SubflowView, slow: &SubflowView) -> f64 {
        let rtt_f = fast.srtt.as_secs_f64().max(1e-6);
        let rtts = (slow.srtt.as_secs_f64() / rtt_f).max(1.0);
        let mss = fast.mss.max(1) as f64;
        let cwnd = fast.cwnd as f64 / mss;
        mss * (cwnd + (rtts - 1.0) / 2.0) * rtts
    }

    /// Whether putting `chunk` more bytes on `slow` would leave less of the send window
    /// than `fast` will want during that time.
    pub fn would_block(
        &self,
        fast: &SubflowView,
        slow: &SubflowView,
        chunk: u64,
        send_window: u64,
    ) -> bool {
        let slow_bytes = slow.outstanding.saturating_add(chunk);
        let room = send_window.saturating_sub(slow_bytes);
        self.lambda() * Self::fast_bytes(fast, slow) > room as f64
    }

    /// The λ correction, at most once per RTT of the slow subflow.
    fn update_lambda(&mut self, now: Instant, slow: &SubflowView, orp: u64) {
        match self.last_update {
            None => {
                self.last_update = Some(now);
                self.seen_orp = orp;
                return;
            }
            Some(t) if now - t < slow.srtt => return,
            Some(_) => {}
        }
        if orp > self.seen_orp {
            self.lambda_milli += Self::BAD_STEP;
        } else {
            self.lambda_milli = self.lambda_milli.saturating_sub(Self::GOOD_STEP);
        }
        self.lambda_milli = self
            .lambda_milli
            .clamp(Self::MIN_LAMBDA_MILLI, Self::MAX_LAMBDA_MILLI);
        self.seen_orp = orp;
        self.last_update = Some(now);
    }
}

impl Default for Blest {
    fn default() -> Self {
        Blest::new(Self::DEFAULT_LAMBDA_MILLI)
    }
}

impl Scheduler for Blest {
    fn select(&mut self, input: &SchedulerInput<'_>) -> Option<usize> {
        let best = MinRtt::choose(input.views)?;
        let fast = lowest_rtt(preferred(input.views))?;
        if fast.index == best {
            return Some(best);
        }
        let slow = input.views.iter().find(|v| v.index == best)?;
        self.update_lambda(input.now, slow, input.opportunistic_retransmissions);
        let chunk = super::chunk_len(slow, input.available);
        if self.would_block(fast, slow, chunk, input.send_window) {
            None
        } else {
            Some(best)
        }
    }
    fn name(&self) -> &'static str {
        "blest"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::tests::view;
    use crate::time::Duration;

    /// A fast subflow (10 ms, 10 segments of 1000 bytes, full) and a slow one (100 ms,
    /// 5000 bytes outstanding, 5000 free).
    fn views() -> [SubflowView; 2] {
        [view(0, 10, 0), view(1, 100, 5000)]
    }

    fn input(views: &[SubflowView], window: u64) -> SchedulerInput<'_> {
        let mut i = SchedulerInput::new(Instant::from_millis(1000), views);
        i.send_window = window;
        i.bytes_unsent = 1_000_000;
        i
    }

    #[test]
    fn estimate_follows_the_paper() {
        let [f, s] = views();
        // rtts = 10: X = 1000 · (10 + 4.5) · 10.
        assert!((Blest::fast_bytes(&f, &s) - 145_000.0).abs() < 1e-6);
        // A slow subflow that is not slower: one RTT of the fast window.
        assert!((Blest::fast_bytes(&f, &f) - 10_000.0).abs() < 1e-6);
    }

    #[test]
    fn uses_the_fast_subflow_when_it_has_room() {
        let mut s = Blest::default();
        let v = [view(0, 10, 3000), view(1, 100, 5000)];
        // Even with a tiny send window: no slow subflow is involved.
        assert_eq!(s.select(&input(&v, 1)), Some(0));
    }

    #[test]
    fn skips_a_slow_subflow_that_would_block() {
        let v = views();
        // λ X = 1.2 · 145 000 = 174 000; the slow side would hold 5000 + 5000.
        // Window 200 000: 190 000 left, enough: send on the slow subflow.
        assert_eq!(Blest::default().select(&input(&v, 200_000)), Some(1));
        // Window 180 000: 170 000 left < 174 000: wait for the fast subflow.
        assert_eq!(Blest::default().select(&input(&v, 180_000)), None);
        // With λ = 1.0 the same window is enough (145 000 < 170 000).
        assert_eq!(Blest::new(1000).select(&input(&v, 180_000)), Some(1));
        // More outstanding on the slow subflow blocks a window that was enough.
        let mut v2 = views();
        v2[1].outstanding = 30_000;
        assert_eq!(Blest::default().select(&input(&v2, 200_000)), None);
        // Nothing has room: wait.
        let v3 = [view(0, 10, 0), view(1, 100, 0)];
        assert_eq!(Blest::default().select(&input(&v3, u64::MAX)), None);
    }

    #[test]
    fn a_small_chunk_counts_less() {
        let v = views();
        // 175 000 window: with the whole free window (5000) on the slow side 165 000 are
        // left (< 174 000); a last 1000-byte run leaves 169 000, still too little; with
        // λ = 1.1 (159 500) both fit.
        let mut i = input(&v, 175_000);
        assert_eq!(Blest::default().select(&i), None);
        i.available = 1000;
        assert_eq!(Blest::default().select(&i), None);
        assert_eq!(Blest::new(1100).select(&i), Some(1));
    }

    #[test]
    fn lambda_correction() {
        let v = views();
        let slow_rtt = Duration::from_millis(100);
        let mut s = Blest::default();
        let mut i = input(&v, 1 << 40);
        let mut now = Instant::from_millis(1000);
        let mut step = |s: &mut Blest, orp: u64, dt: Duration| {
            now += dt;
            let mut i2 = i;
            i2.now = now;
            i2.opportunistic_retransmissions = orp;
            s.select(&i2);
            s.lambda_milli
        };
        assert_eq!(
            step(&mut s, 0, Duration::ZERO),
            1200,
            "first decision: no update"
        );
        // Opportunistic retransmissions: +0.04 per slow RTT, not more often.
        assert_eq!(step(&mut s, 1, slow_rtt), 1240);
        assert_eq!(
            step(&mut s, 2, slow_rtt / 2),
            1240,
            "within one RTT of the last update"
        );
        assert_eq!(step(&mut s, 3, slow_rtt), 1280);
        assert_eq!(step(&mut s, 4, slow_rtt), 1300, "capped at 1.3");
        assert_eq!(step(&mut s, 5, slow_rtt), 1300);
        // Quiet RTTs: -0.01 each, floor 1.0.
        assert_eq!(step(&mut s, 5, slow_rtt), 1290);
        for _ in 0..40 {
            step(&mut s, 5, slow_rtt);
        }
        assert_eq!(s.lambda_milli, 1000);
        // The decision follows λ: at λ = 1.0 a 175 000 window with a 1000-byte run fits.
        i.send_window = 175_000;
        i.available = 1000;
        i.now = now;
        assert_eq!(s.select(&i), Some(1));
    }

    #[test]
    fn backup_rule_is_kept() {
        // The fast subflow is a backup: the regular slow one is "the fastest".
        let mut v = views();
        v[0].backup = true;
        v[0].space = 5000;
        assert_eq!(Blest::default().select(&input(&v, 1)), Some(1));
    }
}
