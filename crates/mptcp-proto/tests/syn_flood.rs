//! SYN floods and SYN cookies: 100,000 SYNs from spoofed sources must not grow the
//! listener's memory past its half-open bound, and a legitimate client must still get in
//! and move its data intact (RFC 4987; Linux `tcp_syncookies`).

mod util;

use mptcp_proto::wire::{
    IpRepr, MpCapable, MptcpOption, TcpFlags, TcpOption, TcpOptions, TcpRepr, IP_PROTO_TCP,
};
use mptcp_proto::{Duration, EndpointConfig, Instant, SeqNum, SynCookies};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::cell::Cell;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use util::{pattern, transfer_with, Link, Pair};

const FLOOD: u64 = 100_000;
const HALF_OPEN: usize = 64;

fn server_config(cookies: SynCookies) -> EndpointConfig {
    EndpointConfig {
        max_half_open: HALF_OPEN,
        max_connections: 256,
        syn_cookies: cookies,
        ..EndpointConfig::default()
    }
}

/// A SYN as Linux sends it (MSS, SACK, timestamps, window scale, MP_CAPABLE) from a random
/// spoofed source to the pair's server.
fn spoofed_syn(rng: &mut ChaCha8Rng, server: SocketAddr) -> Vec<u8> {
    let src = IpAddr::V4(Ipv4Addr::from(rng.gen::<u32>() | 0x0100_0000));
    let mut options = TcpOptions::new();
    options.push(TcpOption::Mss(1460));
    options.push(TcpOption::SackPermitted);
    options.push(TcpOption::Timestamp {
        tsval: rng.gen(),
        tsecr: 0,
    });
    options.push(TcpOption::Nop);
    options.push(TcpOption::WindowScale(7));
    if rng.gen_bool(0.5) {
        options.push(TcpOption::Mptcp(MptcpOption::MpCapable(MpCapable {
            version: 1,
            flags: MpCapable::FLAG_H,
            sender_key: None,
            receiver_key: None,
            data_len: None,
            checksum: None,
        })));
    }
    let repr = TcpRepr {
        src_port: rng.gen_range(1024..65535),
        dst_port: server.port(),
        seq: SeqNum(rng.gen()),
        ack: SeqNum(0),
        flags: TcpFlags(TcpFlags::SYN),
        window: 64240,
        urgent: 0,
        options,
        payload: &[],
    };
    let ip = IpRepr {
        src,
        dst: server.ip(),
        protocol: IP_PROTO_TCP,
        hop_limit: 64,
        payload_len: repr.buffer_len(),
    };
    let mut buf = vec![0u8; ip.buffer_len()];
    ip.emit(&mut buf);
    repr.emit(&mut buf[ip.header_len()..], src, server.ip());
    buf
}

/// Feeds the server the flood's SYNs due by `now` (`rate` per millisecond), checking the
/// memory bound after each batch. Returns how many were sent in total.
fn flood_until(pair: &mut Pair, rng: &mut ChaCha8Rng, sent: &mut u64, rate: u64, bound: usize) {
    let due = (pair.now.as_millis() * rate + 1000).min(FLOOD);
    while *sent < due {
        let syn = spoofed_syn(rng, pair.server_addr);
        pair.server.handle_packet(pair.now, &syn);
        *sent += 1;
        // Drain what the server answers (SYN/ACKs to nowhere), as a driver does.
        if (*sent).is_multiple_of(256) {
            pair.flush();
        }
    }
    assert!(
        pair.server.connection_count() <= HALF_OPEN + 2,
        "{} connections under the flood",
        pair.server.connection_count()
    );
    assert!(
        pair.server.buffered_bytes() <= bound,
        "{} bytes buffered under the flood, bound {bound}",
        pair.server.buffered_bytes()
    );
}

fn flood_and_transfer(cookies: SynCookies, mptcp: bool, seed: u64) -> (bool, Pair) {
    let client = EndpointConfig {
        mptcp,
        ..EndpointConfig::default()
    };
    let server = server_config(cookies);
    let bound = (HALF_OPEN + 2) * (server.send_buffer + server.recv_buffer)
        + server.max_pending_control * 1500;
    let mut pair = Pair::new(
        client,
        server,
        vec![
            (Link::new(10, 100), Link::new(10, 100)),
            (Link::new(15, 100), Link::new(15, 100)),
        ],
        seed,
    );
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xf100d);
    let mut sent = 0u64;
    // The flood is already on when the client connects: 1000 SYNs, then 20 per ms.
    flood_until(&mut pair, &mut rng, &mut sent, 20, bound);
    let data = pattern(2_000_000, 7);
    let sent_cell = Cell::new(sent);
    let (got, done, _) = transfer_with(&mut pair, &data, Instant::from_millis(60_000), |p, _| {
        let mut s = sent_cell.get();
        flood_until(p, &mut rng, &mut s, 20, bound);
        sent_cell.set(s);
    });
    let mut sent = sent_cell.get();
    while sent < FLOOD {
        pair.now += Duration::from_millis(10);
        flood_until(&mut pair, &mut rng, &mut sent, 20, bound);
        pair.flush();
    }
    assert_eq!(sent, FLOOD);
    let ok = done.is_some() && got == data;
    (ok, pair)
}

#[test]
fn flood_with_cookies_on_overflow_lets_mptcp_client_in() {
    let (ok, pair) = flood_and_transfer(SynCookies::OnOverflow, true, 1);
    let st = pair.server.endpoint_stats();
    assert!(
        ok,
        "legitimate MPTCP transfer failed under the flood: {st:?}"
    );
    assert!(st.syncookies_sent > 90_000, "{st:?}");
    assert!(
        st.syncookies_recv >= 1,
        "the client got in through a cookie: {st:?}"
    );
    // Two subflows: the initial one from the cookie, the join found by token.
    let up = pair
        .client_events
        .iter()
        .filter(|e| matches!(e, mptcp_proto::Event::SubflowUp { .. }))
        .count();
    assert_eq!(up, 2, "initial subflow and a join on the client");
}

#[test]
fn flood_with_cookies_on_overflow_lets_tcp_client_in() {
    let (ok, pair) = flood_and_transfer(SynCookies::OnOverflow, false, 2);
    let st = pair.server.endpoint_stats();
    assert!(ok, "legitimate TCP transfer failed under the flood: {st:?}");
    assert!(st.syncookies_recv >= 1, "{st:?}");
}

#[test]
fn flood_without_cookies_stays_bounded_and_drops_syns() {
    // Memory stays bounded either way; without cookies the table is simply full.
    let client = EndpointConfig::default();
    let server = server_config(SynCookies::Off);
    let bound = (HALF_OPEN + 2) * (server.send_buffer + server.recv_buffer)
        + server.max_pending_control * 1500;
    let mut pair = Pair::new(
        client,
        server,
        vec![(Link::new(10, 100), Link::new(10, 100))],
        3,
    );
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let mut sent = 0;
    while sent < FLOOD {
        pair.now += Duration::from_millis(10);
        flood_until(&mut pair, &mut rng, &mut sent, 20, bound);
        pair.flush();
    }
    let st = pair.server.endpoint_stats();
    assert_eq!(st.syncookies_sent, 0);
    assert!(st.syn_dropped > 90_000, "{st:?}");
    assert_eq!(pair.server.connection_count(), HALF_OPEN);
}

/// Drops the first pure ACK from the client (the third ACK of the handshake).
#[allow(clippy::ptr_arg)] // the link's filter type
fn drop_first_pure_ack(pkt: &mut Vec<u8>) -> bool {
    thread_local!(static DROPPED: Cell<bool> = const { Cell::new(false) });
    let Ok((_, payload)) = IpRepr::parse(pkt) else {
        return true;
    };
    let Ok(seg) = TcpRepr::parse(payload, None) else {
        return true;
    };
    if seg.flags.ack() && !seg.flags.syn() && seg.payload.is_empty() && !DROPPED.get() {
        DROPPED.set(true);
        return false;
    }
    true
}

/// Every SYN answered with a cookie, both options and MPTCP negotiated from the ACK.
fn cookie_transfer(checksum: bool, drop_third_ack: bool) {
    let client = EndpointConfig {
        checksum,
        ..EndpointConfig::default()
    };
    let server = server_config(SynCookies::Always);
    let mut up = Link::new(10, 50);
    if drop_third_ack {
        up.filter = Some(drop_first_pure_ack);
    }
    let mut pair = Pair::new(
        client,
        server,
        vec![
            (up, Link::new(10, 50)),
            (Link::new(20, 50), Link::new(20, 50)),
        ],
        4,
    );
    let data = pattern(3_000_000, 9);
    let mut last = None;
    let (got, done, _) = transfer_with(&mut pair, &data, Instant::from_millis(30_000), |p, c| {
        if let Some(s) = p.client.stats(c) {
            last = Some(s);
        }
    });
    assert!(done.is_some(), "transfer did not finish");
    assert!(got == data, "data corrupted through a cookie connection");
    let st = pair.server.endpoint_stats();
    assert_eq!(st.syncookies_sent, 1, "{st:?}");
    assert_eq!(st.syncookies_recv, 1, "{st:?}");
    let cs = last.expect("client connection stats");
    assert!(!cs.fallback, "the cookie connection stayed MPTCP: {cs:?}");
    assert_eq!(cs.checksum, checksum, "{cs:?}");
    let carried = cs.subflows.iter().filter(|s| s.bytes_sent > 0).count();
    assert_eq!(
        carried, 2,
        "the join found the connection rebuilt from the cookie: {cs:?}"
    );
}

#[test]
fn cookie_connection_negotiates_mptcp() {
    cookie_transfer(false, false);
}

#[test]
fn cookie_connection_with_checksums() {
    cookie_transfer(true, false);
}

#[test]
fn cookie_connection_from_first_data_when_third_ack_is_lost() {
    cookie_transfer(false, true);
}

#[test]
fn forged_cookie_acks_are_refused() {
    let server = server_config(SynCookies::Always);
    let mut pair = Pair::new(
        EndpointConfig::default(),
        server,
        vec![(Link::new(1, 0), Link::new(1, 0))],
        5,
    );
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    // One real cookie so the secret exists, then 10,000 guessed third ACKs.
    let syn = spoofed_syn(&mut rng, pair.server_addr);
    pair.server.handle_packet(pair.now, &syn);
    for _ in 0..10_000 {
        let mut ack = spoofed_syn(&mut rng, pair.server_addr);
        rewrite_to_ack(&mut ack, rng.gen(), rng.gen());
        pair.server.handle_packet(pair.now, &ack);
        pair.flush();
    }
    let st = pair.server.endpoint_stats();
    assert_eq!(pair.server.connection_count(), 0);
    assert_eq!(st.syncookies_recv, 0, "{st:?}");
    assert_eq!(st.syncookies_failed, 10_000, "{st:?}");
}

fn rewrite_to_ack(pkt: &mut Vec<u8>, seq: u32, ack: u32) {
    util::rewrite_tcp(pkt, |seg| {
        seg.flags = TcpFlags(TcpFlags::ACK);
        seg.seq = SeqNum(seq);
        seg.ack = SeqNum(ack);
        seg.options = TcpOptions::new();
    });
}
