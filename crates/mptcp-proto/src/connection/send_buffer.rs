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
        let _ = (start, limit);
        todo!("send buffer helper")
    }
    /// Appends as much of `bytes` as fits; returns how many were taken.
    pub fn push(&mut self, bytes: &[u8]) -> usize {
        let _ = bytes;
        todo!("send buffer helper")
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
    /// Copies `[offset, offset + out.len())` into `out`. Returns false (copying nothing) if
    /// any of that range is not held.
    pub fn copy_out(&self, offset: u64, out: &mut [u8]) -> bool {
        let _ = (offset, out);
        todo!("send buffer helper")
    }
    /// Forgets every byte below `offset` (no-op for offsets at or below `start`).
    pub fn release_below(&mut self, offset: u64) {
        let _ = offset;
        todo!("send buffer helper")
    }
    /// Changes the limit (existing bytes are kept even if over it).
    pub fn set_limit(&mut self, limit: usize) {
        self.limit = limit;
    }
}
