//! Connection-level send buffer: bytes written by the application, addressed by offset
//! (DSN relative to the local IDSN + 1), kept until every copy in flight is acknowledged.
//!
//! Beside the bytes, the buffer remembers per write what the scheduler must know: whether
//! the application marked the bytes `trusted_only` ([`SendFlags`]) and when they were
//! written. Consecutive bytes with the same attributes form one *run*; runs are few (one
//! per write with new attributes, at most [`MAX_RUNS`]).

use crate::time::Instant;
use std::collections::VecDeque;

/// Per-write options of `Endpoint::send_with`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SendFlags {
    /// The bytes are sensitive: they may only be mapped onto trusted subflows (Duchêne's
    /// thesis §2.3, seed 002, the `MPTCP_TRUSTED` flag of `sendmsg`). While no trusted
    /// subflow can take them they wait, and so does the data written after them.
    ///
    /// The thesis assumes a trusted initial subflow. With an untrusted one, do not start
    /// the connection with trusted-only bytes: the client joins other paths once the
    /// connection is fully established, which takes a DATA_ACK, hence some data sent on
    /// the initial subflow; sensitive first bytes alone would wait forever.
    pub trusted_only: bool,
}

/// What the buffer knows about a run of bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DataAttrs {
    /// Only trusted subflows may carry these bytes.
    pub trusted_only: bool,
    /// When the connection first saw the bytes (the first scheduling pass after the
    /// write, and only for a scheduler that reads data ages); `None` until then.
    pub since: Option<Instant>,
}

/// Most runs kept. At the limit a write with the same flag as the last run joins it (and
/// takes its time, so it may look older than it is); one with another flag is refused
/// until acknowledged data frees runs.
pub const MAX_RUNS: usize = 4096;

/// A ring of bytes covering offsets `[start, end)`, holding at most `limit` bytes.
#[derive(Debug, Clone)]
pub struct SendBuffer {
    start: u64,
    data: VecDeque<u8>,
    limit: usize,
    /// (first offset, attributes), ascending; each run extends to the next one's start (the
    /// last to `end`). Covers `[start, end)` whenever bytes are held (the first run may
    /// start below `start`); neighbours differ in attributes.
    runs: VecDeque<(u64, DataAttrs)>,
}

impl SendBuffer {
    /// An empty buffer starting at offset `start`, holding at most `limit` bytes.
    pub fn new(start: u64, limit: usize) -> Self {
        SendBuffer {
            start,
            data: VecDeque::new(),
            limit,
            runs: VecDeque::new(),
        }
    }

    /// Appends as much of `bytes` as fits; returns how many were taken.
    ///
    /// Never takes bytes that would lie at or beyond offset `u64::MAX`.
    pub fn push(&mut self, bytes: &[u8]) -> usize {
        self.push_with(bytes, SendFlags::default())
    }

    /// [`Self::push`] with per-write flags.
    pub fn push_with(&mut self, bytes: &[u8], flags: SendFlags) -> usize {
        let room = u64::MAX - self.end();
        let n = bytes
            .len()
            .min(self.space())
            .min(usize::try_from(room).unwrap_or(usize::MAX));
        if n == 0 {
            return 0;
        }
        let attrs = DataAttrs {
            trusted_only: flags.trusted_only,
            since: None,
        };
        match self.runs.back() {
            Some((_, last)) if *last == attrs => {}
            Some((_, last)) if self.runs.len() >= MAX_RUNS => {
                if last.trusted_only != attrs.trusted_only {
                    return 0;
                }
            }
            _ => self.runs.push_back((self.end(), attrs)),
        }
        // `Extend<&u8>` from a slice is a bulk copy (like `extend_from_slice`).
        self.data.extend(&bytes[..n]);
        n
    }

    /// Gives the bytes written since the last call the time `now`.
    pub fn stamp(&mut self, now: Instant) {
        let mut first_new = self.runs.len();
        for (i, (_, a)) in self.runs.iter_mut().enumerate().rev() {
            if a.since.is_some() {
                break;
            }
            a.since = Some(now);
            first_new = i;
        }
        // The first newly stamped run may now equal the one before it.
        if first_new > 0
            && first_new < self.runs.len()
            && self.runs[first_new - 1].1 == self.runs[first_new].1
        {
            self.runs.remove(first_new);
        }
    }

    /// Attributes of the byte at `offset` and the end of its run; `None` outside
    /// `[start, end)`.
    pub fn attrs_at(&self, offset: u64) -> Option<(DataAttrs, u64)> {
        if offset < self.start || offset >= self.end() {
            return None;
        }
        let i = self
            .runs
            .partition_point(|(s, _)| *s <= offset)
            .checked_sub(1)?;
        let end = self.runs.get(i + 1).map_or(self.end(), |(s, _)| *s);
        Some((self.runs[i].1, end))
    }

    /// End of the span from `offset` of the run holding it and the runs after it, up to
    /// `limit`, while `alike(first run's attributes, next run's attributes)`; `None`
    /// outside `[start, end)`.
    pub fn span_at(
        &self,
        offset: u64,
        limit: u64,
        mut alike: impl FnMut(&DataAttrs, &DataAttrs) -> bool,
    ) -> Option<(DataAttrs, u64)> {
        let (first, mut end) = self.attrs_at(offset)?;
        while end < limit {
            match self.attrs_at(end) {
                Some((next, next_end)) if alike(&first, &next) => end = next_end,
                _ => break,
            }
        }
        Some((first, end))
    }

    /// The first offset at or after `offset` (and below `end`) holding `trusted_only`
    /// bytes, or `end`.
    pub fn next_trusted_only(&self, offset: u64) -> u64 {
        let mut at = offset.max(self.start);
        while let Some((a, end)) = self.attrs_at(at) {
            if a.trusted_only {
                return at;
            }
            at = end;
        }
        self.end().max(offset)
    }

    /// Number of runs held.
    pub fn runs(&self) -> usize {
        self.runs.len()
    }

    /// Offset of the first retained byte.
    pub fn start(&self) -> u64 {
        self.start
    }
    /// Offset one past the last byte written.
    pub fn end(&self) -> u64 {
        self.start + self.data.len() as u64
    }
    /// Free space.
    pub fn space(&self) -> usize {
        self.limit.saturating_sub(self.data.len())
    }
    /// Bytes held.
    pub fn len(&self) -> usize {
        self.data.len()
    }
    /// Nothing held.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
    /// The limit on held bytes.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Copies `[offset, offset + out.len())` into `out`. Returns false (copying nothing) if
    /// any of that range is not held.
    pub fn copy_out(&self, offset: u64, out: &mut [u8]) -> bool {
        let Some(rel) = offset.checked_sub(self.start) else {
            return false;
        };
        let held = self.data.len() as u64;
        if rel > held || out.len() as u64 > held - rel {
            return false;
        }
        let rel = rel as usize;
        let n = out.len();
        let (a, b) = self.data.as_slices();
        if rel >= a.len() {
            let r = rel - a.len();
            out.copy_from_slice(&b[r..r + n]);
        } else {
            let from_a = n.min(a.len() - rel);
            out[..from_a].copy_from_slice(&a[rel..rel + from_a]);
            out[from_a..].copy_from_slice(&b[..n - from_a]);
        }
        true
    }

    /// Forgets every byte below `offset` (no-op for offsets at or below `start`).
    ///
    /// An offset beyond [`Self::end`] releases everything and leaves `start == end`: offsets
    /// of later pushes are unaffected.
    pub fn release_below(&mut self, offset: u64) {
        if offset <= self.start {
            return;
        }
        let n = (offset - self.start).min(self.data.len() as u64) as usize;
        self.data.drain(..n);
        self.start += n as u64;
        if self.data.is_empty() {
            self.runs.clear();
        } else {
            while self.runs.get(1).is_some_and(|(s, _)| *s <= self.start) {
                self.runs.pop_front();
            }
        }
    }

    /// Changes the limit (existing bytes are kept even if over it).
    pub fn set_limit(&mut self, limit: usize) {
        self.limit = limit;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn span_joins_alike_runs_up_to_the_limit() {
        let mut b = SendBuffer::new(100, 1000);
        let trusted = SendFlags { trusted_only: true };
        b.push(b"aaa");
        b.stamp(Instant::from_millis(1));
        b.push(b"bbb");
        b.stamp(Instant::from_millis(2));
        b.push_with(b"cc", trusted);
        b.stamp(Instant::from_millis(3));
        b.push(b"dd");
        b.stamp(Instant::from_millis(4));
        assert_eq!(b.runs(), 4);
        let same_flag = |a: &DataAttrs, b: &DataAttrs| a.trusted_only == b.trusted_only;
        // Runs 1 and 2 join; the trusted-only run stops the span.
        assert_eq!(b.span_at(101, 200, same_flag).map(|x| x.1), Some(106));
        assert_eq!(
            b.span_at(101, 200, same_flag).unwrap().0.since,
            Some(Instant::from_millis(1))
        );
        // The limit bounds the span, not a run that starts below it.
        assert_eq!(b.span_at(100, 104, same_flag).map(|x| x.1), Some(106));
        assert_eq!(b.span_at(100, 103, same_flag).map(|x| x.1), Some(103));
        // Nothing alike: the run alone.
        assert_eq!(b.span_at(100, 200, |_, _| false).map(|x| x.1), Some(103));
        assert_eq!(b.span_at(106, 200, same_flag).map(|x| x.1), Some(108));
        assert_eq!(b.span_at(110, 200, same_flag), None);
    }

    #[test]
    fn push_and_limit() {
        let mut b = SendBuffer::new(1000, 10);
        assert!(b.is_empty());
        assert_eq!(b.start(), 1000);
        assert_eq!(b.end(), 1000);
        assert_eq!(b.space(), 10);
        assert_eq!(b.push(b"hello"), 5);
        assert_eq!(b.push(b"worldwide"), 5);
        assert_eq!(b.push(b"x"), 0);
        assert_eq!(b.len(), 10);
        assert_eq!(b.space(), 0);
        assert_eq!(b.end(), 1010);
        let mut out = [0u8; 10];
        assert!(b.copy_out(1000, &mut out));
        assert_eq!(&out, b"helloworld");
    }

    #[test]
    fn copy_out_bounds() {
        let mut b = SendBuffer::new(50, 100);
        b.push(b"abcdefghij");
        let mut out = [0xffu8; 4];
        assert!(!b.copy_out(49, &mut out));
        assert_eq!(out, [0xff; 4]);
        assert!(!b.copy_out(57, &mut out));
        assert_eq!(out, [0xff; 4]);
        assert!(!b.copy_out(u64::MAX, &mut out));
        assert!(b.copy_out(56, &mut out));
        assert_eq!(&out, b"ghij");
        assert!(b.copy_out(53, &mut out));
        assert_eq!(&out, b"defg");
        // Empty copies inside or at the end succeed; outside fail.
        assert!(b.copy_out(60, &mut []));
        assert!(b.copy_out(50, &mut []));
        assert!(!b.copy_out(61, &mut []));
        assert!(!b.copy_out(49, &mut []));
    }

    #[test]
    fn release_below() {
        let mut b = SendBuffer::new(0, 100);
        b.push(b"abcdefghij");
        b.release_below(0);
        assert_eq!(b.start(), 0);
        b.release_below(3);
        assert_eq!(b.start(), 3);
        assert_eq!(b.len(), 7);
        assert_eq!(b.end(), 10);
        let mut out = [0u8; 3];
        assert!(!b.copy_out(2, &mut out));
        assert!(b.copy_out(3, &mut out));
        assert_eq!(&out, b"def");
        b.release_below(2);
        assert_eq!(b.start(), 3);
        b.release_below(50);
        assert_eq!(b.start(), 10);
        assert_eq!(b.end(), 10);
        assert!(b.is_empty());
        b.push(b"k");
        assert!(b.copy_out(10, &mut out[..1]));
        assert_eq!(out[0], b'k');
    }

    #[test]
    fn set_limit_keeps_bytes() {
        let mut b = SendBuffer::new(0, 10);
        b.push(b"abcdefgh");
        b.set_limit(4);
        assert_eq!(b.limit(), 4);
        assert_eq!(b.len(), 8);
        assert_eq!(b.space(), 0);
        assert_eq!(b.push(b"x"), 0);
        b.release_below(6);
        assert_eq!(b.space(), 2);
        assert_eq!(b.push(b"xyz"), 2);
    }

    #[test]
    fn runs_remember_flags_and_times() {
        let t = |ms| Some(Instant::from_millis(ms));
        let trusted = SendFlags { trusted_only: true };
        let mut b = SendBuffer::new(100, 1000);
        assert_eq!(b.attrs_at(100), None);
        b.push(b"aaaa");
        b.push(b"aa");
        b.push_with(b"TTT", trusted);
        assert_eq!(b.runs(), 2);
        let plain = DataAttrs::default();
        assert_eq!(b.attrs_at(100), Some((plain, 106)));
        assert_eq!(b.attrs_at(105), Some((plain, 106)));
        let sensitive = DataAttrs {
            trusted_only: true,
            since: None,
        };
        assert_eq!(b.attrs_at(106), Some((sensitive, 109)));
        assert_eq!(b.attrs_at(109), None);
        assert_eq!(b.next_trusted_only(100), 106);
        assert_eq!(b.next_trusted_only(107), 107);
        b.stamp(Instant::from_millis(5));
        assert_eq!(b.attrs_at(100).unwrap().0.since, t(5));
        assert_eq!(b.attrs_at(108).unwrap().0.since, t(5));
        // Later writes get the later time; same flag and same time merge.
        b.push_with(b"T", trusted);
        b.stamp(Instant::from_millis(5));
        assert_eq!(b.runs(), 2);
        assert_eq!(b.attrs_at(106).unwrap().1, 110);
        b.push(b"bb");
        b.stamp(Instant::from_millis(9));
        assert_eq!(b.runs(), 3);
        assert_eq!(b.attrs_at(110).unwrap().0.since, t(9));
        assert_eq!(b.next_trusted_only(110), 112);
        // Releasing drops the runs below.
        b.release_below(107);
        assert_eq!(b.runs(), 2);
        assert_eq!(b.attrs_at(106), None);
        assert_eq!(
            b.attrs_at(107).unwrap(),
            (
                DataAttrs {
                    trusted_only: true,
                    since: t(5)
                },
                110
            )
        );
        b.release_below(112);
        assert_eq!(b.runs(), 0);
        b.push_with(b"x", trusted);
        assert!(b.attrs_at(112).unwrap().0.trusted_only);
    }

    #[test]
    fn run_limit_never_loses_a_flag() {
        let trusted = SendFlags { trusted_only: true };
        let mut b = SendBuffer::new(0, 1 << 20);
        for i in 0..MAX_RUNS {
            let f = SendFlags {
                trusted_only: i % 2 == 1,
            };
            assert_eq!(b.push_with(b"ab", f), 2);
        }
        assert_eq!(b.runs(), MAX_RUNS);
        // The last run is trusted: more trusted bytes join it, plain ones are refused.
        assert_eq!(b.push_with(b"cd", trusted), 2);
        assert_eq!(b.push(b"ef"), 0);
        assert_eq!(b.runs(), MAX_RUNS);
        for off in 0..b.end() {
            let want = (off / 2) % 2 == 1 || off >= 2 * MAX_RUNS as u64;
            assert_eq!(b.attrs_at(off).unwrap().0.trusted_only, want, "{off}");
        }
        b.release_below(4);
        assert_eq!(b.push(b"ef"), 2);
    }

    #[test]
    fn near_u64_max() {
        let mut b = SendBuffer::new(u64::MAX - 3, 100);
        assert_eq!(b.push(b"abcdef"), 3);
        assert_eq!(b.end(), u64::MAX);
        assert_eq!(b.push(b"g"), 0);
        let mut out = [0u8; 3];
        assert!(b.copy_out(u64::MAX - 3, &mut out));
        assert_eq!(&out, b"abc");
        assert!(!b.copy_out(u64::MAX - 1, &mut out));
        b.release_below(u64::MAX);
        assert!(b.is_empty());
    }

    #[test]
    fn wrapping_ring() {
        // Push/release cycles make the VecDeque wrap; copies spanning the wrap work.
        let mut b = SendBuffer::new(0, 16);
        let stream: Vec<u8> = (0..=255u8).collect();
        let mut pushed = 0usize;
        while pushed < stream.len() {
            pushed += b.push(&stream[pushed..(pushed + 7).min(stream.len())]);
            for off in b.start()..b.end() {
                for len in 0..=(b.end() - off) as usize {
                    let mut out = vec![0u8; len];
                    assert!(b.copy_out(off, &mut out));
                    assert_eq!(&out[..], &stream[off as usize..off as usize + len]);
                }
            }
            b.release_below(b.start() + 5);
        }
    }

    #[derive(Debug, Clone)]
    enum Op {
        Push(usize, bool),
        Stamp(u64),
        Release(u64),
        Copy(u64, usize),
        SetLimit(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => (0usize..50, any::<bool>()).prop_map(|(n, t)| Op::Push(n, t)),
            1 => (0u64..1000).prop_map(Op::Stamp),
            2 => (0u64..30).prop_map(Op::Release),
            4 => (0u64..80, 0usize..60).prop_map(|(o, l)| Op::Copy(o, l)),
            1 => (0usize..100).prop_map(Op::SetLimit),
        ]
    }

    proptest! {
        #[test]
        fn matches_vec_model(
            start in prop_oneof![0u64..1000, Just(u64::MAX - 120)],
            limit in 0usize..100,
            ops in proptest::collection::vec(op(), 0..80),
        ) {
            let mut b = SendBuffer::new(start, limit);
            // Model: every byte ever written, by offset - start_of_stream.
            let mut written: Vec<u8> = Vec::new();
            // Model of each written byte's attributes.
            let mut attrs: Vec<DataAttrs> = Vec::new();
            let mut model_start = start;
            let mut model_limit = limit;
            let mut counter = 0u8;
            for op in ops {
                match op {
                    Op::Push(n, trusted_only) => {
                        let bytes: Vec<u8> = (0..n).map(|_| { counter = counter.wrapping_add(1); counter }).collect();
                        let held = (start + written.len() as u64 - model_start) as usize;
                        let room = (u64::MAX - (start + written.len() as u64)) as usize;
                        let expect = n.min(model_limit.saturating_sub(held)).min(room);
                        let flags = SendFlags { trusted_only };
                        prop_assert_eq!(b.push_with(&bytes, flags), expect);
                        written.extend_from_slice(&bytes[..expect]);
                        attrs.extend(std::iter::repeat_n(DataAttrs { trusted_only, since: None }, expect));
                    }
                    Op::Stamp(ms) => {
                        b.stamp(Instant::from_millis(ms));
                        for a in attrs.iter_mut().rev() {
                            if a.since.is_some() {
                                break;
                            }
                            a.since = Some(Instant::from_millis(ms));
                        }
                    }
                    Op::Release(d) => {
                        let target = model_start.saturating_add(d).saturating_sub(10);
                        b.release_below(target);
                        let end = start + written.len() as u64;
                        if target > model_start {
                            model_start = target.min(end);
                        }
                    }
                    Op::Copy(rel, len) => {
                        let offset = model_start.saturating_add(rel).saturating_sub(20);
                        let end = start + written.len() as u64;
                        let mut out = vec![0xAAu8; len];
                        let ok = offset >= model_start && offset.checked_add(len as u64).is_some_and(|e| e <= end);
                        prop_assert_eq!(b.copy_out(offset, &mut out), ok);
                        if ok {
                            let i = (offset - start) as usize;
                            prop_assert_eq!(&out[..], &written[i..i + len]);
                        } else {
                            prop_assert!(out.iter().all(|&x| x == 0xAA));
                        }
                    }
                    Op::SetLimit(l) => {
                        b.set_limit(l);
                        model_limit = l;
                    }
                }
                let end = start + written.len() as u64;
                prop_assert_eq!(b.start(), model_start);
                prop_assert_eq!(b.end(), end);
                prop_assert_eq!(b.len() as u64, end - model_start);
                prop_assert_eq!(b.is_empty(), end == model_start);
                prop_assert_eq!(b.space(), model_limit.saturating_sub(b.len()));
                // Attributes of every held byte, and run ends where they change.
                for off in model_start..end {
                    let i = (off - start) as usize;
                    let (a, run_end) = b.attrs_at(off).expect("held byte has attributes");
                    prop_assert_eq!(a, attrs[i]);
                    let want_end = (i..attrs.len())
                        .find(|&j| attrs[j] != attrs[i])
                        .map_or(end, |j| start + j as u64);
                    prop_assert_eq!(run_end, want_end);
                }
                prop_assert!(b.attrs_at(end).is_none());
                prop_assert!(b.runs() <= (end - model_start) as usize);
            }
        }
    }
}
