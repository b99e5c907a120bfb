//! Packet schedulers: which subflow carries the next chunk of data (RFC 8684 §3.3.8 leaves
//! the policy to the implementation). The connection asks [`Scheduler::select`] with a
//! snapshot of its subflows; the decision is pure, so schedulers are easy to test.

use crate::time::{Duration, Instant};

/// What a scheduler may know of one subflow.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SubflowView {
    /// Position in the connection's subflow list.
    pub index: usize,
    /// Smoothed RTT (the initial guess before any sample).
    pub srtt: Duration,
    /// Congestion window, bytes.
    pub cwnd: u64,
    /// Bytes it could take now (free congestion window minus data already queued on it).
    pub space: u64,
    /// Backup priority (ours or the peer's).
    pub backup: bool,
    /// Established, allowed to carry data, not timed out.
    pub usable: bool,
}

/// Chooses the subflow for the next chunk of data.
pub trait Scheduler: Send + core::fmt::Debug {
    /// Index (into `views`' `index` values) of the subflow to use, or `None` to wait.
    fn select(&mut self, now: Instant, views: &[SubflowView]) -> Option<usize>;
    /// Short name.
    fn name(&self) -> &'static str;
}

/// The default: the lowest-RTT subflow with room; backup subflows only when no other
/// subflow is usable (RFC 8684 §3.3.8).
#[derive(Debug, Clone, Default)]
pub struct MinRtt;

impl Scheduler for MinRtt {
    fn select(&mut self, _now: Instant, views: &[SubflowView]) -> Option<usize> {
        let any_regular = views.iter().any(|v| v.usable && !v.backup);
        views
            .iter()
            .filter(|v| v.usable && v.backup != any_regular)
            .filter(|v| v.space > 0)
            .min_by_key(|v| (v.srtt, v.index))
            .map(|v| v.index)
    }
    fn name(&self) -> &'static str {
        "min-rtt"
    }
}

/// The built-in schedulers, chosen per endpoint (`EndpointConfig::scheduler`); each new
/// connection gets its own instance from [`SchedulerKind::build`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SchedulerKind {
    /// Lowest RTT first ([`MinRtt`]).
    #[default]
    MinRtt,
}

/// Scheduler names accepted by [`SchedulerKind::from_name`] (parameters after a colon).
pub const SCHEDULER_NAMES: &[&str] = &["default", "min-rtt"];

/// A scheduler name that is not known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown scheduler {0:?} (known: default, min-rtt)")]
pub struct UnknownScheduler(pub String);

impl SchedulerKind {
    /// Looks a scheduler up by name.
    pub fn from_name(name: &str) -> Result<Self, UnknownScheduler> {
        match name {
            "default" | "min-rtt" | "minrtt" => Ok(SchedulerKind::MinRtt),
            other => Err(UnknownScheduler(other.to_string())),
        }
    }
    /// A fresh scheduler for one connection.
    pub fn build(self) -> Box<dyn Scheduler> {
        match self {
            SchedulerKind::MinRtt => Box::new(MinRtt),
        }
    }
}

/// Builds a scheduler by name.
pub fn by_name(name: &str) -> Result<Box<dyn Scheduler>, UnknownScheduler> {
    SchedulerKind::from_name(name).map(SchedulerKind::build)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(index: usize, rtt_ms: u64, space: u64, backup: bool, usable: bool) -> SubflowView {
        SubflowView {
            index,
            srtt: Duration::from_millis(rtt_ms),
            cwnd: 10_000,
            space,
            backup,
            usable,
        }
    }

    #[test]
    fn picks_lowest_rtt_with_room() {
        let mut s = MinRtt;
        let v = [
            view(0, 50, 1000, false, true),
            view(1, 10, 1000, false, true),
        ];
        assert_eq!(s.select(Instant::ZERO, &v), Some(1));
        let v = [view(0, 50, 1000, false, true), view(1, 10, 0, false, true)];
        assert_eq!(s.select(Instant::ZERO, &v), Some(0));
    }

    #[test]
    fn backup_only_when_no_regular_is_usable() {
        let mut s = MinRtt;
        // The regular subflow is full: wait rather than use the backup.
        let v = [view(0, 50, 0, false, true), view(1, 10, 1000, true, true)];
        assert_eq!(s.select(Instant::ZERO, &v), None);
        // The regular subflow is unusable: the backup takes over.
        let v = [
            view(0, 50, 1000, false, false),
            view(1, 10, 1000, true, true),
        ];
        assert_eq!(s.select(Instant::ZERO, &v), Some(1));
        let v = [view(0, 50, 1000, false, false)];
        assert_eq!(s.select(Instant::ZERO, &v), None);
    }
}
