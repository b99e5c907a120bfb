//! A free list of packet buffers, so the hot path allocates nothing once warmed up.

/// Capacity given to fresh buffers: a full-size IPv4 packet with room to spare.
const BUF_CAPACITY: usize = 2048;
/// Most idle buffers kept; more are freed.
const MAX_IDLE: usize = 4096;

/// Reusable `Vec<u8>` packet buffers.
#[derive(Debug, Default)]
pub struct BufPool {
    free: Vec<Vec<u8>>,
}

impl BufPool {
    /// An empty pool.
    pub fn new() -> Self {
        BufPool::default()
    }

    /// An empty buffer (from the free list when possible).
    pub fn get(&mut self) -> Vec<u8> {
        match self.free.pop() {
            Some(mut b) => {
                b.clear();
                b
            }
            None => Vec::with_capacity(BUF_CAPACITY),
        }
    }

    /// A buffer holding a copy of `data`.
    pub fn copy_of(&mut self, data: &[u8]) -> Vec<u8> {
        let mut b = self.get();
        b.extend_from_slice(data);
        b
    }

    /// Returns a buffer to the pool.
    pub fn put(&mut self, buf: Vec<u8>) {
        if self.free.len() < MAX_IDLE {
            self.free.push(buf);
        }
    }

    /// Number of idle buffers (for tests).
    pub fn idle(&self) -> usize {
        self.free.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reuses_buffers() {
        let mut pool = BufPool::new();
        let mut b = pool.get();
        b.extend_from_slice(b"hello");
        let ptr = b.as_ptr();
        pool.put(b);
        assert_eq!(pool.idle(), 1);
        let b = pool.get();
        assert!(b.is_empty());
        assert_eq!(b.as_ptr(), ptr);
        assert_eq!(pool.copy_of(b"xy"), b"xy");
    }
}
