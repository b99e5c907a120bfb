//! MPTCP v1 cryptography (RFC 8684 §3.1, §3.2, §3.4.1, §3.3.1): keys, tokens, IDSNs,
//! the MP_JOIN and ADD_ADDR HMACs, and the DSS checksum. All with HMAC-SHA256.

use std::net::IpAddr;

/// Token: the most significant 32 bits of SHA-256 of the key in network byte order.
pub fn token(key: u64) -> u32 {
    let _ = key;
    todo!("crypto helper")
}

/// Initial data sequence number: the least significant 64 bits of SHA-256(key).
pub fn idsn(key: u64) -> u64 {
    let _ = key;
    todo!("crypto helper")
}

/// Full HMAC-SHA256 with key `key_1 || key_2` (each 8 bytes, network order) over
/// `nonce_1 || nonce_2` (each 4 bytes). The SYN/ACK of MP_JOIN sends the leftmost 64 bits
/// of `join_hmac(key_b, key_a, r_b, r_a)`; the third ACK the leftmost 160 bits of
/// `join_hmac(key_a, key_b, r_a, r_b)` (A = the subflow's initiator).
pub fn join_hmac(key_1: u64, key_2: u64, nonce_1: u32, nonce_2: u32) -> [u8; 32] {
    let _ = (key_1, key_2, nonce_1, nonce_2);
    todo!("crypto helper")
}

/// Leftmost 64 bits of a join HMAC, as a big-endian integer (the SYN/ACK form).
pub fn join_hmac_truncated(key_1: u64, key_2: u64, nonce_1: u32, nonce_2: u32) -> u64 {
    let _ = (key_1, key_2, nonce_1, nonce_2);
    todo!("crypto helper")
}

/// ADD_ADDR HMAC: rightmost 64 bits of HMAC-SHA256 with key `sender_key || receiver_key`
/// over `addr_id || address bytes || port (2 bytes, 0 when absent)`.
pub fn add_addr_hmac(sender_key: u64, receiver_key: u64, addr_id: u8, addr: IpAddr, port: Option<u16>) -> u64 {
    let _ = (sender_key, receiver_key, addr_id, addr, port);
    todo!("crypto helper")
}

/// DSS checksum (RFC 8684 §3.3.1): ones'-complement sum over the pseudo-header
/// `DSN (8) || SSN (4) || data-level length (2) || zero (2)` and the mapped payload.
pub fn dss_checksum(dsn: u64, ssn: u32, data_len: u16, payload: &[u8]) -> u16 {
    let _ = (dsn, ssn, data_len, payload);
    todo!("crypto helper")
}
