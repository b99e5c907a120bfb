//! Payload rewriting by a middlebox with DSS checksums on (RFC 8684 §3.7): with other
//! subflows the damaged one is reset with MP_FAIL and its data goes on another, intact; on
//! a lone subflow both ends exchange MP_FAIL, the sender signals an infinite mapping and
//! the connection continues as plain TCP, delivering what a TCP connection through the same
//! middlebox would (the rewritten bytes), nothing lost, nothing repeated.

mod util;

use mptcp_proto::wire::{IpRepr, MptcpOption, TcpRepr};
use mptcp_proto::{EndpointConfig, Event, Instant};
use std::cell::Cell;
use util::{pattern, rewrite_tcp, transfer_with, Link, Pair};

const LEN: usize = 1_500_000;
/// Subflow sequence offset (from the client's ISN) of the byte the middlebox rewrites.
const REWRITE_AT: u32 = 400_000;

thread_local! {
    static REWRITTEN: Cell<Option<(u32, u8)>> = const { Cell::new(None) };
    static ISN: Cell<Option<u32>> = const { Cell::new(None) };
}

/// An ALG-like middlebox: rewrites one payload byte of the client's data (once, the
/// first time it passes; a retransmission of it passes unchanged) and fixes the TCP
/// checksum, as NATs with application-level gateways do.
#[allow(clippy::ptr_arg)] // the link's filter type
fn rewrite_one_byte(pkt: &mut Vec<u8>) -> bool {
    let Ok((_, payload)) = IpRepr::parse(pkt) else {
        return true;
    };
    let Ok(seg) = TcpRepr::parse(payload, None) else {
        return true;
    };
    if seg.flags.syn() && !seg.flags.ack() {
        ISN.set(Some(seg.seq.0));
        return true;
    }
    let (Some(isn), None) = (ISN.get(), REWRITTEN.get()) else {
        return true;
    };
    let start = seg.seq.0.wrapping_sub(isn);
    let end = start.wrapping_add(seg.payload.len() as u32);
    if start <= REWRITE_AT && REWRITE_AT < end {
        let k = (REWRITE_AT - start) as usize;
        let old = seg.payload[k];
        REWRITTEN.set(Some((REWRITE_AT, old)));
        rewrite_tcp(pkt, |s| {
            let mut p = s.payload.to_vec();
            p[k] ^= 0x5a;
            // The repr borrows its payload: leak a copy for this one packet of the test.
            s.payload = Box::leak(p.into_boxed_slice());
        });
    }
    true
}

fn config() -> EndpointConfig {
    EndpointConfig {
        checksum: true,
        ..EndpointConfig::default()
    }
}

fn count_mp_fail(events: &std::collections::VecDeque<(bool, Vec<u8>)>, to_server: bool) -> usize {
    events
        .iter()
        .filter(|(dir, _)| *dir == to_server)
        .filter(|(_, p)| {
            IpRepr::parse(p)
                .ok()
                .and_then(|(_, t)| TcpRepr::parse(t, None).ok())
                .is_some_and(|s| {
                    s.mptcp_options()
                        .any(|m| matches!(m, MptcpOption::MpFail(_)))
                })
        })
        .count()
}

#[test]
fn rewritten_payload_on_lone_subflow_falls_back_with_mp_fail() {
    REWRITTEN.set(None);
    ISN.set(None);
    let mut up = Link::new(10, 50);
    up.filter = Some(rewrite_one_byte);
    let mut pair = Pair::new(config(), config(), vec![(up, Link::new(10, 50))], 11);
    pair.capture_limit = 1 << 20;
    let data = pattern(LEN, 3);
    let mut client_stats = None;
    let (got, done, _) = transfer_with(&mut pair, &data, Instant::from_millis(60_000), |p, c| {
        if let Some(s) = p.client.stats(c) {
            client_stats = Some(s);
        }
    });
    let (at, _) = REWRITTEN.get().expect("the middlebox rewrote a byte");
    assert!(done.is_some(), "transfer did not finish");
    assert_eq!(got.len(), data.len(), "bytes lost or repeated");
    // Subflow offset 1 is data byte 0: the rewritten byte is data byte `at - 1`.
    let k = (at - 1) as usize;
    let mut expect = data.clone();
    expect[k] ^= 0x5a;
    let diff: Vec<usize> = (0..got.len()).filter(|&i| got[i] != data[i]).collect();
    assert_eq!(diff, vec![k], "exactly the rewritten byte differs");
    assert!(got == expect);
    let cs = client_stats.expect("client stats");
    assert!(cs.fallback, "the sender fell back: {cs:?}");
    assert_eq!(cs.mp_fail_rx, 1, "{cs:?}");
    assert_eq!(cs.infinite_map_tx, 1, "{cs:?}");
    assert!(cs.mp_fail_tx >= 1, "the sender answers MP_FAIL: {cs:?}");
    assert!(
        count_mp_fail(&pair.captured, false) >= 1,
        "MP_FAIL from the receiver"
    );
    assert!(count_mp_fail(&pair.captured, true) >= 1, "MP_FAIL answered");
    assert!(
        pair.server_events
            .iter()
            .chain(pair.client_events.iter())
            .any(|e| matches!(e, Event::FellBack(_))),
        "FellBack reported"
    );
}

#[test]
fn rewritten_payload_with_two_subflows_resets_one_and_delivers_intact() {
    REWRITTEN.set(None);
    ISN.set(None);
    let mut up = Link::new(10, 50);
    up.filter = Some(rewrite_one_byte);
    let mut pair = Pair::new(
        config(),
        config(),
        vec![
            (up, Link::new(10, 50)),
            (Link::new(12, 50), Link::new(12, 50)),
        ],
        12,
    );
    pair.capture_limit = 1 << 20;
    let data = pattern(LEN, 4);
    let mut client_stats = None;
    let (got, done, _) = transfer_with(&mut pair, &data, Instant::from_millis(60_000), |p, c| {
        if let Some(s) = p.client.stats(c) {
            client_stats = Some(s);
        }
    });
    assert!(REWRITTEN.get().is_some(), "the middlebox rewrote a byte");
    assert!(done.is_some(), "transfer did not finish");
    assert!(got == data, "data corrupted or lost");
    let cs = client_stats.expect("client stats");
    assert!(!cs.fallback, "still MPTCP: {cs:?}");
    assert!(
        cs.reinjected_bytes > 0,
        "the reset subflow's data went elsewhere: {cs:?}"
    );
    // The RST of the damaged subflow carries MP_FAIL.
    let rst_with_fail = pair.captured.iter().any(|(to_server, p)| {
        !to_server
            && IpRepr::parse(p)
                .ok()
                .and_then(|(_, t)| TcpRepr::parse(t, None).ok())
                .is_some_and(|s| {
                    s.flags.rst()
                        && s.mptcp_options()
                            .any(|m| matches!(m, MptcpOption::MpFail(_)))
                })
    });
    assert!(rst_with_fail, "RST with MP_FAIL from the receiver");
}
