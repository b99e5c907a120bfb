//! Sequence-number newtypes with wrap-around ordering.
//!
//! `SeqNum` is a 32-bit TCP subflow sequence number; `Dsn` a 64-bit MPTCP data sequence
//! number. They are distinct types so the two spaces can never be mixed by accident.

use core::cmp::Ordering;
use core::ops::{Add, AddAssign, Sub};

/// A 32-bit TCP sequence number (RFC 9293 §3.4), compared modulo 2^32.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct SeqNum(pub u32);

impl SeqNum {
    /// Signed distance `self - other`, valid while the two are within 2^31 of each other.
    pub fn diff(self, other: SeqNum) -> i32 {
        self.0.wrapping_sub(other.0) as i32
    }
    /// The later of two sequence numbers.
    pub fn max(self, other: SeqNum) -> SeqNum {
        if self.diff(other) >= 0 {
            self
        } else {
            other
        }
    }
    /// The earlier of two sequence numbers.
    pub fn min(self, other: SeqNum) -> SeqNum {
        if self.diff(other) <= 0 {
            self
        } else {
            other
        }
    }
}

impl PartialOrd for SeqNum {
    fn partial_cmp(&self, other: &SeqNum) -> Option<Ordering> {
        Some(self.diff(*other).cmp(&0))
    }
}

impl Add<u32> for SeqNum {
    type Output = SeqNum;
    fn add(self, rhs: u32) -> SeqNum {
        SeqNum(self.0.wrapping_add(rhs))
    }
}

impl AddAssign<u32> for SeqNum {
    fn add_assign(&mut self, rhs: u32) {
        self.0 = self.0.wrapping_add(rhs);
    }
}

impl Sub<u32> for SeqNum {
    type Output = SeqNum;
    fn sub(self, rhs: u32) -> SeqNum {
        SeqNum(self.0.wrapping_sub(rhs))
    }
}

/// A 64-bit MPTCP data sequence number (RFC 8684 §3.3.1), compared modulo 2^64.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Dsn(pub u64);

impl Dsn {
    /// Signed distance `self - other`.
    pub fn diff(self, other: Dsn) -> i64 {
        self.0.wrapping_sub(other.0) as i64
    }
    /// The later of two data sequence numbers.
    pub fn max(self, other: Dsn) -> Dsn {
        if self.diff(other) >= 0 {
            self
        } else {
            other
        }
    }
    /// The earlier of two data sequence numbers.
    pub fn min(self, other: Dsn) -> Dsn {
        if self.diff(other) <= 0 {
            self
        } else {
            other
        }
    }
    /// The low 32 bits, as sent in the short wire forms.
    pub fn low32(self) -> u32 {
        self.0 as u32
    }
    /// Expands a 32-bit wire value to the 64-bit number closest to `self`
    /// (RFC 8684 §3.3.1: the upper bits are inferred from the current state).
    pub fn expand(self, low: u32) -> Dsn {
        let candidate = (self.0 & !0xffff_ffff) | u64::from(low);
        let cand = Dsn(candidate);
        let d = cand.diff(self);
        if d > i64::from(i32::MAX) {
            Dsn(candidate.wrapping_sub(1 << 32))
        } else if d < i64::from(i32::MIN) {
            Dsn(candidate.wrapping_add(1 << 32))
        } else {
            cand
        }
    }
}

impl PartialOrd for Dsn {
    fn partial_cmp(&self, other: &Dsn) -> Option<Ordering> {
        Some(self.diff(*other).cmp(&0))
    }
}

impl Add<u64> for Dsn {
    type Output = Dsn;
    fn add(self, rhs: u64) -> Dsn {
        Dsn(self.0.wrapping_add(rhs))
    }
}

impl AddAssign<u64> for Dsn {
    fn add_assign(&mut self, rhs: u64) {
        self.0 = self.0.wrapping_add(rhs);
    }
}

impl Sub<u64> for Dsn {
    type Output = Dsn;
    fn sub(self, rhs: u64) -> Dsn {
        Dsn(self.0.wrapping_sub(rhs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seq_wraps() {
        let a = SeqNum(u32::MAX - 1);
        let b = a + 4;
        assert_eq!(b, SeqNum(2));
        assert!(b > a);
        assert_eq!(b.diff(a), 4);
        assert_eq!(a.max(b), b);
    }

    #[test]
    fn dsn_expand_both_directions() {
        let cur = Dsn(0x1_0000_0010);
        assert_eq!(cur.expand(0x20), Dsn(0x1_0000_0020));
        assert_eq!(cur.expand(0xffff_fff0), Dsn(0x0_ffff_fff0));
        let cur = Dsn(0x1_ffff_fff0);
        assert_eq!(cur.expand(0x10), Dsn(0x2_0000_0010));
        let cur = Dsn(u64::MAX - 5);
        assert_eq!(cur.expand(3), Dsn(3));
    }
}
