//! One direction of a path: a drop-tail byte queue in front of a transmitter of a given rate,
//! then a propagation delay, with seeded random loss, reordering and duplication, and an
//! up/down state.
//!
//! The queue is modelled by the time the transmitter becomes idle (`busy_until`): the backlog
//! at `now` is what the transmitter still has to send. Packets in flight wait in a FIFO
//! ordered by arrival time (a link never lets a packet overtake another, even after its delay
//! shrinks); reordered packets take a side lane keyed by their later arrival time.

use crate::pool::BufPool;
use crate::scenario::{default_queue, LinkChange, PathSpec};
use crate::units::serialization_nanos;
use mptcp_proto::Instant;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

/// The current parameters of a link direction.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkParams {
    /// Transmission rate, bits per second.
    pub rate_bps: u64,
    /// One-way propagation delay.
    pub delay: Duration,
    /// Drop-tail limit on the backlog, bytes.
    pub queue_limit: u64,
    /// Whether `queue_limit` was given explicitly (otherwise it follows rate and delay).
    pub queue_explicit: bool,
    /// Random loss probability.
    pub loss: f64,
    /// Reordering probability.
    pub reorder: f64,
    /// Duplication probability.
    pub duplicate: f64,
    /// Packets enter the queue up to this long after they are sent (uniformly, in order):
    /// the sending hosts' timing noise, which breaks the phase effects a perfectly regular
    /// drop-tail queue has (Floyd and Jacobson, 1992). Zero: exactly when sent.
    pub jitter: Duration,
    /// Whether `jitter` was given explicitly (otherwise it follows the rate).
    pub jitter_explicit: bool,
}

impl LinkParams {
    /// The parameters of one direction of `path`.
    pub fn from_path(path: &PathSpec) -> Self {
        LinkParams {
            rate_bps: path.rate,
            delay: path.delay,
            queue_limit: path
                .queue
                .unwrap_or_else(|| default_queue(path.rate, path.delay)),
            queue_explicit: path.queue.is_some(),
            loss: path.loss,
            reorder: path.reorder,
            duplicate: path.duplicate,
            jitter: path.jitter.unwrap_or_else(|| default_jitter(path.rate)),
            jitter_explicit: path.jitter.is_some(),
        }
    }

    /// Applies a `set` event.
    pub fn apply(&mut self, change: &LinkChange) {
        if let Some(r) = change.rate {
            self.rate_bps = r;
            if !self.jitter_explicit {
                self.jitter = default_jitter(r);
            }
        }
        if let Some(d) = change.delay {
            self.delay = d;
        }
        if let Some(l) = change.loss {
            self.loss = l;
        }
        if let Some(q) = change.queue {
            self.queue_limit = q;
            self.queue_explicit = true;
        } else if !self.queue_explicit {
            self.queue_limit = default_queue(self.rate_bps, self.delay);
        }
    }
}

/// The default sender jitter: one 1500-byte packet's time at `rate_bps`.
pub fn default_jitter(rate_bps: u64) -> Duration {
    Duration::from_nanos(serialization_nanos(1500, rate_bps))
}

/// Why a packet did not make it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// The link was down.
    Down,
    /// The queue was full.
    QueueFull,
    /// Random loss.
    Loss,
}

/// Counters of one link direction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkStats {
    /// Packets offered to the link.
    pub offered: u64,
    /// Packets delivered at the far end.
    pub delivered: u64,
    /// Bytes delivered at the far end.
    pub delivered_bytes: u64,
    /// Packets dropped because the link was down (including those flushed by going down).
    pub dropped_down: u64,
    /// Packets dropped by the full queue.
    pub dropped_queue: u64,
    /// Packets lost at random.
    pub dropped_loss: u64,
    /// Packets duplicated.
    pub duplicated: u64,
    /// Packets reordered.
    pub reordered: u64,
}

/// One direction of a path.
#[derive(Debug)]
pub struct Link {
    params: LinkParams,
    up: bool,
    rng: ChaCha8Rng,
    busy_until: Instant,
    /// When the last packet entered the queue (entries keep the order of sending).
    last_entry: Instant,
    last_arrival: Instant,
    fifo: VecDeque<(Instant, Vec<u8>)>,
    side_lane: BTreeMap<(Instant, u64), Vec<u8>>,
    side_seq: u64,
    stats: LinkStats,
}

impl Link {
    /// A link that is up, with an empty queue, drawing randomness from `seed`.
    pub fn new(params: LinkParams, seed: u64) -> Self {
        Link {
            params,
            up: true,
            rng: ChaCha8Rng::seed_from_u64(seed),
            busy_until: Instant::ZERO,
            last_entry: Instant::ZERO,
            last_arrival: Instant::ZERO,
            fifo: VecDeque::new(),
            side_lane: BTreeMap::new(),
            side_seq: 0,
            stats: LinkStats::default(),
        }
    }

    /// Current parameters.
    pub fn params(&self) -> &LinkParams {
        &self.params
    }

    /// Changes parameters from now on (packets already queued keep their times).
    pub fn apply(&mut self, change: &LinkChange) {
        self.params.apply(change);
    }

    /// Counters.
    pub fn stats(&self) -> &LinkStats {
        &self.stats
    }

    /// Whether the link is up.
    pub fn is_up(&self) -> bool {
        self.up
    }

    /// Takes the link down: every queued and in-flight packet is lost (buffers go to `pool`).
    pub fn set_down(&mut self, pool: &mut BufPool) {
        self.up = false;
        for (_, b) in self.fifo.drain(..) {
            self.stats.dropped_down += 1;
            pool.put(b);
        }
        while let Some((_, b)) = self.side_lane.pop_first() {
            self.stats.dropped_down += 1;
            pool.put(b);
        }
    }

    /// Brings the link back up with an idle transmitter.
    pub fn set_up(&mut self, now: Instant) {
        self.up = true;
        self.busy_until = now;
    }

    /// Bytes waiting for (or in) the transmitter at `now`.
    pub fn backlog(&self, now: Instant) -> u64 {
        let ns = self.busy_until.saturating_duration_since(now).as_nanos();
        let bytes = ns * u128::from(self.params.rate_bps) / 8 / 1_000_000_000;
        u64::try_from(bytes).unwrap_or(u64::MAX)
    }

    /// Packets in the link (queued or propagating).
    pub fn in_flight(&self) -> usize {
        self.fifo.len() + self.side_lane.len()
    }

    fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && self.rng.gen::<f64>() < p
    }

    /// Offers a packet to the link at `now`. Returns the reason when it is dropped (its
    /// buffer then went back to `pool`).
    pub fn send(
        &mut self,
        now: Instant,
        pkt: Vec<u8>,
        pool: &mut BufPool,
    ) -> Result<(), DropReason> {
        let dup = if self.chance(self.params.duplicate) && self.up {
            self.stats.duplicated += 1;
            Some(pool.copy_of(&pkt))
        } else {
            None
        };
        // Entering the queue a little after `now` is the same as entering it at `now` with
        // the state it will have then: entries are in order, so every packet admitted
        // before entered earlier.
        let entry = self.entry_time(now);
        let first = self.admit(entry, pkt, pool);
        if let Some(d) = dup {
            // The copy is a packet of its own: it may be lost or dropped independently.
            let _ = self.admit(entry, d, pool);
        }
        first
    }

    /// When a packet sent at `now` enters the queue (see [`LinkParams::jitter`]).
    fn entry_time(&mut self, now: Instant) -> Instant {
        let max = u64::try_from(self.params.jitter.as_nanos()).unwrap_or(u64::MAX);
        let noise = if max == 0 {
            0
        } else {
            self.rng.gen_range(0..max)
        };
        let entry = (now + Duration::from_nanos(noise)).max(self.last_entry);
        self.last_entry = entry;
        entry
    }

    fn admit(&mut self, now: Instant, pkt: Vec<u8>, pool: &mut BufPool) -> Result<(), DropReason> {
        self.stats.offered += 1;
        if !self.up {
            self.stats.dropped_down += 1;
            pool.put(pkt);
            return Err(DropReason::Down);
        }
        let len = pkt.len();
        let backlog = self.backlog(now);
        if backlog > 0 && backlog.saturating_add(len as u64) > self.params.queue_limit {
            self.stats.dropped_queue += 1;
            pool.put(pkt);
            return Err(DropReason::QueueFull);
        }
        let start = self.busy_until.max(now);
        self.busy_until =
            start + Duration::from_nanos(serialization_nanos(len, self.params.rate_bps));
        let arrival = self.busy_until + self.params.delay;
        if self.chance(self.params.loss) {
            // Lost on the wire: it used the transmitter but never arrives.
            self.stats.dropped_loss += 1;
            pool.put(pkt);
            return Err(DropReason::Loss);
        }
        if self.chance(self.params.reorder) {
            let max_extra = u64::try_from(self.params.delay.as_nanos()).unwrap_or(u64::MAX);
            let extra = if max_extra == 0 {
                0
            } else {
                self.rng.gen_range(0..=max_extra)
            };
            self.stats.reordered += 1;
            self.side_seq += 1;
            self.side_lane
                .insert((arrival + Duration::from_nanos(extra), self.side_seq), pkt);
        } else {
            let arrival = arrival.max(self.last_arrival);
            self.last_arrival = arrival;
            self.fifo.push_back((arrival, pkt));
        }
        Ok(())
    }

    /// When the next packet arrives at the far end, if any is in the link.
    pub fn next_arrival(&self) -> Option<Instant> {
        let a = self.fifo.front().map(|(t, _)| *t);
        let b = self.side_lane.first_key_value().map(|((t, _), _)| *t);
        match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Takes the next packet that has arrived by `now`, in arrival order.
    pub fn pop_arrived(&mut self, now: Instant) -> Option<Vec<u8>> {
        let a = self.fifo.front().map(|(t, _)| *t).filter(|&t| t <= now);
        let b = self
            .side_lane
            .first_key_value()
            .map(|((t, _), _)| *t)
            .filter(|&t| t <= now);
        let pkt = match (a, b) {
            (Some(a), Some(b)) if b < a => self.side_lane.pop_first().map(|(_, p)| p),
            (Some(_), _) => self.fifo.pop_front().map(|(_, p)| p),
            (None, Some(_)) => self.side_lane.pop_first().map(|(_, p)| p),
            (None, None) => None,
        }?;
        self.stats.delivered += 1;
        self.stats.delivered_bytes += pkt.len() as u64;
        Some(pkt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(rate: u64, delay_ms: u64) -> LinkParams {
        LinkParams {
            rate_bps: rate,
            delay: Duration::from_millis(delay_ms),
            queue_limit: 1_000_000,
            queue_explicit: true,
            loss: 0.0,
            reorder: 0.0,
            duplicate: 0.0,
            jitter: Duration::ZERO,
            jitter_explicit: true,
        }
    }

    fn pkt(len: usize, tag: u8) -> Vec<u8> {
        vec![tag; len]
    }

    fn drain(link: &mut Link) -> Vec<(Instant, Vec<u8>)> {
        let mut out = Vec::new();
        while let Some(t) = link.next_arrival() {
            let p = link.pop_arrived(t).unwrap();
            out.push((t, p));
        }
        out
    }

    #[test]
    fn jitter_delays_entry_within_bound_and_keeps_order() {
        let mut pool = BufPool::new();
        let mut p = params(10_000_000, 1);
        p.jitter = Duration::from_micros(500);
        let mut link = Link::new(p, 9);
        for i in 0..50u8 {
            let now = Instant::from_micros(u64::from(i) * 2000);
            link.send(now, pkt(100, i), &mut pool).unwrap();
            // 100 B at 10 Mbit/s = 80 us, 1 ms delay, at most 500 us of jitter.
            let arrival = link.next_arrival().unwrap();
            let base = now + Duration::from_micros(1080);
            assert!(arrival >= base && arrival < base + Duration::from_micros(500));
            assert_eq!(link.pop_arrived(arrival).unwrap()[0], i);
        }
        // A burst sent at one instant keeps its order.
        for i in 0..20u8 {
            link.send(Instant::from_millis(200), pkt(100, i), &mut pool)
                .unwrap();
        }
        let got: Vec<u8> = drain(&mut link).into_iter().map(|(_, p)| p[0]).collect();
        assert_eq!(got, (0..20).collect::<Vec<u8>>());
    }

    #[test]
    fn serialization_and_propagation() {
        let mut pool = BufPool::new();
        let mut link = Link::new(params(100_000_000, 10), 1);
        link.send(Instant::ZERO, pkt(1500, 1), &mut pool).unwrap();
        link.send(Instant::ZERO, pkt(1500, 2), &mut pool).unwrap();
        // 1500 B at 100 Mbit/s = 120 us, plus 10 ms.
        assert_eq!(link.next_arrival(), Some(Instant::from_micros(10_120)));
        assert_eq!(link.pop_arrived(Instant::from_micros(10_119)), None);
        let got = drain(&mut link);
        assert_eq!(got[0].0, Instant::from_micros(10_120));
        assert_eq!(got[1].0, Instant::from_micros(10_240));
        assert_eq!(got[0].1[0], 1);
        assert_eq!(got[1].1[0], 2);
        // An idle link later: no queueing.
        link.send(Instant::from_micros(100_000), pkt(1500, 3), &mut pool)
            .unwrap();
        assert_eq!(link.next_arrival(), Some(Instant::from_micros(110_120)));
    }

    #[test]
    fn queue_overflow_drops_tail() {
        let mut pool = BufPool::new();
        let mut p = params(1_000_000, 1);
        p.queue_limit = 5_000;
        let mut link = Link::new(p, 1);
        let mut ok = 0;
        let mut dropped = 0;
        for i in 0..10 {
            match link.send(Instant::ZERO, pkt(1000, i), &mut pool) {
                Ok(()) => ok += 1,
                Err(DropReason::QueueFull) => dropped += 1,
                Err(e) => panic!("{e:?}"),
            }
        }
        assert_eq!(ok, 5);
        assert_eq!(dropped, 5);
        assert_eq!(link.stats().dropped_queue, 5);
        assert_eq!(link.backlog(Instant::ZERO), 5000);
        // The queue drains at the link rate: after 8 ms (1000 B) there is room for one more.
        assert_eq!(link.backlog(Instant::from_micros(8_000)), 4000);
        assert!(link
            .send(Instant::from_micros(8_000), pkt(1000, 9), &mut pool)
            .is_ok());
        assert!(link
            .send(Instant::from_micros(8_000), pkt(1000, 9), &mut pool)
            .is_err());
        // Survivors arrive in order, one serialization time apart.
        let got = drain(&mut link);
        let tags: Vec<u8> = got.iter().map(|(_, p)| p[0]).collect();
        assert_eq!(tags, vec![0, 1, 2, 3, 4, 9]);
    }

    #[test]
    fn loss_rate_is_statistically_right() {
        let mut pool = BufPool::new();
        let mut p = params(1_000_000_000, 1);
        p.loss = 0.1;
        p.queue_limit = u64::MAX;
        let mut link = Link::new(p, 42);
        let n = 20_000;
        for _ in 0..n {
            let _ = link.send(Instant::ZERO, pkt(100, 0), &mut pool);
        }
        let lost = link.stats().dropped_loss as f64;
        // Binomial: mean 2000, sd ~42; allow 5 sd.
        assert!((lost - 2000.0).abs() < 210.0, "lost {lost}");
        assert_eq!(drain(&mut link).len() as u64, n - link.stats().dropped_loss);
    }

    #[test]
    fn same_seed_same_losses() {
        let run = |seed| {
            let mut pool = BufPool::new();
            let mut p = params(1_000_000_000, 1);
            p.loss = 0.3;
            let mut link = Link::new(p, seed);
            (0..200)
                .map(|_| link.send(Instant::ZERO, pkt(10, 0), &mut pool).is_ok())
                .collect::<Vec<_>>()
        };
        assert_eq!(run(5), run(5));
        assert_ne!(run(5), run(6));
    }

    #[test]
    fn down_drops_queue_and_new_packets_then_up() {
        let mut pool = BufPool::new();
        let mut link = Link::new(params(10_000_000, 5), 1);
        for i in 0..3 {
            link.send(Instant::ZERO, pkt(1000, i), &mut pool).unwrap();
        }
        assert_eq!(link.in_flight(), 3);
        link.set_down(&mut pool);
        assert!(!link.is_up());
        assert_eq!(link.in_flight(), 0);
        assert_eq!(link.next_arrival(), None);
        assert_eq!(
            link.send(Instant::from_micros(1), pkt(1000, 7), &mut pool),
            Err(DropReason::Down)
        );
        assert_eq!(link.stats().dropped_down, 4);
        assert_eq!(pool.idle(), 4);
        let t = Instant::from_micros(2_000);
        link.set_up(t);
        link.send(t, pkt(1000, 8), &mut pool).unwrap();
        // 1000 B at 10 Mbit/s = 800 us, plus 5 ms.
        assert_eq!(
            link.next_arrival(),
            Some(Instant::from_micros(2_000 + 800 + 5_000))
        );
    }

    #[test]
    fn reorder_delays_some_packets() {
        let mut pool = BufPool::new();
        let mut p = params(1_000_000_000, 10);
        p.reorder = 0.2;
        let mut link = Link::new(p, 3);
        for i in 0..100u8 {
            link.send(Instant::ZERO, pkt(100, i), &mut pool).unwrap();
        }
        let got = drain(&mut link);
        assert_eq!(got.len(), 100);
        let tags: Vec<u8> = got.iter().map(|(_, p)| p[0]).collect();
        let mut sorted = tags.clone();
        sorted.sort_unstable();
        assert_ne!(tags, sorted, "some packets arrive out of order");
        assert!(link.stats().reordered > 5);
        // Arrival times never go backwards and never exceed two propagation delays.
        for w in got.windows(2) {
            assert!(w[0].0 <= w[1].0);
        }
        assert!(got.last().unwrap().0 <= Instant::from_micros(20_001));
    }

    #[test]
    fn duplicate_sends_copies() {
        let mut pool = BufPool::new();
        let mut p = params(1_000_000_000, 1);
        p.duplicate = 1.0;
        let mut link = Link::new(p, 3);
        link.send(Instant::ZERO, pkt(100, 9), &mut pool).unwrap();
        let got = drain(&mut link);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].1, got[1].1);
    }

    #[test]
    fn set_changes_rate_and_default_queue() {
        let path = PathSpec {
            rate: 100_000_000,
            delay: Duration::from_millis(10),
            queue: None,
            loss: 0.0,
            reorder: 0.0,
            duplicate: 0.0,
            jitter: None,
            middlebox: None,
            mtu: 1500,
            backup: false,
            events: vec![],
        };
        let mut p = LinkParams::from_path(&path);
        assert_eq!(p.queue_limit, 250_000);
        p.apply(&LinkChange {
            rate: Some(10_000_000),
            ..Default::default()
        });
        assert_eq!(p.rate_bps, 10_000_000);
        assert_eq!(p.queue_limit, 25_000);
        p.apply(&LinkChange {
            queue: Some(1234),
            ..Default::default()
        });
        p.apply(&LinkChange {
            rate: Some(1_000_000_000),
            ..Default::default()
        });
        assert_eq!(p.queue_limit, 1234);
    }

    #[test]
    fn shorter_delay_never_overtakes() {
        let mut pool = BufPool::new();
        let mut link = Link::new(params(1_000_000_000, 50), 1);
        link.send(Instant::ZERO, pkt(100, 1), &mut pool).unwrap();
        link.apply(&LinkChange {
            delay: Some(Duration::from_millis(1)),
            ..Default::default()
        });
        link.send(Instant::ZERO, pkt(100, 2), &mut pool).unwrap();
        let got = drain(&mut link);
        assert_eq!(got[0].1[0], 1);
        assert_eq!(got[1].1[0], 2);
        assert!(got[1].0 >= got[0].0);
    }
}
