//! Active backup with an expiration delay (Duchêne, PhD thesis 2019, §2.2, seed 002):
//! data that has waited in the stack for at least the expiration delay may go to any
//! usable subflow, backups included (the lowest RTT with room wins); younger data follows
//! the default rule (backups only when no regular subflow is usable).
//!
//! The delay sets a continuum between bandwidth pooling and fail-over: 0 behaves exactly
//! like [`super::MinRtt`] with no subflow marked backup, an infinite delay exactly like
//! [`super::MinRtt`] honouring the marks (strict backup). A light application stays on the
//! regular subflows; one whose data backs up longer than the delay spills onto the backups.
//!
//! The age is [`SchedulerInput::oldest_unsent_age`]: the time since the application wrote
//! the bytes this decision is about (the thesis timestamps data in `tcp_sendmsg`). Data
//! that only waits for a regular window is retried when it expires ([`Scheduler::retry_at`]),
//! not only at the next ACK.

use super::{lowest_rtt, MinRtt, Scheduler, SchedulerInput};
use crate::time::{Duration, Instant};

/// Backup subflows for data older than the expiration delay.
#[derive(Debug, Clone)]
pub struct ActiveBackup {
    /// `None`: infinite.
    expiration: Option<Duration>,
    /// When waiting data expires, after a decision to wait.
    retry: Option<Instant>,
}

impl ActiveBackup {
    /// A scheduler with this expiration delay (`None`: never expire).
    pub fn new(expiration: Option<Duration>) -> Self {
        ActiveBackup {
            expiration,
            retry: None,
        }
    }
}

impl Scheduler for ActiveBackup {
    fn select(&mut self, input: &SchedulerInput<'_>) -> Option<usize> {
        self.retry = None;
        let age = input.oldest_unsent_age;
        let Some(delay) = self.expiration else {
            return MinRtt::guard(input.views, input, MinRtt::choose(input.views));
        };
        if age >= delay {
            // Expired data: as the default scheduler with no subflow marked backup, its
            // window guard included.
            let unmarked: smallvec::SmallVec<[super::SubflowView; 8]> = input
                .views
                .iter()
                .map(|v| super::SubflowView {
                    backup: false,
                    ..*v
                })
                .collect();
            let pick =
                lowest_rtt(unmarked.iter().filter(|v| v.usable && v.space > 0)).map(|v| v.index);
            return MinRtt::guard(&unmarked, input, pick);
        }
        let pick = MinRtt::guard(input.views, input, MinRtt::choose(input.views));
        if pick.is_none() && input.views.iter().any(|v| v.usable && v.space > 0) {
            // Only a backup has room: it may take the data once the data expires.
            self.retry = Some(input.now + (delay - age));
        }
        pick
    }
    fn name(&self) -> &'static str {
        "active-backup"
    }
    fn retry_at(&self) -> Option<Instant> {
        self.retry
    }
    /// Not for 0 (all data is expired) nor infinity (none ever is): those two then make
    /// exactly the decisions of the default scheduler, chunk by chunk.
    fn uses_data_age(&self) -> bool {
        self.expiration.is_some_and(|d| !d.is_zero())
    }
    /// Only whether the data has expired matters.
    fn same_age_class(&self, a: Duration, b: Duration) -> bool {
        match self.expiration {
            Some(d) => (a >= d) == (b >= d),
            None => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::tests::view;
    use crate::scheduler::SubflowView;

    fn input(views: &[SubflowView], age_ms: u64) -> SchedulerInput<'_> {
        let mut i = SchedulerInput::new(Instant::from_millis(10_000), views);
        i.oldest_unsent_age = Duration::from_millis(age_ms);
        i
    }

    /// A regular subflow (30 ms) and a backup (20 ms), the regular one with or without room.
    fn regular_and_backup(regular_space: u64) -> [SubflowView; 2] {
        let mut b = view(1, 20, 5000);
        b.backup = true;
        [view(0, 30, regular_space), b]
    }

    /// Every combination of three subflows' RTT order, room, backup mark and usability.
    fn all_cases() -> Vec<[SubflowView; 3]> {
        let mut out = Vec::new();
        for bits in 0u32..(1 << 9) {
            let mut v = [view(0, 30, 0), view(1, 10, 0), view(2, 20, 0)];
            for (i, x) in v.iter_mut().enumerate() {
                let b = bits >> (3 * i);
                x.space = if b & 1 != 0 { 3000 } else { 0 };
                x.backup = b & 2 != 0;
                x.usable = b & 4 != 0;
            }
            out.push(v);
        }
        out
    }

    #[test]
    fn delay_zero_is_min_rtt_without_backups() {
        for v in all_cases() {
            let mut plain = v;
            for x in plain.iter_mut() {
                x.backup = false;
            }
            for age in [0, 1, 5000] {
                let mut s = ActiveBackup::new(Some(Duration::ZERO));
                assert_eq!(s.select(&input(&v, age)), MinRtt::choose(&plain), "{v:?}");
                assert_eq!(s.retry_at(), None);
            }
        }
    }

    #[test]
    fn infinite_delay_is_strict_backup() {
        for v in all_cases() {
            for age in [0, 1_000_000_000] {
                let mut s = ActiveBackup::new(None);
                assert_eq!(s.select(&input(&v, age)), MinRtt::choose(&v), "{v:?}");
                assert_eq!(s.retry_at(), None);
            }
        }
    }

    #[test]
    fn ages_alike_on_the_same_side_of_the_delay() {
        let ms = Duration::from_millis;
        let s = ActiveBackup::new(Some(ms(50)));
        assert!(s.same_age_class(ms(0), ms(49)));
        assert!(s.same_age_class(ms(50), ms(5000)));
        assert!(!s.same_age_class(ms(49), ms(50)));
        assert!(ActiveBackup::new(None).same_age_class(ms(0), ms(5000)));
    }

    #[test]
    fn backup_only_for_expired_data() {
        let mut s = ActiveBackup::new(Some(Duration::from_millis(100)));
        // Fresh data, regular subflow with room: regular, although the backup is faster.
        assert!(s.uses_data_age());
        assert!(!ActiveBackup::new(Some(Duration::ZERO)).uses_data_age());
        assert!(!ActiveBackup::new(None).uses_data_age());
        assert_eq!(s.select(&input(&regular_and_backup(5000), 0)), Some(0));
        // Fresh data, regular subflow full: wait, and ask again when the data expires.
        assert_eq!(s.select(&input(&regular_and_backup(0), 30)), None);
        assert_eq!(s.retry_at(), Some(Instant::from_millis(10_070)));
        // Expired data: the lowest RTT of all, the backup (even with room on the regular).
        assert_eq!(s.select(&input(&regular_and_backup(0), 100)), Some(1));
        assert_eq!(s.retry_at(), None);
        assert_eq!(s.select(&input(&regular_and_backup(5000), 150)), Some(1));
        // Expired data and a full backup: the regular subflow.
        let mut v = regular_and_backup(5000);
        v[1].space = 0;
        assert_eq!(s.select(&input(&v, 150)), Some(0));
        // Nothing to retry for when the backup has no room either.
        let mut v = regular_and_backup(0);
        v[1].space = 0;
        assert_eq!(s.select(&input(&v, 10)), None);
        assert_eq!(s.retry_at(), None);
        // The regular subflow is gone: the backup takes even fresh data (default rule).
        let mut v = regular_and_backup(5000);
        v[0].usable = false;
        assert_eq!(s.select(&input(&v, 0)), Some(1));
    }
}
