//! One subflow's TCP (RFC 9293 with RFC 7323, RFC 2018, RFC 6675, RFC 6298, RFC 5961).
//!
//! The subflow keeps TCP's sequence space as 64-bit offsets from its initial sequence
//! numbers (the SYN is offset 0, the first data byte offset 1), so long transfers never
//! compare wrapped values; conversion to 32-bit wire numbers happens at the edges.

pub mod rtt;
pub mod state;
pub mod subflow;

pub use state::TcpState;
pub use subflow::Subflow;

/// Expands a 32-bit wire sequence number into the 64-bit offset space closest to `reference`.
pub fn unwrap_seq(reference: u64, base: crate::SeqNum, wire: crate::SeqNum) -> u64 {
    let low = wire.0.wrapping_sub(base.0);
    let cand = (reference & !0xffff_ffff) | u64::from(low);
    let d = cand.wrapping_sub(reference) as i64;
    if d > i64::from(i32::MAX) {
        cand.wrapping_sub(1 << 32)
    } else if d < i64::from(i32::MIN) {
        cand.wrapping_add(1 << 32)
    } else {
        cand
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SeqNum;

    #[test]
    fn unwrap_follows_reference() {
        let base = SeqNum(u32::MAX - 10);
        assert_eq!(unwrap_seq(0, base, base), 0);
        assert_eq!(unwrap_seq(5, base, base + 20), 20);
        assert_eq!(unwrap_seq((1 << 32) + 5, base, base + 3), (1 << 32) + 3);
        assert_eq!(unwrap_seq((1 << 32) + 5, base, base - 3), (1 << 32) - 3);
    }
}
