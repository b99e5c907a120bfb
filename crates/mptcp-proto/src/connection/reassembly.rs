//! Connection-level receive buffer: data placed by offset (DSN relative to the peer's
//! IDSN + 1), duplicates dropped, delivered in order. Memory is bounded by the caller's window.

use std::collections::{BTreeMap, VecDeque};

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
    /// Out-of-order data: start offset -> bytes. Never overlapping, never adjacent to the
    /// in-order edge.
    out_of_order: BTreeMap<u64, Vec<u8>>,
    out_of_order_bytes: u64,
}

impl Reassembly {
    /// An empty buffer whose next expected offset is `start`.
    pub fn new(start: u64) -> Self {
        let _ = start;
        todo!("reassembly helper")
    }
    /// Places `data` at `offset`. Bytes below [`Self::next_offset`] or already held are
    /// duplicates; the rest is stored. Data that becomes contiguous moves to the readable part.
    /// The caller must only insert bytes inside its advertised window.
    pub fn insert(&mut self, offset: u64, data: &[u8]) -> InsertOutcome {
        let _ = (offset, data);
        todo!("reassembly helper")
    }
    /// Offset one past the last in-order byte (the cumulative acknowledgment point).
    pub fn next_offset(&self) -> u64 {
        todo!("reassembly helper")
    }
    /// Copies in-order bytes into `buf`, consuming them; returns how many.
    pub fn read(&mut self, buf: &mut [u8]) -> usize {
        let _ = buf;
        todo!("reassembly helper")
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
    pub fn out_of_order_ranges(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.out_of_order.iter().map(|(s, d)| (*s, *s + d.len() as u64))
    }
    /// Offset of the first unread byte.
    pub fn read_offset(&self) -> u64 {
        self.read_offset
    }
}
