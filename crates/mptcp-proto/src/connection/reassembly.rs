//! Connection-level receive buffer: data placed by offset (DSN relative to the peer's
//! IDSN + 1), duplicates dropped, delivered in order. Memory is bounded by the caller's window.

use std::collections::{BTreeMap, VecDeque};
use std::ops::Bound::Excluded;

use smallvec::SmallVec;

/// What an insertion did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct InsertOutcome {
    /// Bytes that were new (not previously received).
    pub new_bytes: u64,
    /// Bytes already received or already delivered (duplicates, e.g. reinjections).
    pub duplicate_bytes: u64,
}

/// In-order readable bytes plus out-of-order segments keyed by offset.
#[derive(Debug, Clone)]
pub struct Reassembly {
    /// Offset of the first byte of `readable`.
    read_offset: u64,
    /// Contiguous bytes ready for the application.
    readable: VecDeque<u8>,
    /// Out-of-order data: start offset -> bytes. Never overlapping, never empty, never
    /// starting at or below the in-order edge. Adjacent segments may exist (new data is
    /// appended to the segment it directly follows, but never prepended to the next one).
    out_of_order: BTreeMap<u64, Vec<u8>>,
    out_of_order_bytes: u64,
}

impl Reassembly {
    /// An empty buffer whose next expected offset is `start`.
    pub fn new(start: u64) -> Self {
        Reassembly {
            read_offset: start,
            readable: VecDeque::new(),
            out_of_order: BTreeMap::new(),
            out_of_order_bytes: 0,
        }
    }

    /// Places `data` at `offset`. Bytes below [`Self::next_offset`] or already held are
    /// duplicates; the rest is stored. Data that becomes contiguous moves to the readable part.
    /// The caller must only insert bytes inside its advertised window.
    ///
    /// Bytes that would lie at or beyond offset `u64::MAX` are silently dropped (counted
    /// neither as new nor as duplicate).
    pub fn insert(&mut self, offset: u64, data: &[u8]) -> InsertOutcome {
        let mut outcome = InsertOutcome::default();
        // Truncate what does not fit in the u64 offset space.
        let room = u64::MAX - offset;
        let data = if data.len() as u64 > room {
            &data[..room as usize]
        } else {
            data
        };
        if data.is_empty() {
            return outcome;
        }
        let end = offset + data.len() as u64;

        // Bytes already delivered in order.
        let next = self.next_offset();
        if end <= next {
            outcome.duplicate_bytes = data.len() as u64;
            return outcome;
        }
        let (offset, data) = if offset < next {
            let skip = next - offset;
            outcome.duplicate_bytes += skip;
            (next, &data[skip as usize..])
        } else {
            (offset, data)
        };

        // Existing out-of-order segments overlapping `[offset, end)`, clipped to it.
        let mut held: SmallVec<[(u64, u64); 8]> = SmallVec::new();
        if let Some((&s, d)) = self.out_of_order.range(..=offset).next_back() {
            let e = s + d.len() as u64;
            if e > offset {
                held.push((offset, e.min(end)));
            }
        }
        for (&s, d) in self.out_of_order.range((Excluded(offset), Excluded(end))) {
            let e = s + d.len() as u64;
            held.push((s, e.min(end)));
        }

        // The gaps between them are the new bytes; place each one.
        let mut cursor = offset;
        for (hs, he) in held.iter().copied().chain(std::iter::once((end, end))) {
            if cursor < hs {
                let piece = &data[(cursor - offset) as usize..(hs - offset) as usize];
                self.place(cursor, piece);
                outcome.new_bytes += piece.len() as u64;
            }
            outcome.duplicate_bytes += he - hs;
            cursor = cursor.max(he);
        }

        self.promote();
        outcome
    }

    /// Stores `piece`, known to be entirely new, at `start` (at or above the in-order edge).
    fn place(&mut self, start: u64, piece: &[u8]) {
        if start == self.next_offset() {
            self.readable.extend(piece);
            return;
        }
        self.out_of_order_bytes += piece.len() as u64;
        // Append to the segment ending exactly at `start`, if any.
        if let Some((&s, d)) = self.out_of_order.range_mut(..start).next_back() {
            if s + d.len() as u64 == start {
                d.extend_from_slice(piece);
                return;
            }
        }
        self.out_of_order.insert(start, piece.to_vec());
    }

    /// Moves out-of-order segments that start at the in-order edge to the readable part.
    fn promote(&mut self) {
        while let Some(entry) = self.out_of_order.first_entry() {
            if *entry.key() != self.read_offset + self.readable.len() as u64 {
                break;
            }
            let d = entry.remove();
            self.out_of_order_bytes -= d.len() as u64;
            self.readable.extend(&d);
        }
    }

    /// Offset one past the last in-order byte (the cumulative acknowledgment point).
    pub fn next_offset(&self) -> u64 {
        self.read_offset + self.readable.len() as u64
    }

    /// Copies in-order bytes into `buf`, consuming them; returns how many.
    pub fn read(&mut self, buf: &mut [u8]) -> usize {
        let n = buf.len().min(self.readable.len());
        let (a, b) = self.readable.as_slices();
        let from_a = n.min(a.len());
        buf[..from_a].copy_from_slice(&a[..from_a]);
        buf[from_a..n].copy_from_slice(&b[..n - from_a]);
        self.readable.drain(..n);
        self.read_offset += n as u64;
        n
    }

    /// In-order bytes not yet read.
    pub fn readable_len(&self) -> usize {
        self.readable.len()
    }
    /// Bytes held out of order.
    pub fn out_of_order_bytes(&self) -> u64 {
        self.out_of_order_bytes
    }
    /// Out-of-order ranges `[start, end)` in ascending order (for diagnostics and SACK).
    ///
    /// Adjacent stored segments are reported as one range.
    pub fn out_of_order_ranges(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        let mut iter = self
            .out_of_order
            .iter()
            .map(|(s, d)| (*s, *s + d.len() as u64))
            .peekable();
        std::iter::from_fn(move || {
            let (start, mut end) = iter.next()?;
            while let Some(&(s, e)) = iter.peek() {
                if s != end {
                    break;
                }
                end = e;
                iter.next();
            }
            Some((start, end))
        })
    }
    /// Offset of the first unread byte.
    pub fn read_offset(&self) -> u64 {
        self.read_offset
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn read_all(r: &mut Reassembly) -> Vec<u8> {
        let mut out = vec![0; r.readable_len()];
        let n = r.read(&mut out);
        assert_eq!(n, out.len());
        out
    }

    fn ranges(r: &Reassembly) -> Vec<(u64, u64)> {
        r.out_of_order_ranges().collect()
    }

    /// Internal invariants: segments non-empty, non-overlapping, above the in-order edge,
    /// and the byte counter matches.
    fn check(r: &Reassembly) {
        let mut prev_end = r.next_offset();
        let mut total = 0;
        for (&s, d) in &r.out_of_order {
            assert!(!d.is_empty());
            assert!(s >= prev_end, "overlap or below edge at {s}");
            assert!(s > r.next_offset(), "segment at the in-order edge");
            prev_end = s + d.len() as u64;
            total += d.len() as u64;
        }
        assert_eq!(total, r.out_of_order_bytes());
    }

    fn outcome(new_bytes: u64, duplicate_bytes: u64) -> InsertOutcome {
        InsertOutcome {
            new_bytes,
            duplicate_bytes,
        }
    }

    #[test]
    fn in_order() {
        let mut r = Reassembly::new(100);
        assert_eq!(r.next_offset(), 100);
        assert_eq!(r.read_offset(), 100);
        assert_eq!(r.insert(100, b"hello"), outcome(5, 0));
        assert_eq!(r.insert(105, b" world"), outcome(6, 0));
        assert_eq!(r.next_offset(), 111);
        assert_eq!(r.readable_len(), 11);
        let mut buf = [0u8; 4];
        assert_eq!(r.read(&mut buf), 4);
        assert_eq!(&buf, b"hell");
        assert_eq!(r.read_offset(), 104);
        assert_eq!(r.next_offset(), 111);
        assert_eq!(read_all(&mut r), b"o world");
        assert_eq!(r.read(&mut buf), 0);
        check(&r);
    }

    #[test]
    fn empty_insert() {
        let mut r = Reassembly::new(0);
        assert_eq!(r.insert(5, b""), outcome(0, 0));
        assert_eq!(r.insert(0, b""), outcome(0, 0));
        assert_eq!(r.next_offset(), 0);
        assert_eq!(r.out_of_order_bytes(), 0);
    }

    #[test]
    fn out_of_order_then_fill() {
        let mut r = Reassembly::new(0);
        assert_eq!(r.insert(5, b"56789"), outcome(5, 0));
        assert_eq!(r.next_offset(), 0);
        assert_eq!(r.out_of_order_bytes(), 5);
        assert_eq!(ranges(&r), vec![(5, 10)]);
        check(&r);
        assert_eq!(r.insert(0, b"01234"), outcome(5, 0));
        assert_eq!(r.next_offset(), 10);
        assert_eq!(r.out_of_order_bytes(), 0);
        assert_eq!(ranges(&r), vec![]);
        assert_eq!(read_all(&mut r), b"0123456789");
        check(&r);
    }

    #[test]
    fn duplicates_below_edge() {
        let mut r = Reassembly::new(0);
        r.insert(0, b"abcdef");
        let mut buf = [0u8; 3];
        r.read(&mut buf);
        // Entirely delivered (read and unread parts alike).
        assert_eq!(r.insert(0, b"abc"), outcome(0, 3));
        assert_eq!(r.insert(2, b"cdef"), outcome(0, 4));
        // Straddling the edge.
        assert_eq!(r.insert(4, b"efgh"), outcome(2, 2));
        assert_eq!(read_all(&mut r), b"defgh");
    }

    #[test]
    fn duplicates_out_of_order() {
        let mut r = Reassembly::new(0);
        assert_eq!(r.insert(10, b"klmno"), outcome(5, 0));
        assert_eq!(r.insert(10, b"klmno"), outcome(0, 5));
        assert_eq!(r.insert(12, b"mn"), outcome(0, 2));
        assert_eq!(r.insert(8, b"ijkl"), outcome(2, 2));
        assert_eq!(r.insert(13, b"nopq"), outcome(2, 2));
        assert_eq!(ranges(&r), vec![(8, 17)]);
        assert_eq!(r.out_of_order_bytes(), 9);
        check(&r);
        assert_eq!(r.insert(0, b"abcdefgh"), outcome(8, 0));
        assert_eq!(read_all(&mut r), b"abcdefghijklmnopq");
    }

    #[test]
    fn spanning_insert_fills_several_gaps() {
        let mut r = Reassembly::new(0);
        r.insert(2, b"2");
        r.insert(5, b"56");
        r.insert(9, b"9");
        assert_eq!(ranges(&r), vec![(2, 3), (5, 7), (9, 10)]);
        // Covers from 1 to 11: gaps [1,2), [3,5), [7,9), [10,11).
        assert_eq!(r.insert(1, b"1234567890"), outcome(6, 4));
        assert_eq!(ranges(&r), vec![(1, 11)]);
        assert_eq!(r.out_of_order_bytes(), 10);
        check(&r);
        assert_eq!(r.insert(0, b"0"), outcome(1, 0));
        assert_eq!(read_all(&mut r), b"01234567890");
        assert_eq!(r.out_of_order_bytes(), 0);
        check(&r);
    }

    #[test]
    fn spanning_insert_from_edge() {
        let mut r = Reassembly::new(0);
        r.insert(3, b"d");
        r.insert(6, b"g");
        assert_eq!(r.insert(0, b"abcdefghij"), outcome(8, 2));
        assert_eq!(r.next_offset(), 10);
        assert_eq!(r.out_of_order_bytes(), 0);
        assert_eq!(read_all(&mut r), b"abcdefghij");
    }

    #[test]
    fn partial_fill_promotes_prefix() {
        let mut r = Reassembly::new(0);
        r.insert(4, b"ef");
        r.insert(10, b"kl");
        assert_eq!(r.insert(0, b"abcd"), outcome(4, 0));
        assert_eq!(r.next_offset(), 6);
        assert_eq!(ranges(&r), vec![(10, 12)]);
        assert_eq!(r.out_of_order_bytes(), 2);
        check(&r);
        assert_eq!(read_all(&mut r), b"abcdef");
    }

    #[test]
    fn reverse_order_segments() {
        let mut r = Reassembly::new(0);
        let stream: Vec<u8> = (0..50u8).collect();
        for k in (1..10).rev() {
            let o = k * 5;
            assert_eq!(r.insert(o as u64, &stream[o..o + 5]).new_bytes, 5);
            check(&r);
        }
        assert_eq!(ranges(&r), vec![(5, 50)]);
        r.insert(0, &stream[..5]);
        assert_eq!(read_all(&mut r), stream);
    }

    #[test]
    fn near_u64_max() {
        let start = u64::MAX - 4;
        let mut r = Reassembly::new(start);
        // Longer than the remaining space: truncated to 4 bytes.
        assert_eq!(r.insert(start, b"abcdefgh"), outcome(4, 0));
        assert_eq!(r.next_offset(), u64::MAX);
        assert_eq!(r.insert(u64::MAX, b"zz"), outcome(0, 0));
        assert_eq!(r.insert(u64::MAX - 1, b"zz"), outcome(0, 1));
        assert_eq!(read_all(&mut r), b"abcd");

        let mut r = Reassembly::new(start);
        assert_eq!(r.insert(u64::MAX - 2, b"xyzw"), outcome(2, 0));
        assert_eq!(ranges(&r), vec![(u64::MAX - 2, u64::MAX)]);
        assert_eq!(r.insert(u64::MAX - 10, b"0123456789ab"), outcome(2, 8));
        assert_eq!(r.insert(0, b"0123"), outcome(0, 4));
        check(&r);
        assert_eq!(read_all(&mut r), b"67xy");
        assert_eq!(r.read_offset(), u64::MAX);
    }

    #[test]
    fn read_across_ring_wrap() {
        let mut r = Reassembly::new(0);
        let stream: Vec<u8> = (0..=255u8).cycle().take(3000).collect();
        let mut got = Vec::new();
        let mut off = 0;
        let mut buf = [0u8; 37];
        while off < stream.len() {
            let end = (off + 53).min(stream.len());
            r.insert(off as u64, &stream[off..end]);
            off = end;
            let n = r.read(&mut buf);
            got.extend_from_slice(&buf[..n]);
        }
        while r.readable_len() > 0 {
            let n = r.read(&mut buf);
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got, stream);
    }

    fn segments_strategy() -> impl Strategy<Value = (Vec<u8>, Vec<(usize, usize)>, u64)> {
        (1usize..400, any::<u64>(), prop::bool::ANY).prop_flat_map(|(len, seed, near_max)| {
            let base = if near_max {
                u64::MAX - len as u64 - (seed % 3)
            } else {
                seed % 1_000_000
            };
            (
                proptest::collection::vec(any::<u8>(), len),
                // Cut points, then segments with random extents and duplicates.
                proptest::collection::vec(0..=len, 0..20),
                proptest::collection::vec((0..len, 1usize..60), 0..20),
                Just(base),
            )
                .prop_map(move |(data, mut cuts, extra, base)| {
                    cuts.push(0);
                    cuts.push(len);
                    cuts.sort_unstable();
                    cuts.dedup();
                    let mut segs: Vec<(usize, usize)> =
                        cuts.windows(2).map(|w| (w[0], w[1])).collect();
                    for (s, l) in extra {
                        segs.push((s, (s + l).min(len)));
                    }
                    (data, segs, base)
                })
        })
    }

    proptest! {
        #[test]
        fn reassembles_shuffled_segments(
            (data, segs, base) in segments_strategy(),
            shuffle in any::<u64>(),
            read_every in 1usize..8,
            read_size in 1usize..100,
        ) {
            use rand::{seq::SliceRandom, SeedableRng};
            let mut segs = segs;
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(shuffle);
            segs.shuffle(&mut rng);

            let mut r = Reassembly::new(base);
            let mut got = Vec::new();
            let mut new_total = 0u64;
            let mut received = vec![false; data.len()];
            let mut buf = vec![0u8; read_size];
            for (k, &(s, e)) in segs.iter().enumerate() {
                let before = r.next_offset();
                let o = r.insert(base + s as u64, &data[s..e]);
                let expected_new = received[s..e].iter().filter(|x| !**x).count() as u64;
                received[s..e].iter_mut().for_each(|x| *x = true);
                prop_assert_eq!(o.new_bytes, expected_new);
                prop_assert_eq!(o.new_bytes + o.duplicate_bytes, (e - s) as u64);
                prop_assert!(r.next_offset() >= before);
                new_total += o.new_bytes;
                check(&r);
                // Reported ranges match the received-but-not-in-order bytes.
                let edge = (r.next_offset() - base) as usize;
                let mut expected_ranges = Vec::new();
                let mut i = edge;
                while i < data.len() {
                    if received[i] {
                        let j = (i..data.len()).find(|&j| !received[j]).unwrap_or(data.len());
                        expected_ranges.push((base + i as u64, base + j as u64));
                        i = j;
                    } else {
                        i += 1;
                    }
                }
                prop_assert_eq!(ranges(&r), expected_ranges);
                prop_assert!(received[..edge].iter().all(|x| *x));
                prop_assert!(edge == data.len() || !received[edge]);
                if k % read_every == 0 {
                    let n = r.read(&mut buf);
                    got.extend_from_slice(&buf[..n]);
                }
            }
            while r.readable_len() > 0 {
                let n = r.read(&mut buf);
                got.extend_from_slice(&buf[..n]);
            }
            prop_assert_eq!(new_total, data.len() as u64);
            prop_assert_eq!(&got, &data);
            prop_assert_eq!(r.out_of_order_bytes(), 0);
            prop_assert_eq!(r.read_offset(), base + data.len() as u64);
        }

        #[test]
        fn never_panics(
            start in prop_oneof![any::<u64>(), (u64::MAX - 100)..=u64::MAX],
            ops in proptest::collection::vec(
                (prop_oneof![any::<u64>(), (u64::MAX - 100)..=u64::MAX], 0usize..200), 0..20),
        ) {
            let mut r = Reassembly::new(start);
            let payload = [7u8; 200];
            for (off, len) in ops {
                let o = r.insert(off, &payload[..len]);
                prop_assert!(o.new_bytes + o.duplicate_bytes <= len as u64);
                check(&r);
                let mut buf = [0u8; 50];
                r.read(&mut buf);
            }
        }
    }
}
