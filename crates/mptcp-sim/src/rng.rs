//! Deterministic seeds and the payload generator.
//!
//! Every random stream of a run (each link direction, each endpoint, each flow's payload)
//! gets its own seed derived from the scenario seed, so adding a flow never changes what
//! another path's loss process does.

/// SplitMix64 step (Steele, Lea, Flood 2014): a fast, well-mixed 64-bit generator.
pub fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Purpose of a derived seed, so different streams never share one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u64)]
pub enum Stream {
    /// A link direction (index = path * 2 + direction).
    Link = 1,
    /// A client endpoint (index = flow).
    Client = 2,
    /// A server endpoint (index = flow).
    Server = 3,
    /// A flow's payload (index = flow).
    Payload = 4,
}

/// The seed of stream `kind` number `index` under the scenario seed `seed`.
pub fn derive_seed(seed: u64, kind: Stream, index: u64) -> u64 {
    let mut s = seed;
    let a = splitmix64(&mut s);
    let mut t = a
        ^ (kind as u64).wrapping_mul(0xd6e8_feb8_6659_fd93)
        ^ index.wrapping_mul(0xa076_1d64_78bd_642f);
    splitmix64(&mut t)
}

/// Words in the random table a payload stream is built from (64 KiB).
const TABLE_WORDS: usize = 8192;

/// Pseudo-random payload bytes, generated in chunks on demand.
///
/// Word `i` of the stream is `table[i mod T] XOR key(i / T)`: a 64 KiB random table drawn
/// once from the seed, and a distinct random key per 64 KiB block, so every block differs
/// (misplaced or reordered data is detected) while generation costs one load and one XOR
/// per 8 bytes.
#[derive(Debug, Clone)]
pub struct PayloadGen {
    seed: u64,
    table: std::sync::Arc<[u64]>,
    /// Index of the next word.
    word: u64,
    remaining: u64,
}

impl PayloadGen {
    /// A generator of `total` bytes from `seed`.
    pub fn new(seed: u64, total: u64) -> Self {
        let mut state = seed;
        let table: Vec<u64> = (0..TABLE_WORDS).map(|_| splitmix64(&mut state)).collect();
        PayloadGen {
            seed,
            table: table.into(),
            word: 0,
            remaining: total,
        }
    }

    /// Bytes not generated yet.
    pub fn remaining(&self) -> u64 {
        self.remaining
    }

    fn block_key(&self, block: u64) -> u64 {
        let mut s = self.seed ^ block.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        splitmix64(&mut s)
    }

    /// Replaces `buf`'s contents with the next (at most `max`) bytes; empty at the end.
    /// Chunks should be multiples of 8 bytes: a partial last word is not continued.
    pub fn next_chunk(&mut self, buf: &mut Vec<u8>, max: usize) {
        let n = usize::try_from(self.remaining)
            .unwrap_or(usize::MAX)
            .min(max);
        buf.clear();
        buf.resize(n, 0);
        let whole = n / 8;
        let mut done = 0usize;
        // Runs of words within one 64 KiB block share a key: a tight, vectorisable loop.
        while done < whole {
            let i = (self.word % TABLE_WORDS as u64) as usize;
            let run = (whole - done).min(TABLE_WORDS - i);
            let key = self.block_key(self.word / TABLE_WORDS as u64);
            let out = &mut buf[done * 8..(done + run) * 8];
            for (w, t) in out.chunks_exact_mut(8).zip(&self.table[i..i + run]) {
                w.copy_from_slice(&(t ^ key).to_le_bytes());
            }
            done += run;
            self.word += run as u64;
        }
        let words = buf.chunks_exact_mut(8);
        let tail = words.into_remainder();
        if !tail.is_empty() {
            let i = (self.word % TABLE_WORDS as u64) as usize;
            let key = self.block_key(self.word / TABLE_WORDS as u64);
            let v = (self.table[i] ^ key).to_le_bytes();
            let k = tail.len();
            tail.copy_from_slice(&v[..k]);
            self.word += 1;
        }
        self.remaining -= n as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_differ_per_stream_and_index() {
        let a = derive_seed(1, Stream::Link, 0);
        assert_eq!(a, derive_seed(1, Stream::Link, 0));
        assert_ne!(a, derive_seed(1, Stream::Link, 1));
        assert_ne!(a, derive_seed(1, Stream::Client, 0));
        assert_ne!(a, derive_seed(2, Stream::Link, 0));
    }

    #[test]
    fn payload_is_deterministic_and_sized() {
        let mut g = PayloadGen::new(9, 20);
        let mut buf = Vec::new();
        g.next_chunk(&mut buf, 13);
        assert_eq!(buf.len(), 13);
        let first = buf.clone();
        g.next_chunk(&mut buf, 13);
        assert_eq!(buf.len(), 7);
        g.next_chunk(&mut buf, 13);
        assert!(buf.is_empty());
        let mut h = PayloadGen::new(9, 20);
        h.next_chunk(&mut buf, 13);
        assert_eq!(buf, first);
        assert_ne!(first, vec![0u8; 13]);
    }

    #[test]
    fn blocks_differ_so_misplaced_data_shows() {
        let mut g = PayloadGen::new(5, 3 * 65536);
        let mut a = Vec::new();
        let mut b = Vec::new();
        g.next_chunk(&mut a, 65536);
        g.next_chunk(&mut b, 65536);
        assert_ne!(a, b);
        // Chunk size does not change the stream (multiples of 8).
        let mut h = PayloadGen::new(5, 3 * 65536);
        let mut c = Vec::new();
        let mut all = Vec::new();
        loop {
            h.next_chunk(&mut c, 8 * 1001);
            if c.is_empty() {
                break;
            }
            all.extend_from_slice(&c);
        }
        assert_eq!(&all[..65536], &a[..]);
        assert_eq!(&all[65536..131072], &b[..]);
    }
}
