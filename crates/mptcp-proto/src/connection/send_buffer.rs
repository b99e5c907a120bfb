//! Connection-level send buffer: bytes written by the application, addressed by offset
//! (DSN relative to the local IDSN + 1), kept until every copy in flight is acknowledged.

use std::collections::VecDeque;

/// A ring of bytes covering offsets `[start, end)`, holding at most `limit` bytes.
#[derive(Debug, Clone)]
pub struct SendBuffer {
    start: u64,
    data: VecDeque<u8>,
    limit: usize,
}

impl SendBuffer {
    /// An empty buffer starting at offset `start`, holding at most `limit` bytes.
    pub fn new(start: u64, limit: usize) -> Self {
        SendBuffer {
            start,
            data: VecDeque::new(),
            limit,
        }
    }

    /// Appends as much of `bytes` as fits; returns how many were taken.
    ///
    /// Never takes bytes that would lie at or beyond offset `u64::MAX`.
    pub fn push(&mut self, bytes: &[u8]) -> usize {
        let room = u64::MAX - self.end();
        let n = bytes
            .len()
            .min(self.space())
            .min(usize::try_from(room).unwrap_or(usize::MAX));
        // `Extend<&u8>` from a slice is a bulk copy (like `extend_from_slice`).
        self.data.extend(&bytes[..n]);
        n
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
        Push(usize),
        Release(u64),
        Copy(u64, usize),
        SetLimit(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => (0usize..50).prop_map(Op::Push),
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
            let mut model_start = start;
            let mut model_limit = limit;
            let mut counter = 0u8;
            for op in ops {
                match op {
                    Op::Push(n) => {
                        let bytes: Vec<u8> = (0..n).map(|_| { counter = counter.wrapping_add(1); counter }).collect();
                        let held = (start + written.len() as u64 - model_start) as usize;
                        let room = (u64::MAX - (start + written.len() as u64)) as usize;
                        let expect = n.min(model_limit.saturating_sub(held)).min(room);
                        prop_assert_eq!(b.push(&bytes), expect);
                        written.extend_from_slice(&bytes[..expect]);
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
            }
        }
    }
}
