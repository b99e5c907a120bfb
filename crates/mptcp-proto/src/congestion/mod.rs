//! Congestion control behind one trait. Each subflow owns a controller; the connection hands
//! every callback a [`CcView`] of all its subflows so the coupled algorithms (LIA, OLIA,
//! BALIA) can see the whole connection.

pub mod balia;
mod cubic;
pub mod lia;
pub mod olia;
mod reno;

pub use balia::Balia;
pub use cubic::Cubic;
pub use lia::Lia;
pub use olia::Olia;
pub use reno::Reno;

use crate::time::{Duration, Instant};
use smallvec::SmallVec;

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
    /// Bytes acknowledged between the subflow's last two losses or since its last loss,
    /// whichever is larger (OLIA's `l_r`); 0 for controllers that do not count them.
    pub loss_interval: u64,
}

/// The paths a coupled algorithm counts: the calling subflow, with its controller's current
/// window and loss interval in place of the snapshot's, and every other active subflow.
/// Returns them with the caller's index among them (`None` if the view lacks the caller).
pub(crate) fn coupled_paths(
    view: &CcView<'_>,
    own_cwnd: u64,
    own_loss_interval: u64,
) -> (SmallVec<[PathInfo; 8]>, Option<usize>) {
    let mut used = SmallVec::new();
    let mut me = None;
    for (i, p) in view.paths.iter().enumerate() {
        if i == view.me {
            me = Some(used.len());
            used.push(PathInfo {
                cwnd: own_cwnd,
                loss_interval: own_loss_interval,
                ..*p
            });
        } else if p.active {
            used.push(*p);
        }
    }
    (used, me)
}

/// A path's smoothed RTT in seconds, at least one microsecond (no division by zero).
pub(crate) fn rtt_secs(p: &PathInfo) -> f64 {
    p.srtt.as_secs_f64().max(1e-6)
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
    /// `acked` new bytes were cumulatively acknowledged during loss recovery without growing
    /// the window (OLIA still counts them as delivered).
    fn on_recovery_ack(&mut self, now: Instant, acked: u64) {
        let _ = (now, acked);
    }
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
    /// Bytes delivered between the last two losses or since the last loss, whichever is
    /// larger ([`PathInfo::loss_interval`]); 0 unless the algorithm counts them.
    fn loss_interval(&self) -> u64 {
        0
    }
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
    /// OLIA (Khalili et al., draft-khalili-mptcp-congestion-control), coupled.
    Olia,
    /// BALIA (Peng, Walid, Hwang, Low, IEEE/ACM ToN 2016), coupled.
    Balia,
}

/// Names of the built-in algorithms, as [`CcAlgorithm::from_name`] accepts them.
pub const CC_NAMES: &[&str] = &["reno", "cubic", "lia", "olia", "balia"];

/// A congestion-control name that is not known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown congestion control {0:?} (known: reno, cubic, lia, olia, balia)")]
pub struct UnknownCc(pub String);

impl CcAlgorithm {
    /// Looks an algorithm up by its name.
    pub fn from_name(name: &str) -> Result<Self, UnknownCc> {
        match name {
            "reno" => Ok(CcAlgorithm::Reno),
            "cubic" => Ok(CcAlgorithm::Cubic),
            "lia" => Ok(CcAlgorithm::Lia),
            "olia" => Ok(CcAlgorithm::Olia),
            "balia" => Ok(CcAlgorithm::Balia),
            other => Err(UnknownCc(other.to_string())),
        }
    }
    /// Builds a controller with an initial window of `initial_window` bytes (RFC 6928: 10 MSS).
    pub fn build(self, mss: u32, initial_window: u64) -> Box<dyn Controller> {
        match self {
            CcAlgorithm::Reno => Box::new(Reno::new(mss, initial_window)),
            CcAlgorithm::Cubic => Box::new(Cubic::new(mss, initial_window)),
            CcAlgorithm::Lia => Box::new(Lia::new(mss, initial_window)),
            CcAlgorithm::Olia => Box::new(Olia::new(mss, initial_window)),
            CcAlgorithm::Balia => Box::new(Balia::new(mss, initial_window)),
        }
    }
    /// The algorithm's name, as [`CcAlgorithm::from_name`] accepts it.
    pub fn name(self) -> &'static str {
        match self {
            CcAlgorithm::Reno => "reno",
            CcAlgorithm::Cubic => "cubic",
            CcAlgorithm::Lia => "lia",
            CcAlgorithm::Olia => "olia",
            CcAlgorithm::Balia => "balia",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn congestion_algorithm_by_name() {
        assert_eq!(CcAlgorithm::from_name("reno"), Ok(CcAlgorithm::Reno));
        assert_eq!(CcAlgorithm::from_name("cubic"), Ok(CcAlgorithm::Cubic));
        assert_eq!(CcAlgorithm::from_name("olia"), Ok(CcAlgorithm::Olia));
        assert_eq!(CcAlgorithm::from_name("balia"), Ok(CcAlgorithm::Balia));
        assert_eq!(CcAlgorithm::from_name("bbr"), Err(UnknownCc("bbr".into())));
        assert_eq!(CcAlgorithm::default(), CcAlgorithm::Reno);
        for name in CC_NAMES {
            let alg = CcAlgorithm::from_name(name).unwrap();
            assert_eq!(alg.name(), *name);
            assert!(UnknownCc("x".into()).to_string().contains(name));
        }
    }

    #[test]
    fn congestion_build_controllers() {
        for name in CC_NAMES {
            let cc = CcAlgorithm::from_name(name).unwrap().build(1460, 14600);
            assert_eq!(cc.name(), *name);
            assert_eq!(cc.window(), 14600);
            assert_eq!(cc.ssthresh(), u64::MAX);
        }
    }

    fn any_path() -> impl Strategy<Value = PathInfo> {
        let cwnd = prop_oneof![Just(0u64), Just(1), 0..10_000_000u64, Just(u64::MAX)];
        let srtt = prop_oneof![
            Just(Duration::ZERO),
            (0..10_000_000u64).prop_map(Duration::from_micros),
            Just(Duration::MAX),
        ];
        let mss = prop_oneof![Just(0u32), 1..9000u32, Just(u32::MAX)];
        let l = prop_oneof![Just(0u64), 0..1_000_000_000u64, Just(u64::MAX)];
        (cwnd, srtt, mss, any::<bool>(), l).prop_map(|(cwnd, srtt, mss, active, l)| PathInfo {
            cwnd,
            srtt,
            mss,
            active,
            loss_interval: l,
        })
    }

    /// One callback of the [`Controller`] trait.
    #[derive(Debug, Clone)]
    enum Call {
        Ack(u64),
        RecoveryAck(u64),
        Loss(u64),
        Rto(u64),
        RtoInRecovery,
        ExitSlowStart,
        Idle,
        Mss(u32),
    }

    fn any_call() -> impl Strategy<Value = Call> {
        let bytes = || prop_oneof![Just(0u64), 0..200_000u64, Just(u64::MAX)];
        prop_oneof![
            4 => bytes().prop_map(Call::Ack),
            1 => bytes().prop_map(Call::RecoveryAck),
            1 => bytes().prop_map(Call::Loss),
            1 => bytes().prop_map(Call::Rto),
            1 => Just(Call::RtoInRecovery),
            1 => Just(Call::ExitSlowStart),
            1 => Just(Call::Idle),
            1 => prop_oneof![Just(0u32), 1..9000u32, Just(u32::MAX)].prop_map(Call::Mss),
        ]
    }

    proptest! {
        /// Zero or huge windows, zero or huge RTTs, zero MSS, an index outside the view,
        /// no active path: no algorithm panics, and each keeps a window of at least one byte.
        #[test]
        fn congestion_never_panics_on_degenerate_views(
            paths in proptest::collection::vec(any_path(), 0..5),
            me in 0usize..6,
            mss in prop_oneof![Just(0u32), 1..9000u32],
            iw in prop_oneof![Just(0u64), 1..100_000u64, Just(u64::MAX)],
            calls in proptest::collection::vec(any_call(), 1..40),
        ) {
            for name in CC_NAMES {
                let mut cc = CcAlgorithm::from_name(name).unwrap().build(mss, iw);
                let mut now = Instant::ZERO;
                for call in &calls {
                    now += Duration::from_millis(7);
                    let view = CcView { paths: &paths, me };
                    match *call {
                        Call::Ack(n) => cc.on_ack(now, n, &view),
                        Call::RecoveryAck(n) => cc.on_recovery_ack(now, n),
                        Call::Loss(n) => cc.on_congestion_event(now, n, &view),
                        Call::Rto(n) => cc.on_rto(now, n),
                        Call::RtoInRecovery => cc.on_rto_in_recovery(now),
                        Call::ExitSlowStart => cc.exit_slow_start(),
                        Call::Idle => cc.on_idle_restart(now),
                        Call::Mss(m) => cc.on_mss(m),
                    }
                    prop_assert!(cc.window() >= 1, "{name}: window 0 after {call:?}");
                    let _ = cc.loss_interval();
                }
            }
        }

        /// The coupled algorithms never grow a subflow faster than Reno on its own path
        /// would: at most `acked * MSS / cwnd` per ACK in congestion avoidance.
        #[test]
        fn coupled_increase_at_most_reno(
            paths in proptest::collection::vec(any_path(), 1..5),
            me in 0usize..5,
            acked in 1..100_000u64,
        ) {
            let me = me % paths.len();
            let mut paths = paths;
            for p in paths.iter_mut() {
                p.cwnd = p.cwnd.clamp(1, 1 << 40);
                p.active = true;
            }
            let reno = acked as f64 * 1000.0 / paths[me].cwnd as f64;
            let lia_inc = acked as f64 * 1000.0 * lia::alpha(&paths)
                / paths.iter().map(|p| p.cwnd as f64).sum::<f64>();
            let balia_inc = balia::increase(&paths, me, acked, 1000);
            prop_assert!(balia_inc <= reno * (1.0 + 1e-9), "balia {balia_inc} > reno {reno}");
            prop_assert!(balia_inc >= 0.0);
            // OLIA's first term alone is below Reno's; alpha_r / w_r adds at most
            // 1 / (2 w_r) (|P| >= 2 when C is not empty).
            let olia_inc = olia::increase(&paths, me, acked, 1000);
            prop_assert!(olia_inc <= 1.5 * reno * (1.0 + 1e-9), "olia {olia_inc} > 1.5 reno {reno}");
            prop_assert!(lia_inc.is_finite());
        }
    }
}
