//! The default scheduler: the lowest-RTT subflow with room; backup subflows only when no
//! regular subflow is usable (RFC 8684 §3.3.8), as Linux's default.

use super::{lowest_rtt, preferred, Scheduler, SchedulerInput, SubflowView};

/// Lowest RTT first.
#[derive(Debug, Clone, Default)]
pub struct MinRtt;

impl MinRtt {
    /// The rule itself: the lowest-RTT preferred subflow (see [`preferred`]) with room.
    pub fn choose(views: &[SubflowView]) -> Option<usize> {
        lowest_rtt(preferred(views).filter(|v| v.space > 0)).map(|v| v.index)
    }
}

impl Scheduler for MinRtt {
    fn select(&mut self, input: &SchedulerInput<'_>) -> Option<usize> {
        MinRtt::choose(input.views)
    }
    fn name(&self) -> &'static str {
        "min-rtt"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::tests::view;
    use crate::time::Instant;

    fn select(views: &[SubflowView]) -> Option<usize> {
        MinRtt.select(&SchedulerInput::new(Instant::ZERO, views))
    }

    #[test]
    fn picks_lowest_rtt_with_room() {
        assert_eq!(select(&[view(0, 50, 1000), view(1, 10, 1000)]), Some(1));
        assert_eq!(select(&[view(0, 50, 1000), view(1, 10, 0)]), Some(0));
        assert_eq!(select(&[view(0, 50, 0), view(1, 10, 0)]), None);
        // Equal RTTs: the lower index.
        assert_eq!(select(&[view(0, 10, 1000), view(1, 10, 1000)]), Some(0));
        // Views need not be in index order.
        assert_eq!(select(&[view(7, 10, 1000), view(3, 10, 1000)]), Some(3));
    }

    #[test]
    fn backup_only_when_no_regular_is_usable() {
        let backup = |mut v: SubflowView| {
            v.backup = true;
            v
        };
        let unusable = |mut v: SubflowView| {
            v.usable = false;
            v
        };
        // The regular subflow is full: wait rather than use the backup.
        assert_eq!(select(&[view(0, 50, 0), backup(view(1, 10, 1000))]), None);
        // The regular subflow is unusable: the backup takes over.
        let v = [unusable(view(0, 50, 1000)), backup(view(1, 10, 1000))];
        assert_eq!(select(&v), Some(1));
        // Several backups: the fastest with room.
        let v = [
            unusable(view(0, 5, 1000)),
            backup(view(1, 30, 1000)),
            backup(view(2, 20, 0)),
            backup(view(3, 25, 1000)),
        ];
        assert_eq!(select(&v), Some(3));
        assert_eq!(select(&[unusable(view(0, 50, 1000))]), None);
        assert_eq!(select(&[]), None);
    }
}
