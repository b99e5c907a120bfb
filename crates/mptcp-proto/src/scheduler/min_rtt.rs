//! The default scheduler: the lowest-RTT subflow with room; backup subflows only when no
//! regular subflow is usable (RFC 8684 §3.3.8), as Linux's default.
//!
//! One safeguard for a limited connection-level window (the peer's receive window or our
//! send buffer): data put on a slower subflow holds the window's left edge until it is
//! DATA_ACKed, about one RTT of that subflow. Meanwhile the faster subflows would send
//! `cwnd × rtt_slow / rtt_fast` bytes each. When those
//! bytes, plus what the slower subflow already holds and the new chunk (at most one
//! mapping, [`super::MAX_CHUNK`]), do not fit in the window, the faster subflows would
//! stall behind the slower one (head-of-line blocking; opportunistic retransmission only
//! repairs it after the stall began): the scheduler waits for the faster subflows instead.
//! The slower subflow thus holds at most what the window leaves beside the faster ones,
//! chunk by chunk; with a window large enough for both, nothing changes, and the fastest
//! subflow is never held back. This is BLEST's test (Ferlin et al., IFIP Networking 2016)
//! with λ = 1, without its slow-start term and with the estimates of
//! [`MinRtt::faster_bytes`].
//!
//! The hold is the slower subflow's whole RTT, though its data is DATA_ACKed on the
//! fastest subflow's next ACK (one way on each path): the shorter hold lets more on the
//! slower path with large windows (scenarios/heterogeneous-rtt.toml: 142 instead of 138
//! Mbit/s) but stalls the faster one when the window is just below what both need
//! (experiment rcvbuf, +100 ms and 1 MB: 88 Mbit/s, against 96 for TCP on the fast path).
//!
//! Subflows count as faster only below two thirds of the slower one's RTT: paths of about
//! the same RTT do not block one another.
//!
//! A subflow without an RTT sample is judged on the initial guess (`initial_rto`, 1 s):
//! when its join SYN was retransmitted (a path of more than 1 s RTT) it has none, and
//! giving it data anyway would hold a small window's edge for over a second.

use super::{lowest_rtt, preferred, Scheduler, SchedulerInput, SubflowView};
use crate::time::Duration;

/// Lowest RTT first.
#[derive(Debug, Clone, Default)]
pub struct MinRtt;

impl MinRtt {
    /// The rule itself: the lowest-RTT preferred subflow (see [`preferred`]) with room.
    pub fn choose(views: &[SubflowView]) -> Option<usize> {
        lowest_rtt(preferred(views).filter(|v| v.space > 0)).map(|v| v.index)
    }

    /// Bytes the subflows faster than `slow` (among `views`' preferred ones) are expected
    /// to send during one (smoothed) RTT of `slow`, while data put on it now holds the
    /// window's left edge: each its window, the larger of `cwnd` and what
    /// it has outstanding, once per its smoothed RTT, or per its minimum RTT while it
    /// recovers from a loss: then no RTT sample arrives, the smoothed RTT still includes
    /// the queue the loss drained, and `cwnd / srtt` would underestimate the rate by up to
    /// half, just when the fast subflow has no room and the slow one is asked.
    pub fn faster_bytes(views: &[SubflowView], slow: &SubflowView) -> u64 {
        // Only markedly faster subflows count: between paths of about the same RTT data
        // holds the window no longer on one than on the other (and a subflow back from an
        // outage, its RTT estimate a little stale, must not be shut out for it).
        // The slower subflow's RTT, but never above twice its minimum: a smoothed RTT
        // inflated by one odd sample (after an outage) would otherwise shut the subflow
        // out, and a subflow given nothing takes no sample to correct it.
        let slow_rtt = if slow.min_rtt > Duration::ZERO {
            slow.srtt.min(slow.min_rtt.saturating_mul(2))
        } else {
            slow.srtt
        };
        let faster = || {
            preferred(views)
                .filter(|f| f.index != slow.index && f.srtt.saturating_mul(3) / 2 < slow_rtt)
        };
        let hold = slow_rtt.as_nanos();
        faster()
            .map(|f| {
                let rtt_f = if f.recovering {
                    f.min_rtt.min(f.srtt)
                } else {
                    f.srtt
                };
                let rtt_f = rtt_f.max(Duration::from_micros(1)).as_nanos();
                let bytes = u128::from(f.cwnd.max(f.outstanding)) * hold / rtt_f;
                u64::try_from(bytes).unwrap_or(u64::MAX)
            })
            .fold(0u64, u64::saturating_add)
    }

    /// Whether `chunk` more bytes on `slow` would stall the faster subflows behind it in a
    /// connection-level window of `send_window` bytes (see the module documentation).
    pub fn would_block(
        views: &[SubflowView],
        slow: &SubflowView,
        chunk: u64,
        send_window: u64,
    ) -> bool {
        let faster = Self::faster_bytes(views, slow);
        if faster == 0 {
            // The fastest subflow: nothing to stall (the window itself bounds the chunk).
            return false;
        }
        let needed = faster
            .saturating_add(slow.outstanding)
            .saturating_add(chunk);
        needed > send_window
    }
}

impl MinRtt {
    /// `pick` unless the window guard (module documentation) holds it back, judged among
    /// `views`.
    pub fn guard(
        views: &[SubflowView],
        input: &SchedulerInput<'_>,
        pick: Option<usize>,
    ) -> Option<usize> {
        let pick = pick?;
        let v = views.iter().find(|v| v.index == pick)?;
        // The chunk actually assigned (one mapping at most): a slower subflow whose whole
        // free window would not fit may still take part of it, decision by decision.
        let chunk = super::chunk_len(v, input.available).min(super::MAX_CHUNK);
        if MinRtt::would_block(views, v, chunk, input.send_window) {
            None
        } else {
            Some(pick)
        }
    }
}

impl Scheduler for MinRtt {
    fn select(&mut self, input: &SchedulerInput<'_>) -> Option<usize> {
        MinRtt::guard(input.views, input, MinRtt::choose(input.views))
    }
    fn name(&self) -> &'static str {
        "min-rtt"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::tests::view;
    use crate::scheduler::MAX_CHUNK;
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

    fn select_in(views: &[SubflowView], send_window: u64) -> Option<usize> {
        let mut input = SchedulerInput::new(Instant::ZERO, views);
        input.send_window = send_window;
        input.available = 100_000;
        MinRtt.select(&input)
    }

    #[test]
    fn slow_subflow_only_when_the_window_holds_both() {
        // The fast subflow (10 ms, 10 kB window) is full; the slow one (100 ms) has room.
        // During 100 ms the fast one sends 100 kB; the slow one holds 5 kB + a 5 kB chunk.
        let v = [view(0, 10, 0), view(1, 100, 5_000)];
        assert_eq!(MinRtt::faster_bytes(&v, &v[1]), 100_000);
        assert_eq!(select_in(&v, 110_000), Some(1));
        assert_eq!(select_in(&v, 109_999), None);
        assert_eq!(select_in(&v, u64::MAX), Some(1));
        // The fast subflow with room is always used, whatever the window.
        let v = [view(0, 10, 1_000), view(1, 100, 5_000)];
        assert_eq!(select_in(&v, 1), Some(0));
        // Equal RTTs: one window's worth for the other subflow suffices.
        let v = [view(0, 10, 0), view(1, 10, 5_000)];
        assert_eq!(MinRtt::faster_bytes(&v, &v[1]), 0);
        assert_eq!(select_in(&v, 10_000), Some(1));
        // Two faster subflows both count; an unusable one does not.
        let mut v = [view(0, 10, 0), view(1, 20, 0), view(2, 100, 5_000)];
        assert_eq!(MinRtt::faster_bytes(&v, &v[2]), 150_000);
        assert_eq!(select_in(&v, 159_999), None);
        assert_eq!(select_in(&v, 160_000), Some(2));
        v[0].usable = false;
        assert_eq!(MinRtt::faster_bytes(&v, &v[2]), 50_000);
        // While the fast subflow recovers from a loss, its rate is cwnd / min RTT.
        let mut v = [view(0, 20, 0), view(1, 100, 5_000)];
        v[0].srtt = Duration::from_millis(40);
        assert_eq!(MinRtt::faster_bytes(&v, &v[1]), 25_000);
        v[0].recovering = true;
        assert_eq!(MinRtt::faster_bytes(&v, &v[1]), 50_000);
        // A slow subflow with a large free window takes it one mapping at a time, as long
        // as that fits beside the faster subflows.
        let mut v = [view(0, 10, 0), view(1, 100, 5_000)];
        v[1].cwnd = 1_000_000;
        v[1].space = 1_000_000;
        v[1].outstanding = 0;
        assert_eq!(select_in(&v, 100_000 + MAX_CHUNK), Some(1));
        assert_eq!(select_in(&v, 100_000 + MAX_CHUNK - 1), None);
        // A backup is not counted while regular subflows are usable.
        let mut v = [view(0, 10, 0), view(1, 100, 5_000)];
        v[0].backup = true;
        assert_eq!(select_in(&v, 10_000), Some(1));
    }
}
