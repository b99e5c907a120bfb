//! A bounded set of disjoint half-open `u64` ranges: which bytes were received
//! (SACK generation) or selectively acknowledged (the sender's scoreboard).

/// Sorted, disjoint, non-adjacent half-open ranges `[start, end)`, at most `max_ranges`.
///
/// Lookups and insertions use binary search, so [`RangeSet::insert`] costs
/// `O(log n + merged)` (plus the shift of the tail of the vector).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeSet {
    /// Invariant: for consecutive `a`, `b`: `a.0 < a.1 < b.0 < b.1`.
    ranges: Vec<(u64, u64)>,
    max_ranges: usize,
    /// Cached sum of the lengths of `ranges`.
    total: u64,
}

impl RangeSet {
    /// An empty set holding at most `max_ranges` ranges.
    pub fn new(max_ranges: usize) -> Self {
        RangeSet {
            ranges: Vec::new(),
            max_ranges,
            total: 0,
        }
    }

    /// The maximum number of ranges this set holds.
    pub fn max_ranges(&self) -> usize {
        self.max_ranges
    }

    /// Adds `[start, end)`, merging with overlapping or adjacent ranges. Returns false and
    /// changes nothing if the result would need more than `max_ranges` ranges.
    ///
    /// An empty range (`start >= end`) changes nothing and returns true.
    pub fn insert(&mut self, start: u64, end: u64) -> bool {
        if start >= end {
            return true;
        }
        // First range that overlaps or touches `[start, end)` (its end reaches `start`).
        let i = self.ranges.partition_point(|r| r.1 < start);
        // One past the last range that overlaps or touches (its start is at most `end`).
        let j = i + self.ranges[i..].partition_point(|r| r.0 <= end);
        if i == j {
            if self.ranges.len() >= self.max_ranges {
                return false;
            }
            self.ranges.insert(i, (start, end));
            self.total += end - start;
            return true;
        }
        let new_start = start.min(self.ranges[i].0);
        let new_end = end.max(self.ranges[j - 1].1);
        let removed: u64 = self.ranges[i..j].iter().map(|r| r.1 - r.0).sum();
        self.ranges[i] = (new_start, new_end);
        self.ranges.drain(i + 1..j);
        self.total = self.total - removed + (new_end - new_start);
        true
    }

    /// Whether [`RangeSet::insert`] of `[start, end)` would succeed.
    pub fn can_insert(&self, start: u64, end: u64) -> bool {
        if start >= end || self.ranges.len() < self.max_ranges {
            return true;
        }
        let i = self.ranges.partition_point(|r| r.1 < start);
        let j = i + self.ranges[i..].partition_point(|r| r.0 <= end);
        i != j
    }

    /// Removes everything below `bound`.
    pub fn remove_below(&mut self, bound: u64) {
        // Ranges lying entirely below `bound`.
        let k = self.ranges.partition_point(|r| r.1 <= bound);
        let removed: u64 = self.ranges[..k].iter().map(|r| r.1 - r.0).sum();
        self.ranges.drain(..k);
        self.total -= removed;
        if let Some(first) = self.ranges.first_mut() {
            if first.0 < bound {
                self.total -= bound - first.0;
                first.0 = bound;
            }
        }
    }

    /// Whether `[start, end)` is entirely in the set (an empty range always is).
    pub fn covers(&self, start: u64, end: u64) -> bool {
        if start >= end {
            return true;
        }
        // The only candidate: the first range ending after `start`.
        let i = self.ranges.partition_point(|r| r.1 <= start);
        match self.ranges.get(i) {
            Some(&(s, e)) => s <= start && end <= e,
            None => false,
        }
    }

    /// Whether `x` is in the set.
    pub fn contains(&self, x: u64) -> bool {
        // No half-open range can contain `u64::MAX`.
        x != u64::MAX && self.covers(x, x + 1)
    }

    /// The ranges in ascending order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (u64, u64)> + '_ {
        self.ranges.iter().copied()
    }
    /// Lowest range.
    pub fn first(&self) -> Option<(u64, u64)> {
        self.ranges.first().copied()
    }
    /// Highest range.
    pub fn last(&self) -> Option<(u64, u64)> {
        self.ranges.last().copied()
    }
    /// Number of ranges.
    pub fn len(&self) -> usize {
        self.ranges.len()
    }
    /// No ranges.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }
    /// Total bytes covered.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Bytes covered strictly above `x` (i.e. in `[x + 1, ..)`).
    pub fn bytes_above(&self, x: u64) -> u64 {
        let Some(t) = x.checked_add(1) else {
            return 0;
        };
        // Ranges ending after `t` contribute; only the first may straddle `t`.
        let i = self.ranges.partition_point(|r| r.1 <= t);
        self.ranges[i..].iter().map(|&(s, e)| e - s.max(t)).sum()
    }

    /// The first gap at or after `from` and before `limit`: `[gap_start, gap_end)` not in
    /// the set, or `None` when `[from, limit)` is fully covered.
    pub fn first_gap(&self, from: u64, limit: u64) -> Option<(u64, u64)> {
        if from >= limit {
            return None;
        }
        // First range ending after `from`.
        let i = self.ranges.partition_point(|r| r.1 <= from);
        let (gap_start, gap_end) = match self.ranges.get(i) {
            Some(&(s, e)) if s <= from => {
                // `from` is covered: the gap starts where this range ends.
                let next = self.ranges.get(i + 1).map_or(u64::MAX, |r| r.0);
                (e, next)
            }
            Some(&(s, _)) => (from, s),
            None => (from, u64::MAX),
        };
        if gap_start >= limit {
            return None;
        }
        Some((gap_start, gap_end.min(limit)))
    }

    /// Empties the set.
    pub fn clear(&mut self) {
        self.ranges.clear();
        self.total = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    fn ranges(s: &RangeSet) -> Vec<(u64, u64)> {
        s.iter().collect()
    }

    fn check_invariants(s: &RangeSet) {
        assert!(s.len() <= s.max_ranges());
        let mut total = 0;
        for (k, &(a, b)) in s.ranges.iter().enumerate() {
            assert!(a < b, "empty range {:?}", (a, b));
            if k > 0 {
                assert!(
                    s.ranges[k - 1].1 < a,
                    "not disjoint/non-adjacent: {:?}",
                    s.ranges
                );
            }
            total += b - a;
        }
        assert_eq!(total, s.total());
    }

    #[test]
    fn empty() {
        let s = RangeSet::new(4);
        assert!(s.is_empty());
        assert_eq!(s.len(), 0);
        assert_eq!(s.total(), 0);
        assert_eq!(s.first(), None);
        assert_eq!(s.last(), None);
        assert!(!s.contains(0));
        assert!(s.covers(5, 5));
        assert!(!s.covers(5, 6));
        assert_eq!(s.bytes_above(0), 0);
        assert_eq!(s.first_gap(3, 10), Some((3, 10)));
        assert_eq!(s.first_gap(10, 10), None);
    }

    #[test]
    fn insert_disjoint_sorted() {
        let mut s = RangeSet::new(8);
        assert!(s.insert(20, 30));
        assert!(s.insert(0, 5));
        assert!(s.insert(10, 12));
        assert_eq!(ranges(&s), vec![(0, 5), (10, 12), (20, 30)]);
        assert_eq!(s.total(), 17);
        assert_eq!(s.first(), Some((0, 5)));
        assert_eq!(s.last(), Some((20, 30)));
        check_invariants(&s);
    }

    #[test]
    fn insert_merges_adjacent() {
        let mut s = RangeSet::new(8);
        s.insert(0, 5);
        s.insert(5, 10);
        assert_eq!(ranges(&s), vec![(0, 10)]);
        s.insert(15, 20);
        s.insert(10, 15);
        assert_eq!(ranges(&s), vec![(0, 20)]);
        s.insert(25, 30);
        s.insert(20, 22);
        assert_eq!(ranges(&s), vec![(0, 22), (25, 30)]);
        s.insert(23, 25);
        assert_eq!(ranges(&s), vec![(0, 22), (23, 30)]);
        check_invariants(&s);
    }

    #[test]
    fn insert_spanning_many() {
        let mut s = RangeSet::new(8);
        for k in 0..5 {
            s.insert(k * 10, k * 10 + 3);
        }
        assert_eq!(s.len(), 5);
        assert!(s.insert(2, 35));
        assert_eq!(ranges(&s), vec![(0, 35), (40, 43)]);
        assert!(s.insert(0, 100));
        assert_eq!(ranges(&s), vec![(0, 100)]);
        assert_eq!(s.total(), 100);
        check_invariants(&s);
    }

    #[test]
    fn insert_contained_and_empty() {
        let mut s = RangeSet::new(1);
        assert!(s.insert(10, 20));
        assert!(s.insert(12, 15));
        assert!(s.insert(7, 7));
        assert!(s.insert(9, 3));
        assert_eq!(ranges(&s), vec![(10, 20)]);
    }

    #[test]
    fn insert_refuses_over_limit() {
        let mut s = RangeSet::new(2);
        assert!(s.insert(0, 1));
        assert!(s.insert(10, 11));
        assert!(!s.insert(5, 6));
        assert_eq!(ranges(&s), vec![(0, 1), (10, 11)]);
        // Merging does not increase the count, so it is still accepted.
        assert!(s.insert(1, 3));
        assert!(s.insert(8, 10));
        assert!(s.insert(3, 8));
        assert_eq!(ranges(&s), vec![(0, 11)]);
        let mut z = RangeSet::new(0);
        assert!(!z.insert(0, 1));
        assert!(z.insert(1, 1));
        assert!(z.is_empty());
    }

    #[test]
    fn remove_below_trims() {
        let mut s = RangeSet::new(8);
        s.insert(0, 5);
        s.insert(10, 20);
        s.insert(30, 40);
        s.remove_below(0);
        assert_eq!(s.total(), 25);
        s.remove_below(5);
        assert_eq!(ranges(&s), vec![(10, 20), (30, 40)]);
        s.remove_below(15);
        assert_eq!(ranges(&s), vec![(15, 20), (30, 40)]);
        assert_eq!(s.total(), 15);
        s.remove_below(25);
        assert_eq!(ranges(&s), vec![(30, 40)]);
        s.remove_below(40);
        assert!(s.is_empty());
        assert_eq!(s.total(), 0);
        check_invariants(&s);
    }

    #[test]
    fn covers_contains() {
        let mut s = RangeSet::new(8);
        s.insert(10, 20);
        s.insert(30, 40);
        assert!(s.covers(10, 20));
        assert!(s.covers(12, 13));
        assert!(!s.covers(9, 11));
        assert!(!s.covers(19, 21));
        assert!(!s.covers(15, 35));
        assert!(s.contains(10));
        assert!(s.contains(19));
        assert!(!s.contains(20));
        assert!(!s.contains(9));
        assert!(!s.contains(u64::MAX));
        s.insert(u64::MAX - 5, u64::MAX);
        assert!(s.contains(u64::MAX - 1));
        assert!(!s.contains(u64::MAX));
        assert!(s.covers(u64::MAX - 5, u64::MAX));
    }

    #[test]
    fn bytes_above_cases() {
        let mut s = RangeSet::new(8);
        s.insert(10, 20);
        s.insert(30, 40);
        assert_eq!(s.bytes_above(0), 20);
        assert_eq!(s.bytes_above(9), 20);
        assert_eq!(s.bytes_above(10), 19);
        assert_eq!(s.bytes_above(19), 10);
        assert_eq!(s.bytes_above(25), 10);
        assert_eq!(s.bytes_above(38), 1);
        assert_eq!(s.bytes_above(39), 0);
        assert_eq!(s.bytes_above(u64::MAX), 0);
    }

    #[test]
    fn first_gap_cases() {
        let mut s = RangeSet::new(8);
        s.insert(10, 20);
        s.insert(30, 40);
        assert_eq!(s.first_gap(0, 100), Some((0, 10)));
        assert_eq!(s.first_gap(0, 5), Some((0, 5)));
        assert_eq!(s.first_gap(10, 100), Some((20, 30)));
        assert_eq!(s.first_gap(15, 25), Some((20, 25)));
        assert_eq!(s.first_gap(10, 20), None);
        assert_eq!(s.first_gap(12, 18), None);
        assert_eq!(s.first_gap(20, 100), Some((20, 30)));
        assert_eq!(s.first_gap(35, 100), Some((40, 100)));
        assert_eq!(s.first_gap(35, 40), None);
        assert_eq!(s.first_gap(50, 40), None);
    }

    #[test]
    fn clear_resets() {
        let mut s = RangeSet::new(8);
        s.insert(1, 4);
        s.clear();
        assert!(s.is_empty());
        assert_eq!(s.total(), 0);
        assert!(s.insert(1, 2));
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u64, u64),
        RemoveBelow(u64),
        Clear,
    }

    const DOMAIN: u64 = 64;

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            8 => (0..DOMAIN, 0..12u64).prop_map(|(s, l)| Op::Insert(s, s + l)),
            1 => (0..DOMAIN + 4).prop_map(Op::RemoveBelow),
            1 => (0..20u8).prop_map(|_| Op::Clear),
        ]
    }

    fn model_ranges(m: &BTreeSet<u64>) -> Vec<(u64, u64)> {
        let mut out: Vec<(u64, u64)> = Vec::new();
        for &x in m {
            match out.last_mut() {
                Some(last) if last.1 == x => last.1 = x + 1,
                _ => out.push((x, x + 1)),
            }
        }
        out
    }

    proptest! {
        #[test]
        fn matches_naive_model(
            max in 0usize..6,
            ops in proptest::collection::vec(op(), 0..60),
            queries in proptest::collection::vec((0..DOMAIN + 16, 0..DOMAIN + 16), 8),
        ) {
            let mut s = RangeSet::new(max);
            let mut m = BTreeSet::new();
            for op in ops {
                match op {
                    Op::Insert(a, b) => {
                        let mut candidate = m.clone();
                        candidate.extend(a..b);
                        let fits = model_ranges(&candidate).len() <= max;
                        prop_assert_eq!(s.insert(a, b), fits);
                        if fits {
                            m = candidate;
                        }
                    }
                    Op::RemoveBelow(x) => {
                        s.remove_below(x);
                        m.retain(|&v| v >= x);
                    }
                    Op::Clear => {
                        s.clear();
                        m.clear();
                    }
                }
                check_invariants(&s);
                prop_assert_eq!(ranges(&s), model_ranges(&m));
                prop_assert_eq!(s.total(), m.len() as u64);
            }
            for &(a, b) in &queries {
                prop_assert_eq!(s.contains(a), m.contains(&a));
                prop_assert_eq!(s.covers(a, b), (a..b).all(|v| m.contains(&v)));
                prop_assert_eq!(s.bytes_above(a), m.range(a + 1..).count() as u64);
                let gap_start = (a..b).find(|v| !m.contains(v));
                let expected = gap_start.map(|g| {
                    let e = (g..b).find(|v| m.contains(v)).unwrap_or(b);
                    (g, e)
                });
                prop_assert_eq!(s.first_gap(a, b), expected);
            }
        }
    }
}
