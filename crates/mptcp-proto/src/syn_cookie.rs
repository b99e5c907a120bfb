//! SYN cookies: a listener under a SYN flood answers without keeping state and rebuilds the
//! connection from the handshake's third ACK (RFC 4987 §3.6; Linux `tcp_syncookies = 1`).
//!
//! The cookie is our initial sequence number: a 5-bit time counter (64 s per step, two
//! steps accepted), a 3-bit index into [`MSS_TABLE`] and 24 bits of HMAC-SHA256 over the
//! 4-tuple, the peer's ISN, the counter and the index. As in Linux, the peer's window scale
//! and SACK permission ride in the low 6 bits of our SYN/ACK's TSval (echoed in TSecr), so
//! they survive only when timestamps are on. An MPTCP v1 third ACK carries both keys
//! (RFC 8684 §3.1); our key is derived from the cookie, so the ACK must echo exactly it.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::net::{IpAddr, SocketAddr};

type HmacSha256 = Hmac<Sha256>;

/// MSS values a cookie can carry; the peer's MSS is rounded down to one of them.
pub(crate) const MSS_TABLE: [u16; 8] = [536, 1220, 1300, 1380, 1440, 1460, 4380, 8960];

/// Seconds per step of the cookie's time counter.
const COUNTER_STEP_SECS: u64 = 64;

/// Low TSval bits that carry the peer's options.
const TS_OPT_BITS: u32 = 6;
const TS_OPT_MASK: u32 = (1 << TS_OPT_BITS) - 1;
/// Window-scale field value meaning "the peer sent no window scale".
const NO_WSCALE: u32 = 0xf;
const SACK_BIT: u32 = 1 << 4;

/// The secret of one endpoint: unpredictable, never on the wire.
#[derive(Clone)]
pub(crate) struct CookieSecret {
    key: [u8; 32],
    /// Offset of the cookie timestamp clock (hides the host's uptime, as Linux does).
    pub(crate) ts_offset: u32,
}

/// Options of the peer's SYN that a cookie remembers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CookieOptions {
    pub mss: u16,
    pub wscale: Option<u8>,
    pub sack_permitted: bool,
    /// Timestamps were negotiated (the options below came back in TSecr).
    pub timestamps: bool,
}

/// The time counter at `now_secs`.
pub(crate) fn counter(now_secs: u64) -> u32 {
    (now_secs / COUNTER_STEP_SECS) as u32
}

/// Index of the largest table MSS not above `mss`.
pub(crate) fn mss_index(mss: u16) -> u8 {
    MSS_TABLE.iter().rposition(|&m| m <= mss).unwrap_or(0) as u8
}

impl CookieSecret {
    pub(crate) fn new(key: [u8; 32], ts_offset: u32) -> Self {
        CookieSecret { key, ts_offset }
    }

    fn mac(&self, label: &[u8], local: SocketAddr, remote: SocketAddr, words: &[u32]) -> [u8; 32] {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC accepts any key length");
        mac.update(label);
        for a in [local, remote] {
            match a.ip() {
                IpAddr::V4(ip) => mac.update(&ip.octets()),
                IpAddr::V6(ip) => mac.update(&ip.octets()),
            }
            mac.update(&a.port().to_be_bytes());
        }
        for w in words {
            mac.update(&w.to_be_bytes());
        }
        mac.finalize().into_bytes().into()
    }

    fn hash24(
        &self,
        local: SocketAddr,
        remote: SocketAddr,
        peer_isn: u32,
        count: u32,
        mss_idx: u8,
    ) -> u32 {
        let d = self.mac(
            b"cookie",
            local,
            remote,
            &[peer_isn, count & 0x1f, u32::from(mss_idx)],
        );
        u32::from_be_bytes([0, d[0], d[1], d[2]])
    }

    /// The cookie (our ISN) for a SYN from `remote` to `local` with sequence `peer_isn`.
    pub(crate) fn make(
        &self,
        local: SocketAddr,
        remote: SocketAddr,
        peer_isn: u32,
        count: u32,
        mss_idx: u8,
    ) -> u32 {
        let mss_idx = mss_idx & 0x7;
        ((count & 0x1f) << 27)
            | (u32::from(mss_idx) << 24)
            | self.hash24(local, remote, peer_isn, count, mss_idx)
    }

    /// The MSS index of a valid cookie made at `count` or the step before, else `None`.
    pub(crate) fn check(
        &self,
        local: SocketAddr,
        remote: SocketAddr,
        peer_isn: u32,
        cookie: u32,
        count: u32,
    ) -> Option<u8> {
        let made = cookie >> 27;
        let mss_idx = ((cookie >> 24) & 0x7) as u8;
        let age = count.wrapping_sub(made) & 0x1f;
        if age > 1 {
            return None;
        }
        let c = count.wrapping_sub(age);
        (self.hash24(local, remote, peer_isn, c, mss_idx) == cookie & 0x00ff_ffff)
            .then_some(mss_idx)
    }

    /// Our MPTCP key for the connection this cookie stands for (never zero).
    pub(crate) fn server_key(
        &self,
        local: SocketAddr,
        remote: SocketAddr,
        peer_isn: u32,
        cookie: u32,
    ) -> u64 {
        let d = self.mac(b"key", local, remote, &[peer_isn, cookie]);
        let mut b = [0u8; 8];
        b.copy_from_slice(&d[..8]);
        u64::from_be_bytes(b).max(1)
    }

    /// The cookie clock's TSval at `now_ms`, before option bits are folded in.
    pub(crate) fn ts_now(&self, now_ms: u64) -> u32 {
        (now_ms as u32).wrapping_add(self.ts_offset)
    }
}

/// TSval for the SYN/ACK: `ts_now` with its low bits replaced by the peer's options, never
/// ahead of `ts_now` (so the connection's later TSvals never go backwards).
pub(crate) fn encode_ts(ts_now: u32, wscale: Option<u8>, sack_permitted: bool) -> u32 {
    let mut bits = wscale.map_or(NO_WSCALE, |w| u32::from(w.min(14)));
    if sack_permitted {
        bits |= SACK_BIT;
    }
    let ts = (ts_now & !TS_OPT_MASK) | bits;
    if ts > ts_now {
        ts.wrapping_sub(1 << TS_OPT_BITS)
    } else {
        ts
    }
}

/// The peer's options from the TSecr of its ACK (`None`: no timestamps on the ACK).
pub(crate) fn decode_options(mss_idx: u8, tsecr: Option<u32>) -> CookieOptions {
    let mss = MSS_TABLE[usize::from(mss_idx & 0x7)];
    match tsecr {
        Some(ts) => {
            let w = ts & 0xf;
            CookieOptions {
                mss,
                wscale: (w <= 14).then_some(w as u8),
                sack_permitted: ts & SACK_BIT != 0,
                timestamps: true,
            }
        }
        None => CookieOptions {
            mss,
            wscale: None,
            sack_permitted: false,
            timestamps: false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs() -> (SocketAddr, SocketAddr) {
        (
            "10.0.0.1:80".parse().unwrap(),
            "10.9.9.9:40000".parse().unwrap(),
        )
    }

    #[test]
    fn cookie_checks_within_two_steps_only() {
        let s = CookieSecret::new([7; 32], 0);
        let (l, r) = addrs();
        let c = s.make(l, r, 1234, 10, 5);
        assert_eq!(s.check(l, r, 1234, c, 10), Some(5));
        assert_eq!(s.check(l, r, 1234, c, 11), Some(5));
        assert_eq!(s.check(l, r, 1234, c, 12), None);
        assert_eq!(s.check(l, r, 1234, c, 9), None, "from the future");
    }

    #[test]
    fn cookie_is_bound_to_tuple_isn_and_secret() {
        let s = CookieSecret::new([7; 32], 0);
        let (l, r) = addrs();
        let c = s.make(l, r, 1234, 3, 2);
        assert_eq!(s.check(l, r, 1235, c, 3), None);
        let r2: SocketAddr = "10.9.9.9:40001".parse().unwrap();
        assert_eq!(s.check(l, r2, 1234, c, 3), None);
        let other = CookieSecret::new([8; 32], 0);
        assert_eq!(other.check(l, r, 1234, c, 3), None);
        // A flipped MSS index fails the hash.
        assert_eq!(s.check(l, r, 1234, c ^ (1 << 24), 3), None);
    }

    #[test]
    fn counter_wraps() {
        let s = CookieSecret::new([1; 32], 0);
        let (l, r) = addrs();
        let c = s.make(l, r, 9, 31, 0);
        assert_eq!(s.check(l, r, 9, c, 32), Some(0));
    }

    #[test]
    fn mss_rounds_down() {
        assert_eq!(MSS_TABLE[usize::from(mss_index(1460))], 1460);
        assert_eq!(MSS_TABLE[usize::from(mss_index(1448))], 1440);
        assert_eq!(MSS_TABLE[usize::from(mss_index(100))], 536);
        assert_eq!(MSS_TABLE[usize::from(mss_index(65535))], 8960);
    }

    #[test]
    fn options_round_trip_through_tsval() {
        for now in [0u32, 5, 63, 64, 1000, u32::MAX] {
            for w in [None, Some(0), Some(7), Some(14)] {
                for sack in [false, true] {
                    let ts = encode_ts(now, w, sack);
                    assert!(ts <= now || now < 64, "never ahead: {ts} > {now}");
                    let o = decode_options(5, Some(ts));
                    assert_eq!((o.wscale, o.sack_permitted, o.mss), (w, sack, 1460));
                }
            }
        }
        let o = decode_options(0, None);
        assert_eq!(
            (o.wscale, o.sack_permitted, o.timestamps),
            (None, false, false)
        );
    }

    #[test]
    fn server_key_depends_on_cookie() {
        let s = CookieSecret::new([3; 32], 0);
        let (l, r) = addrs();
        assert_ne!(s.server_key(l, r, 1, 2), s.server_key(l, r, 1, 3));
        assert_eq!(s.server_key(l, r, 1, 2), s.server_key(l, r, 1, 2));
    }
}
