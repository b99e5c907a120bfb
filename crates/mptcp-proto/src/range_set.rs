//! A bounded set of disjoint half-open `u64` ranges: which bytes were received
//! (SACK generation) or selectively acknowledged (the sender's scoreboard).

/// Sorted, disjoint, non-adjacent half-open ranges `[start, end)`, at most `max_ranges`.
#[derive(Debug, Clone)]
pub struct RangeSet {
    ranges: Vec<(u64, u64)>,
    max_ranges: usize,
}

impl RangeSet {
    /// An empty set holding at most `max_ranges` ranges.
    pub fn new(max_ranges: usize) -> Self {
        let _ = max_ranges;
        todo!("range helper")
    }
    /// Adds `[start, end)`, merging with overlapping or adjacent ranges. Returns false and
    /// changes nothing if the result would need more than `max_ranges` ranges.
    pub fn insert(&mut self, start: u64, end: u64) -> bool {
        let _ = (start, end);
        todo!("range helper")
    }
    /// Removes everything below `bound`.
    pub fn remove_below(&mut self, bound: u64) {
        let _ = bound;
        todo!("range helper")
    }
    /// Whether `[start, end)` is entirely in the set.
    pub fn covers(&self, start: u64, end: u64) -> bool {
        let _ = (start, end);
        todo!("range helper")
    }
    /// Whether `x` is in the set.
    pub fn contains(&self, x: u64) -> bool {
        self.covers(x, x + 1)
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
        todo!("range helper")
    }
    /// Bytes covered strictly above `x` (i.e. in `[x + 1, ..)`).
    pub fn bytes_above(&self, x: u64) -> u64 {
        let _ = x;
        todo!("range helper")
    }
    /// The first gap at or after `from` and before `limit`: `[gap_start, gap_end)` not in
    /// the set, or `None` when `[from, limit)` is fully covered.
    pub fn first_gap(&self, from: u64, limit: u64) -> Option<(u64, u64)> {
        let _ = (from, limit);
        todo!("range helper")
    }
    /// Empties the set.
    pub fn clear(&mut self) {
        self.ranges.clear();
    }
}
