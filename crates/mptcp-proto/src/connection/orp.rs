//! Opportunistic retransmission and penalisation (Raiciu et al., "How hard can it be?",
//! NSDI 2012, §4.2; seed 001 §4). When the connection-level window holds new data back
//! while a slower subflow holds the data at its left edge, the fast subflow idles until
//! that data arrives: send it again on the fastest subflow with room, and halve the window
//! of the subflow that held it so it takes less of the shared window next time.
//!
//! "Blocked" covers the two cases of the Linux (multipath-tcp.org) implementation,
//! `mptcp_rcv_buf_optimization`: the peer's receive window is full, or our send buffer is
//! full of data waiting for its DATA_ACK, so the application cannot write
//! (`SOCK_NOSPACE`) and nothing is left to assign. Both stall the fast subflow equally;
//! with a send buffer no larger than the peer's receive buffer only the second one ever
//! happens.
//!
//! Linux resends the one segment at the head of the window per call, and the next one
//! only once the DATA_ACK moved, one fast RTT later. Here every byte above the DATA_ACK
//! that a slower subflow holds unacknowledged is resent in data order, as far as the fast
//! subflow's free window reaches: a slow subflow holding `n` segments at the window's left
//! edge then costs one fast RTT, not `n`. Bytes already resent this way are remembered
//! (`orp_high`) and not resent again.

use super::Connection;
use crate::tcp::subflow::TxMap;
use crate::tcp::TcpState;
use crate::time::Instant;
use smallvec::SmallVec;

/// Largest mapping: the data-level length field is 16 bits.
const MAX_MAPPING: u64 = crate::scheduler::MAX_CHUNK;

/// Whether the connection-level window holds new data back: less than a segment (`mss`)
/// of the peer's receive window is left beyond `data_nxt` while data waits for it, or the
/// application is blocked on a full send buffer (`write_blocked`) and less than a segment
/// of what it wrote is still unassigned. Nothing outstanding, nothing blocked.
pub(crate) fn window_blocked(
    data_una: u64,
    data_nxt: u64,
    wnd_edge: u64,
    buf_end: u64,
    write_blocked: bool,
    mss: u64,
) -> bool {
    if data_nxt <= data_una {
        return false;
    }
    let unassigned = buf_end.saturating_sub(data_nxt);
    let rwnd_left = wnd_edge.saturating_sub(data_nxt);
    (rwnd_left < mss && unassigned > 0) || (write_blocked && unassigned < mss)
}

/// What to resend: the union of `held` (data ranges slower subflows hold), minus
/// `exclude` (ranges the fast subflow already carries), ascending, at most `budget` bytes.
/// Both inputs are sorted in place; empty ranges are ignored.
pub(crate) fn resend_plan(
    held: &mut [(u64, u64)],
    exclude: &mut [(u64, u64)],
    budget: u64,
) -> SmallVec<[(u64, u64); 8]> {
    held.sort_unstable();
    exclude.sort_unstable();
    let mut out: SmallVec<[(u64, u64); 8]> = SmallVec::new();
    let mut left = budget;
    let mut covered = 0u64; // everything below is already planned or skipped
    let mut ex = exclude.iter().filter(|(a, b)| a < b).peekable();
    for &(a, b) in held.iter() {
        let mut at = a.max(covered);
        while at < b && left > 0 {
            // Skip exclusions wholly below `at`, then jump over one that covers it.
            while ex.peek().is_some_and(|&&(_, e)| e <= at) {
                ex.next();
            }
            let stop = match ex.peek() {
                Some(&&(s, e)) if s <= at => {
                    at = e;
                    continue;
                }
                Some(&&(s, _)) => s.min(b),
                None => b,
            };
            let end = stop.min(at + left);
            match out.last_mut() {
                Some(last) if last.1 == at => last.1 = end,
                _ => out.push((at, end)),
            }
            left -= end - at;
            at = end;
        }
        if left == 0 {
            break;
        }
        covered = covered.max(b);
    }
    out
}

impl Connection {
    /// Opportunistic retransmission and penalisation (see the module documentation).
    pub(super) fn opportunistic_retransmission(&mut self, now: Instant) {
        if !self.reinject.is_empty() {
            return;
        }
        let initial_rtt = self.config.initial_rto;
        // The fastest subflow that could send now.
        let Some(best) = self
            .subflows
            .iter()
            .enumerate()
            .filter(|(_, s)| self.subflow_usable(s) && !s.stale && s.cwnd_space() > s.unsent())
            .min_by_key(|(i, s)| (s.rtt.srtt().unwrap_or(initial_rtt), *i))
            .map(|(i, _)| i)
        else {
            return;
        };
        let mss = u64::from(self.subflows[best].payload_hint.max(1));
        if !window_blocked(
            self.data_una,
            self.data_nxt,
            self.snd_wnd_edge,
            self.send_buf.end(),
            self.writable_wanted,
            mss,
        ) {
            return;
        }
        let best_rtt = self.subflows[best].rtt.srtt().unwrap_or(initial_rtt);
        let from = self.data_una.max(self.orp_high);
        // Unacknowledged data of slower (or stuck) subflows, and what `best` already has.
        let mut held: SmallVec<[(u64, u64); 16]> = SmallVec::new();
        let mut exclude: SmallVec<[(u64, u64); 16]> = SmallVec::new();
        for (i, s) in self.subflows.iter().enumerate() {
            if s.state == TcpState::Closed {
                continue;
            }
            let slower =
                s.rtt.srtt().unwrap_or(initial_rtt) > best_rtt || s.recovery.is_some() || s.stale;
            if i != best && !slower {
                continue;
            }
            for m in &s.tx_maps {
                let acked = s.snd_una.saturating_sub(m.ssn).min(u64::from(m.len));
                let start = (m.data + acked).max(from);
                let end = (m.data + u64::from(m.len)).min(self.data_nxt);
                if start < end {
                    if i == best {
                        exclude.push((start, end));
                    } else {
                        held.push((start, end));
                    }
                }
            }
        }
        let sf = &self.subflows[best];
        let budget = (sf.cwnd_space() - sf.unsent()).div_ceil(mss).max(1) * mss;
        let plan = resend_plan(&mut held, &mut exclude, budget);
        let trusted = sf.trusted;
        let mut sent = 0u64;
        'plan: for (start, end) in plan {
            let mut at = start;
            while at < end {
                // Trusted-only data never goes to an untrusted subflow: stop there.
                let Some((attrs, run_end)) = self.send_buf.attrs_at(at) else {
                    break 'plan;
                };
                if attrs.trusted_only && !trusted {
                    break 'plan;
                }
                let to = end.min(run_end).min(at + MAX_MAPPING);
                let sf = &mut self.subflows[best];
                let ssn = sf.map_end;
                sf.push_mapping(TxMap::new(ssn, at, (to - at) as u32));
                sf.map_end += to - at;
                sent += to - at;
                self.orp_high = self.orp_high.max(to);
                at = to;
            }
        }
        if sent == 0 {
            return;
        }
        self.stats.opportunistic_retransmissions += 1;
        self.stats.reinjected_bytes += sent;
        self.penalise_holders(now, best_rtt);
    }

    /// Halves the window of each slower subflow holding data above the DATA_ACK, at most
    /// once per its RTT and not during loss recovery (which already reduced it).
    fn penalise_holders(&mut self, now: Instant, best_rtt: crate::time::Duration) {
        let initial_rtt = self.config.initial_rto;
        let una = self.data_una;
        for h in self.subflows.iter_mut() {
            let rtt = h.rtt.srtt().unwrap_or(initial_rtt);
            let holds = h.tx_maps.iter().any(|m| {
                let acked = h.snd_una.saturating_sub(m.ssn).min(u64::from(m.len));
                m.data + u64::from(m.len) > una && acked < u64::from(m.len)
            });
            if rtt <= best_rtt
                || !holds
                || h.recovery.is_some()
                || h.last_penalty.is_some_and(|t| now - t < rtt)
            {
                continue;
            }
            h.last_penalty = Some(now);
            let pipe = h.pipe();
            let paths = [h.path_info(initial_rtt)];
            let view = crate::congestion::CcView {
                paths: &paths,
                me: 0,
            };
            h.cc.on_congestion_event(now, pipe, &view);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocked_by_the_peer_window_or_a_full_send_buffer() {
        // Nothing outstanding: never blocked.
        assert!(!window_blocked(100, 100, 100, 200, true, 10));
        // Peer window exhausted with data waiting.
        assert!(window_blocked(0, 100, 105, 200, false, 10));
        assert!(window_blocked(0, 100, 100, 101, false, 10));
        // Peer window exhausted but nothing waits: the application is the limit.
        assert!(!window_blocked(0, 100, 100, 100, false, 10));
        // Room in the peer window, data waiting: the subflows are the limit.
        assert!(!window_blocked(0, 100, 500, 200, false, 10));
        // Send buffer full (the application is blocked), everything assigned but a tail.
        assert!(window_blocked(0, 100, 500, 105, true, 10));
        // Application blocked yet a segment of data is unassigned: not a window stall.
        assert!(!window_blocked(0, 100, 500, 200, true, 10));
        // Application not blocked: it simply has nothing more to send.
        assert!(!window_blocked(0, 100, 500, 105, false, 10));
    }

    #[test]
    fn plan_merges_subtracts_and_respects_the_budget() {
        let plan = |held: &[(u64, u64)], ex: &[(u64, u64)], budget: u64| {
            resend_plan(&mut held.to_vec(), &mut ex.to_vec(), budget).to_vec()
        };
        assert_eq!(plan(&[], &[], 100), vec![]);
        assert_eq!(plan(&[(0, 10)], &[], 100), vec![(0, 10)]);
        // Overlapping and adjacent ranges merge; order of input does not matter.
        assert_eq!(plan(&[(20, 30), (0, 10), (5, 20)], &[], 100), vec![(0, 30)]);
        // Budget cuts the plan.
        assert_eq!(plan(&[(0, 10), (20, 30)], &[], 15), vec![(0, 10), (20, 25)]);
        assert_eq!(plan(&[(0, 10)], &[], 0), vec![]);
        // Exclusions are cut out, even across several held ranges.
        assert_eq!(
            plan(&[(0, 100)], &[(10, 20), (50, 60)], 1000),
            vec![(0, 10), (20, 50), (60, 100)]
        );
        assert_eq!(
            plan(&[(0, 10), (15, 30)], &[(5, 20)], 1000),
            vec![(0, 5), (20, 30)]
        );
        // An exclusion covering everything.
        assert_eq!(plan(&[(10, 20)], &[(0, 100)], 1000), vec![]);
        // Excluded bytes do not count against the budget.
        assert_eq!(plan(&[(0, 100)], &[(0, 50)], 20), vec![(50, 70)]);
        // Empty ranges are ignored.
        assert_eq!(plan(&[(5, 5), (7, 9)], &[(8, 8)], 100), vec![(7, 9)]);
    }
}
