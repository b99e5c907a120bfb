//! Re-opening lost subflows: the event-driven part every path manager shares.
//!
//! A subflow lost to a timeout (its path stopped answering) is retried after
//! `first`, then twice as long after each attempt that fails, up to `max`, for as long as
//! the connection lives: the cap bounds how long a path that came back stays unused. A
//! subflow lost to a reset or refused (the peer or a middlebox said no) is retried the same
//! way, but only `max_refusals` times. Retries from a local address reported down wait
//! until it is reported up, and then go at once.
//!
//! While other subflows carry the connection, a join's SYN is retransmitted at least every
//! second (see `connection/timers.rs`), so one attempt keeps probing the path until its
//! SYN retries run out, and the next attempt follows after the backoff.

use super::{OpenSubflow, PmAction, PmContext, PmSubflow};
use crate::event::CloseReason;
use crate::time::{Duration, Instant};
use std::net::{IpAddr, SocketAddr};

/// When to open lost subflows again (`EndpointConfig::rejoin`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RejoinPolicy {
    /// Delay before the first attempt after a loss.
    pub first: Duration,
    /// Longest delay between attempts (the delay doubles after each failed attempt).
    pub max: Duration,
    /// Resets and refusals tolerated per address pair before giving it up.
    pub max_refusals: u32,
}

impl Default for RejoinPolicy {
    /// 200 ms, doubling up to 1 s; three refusals.
    fn default() -> Self {
        RejoinPolicy {
            first: Duration::from_millis(200),
            max: Duration::from_secs(1),
            max_refusals: 3,
        }
    }
}

/// Most retries tracked at once, and most pairs remembered as given up.
const MAX_ENTRIES: usize = 32;

/// A re-opened subflow that lived this long worked: its pair starts over with a clean slate.
const STABLE_AFTER: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Open at this time.
    Waiting(Instant),
    /// The local address is down: open when it comes back.
    Paused,
    /// Opened; the outcome is not known yet.
    Trying,
    /// The attempt's handshake completed at this time. Kept for a while: a subflow that is
    /// reset soon after (a middlebox that lets SYNs through but not the data) counts as
    /// a failure, so such a pair backs off and is given up instead of being re-opened
    /// every `first` forever.
    Up(Instant),
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    open: OpenSubflow,
    /// Attempts that failed since the pair last worked.
    failures: u32,
    /// Resets and refusals since the pair was last reported up.
    refusals: u32,
    state: State,
}

/// The retry book of one connection.
#[derive(Debug, Clone, Default)]
pub struct Rejoin {
    policy: Option<RejoinPolicy>,
    entries: Vec<Entry>,
    abandoned: Vec<(IpAddr, SocketAddr)>,
}

/// Whether a subflow that ended this way is worth opening again.
fn is_loss(reason: CloseReason) -> bool {
    matches!(
        reason,
        CloseReason::Timeout
            | CloseReason::PeerReset
            | CloseReason::Refused
            | CloseReason::ProtocolError
            | CloseReason::AddressDown
    )
}

impl Rejoin {
    /// A book following `policy` (`None`: never retry).
    pub fn new(policy: Option<RejoinPolicy>) -> Self {
        Rejoin {
            policy,
            entries: Vec::new(),
            abandoned: Vec::new(),
        }
    }

    /// A subflow the path manager wants kept has ended: schedule its re-opening, or give
    /// the pair up after too many refusals.
    pub fn lost(&mut self, ctx: &PmContext<'_>, sf: &PmSubflow, reason: CloseReason) {
        let Some(policy) = self.policy else {
            return;
        };
        let (local, remote) = (sf.local.ip(), sf.remote);
        let ours = |e: &Entry| {
            matches!(e.state, State::Trying | State::Up(_))
                && (e.open.local, e.open.remote) == (local, remote)
        };
        if !is_loss(reason) {
            self.entries.retain(|e| !ours(e));
            return;
        }
        let mut short_lived = false;
        let mut e = match self.entries.iter().position(ours) {
            Some(i) => {
                let mut e = self.entries.remove(i);
                if let State::Up(since) = e.state {
                    if ctx.now.saturating_duration_since(since) >= STABLE_AFTER {
                        e.failures = 0;
                        e.refusals = 0;
                    } else {
                        short_lived = true;
                    }
                }
                e
            }
            None => Entry {
                open: OpenSubflow {
                    local,
                    remote,
                    backup: sf.backup,
                    local_id: None,
                },
                failures: 0,
                refusals: 0,
                state: State::Trying,
            },
        };
        if sf.established && !short_lived {
            // The pair worked until now: start over with the short delay.
            e.failures = 0;
        } else {
            e.failures = e.failures.saturating_add(1);
        }
        if !matches!(reason, CloseReason::Timeout | CloseReason::AddressDown) {
            e.refusals += 1;
            if e.refusals > policy.max_refusals {
                if self.abandoned.len() < MAX_ENTRIES && !self.abandoned(local, remote) {
                    self.abandoned.push((local, remote));
                }
                return;
            }
        }
        let delay = policy
            .first
            .saturating_mul(1u32 << e.failures.min(16))
            .min(policy.max);
        e.state = if ctx.addr_usable(local) {
            State::Waiting(ctx.now + delay)
        } else {
            State::Paused
        };
        if self.entries.len() < MAX_ENTRIES {
            self.entries.push(e);
        }
    }

    /// A subflow from `local` to `remote` completed its handshake: a pending attempt for
    /// that pair succeeded (remembered until it proves stable, see [`State::Up`]).
    pub fn established(&mut self, now: Instant, local: IpAddr, remote: SocketAddr) {
        if let Some(e) = self
            .entries
            .iter_mut()
            .find(|e| e.state == State::Trying && (e.open.local, e.open.remote) == (local, remote))
        {
            e.state = State::Up(now);
        }
    }

    /// Attempts due now. Attempts from a local address that is down wait for it.
    pub fn due(&mut self, ctx: &PmContext<'_>) -> Vec<PmAction> {
        let mut out = Vec::new();
        let policy = self.policy.unwrap_or_default();
        for e in self.entries.iter_mut() {
            let State::Waiting(at) = e.state else {
                continue;
            };
            if at > ctx.now {
                continue;
            }
            if !ctx.addr_usable(e.open.local) {
                e.state = State::Paused;
            } else if ctx.subflows.len() + out.len() >= ctx.max_subflows {
                // No room now (e.g. the old subflow still lingers): look again later.
                e.state = State::Waiting(ctx.now + policy.max);
            } else {
                e.state = State::Trying;
                out.push(PmAction::Open(e.open));
            }
        }
        out
    }

    /// When [`Rejoin::due`] has something to do.
    pub fn next_at(&self) -> Option<Instant> {
        self.entries
            .iter()
            .filter_map(|e| match e.state {
                State::Waiting(t) => Some(t),
                _ => None,
            })
            .min()
    }

    /// `ip` is usable again: its waiting and paused attempts go now, with a clean slate,
    /// and pairs given up from it may be tried again.
    pub fn address_up(&mut self, now: Instant, ip: IpAddr) {
        for e in self.entries.iter_mut() {
            if e.open.local == ip && matches!(e.state, State::Waiting(_) | State::Paused) {
                e.state = State::Waiting(now);
                e.failures = 0;
                e.refusals = 0;
            }
        }
        self.abandoned.retain(|(l, _)| *l != ip);
    }

    /// `ip` is down: its waiting attempts pause.
    pub fn address_down(&mut self, ip: IpAddr) {
        for e in self.entries.iter_mut() {
            if e.open.local == ip && matches!(e.state, State::Waiting(_)) {
                e.state = State::Paused;
            }
        }
    }

    /// The peer withdrew `remote`: forget every attempt towards it.
    pub fn forget_remote(&mut self, remote: IpAddr) {
        self.entries.retain(|e| e.open.remote.ip() != remote);
        self.abandoned.retain(|(_, r)| r.ip() != remote);
    }

    /// Attempts waiting or paused for this pair (not the ones in progress: those are
    /// subflows already).
    pub fn pending(&self, local: IpAddr, remote: SocketAddr) -> usize {
        self.entries
            .iter()
            .filter(|e| {
                matches!(e.state, State::Waiting(_) | State::Paused)
                    && (e.open.local, e.open.remote) == (local, remote)
            })
            .count()
    }

    /// Whether this pair was given up after too many refusals.
    pub fn abandoned(&self, local: IpAddr, remote: SocketAddr) -> bool {
        self.abandoned.contains(&(local, remote))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{at_ms, ip, opens, sa, Ctx};
    use super::*;

    fn book() -> Rejoin {
        Rejoin::new(Some(RejoinPolicy::default()))
    }

    #[test]
    fn timeouts_back_off_to_the_cap_and_never_give_up() {
        let mut c = Ctx::client(&["10.0.0.1", "10.1.0.1"], "10.9.0.1:80");
        let sf = c.subflow("10.1.0.1:5000", "10.9.0.1:80");
        c.drop_subflow("10.1.0.1:5000");
        let mut r = book();
        r.lost(&c.ctx(), &sf, CloseReason::Timeout);
        // Established before: first retry after 200 ms.
        assert_eq!(r.next_at(), Some(at_ms(200)));
        assert_eq!(r.pending(ip("10.1.0.1"), sa("10.9.0.1:80")), 1);
        let mut attempt = PmSubflow {
            established: false,
            ..sf
        };
        let mut gaps = Vec::new();
        for _ in 0..6 {
            c.now = r.next_at().unwrap();
            let due = r.due(&c.ctx());
            assert_eq!(opens(&due), vec![(ip("10.1.0.1"), sa("10.9.0.1:80"))]);
            assert_eq!(r.next_at(), None, "nothing else waits while trying");
            assert_eq!(r.pending(ip("10.1.0.1"), sa("10.9.0.1:80")), 0);
            attempt.local = sa("10.1.0.1:6000");
            r.lost(&c.ctx(), &attempt, CloseReason::Timeout);
            gaps.push((r.next_at().unwrap() - c.now).as_millis());
        }
        assert_eq!(gaps, vec![400, 800, 1000, 1000, 1000, 1000]);
    }

    #[test]
    fn success_ends_the_retries() {
        let mut c = Ctx::client(&["10.0.0.1", "10.1.0.1"], "10.9.0.1:80");
        let sf = c.drop_subflow("10.0.0.1:4000");
        let mut r = book();
        r.lost(&c.ctx(), &sf, CloseReason::Timeout);
        c.now = at_ms(200);
        assert_eq!(r.due(&c.ctx()).len(), 1);
        r.established(at_ms(250), ip("10.0.0.1"), sa("10.9.0.1:80"));
        assert_eq!(r.next_at(), None);
        assert_eq!(r.pending(ip("10.0.0.1"), sa("10.9.0.1:80")), 0);
    }

    #[test]
    fn subflows_reset_soon_after_opening_back_off_and_are_given_up() {
        let mut c = Ctx::client(&["10.0.0.1", "10.1.0.1"], "10.9.0.1:80");
        let sf = PmSubflow {
            local: sa("10.1.0.1:5000"),
            remote: sa("10.9.0.1:80"),
            initial: false,
            established: true,
            backup: false,
        };
        let mut r = book();
        let mut delays = Vec::new();
        for _ in 0..3 {
            r.lost(&c.ctx(), &sf, CloseReason::PeerReset);
            let at = r.next_at().expect("a retry is scheduled");
            delays.push(at.saturating_duration_since(c.now));
            c.now = at;
            assert_eq!(r.due(&c.ctx()).len(), 1);
            // The join completes, and the peer resets it 40 ms later.
            r.established(c.now, ip("10.1.0.1"), sa("10.9.0.1:80"));
            c.now += Duration::from_millis(40);
        }
        assert!(delays[1] > delays[0] && delays[2] > delays[1], "{delays:?}");
        r.lost(&c.ctx(), &sf, CloseReason::PeerReset);
        assert!(r.abandoned(ip("10.1.0.1"), sa("10.9.0.1:80")));
        // A subflow that lived long enough clears the record.
        let mut r = book();
        r.lost(&c.ctx(), &sf, CloseReason::PeerReset);
        c.now = r.next_at().unwrap();
        r.due(&c.ctx());
        r.established(c.now, ip("10.1.0.1"), sa("10.9.0.1:80"));
        c.now += Duration::from_secs(11);
        r.lost(&c.ctx(), &sf, CloseReason::PeerReset);
        let at = r.next_at().unwrap();
        assert_eq!(
            at.saturating_duration_since(c.now),
            Duration::from_millis(200)
        );
    }

    #[test]
    fn refusals_are_bounded() {
        let c = Ctx::client(&["10.0.0.1", "10.1.0.1"], "10.9.0.1:80");
        let sf = PmSubflow {
            local: sa("10.1.0.1:5000"),
            remote: sa("10.9.0.1:80"),
            initial: false,
            established: false,
            backup: false,
        };
        let mut r = book();
        for _ in 0..3 {
            r.lost(&c.ctx(), &sf, CloseReason::Refused);
            assert_eq!(r.entries.len(), 1);
            r.entries[0].state = State::Trying;
        }
        r.lost(&c.ctx(), &sf, CloseReason::Refused);
        assert!(r.entries.is_empty());
        assert!(r.abandoned(ip("10.1.0.1"), sa("10.9.0.1:80")));
        // The address coming back up clears the verdict.
        r.address_up(at_ms(5), ip("10.1.0.1"));
        assert!(!r.abandoned(ip("10.1.0.1"), sa("10.9.0.1:80")));
    }

    #[test]
    fn normal_closes_and_removals_are_not_retried_and_no_policy_means_never() {
        let c = Ctx::client(&["10.0.0.1"], "10.9.0.1:80");
        let sf = c.subflows[0];
        let mut r = book();
        for reason in [
            CloseReason::Normal,
            CloseReason::Removed,
            CloseReason::LocalAbort,
        ] {
            r.lost(&c.ctx(), &sf, reason);
        }
        assert!(r.entries.is_empty());
        let mut off = Rejoin::new(None);
        off.lost(&c.ctx(), &sf, CloseReason::Timeout);
        assert!(off.entries.is_empty());
    }

    #[test]
    fn a_down_address_pauses_and_its_return_retries_at_once() {
        let mut c = Ctx::client(&["10.0.0.1", "10.1.0.1"], "10.9.0.1:80");
        let sf = c.drop_subflow("10.0.0.1:4000");
        c.down_addrs.push(ip("10.0.0.1"));
        let mut r = book();
        r.lost(&c.ctx(), &sf, CloseReason::AddressDown);
        assert_eq!(r.next_at(), None, "paused");
        assert_eq!(r.pending(ip("10.0.0.1"), sa("10.9.0.1:80")), 1);
        c.now = at_ms(7_000);
        c.down_addrs.clear();
        r.address_up(c.now, ip("10.0.0.1"));
        assert_eq!(r.next_at(), Some(at_ms(7_000)));
        assert_eq!(r.due(&c.ctx()).len(), 1);
        // Going down while waiting pauses again.
        let mut r = book();
        c.now = at_ms(0);
        r.lost(&c.ctx(), &sf, CloseReason::Timeout);
        r.address_down(ip("10.0.0.1"));
        assert_eq!(r.next_at(), None);
    }

    #[test]
    fn no_room_postpones_instead_of_opening() {
        let mut c = Ctx::client(&["10.0.0.1", "10.1.0.1"], "10.9.0.1:80");
        let sf = c.subflow("10.1.0.1:5000", "10.9.0.1:80");
        let mut r = book();
        r.lost(&c.ctx(), &sf, CloseReason::PeerReset);
        c.max_subflows = 2;
        c.now = at_ms(200);
        assert!(r.due(&c.ctx()).is_empty());
        assert_eq!(r.next_at(), Some(at_ms(1_200)));
        r.forget_remote(ip("10.9.0.1"));
        assert_eq!(r.next_at(), None);
    }
}
