//! Receive-buffer autotuning: the connection-level receive window starts small and grows
//! with what the application actually consumes, up to `EndpointConfig::recv_buffer`.
//!
//! This is dynamic right-sizing as in Linux (`tcp_rcv_space_adjust`, and MPTCP's
//! `mptcp_rcv_space_adjust` at connection level), which is the target of Barré's thesis
//! (§4, digest 001): `2 × Σ_i BW_i × RTT_max`. Once per largest subflow RTT the bytes the
//! application read during that RTT (`copied`, i.e. `Σ_i BW_i × RTT_max`) are compared with
//! the previous measurement (`space`). When they grew, the buffer becomes
//!
//! ```text
//! rcvwin = (2 × copied + 16 × MSS) × (1 + 2 × min(copied − space, space) / space)
//! ```
//!
//! twice the measured rate times the RTT (loss recovery needs a second window), a cushion,
//! and room for a sender still in slow start (it doubles per RTT, and the window we
//! advertise now is used one RTT later). Unlike Linux, the growth counts at most one
//! doubling: a larger jump is a burst of reads (a hole filled after a loss), not rate. The buffer never shrinks (nor, in
//! `Connection::receive_window`, does the advertised right edge: RFC 9293 §3.8.6,
//! RFC 8684 §3.3.4). An application that does not keep up (half the buffer unread) does
//! not make it grow: more buffer would only hold more unread data.
//!
//! The first measurement takes effect two RTTs after the first data, when a sender in slow
//! start already sends four initial windows per subflow: the buffer starts at 128 KiB and
//! at 64 KiB per subflow that can receive. Starting at 64 KiB made two subflows outgrow
//! it in their third round; the sender, blocked by the window, then takes the subflow
//! holding the window's left edge for a slow one (opportunistic retransmission and
//! penalisation) and ends its slow start: two-equal-paths fell from 177 to 119 Mbit/s.

use crate::time::{Duration, Instant};

/// Receive buffer a connection starts with when autotuning (Linux's default `tcp_rmem[1]`).
pub(crate) const INITIAL_RECV_BUFFER: u64 = 128 * 1024;

/// Least receive buffer per subflow that can receive, when autotuning.
pub(crate) const PER_SUBFLOW_RECV_BUFFER: u64 = 64 * 1024;

/// Segments of cushion added to twice the measured bytes per RTT (Linux: 16 × advmss).
const CUSHION_SEGMENTS: u64 = 16;

/// Initial window, in segments, that the first measurement is compared with (Linux:
/// `TCP_INIT_CWND`, the sender's initial window).
const INITIAL_SPACE_SEGMENTS: u64 = 10;

/// The receive-buffer autotuner of one connection.
#[derive(Debug, Clone)]
pub(crate) struct RecvAutotune {
    /// Receive buffer, bytes: what the window may grow to.
    buffer: u64,
    /// Part of the buffer offered to the peer so far (Linux's `rcv_ssthresh`): it follows
    /// the buffer by at most two segments per segment received, so that a grown buffer
    /// opens the window as slow start would rather than in one burst-inviting step.
    offered: u64,
    /// `EndpointConfig::recv_buffer`: the largest the buffer may grow.
    max: u64,
    /// Whether measurements move the buffer at all.
    enabled: bool,
    /// Start of the current measurement: time and bytes read by the application so far.
    epoch: Option<(Instant, u64)>,
    /// Bytes read per RTT in the measurement that last grew the buffer.
    space: u64,
    /// MSS used for the cushion, bytes.
    mss: u64,
}

impl RecvAutotune {
    /// An autotuner growing up to `max` bytes; disabled, the buffer is `max` from the start.
    pub(crate) fn new(max: u64, enabled: bool, mss: u64) -> Self {
        let mss = mss.max(1);
        let buffer = if enabled {
            INITIAL_RECV_BUFFER.min(max)
        } else {
            max
        };
        RecvAutotune {
            buffer,
            offered: buffer,
            max,
            enabled,
            epoch: None,
            space: INITIAL_SPACE_SEGMENTS
                .saturating_mul(mss)
                .min(INITIAL_RECV_BUFFER),
            mss,
        }
    }

    /// The buffer the window is advertised from now, bytes (at most the buffer).
    pub(crate) fn offered(&self) -> u64 {
        self.offered
    }

    /// The connection has `n` subflows that can receive: the buffer is at least
    /// [`PER_SUBFLOW_RECV_BUFFER`] for each (every subflow's sender starts its own slow
    /// start, and the first measurement only takes effect after two RTTs).
    pub(crate) fn on_subflows(&mut self, n: usize) {
        if !self.enabled {
            return;
        }
        let floor = PER_SUBFLOW_RECV_BUFFER
            .saturating_mul(n as u64)
            .min(self.max);
        self.buffer = self.buffer.max(floor);
    }

    /// A segment carrying `len` new bytes arrived: the offered buffer grows by up to two
    /// segments towards the buffer (Linux's `tcp_grow_window`).
    pub(crate) fn on_segment(&mut self, len: u64) {
        let step = len.min(self.mss).saturating_mul(2);
        self.offered = self.offered.saturating_add(step).min(self.buffer);
    }

    /// Data arrived at `now`. `read` counts every byte the application has read so far,
    /// `unread` the bytes waiting for it, and `rtt` is the largest RTT of the subflows
    /// (`None` while none is known: nothing is measured).
    pub(crate) fn on_data(&mut self, now: Instant, read: u64, unread: u64, rtt: Option<Duration>) {
        if !self.enabled || self.buffer >= self.max {
            return;
        }
        let Some(rtt) = rtt.filter(|r| !r.is_zero()) else {
            return;
        };
        let (start, read_at_start) = *self.epoch.get_or_insert((now, read));
        if now.saturating_duration_since(start) < rtt {
            return;
        }
        self.epoch = Some((now, read));
        let copied = read.saturating_sub(read_at_start);
        if copied <= self.space || unread.saturating_mul(2) >= self.buffer {
            return;
        }
        let base = 2 * u128::from(copied) + u128::from(CUSHION_SEGMENTS.saturating_mul(self.mss));
        let space = u128::from(self.space.max(1));
        let growth = (u128::from(copied) - space).min(space);
        let grow = base.saturating_mul(growth) / space;
        let target = base.saturating_add(grow.saturating_mul(2));
        let target = u64::try_from(target).unwrap_or(u64::MAX).min(self.max);
        self.buffer = self.buffer.max(target);
        self.space = copied;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Instant {
        Instant::from_millis(n)
    }

    const RTT: Option<Duration> = Some(Duration::from_millis(100));
    const MAX: u64 = 4 << 20;

    #[test]
    fn autotune_starts_small_and_disabled_is_max() {
        let t = RecvAutotune::new(MAX, true, 1000);
        assert_eq!((t.buffer, t.offered()), (131_072, 131_072));
        assert_eq!(t.space, 10_000);
        let t = RecvAutotune::new(32_768, true, 1000);
        assert_eq!(t.buffer, 32_768);
        let mut t = RecvAutotune::new(MAX, false, 1000);
        assert_eq!((t.buffer, t.offered()), (MAX, MAX));
        t.on_subflows(8);
        t.on_data(ms(0), 0, 0, RTT);
        t.on_data(ms(200), 1 << 30, 0, RTT);
        assert_eq!((t.buffer, t.offered()), (MAX, MAX));
    }

    #[test]
    fn autotune_grows_hand_computed() {
        let mut t = RecvAutotune::new(MAX, true, 1000);
        // The first data starts a measurement.
        t.on_data(ms(1000), 5_000, 0, RTT);
        // Less than one RTT later: nothing yet.
        t.on_data(ms(1099), 100_000, 0, RTT);
        assert_eq!(t.buffer, 131_072);
        // One RTT: 20000 bytes read (space 10000):
        // base = 2 * 20000 + 16 * 1000 = 56000; grow = 56000 * (20000 - 10000) / 10000
        // = 56000; rcvwin = 56000 + 2 * 56000 = 168000.
        t.on_data(ms(1100), 25_000, 0, RTT);
        assert_eq!(t.buffer, 168_000);
        assert_eq!(t.space, 20_000);
        // Next RTT: 30000 read: base 76000; grow 76000 * 10000 / 20000 = 38000;
        // rcvwin = 76000 + 76000 = 152000 < 168000: the buffer never shrinks.
        t.on_data(ms(1200), 55_000, 0, RTT);
        assert_eq!(t.buffer, 168_000);
        assert_eq!(t.space, 30_000);
        // The same rate again: copied <= space, no change.
        t.on_data(ms(1300), 85_000, 0, RTT);
        assert_eq!((t.buffer, t.space), (168_000, 30_000));
        // 100000 in one RTT, more than a doubling: base 216000; the growth counts
        // min(70000, 30000) = 30000: grow = 216000; rcvwin = 216000 + 432000 = 648000.
        t.on_data(ms(1400), 185_000, 0, RTT);
        assert_eq!((t.buffer, t.space), (648_000, 100_000));
        // 1 MB in one RTT: base 2016000, grow 2016000: 6048000, capped at 4 MiB.
        t.on_data(ms(1500), 1_185_000, 0, RTT);
        assert_eq!(t.buffer, MAX);
    }

    #[test]
    fn autotune_needs_an_rtt_and_an_application_that_keeps_up() {
        let mut t = RecvAutotune::new(MAX, true, 1000);
        t.on_data(ms(0), 0, 0, None);
        t.on_data(ms(500), 1 << 20, 0, None);
        t.on_data(ms(600), 2 << 20, 0, Some(Duration::ZERO));
        assert_eq!(t.buffer, 131_072);
        // 50000 bytes read in an RTT, but half the buffer (65536) is still unread.
        t.on_data(ms(1000), 0, 0, RTT);
        t.on_data(ms(1100), 50_000, 65_536, RTT);
        assert_eq!(t.buffer, 131_072);
        // The application caught up: 50000 more in the next RTT (space 10000):
        // base 116000; growth min(40000, 10000): grow 116000; rcvwin = 348000.
        t.on_data(ms(1200), 100_000, 0, RTT);
        assert_eq!(t.buffer, 348_000);
    }

    #[test]
    fn autotune_slow_reader_stays_at_initial_buffer() {
        // 8000 bytes read per 100 ms RTT: below the initial space of 10 segments.
        let mut t = RecvAutotune::new(MAX, true, 1000);
        for k in 0..100u64 {
            t.on_data(ms(100 * k), 8_000 * k, 0, RTT);
        }
        assert_eq!(t.buffer, 131_072);
    }

    #[test]
    fn autotune_floor_per_subflow_and_offered_ramp() {
        let mut t = RecvAutotune::new(MAX, true, 1000);
        t.on_subflows(1);
        t.on_subflows(2);
        assert_eq!(t.buffer, 131_072);
        // Three subflows: 3 * 64 KiB = 196608; the offered buffer follows by two segments
        // (2000 bytes) per full segment, by twice the bytes for a short one.
        t.on_subflows(3);
        assert_eq!((t.buffer, t.offered()), (196_608, 131_072));
        t.on_segment(1000);
        assert_eq!(t.offered(), 133_072);
        t.on_segment(300);
        assert_eq!(t.offered(), 133_672);
        for _ in 0..40 {
            t.on_segment(1460);
        }
        assert_eq!(t.offered(), 196_608);
        // Never past the maximum.
        let mut t = RecvAutotune::new(100_000, true, 1000);
        t.on_subflows(8);
        assert_eq!(t.buffer, 100_000);
    }

    #[test]
    fn autotune_huge_values_do_not_overflow() {
        let mut t = RecvAutotune::new(u64::MAX, true, u64::MAX);
        t.on_subflows(usize::MAX);
        t.on_segment(u64::MAX);
        t.on_data(ms(0), 0, 0, RTT);
        t.on_data(ms(100), u64::MAX, 0, RTT);
        assert_eq!(t.buffer, u64::MAX);
    }
}
