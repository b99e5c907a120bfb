//! Redundant: every chunk on every usable subflow, for the lowest latency whatever path
//! is fastest at the moment (Frömmgen et al., "ReMP TCP", and Linux's `redundant`).
//!
//! The connection does the copying (see [`Scheduler::redundant`]): each subflow keeps its
//! own position in the data stream and sends, when its window opens, the next data it has
//! not sent and that is not DATA_ACKed yet; the receiver's connection-level reassembly drops
//! the copies. [`Redundant::select`] only places reinjections: on the lowest-RTT subflow.

use super::{MinRtt, Scheduler, SchedulerInput};

/// Every chunk on every subflow.
#[derive(Debug, Clone, Default)]
pub struct Redundant;

impl Scheduler for Redundant {
    fn select(&mut self, input: &SchedulerInput<'_>) -> Option<usize> {
        MinRtt::choose(input.views)
    }
    fn name(&self) -> &'static str {
        "redundant"
    }
    fn redundant(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::tests::view;
    use crate::time::Instant;

    #[test]
    fn reinjections_go_to_the_fastest_with_room() {
        let mut s = Redundant;
        assert!(s.redundant());
        let v = [view(0, 40, 3000), view(1, 10, 3000)];
        assert_eq!(s.select(&SchedulerInput::new(Instant::ZERO, &v)), Some(1));
        let v = [view(0, 40, 3000), view(1, 10, 0)];
        assert_eq!(s.select(&SchedulerInput::new(Instant::ZERO, &v)), Some(0));
    }
}
