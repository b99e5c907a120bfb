//! MPTCP v1 cryptography (RFC 8684 §3.1, §3.2, §3.4.1, §3.3.1): keys, tokens, IDSNs,
//! the MP_JOIN and ADD_ADDR HMACs, and the DSS checksum. All with HMAC-SHA256.

use std::net::IpAddr;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// SHA-256 of the key in network byte order (RFC 8684 §3.1).
fn key_digest(key: u64) -> [u8; 32] {
    Sha256::digest(key.to_be_bytes()).into()
}

/// HMAC-SHA256 keyed with `key_1 || key_2` (each 8 bytes, network order) over `msg`.
fn hmac_keys(key_1: u64, key_2: u64, msg: &[u8]) -> [u8; 32] {
    let mut key = [0u8; 16];
    key[..8].copy_from_slice(&key_1.to_be_bytes());
    key[8..].copy_from_slice(&key_2.to_be_bytes());
    let mut mac = HmacSha256::new_from_slice(&key).expect("HMAC accepts any key length");
    mac.update(msg);
    mac.finalize().into_bytes().into()
}

fn be_u64(bytes: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&bytes[..8]);
    u64::from_be_bytes(b)
}

/// Token: the most significant 32 bits of SHA-256 of the key in network byte order.
pub fn token(key: u64) -> u32 {
    let d = key_digest(key);
    u32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

/// Initial data sequence number: the least significant 64 bits of SHA-256(key).
pub fn idsn(key: u64) -> u64 {
    be_u64(&key_digest(key)[24..])
}

/// Full HMAC-SHA256 with key `key_1 || key_2` (each 8 bytes, network order) over
/// `nonce_1 || nonce_2` (each 4 bytes). The SYN/ACK of MP_JOIN sends the leftmost 64 bits
/// of `join_hmac(key_b, key_a, r_b, r_a)`; the third ACK the leftmost 160 bits of
/// `join_hmac(key_a, key_b, r_a, r_b)` (A = the subflow's initiator).
pub fn join_hmac(key_1: u64, key_2: u64, nonce_1: u32, nonce_2: u32) -> [u8; 32] {
    let mut msg = [0u8; 8];
    msg[..4].copy_from_slice(&nonce_1.to_be_bytes());
    msg[4..].copy_from_slice(&nonce_2.to_be_bytes());
    hmac_keys(key_1, key_2, &msg)
}

/// Leftmost 64 bits of a join HMAC, as a big-endian integer (the SYN/ACK form).
pub fn join_hmac_truncated(key_1: u64, key_2: u64, nonce_1: u32, nonce_2: u32) -> u64 {
    be_u64(&join_hmac(key_1, key_2, nonce_1, nonce_2)[..8])
}

/// ADD_ADDR HMAC: rightmost 64 bits of HMAC-SHA256 with key `sender_key || receiver_key`
/// over `addr_id || address bytes || port (2 bytes, 0 when absent)`.
///
/// The message layout matches Linux `add_addr_generate_hmac` (net/mptcp/options.c): the
/// address is 4 bytes for IPv4 and 16 for IPv6, the port always takes 2 bytes.
pub fn add_addr_hmac(
    sender_key: u64,
    receiver_key: u64,
    addr_id: u8,
    addr: IpAddr,
    port: Option<u16>,
) -> u64 {
    let mut msg = [0u8; 19];
    msg[0] = addr_id;
    let mut i = 1;
    match addr {
        IpAddr::V4(a) => {
            msg[i..i + 4].copy_from_slice(&a.octets());
            i += 4;
        }
        IpAddr::V6(a) => {
            msg[i..i + 16].copy_from_slice(&a.octets());
            i += 16;
        }
    }
    msg[i..i + 2].copy_from_slice(&port.unwrap_or(0).to_be_bytes());
    i += 2;
    let d = hmac_keys(sender_key, receiver_key, &msg[..i]);
    be_u64(&d[24..])
}

/// Adds `data` to a 32-bit accumulator of big-endian 16-bit words (RFC 1071). An odd
/// trailing byte is padded with a zero byte; `data` must therefore be the last chunk
/// unless its length is even.
fn sum_be_words(mut acc: u64, data: &[u8]) -> u64 {
    let mut chunks = data.chunks_exact(2);
    for w in &mut chunks {
        acc += u64::from(u16::from_be_bytes([w[0], w[1]]));
    }
    if let [last] = chunks.remainder() {
        acc += u64::from(*last) << 8;
    }
    acc
}

fn fold(mut acc: u64) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// DSS checksum (RFC 8684 §3.3.1): ones'-complement sum over the pseudo-header
/// `DSN (8) || SSN (4) || data-level length (2) || zero (2)` and the mapped payload.
///
/// Returns the complemented 16-bit sum, to be written big-endian into the DSS option (as
/// Linux `__mptcp_make_csum` does). A receiver that sums the pseudo-header with the
/// received checksum in the zero field and the payload gets 0xffff (i.e. this function
/// would return 0 with the checksum folded in).
pub fn dss_checksum(dsn: u64, ssn: u32, data_len: u16, payload: &[u8]) -> u16 {
    let mut header = [0u8; 16];
    header[..8].copy_from_slice(&dsn.to_be_bytes());
    header[8..12].copy_from_slice(&ssn.to_be_bytes());
    header[12..14].copy_from_slice(&data_len.to_be_bytes());
    // The pseudo-header is 16 bytes (even), so the payload's words stay aligned.
    let acc = sum_be_words(sum_be_words(0, &header), payload);
    !fold(acc)
}

#[cfg(test)]
mod tests {
    use super::*;

    // The vectors below were produced by scripts/gen_crypto_vectors.py, an independent
    // implementation using Python's hashlib/hmac.

    /// (key, token, idsn)
    const KEY_VECTORS: &[(u64, u32, u64)] = &[
        (0x0000000000000000, 0xaf5570f5, 0xe5b2328de0e83dfc),
        (0x0000000000000001, 0xcd266215, 0x19ec509083d00a50),
        (0x0123456789abcdef, 0x55c53f5d, 0x570762cd38be9818),
        (0xfedcba9876543210, 0x18f9781b, 0x280818bf0fa7e28e),
        (0xffffffffffffffff, 0x12a3ae44, 0x57fb595bbbacf0ca),
        (0xa5a5a5a55a5a5a5a, 0x7f7386d9, 0x2d51b9764622a557),
    ];

    /// (key_1, key_2, nonce_1, nonce_2, full HMAC hex, leftmost 64 bits)
    const JOIN_VECTORS: &[(u64, u64, u32, u32, &str, u64)] = &[
        (
            0x0123456789abcdef,
            0xfedcba9876543210,
            0x01020304,
            0xa0b0c0d0,
            "0ca3ceb849b1a94372451ab6b22b0ba8e61b1affa4aa8dfbf9661161d4a07bdb",
            0x0ca3ceb849b1a943,
        ),
        (
            0xfedcba9876543210,
            0x0123456789abcdef,
            0xa0b0c0d0,
            0x01020304,
            "aa7ebc70598ce670d3e05097f15a01b8b372454ee841d6ac76d9911f61bb7001",
            0xaa7ebc70598ce670,
        ),
        (
            0x0000000000000000,
            0x0000000000000000,
            0x00000000,
            0x00000000,
            "f375180aba92888401f1919be4a8715a62763b65c1c10e1d0858e81d4d6f9fd2",
            0xf375180aba928884,
        ),
        (
            0xffffffffffffffff,
            0x0000000000000001,
            0xdeadbeef,
            0xffffffff,
            "3151d1175e14f036845e7c852a549d215af8f2ea802a9988753aab5efd07a9da",
            0x3151d1175e14f036,
        ),
    ];

    /// Linux net/mptcp/crypto_test.c (KUnit) vectors: there the key and message are the
    /// ASCII bytes of strings such as "0b0b0b0b0b0b0b0b" / "48692054", read big-endian.
    /// (key_1, key_2, nonce_1, nonce_2, full HMAC hex)
    const LINUX_KUNIT_VECTORS: &[(u64, u64, u32, u32, &str)] = &[
        (
            0x3062306230623062,
            0x3062306230623062,
            0x34383639,
            0x32303534,
            "8385e24fb4235ac37556b6b886db106284a1da671699f46db1f235ec622dcafa",
        ),
        (
            0x6161616161616161,
            0x6161616161616161,
            0x64646464,
            0x64646464,
            "2c5e219164ff1dca1c4a92318d847bb6b9d44492984e1eb71aff9022f71046e9",
        ),
        (
            0x3031303230333034,
            0x3035303630373038,
            0x63646364,
            0x63646364,
            "e73b9ba9969969cefb04aa0d6df18ec2fcc075b6f23b4d8c4da736a5dbbc6e7d",
        ),
    ];

    type AddAddrVector = (u64, u64, u8, &'static str, Option<u16>, u64);

    /// (sender_key, receiver_key, addr_id, addr, port, hmac)
    const ADD_ADDR_VECTORS: &[AddAddrVector] = &[
        (
            0x0123456789abcdef,
            0xfedcba9876543210,
            1,
            "10.0.0.2",
            None,
            0x9a1a8c121491c8fb,
        ),
        (
            0x0123456789abcdef,
            0xfedcba9876543210,
            1,
            "10.0.0.2",
            Some(8080),
            0x932f365acf099924,
        ),
        (
            0xfedcba9876543210,
            0x0123456789abcdef,
            7,
            "192.168.1.200",
            Some(4660),
            0x03d5600a015b84cb,
        ),
        (
            0x0123456789abcdef,
            0xfedcba9876543210,
            2,
            "2001:db8::1",
            None,
            0x1fb71a532d845e59,
        ),
        (
            0x0123456789abcdef,
            0xfedcba9876543210,
            2,
            "2001:db8::1",
            Some(443),
            0xb0e3661147f5e771,
        ),
        (
            0xa5a5a5a55a5a5a5a,
            0x0000000000000001,
            255,
            "fe80::1:2:3:4",
            Some(65535),
            0xc72ca28c8cfd9f92,
        ),
    ];

    /// (dsn, ssn, data_len, payload, checksum)
    const DSS_VECTORS: &[(u64, u32, u16, &[u8], u16)] = &[
        (0x0000000000000000, 0x00000000, 0, b"", 0xffff),
        (0x0123456789abcdef, 0x00000001, 5, b"hello", 0x1e02),
        (0x0123456789abcdef, 0x00000001, 6, b"hello!", 0x1de0),
        (0xffffffffffffffff, 0xffffffff, 11, b"hello world", 0x6e26),
        (
            0xffffffffffffffff,
            0xffffffff,
            65535,
            b"\xff\xff\xff\xff\xff\xff\xff",
            0x00ff,
        ),
    ];

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn crypto_token_and_idsn_vectors() {
        for &(key, tok, isn) in KEY_VECTORS {
            assert_eq!(token(key), tok, "token of {key:#018x}");
            assert_eq!(idsn(key), isn, "idsn of {key:#018x}");
        }
    }

    #[test]
    fn crypto_token_and_idsn_are_ends_of_one_digest() {
        let key = 0x0123456789abcdef;
        let d = key_digest(key);
        assert_eq!(hex(&d[..4]), format!("{:08x}", token(key)));
        assert_eq!(hex(&d[24..]), format!("{:016x}", idsn(key)));
    }

    #[test]
    fn crypto_join_hmac_vectors() {
        for &(k1, k2, n1, n2, full, trunc) in JOIN_VECTORS {
            let mac = join_hmac(k1, k2, n1, n2);
            assert_eq!(hex(&mac), full);
            assert_eq!(join_hmac_truncated(k1, k2, n1, n2), trunc);
        }
    }

    #[test]
    fn crypto_join_hmac_linux_kunit_vectors() {
        for &(k1, k2, n1, n2, full) in LINUX_KUNIT_VECTORS {
            assert_eq!(hex(&join_hmac(k1, k2, n1, n2)), full);
        }
    }

    #[test]
    fn crypto_join_hmac_is_direction_sensitive() {
        let (ka, kb, ra, rb) = (
            0x0123456789abcdef,
            0xfedcba9876543210,
            0x01020304,
            0xa0b0c0d0,
        );
        assert_ne!(join_hmac(ka, kb, ra, rb), join_hmac(kb, ka, rb, ra));
    }

    #[test]
    fn crypto_add_addr_hmac_vectors() {
        for &(ks, kr, id, addr, port, mac) in ADD_ADDR_VECTORS {
            let ip: IpAddr = addr.parse().unwrap();
            assert_eq!(add_addr_hmac(ks, kr, id, ip, port), mac, "{addr} {port:?}");
        }
    }

    #[test]
    fn crypto_add_addr_hmac_port_zero_equals_absent() {
        let ip: IpAddr = "10.0.0.2".parse().unwrap();
        assert_eq!(
            add_addr_hmac(1, 2, 3, ip, None),
            add_addr_hmac(1, 2, 3, ip, Some(0))
        );
    }

    #[test]
    fn crypto_dss_checksum_vectors() {
        for &(dsn, ssn, len, payload, sum) in DSS_VECTORS {
            assert_eq!(
                dss_checksum(dsn, ssn, len, payload),
                sum,
                "payload {payload:?}"
            );
        }
        let payload: Vec<u8> = (0..=255u8).collect();
        assert_eq!(
            dss_checksum(0x1122334455667788, 0x99aabbcc, 256, &payload),
            0xd7f3
        );
    }

    #[test]
    fn crypto_dss_checksum_verifies_to_zero() {
        // A receiver summing pseudo-header (with the checksum in the zero field) and
        // payload must get all ones, i.e. the complemented sum is zero.
        for &(dsn, ssn, len, payload, _) in DSS_VECTORS {
            let c = dss_checksum(dsn, ssn, len, payload);
            let mut header = [0u8; 16];
            header[..8].copy_from_slice(&dsn.to_be_bytes());
            header[8..12].copy_from_slice(&ssn.to_be_bytes());
            header[12..14].copy_from_slice(&len.to_be_bytes());
            header[14..].copy_from_slice(&c.to_be_bytes());
            let acc = sum_be_words(sum_be_words(0, &header), payload);
            assert_eq!(!fold(acc), 0);
        }
    }
}
