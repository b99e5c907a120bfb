//! Round robin: the subflows with room take turns, in index order, whatever their RTT.
//! Backup subflows only when no regular subflow is usable, as for [`super::MinRtt`].
//!
//! A turn is one segment, as in Linux's `roundrobin` scheduler (`num_segments` 1,
//! `cwnd_limited`): with every window full the ACK clock decides, and when data is scarce
//! (an application that writes little at a time) it is spread over the subflows rather
//! than all sent on the fastest.

use super::{preferred, Scheduler, SchedulerInput};

/// Turns among the usable subflows with room.
#[derive(Debug, Clone, Default)]
pub struct RoundRobin {
    /// Index of the subflow chosen last.
    last: Option<usize>,
}

impl Scheduler for RoundRobin {
    fn select(&mut self, input: &SchedulerInput<'_>) -> Option<usize> {
        let with_room = || {
            preferred(input.views)
                .filter(|v| v.space > 0)
                .map(|v| v.index)
        };
        let after_last = with_room()
            .filter(|&i| self.last.is_none_or(|l| i > l))
            .min();
        let pick = after_last.or_else(|| with_room().min())?;
        self.last = Some(pick);
        Some(pick)
    }
    fn name(&self) -> &'static str {
        "round-robin"
    }
    fn segments_per_turn(&self) -> Option<u64> {
        Some(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::tests::view;
    use crate::scheduler::SubflowView;
    use crate::time::Instant;

    fn run(s: &mut RoundRobin, views: &[SubflowView], n: usize) -> Vec<Option<usize>> {
        (0..n)
            .map(|_| s.select(&SchedulerInput::new(Instant::ZERO, views)))
            .collect()
    }

    #[test]
    fn alternates_whatever_the_rtt() {
        let mut s = RoundRobin::default();
        assert_eq!(s.segments_per_turn(), Some(1));
        let v = [view(0, 80, 5000), view(1, 10, 5000)];
        assert_eq!(
            run(&mut s, &v, 5),
            [Some(0), Some(1), Some(0), Some(1), Some(0)]
        );
        // Three subflows, listed out of order: still by index.
        let mut s = RoundRobin::default();
        let v = [view(2, 5, 100), view(0, 50, 100), view(1, 9, 100)];
        assert_eq!(run(&mut s, &v, 4), [Some(0), Some(1), Some(2), Some(0)]);
    }

    #[test]
    fn skips_full_and_backup_subflows() {
        let mut s = RoundRobin::default();
        let mut b = view(2, 1, 5000);
        b.backup = true;
        let v = [view(0, 10, 5000), view(1, 10, 0), b];
        assert_eq!(run(&mut s, &v, 3), [Some(0), Some(0), Some(0)]);
        // Subflow 1 gets room: its turn comes next.
        let v = [view(0, 10, 5000), view(1, 10, 5000), b];
        assert_eq!(run(&mut s, &v, 2), [Some(1), Some(0)]);
        // Everything full: wait, and the turn is not lost.
        let v = [view(0, 10, 0), view(1, 10, 0), b];
        assert_eq!(run(&mut s, &v, 1), [None]);
        let v = [view(0, 10, 5000), view(1, 10, 5000), b];
        assert_eq!(run(&mut s, &v, 1), [Some(1)]);
        // No regular subflow usable: the backup.
        let mut dead = [view(0, 10, 5000), view(1, 10, 5000), b];
        dead[0].usable = false;
        dead[1].usable = false;
        assert_eq!(run(&mut s, &dead, 2), [Some(2), Some(2)]);
    }
}
