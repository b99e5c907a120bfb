//! End-to-end transfers between two engines over in-memory paths.

mod util;

use mptcp_proto::{Duration, EndpointConfig, Event, Instant};
use util::{pattern, transfer, transfer_with, Link, Pair};

fn secs(s: u64) -> Instant {
    Instant::ZERO + Duration::from_secs(s)
}

#[test]
fn single_path_mptcp_transfer_is_intact() {
    let mut pair = Pair::new(
        EndpointConfig::default(),
        EndpointConfig::default(),
        vec![(Link::new(10, 100), Link::new(10, 100))],
        1,
    );
    let data = pattern(2_000_000, 7);
    let (got, done, c) = transfer(&mut pair, &data, secs(30));
    assert!(done.is_some(), "transfer did not finish");
    assert_eq!(got.len(), data.len());
    assert!(got == data, "payload corrupted");
    let _ = c;
    assert!(pair
        .client_events
        .iter()
        .any(|e| matches!(e, Event::Connected(_))));
}

#[test]
fn plain_tcp_transfer_is_intact() {
    let cfg = EndpointConfig {
        mptcp: false,
        ..EndpointConfig::default()
    };
    let mut pair = Pair::new(
        cfg.clone(),
        cfg,
        vec![(Link::new(5, 50), Link::new(5, 50))],
        2,
    );
    let data = pattern(1_000_000, 3);
    let (got, done, _) = transfer(&mut pair, &data, secs(30));
    assert!(done.is_some());
    assert!(got == data);
}

#[test]
fn two_paths_both_carry_data() {
    let mut pair = Pair::new(
        EndpointConfig::default(),
        EndpointConfig::default(),
        vec![
            (Link::new(10, 100), Link::new(10, 100)),
            (Link::new(10, 100), Link::new(10, 100)),
        ],
        3,
    );
    let data = pattern(20_000_000, 9);
    let (got, done, c) = transfer(&mut pair, &data, secs(60));
    assert!(done.is_some(), "not finished");
    assert!(got == data);
    let st = pair.client.stats(c).expect("client connection still known");
    assert!(st.mptcp && !st.fallback);
    assert_eq!(st.subflows.len(), 2, "one subflow per path");
    for sf in &st.subflows {
        assert!(
            sf.bytes_sent > 1_000_000,
            "subflow {:?} carried only {} bytes",
            sf.id,
            sf.bytes_sent
        );
    }
}

#[test]
fn lossy_path_transfer_is_intact() {
    let mut up = Link::new(10, 50);
    up.loss = 0.02;
    let mut down = Link::new(10, 50);
    down.loss = 0.02;
    let mut pair = Pair::new(
        EndpointConfig::default(),
        EndpointConfig::default(),
        vec![(up, down), (Link::new(10, 50), Link::new(10, 50))],
        4,
    );
    let data = pattern(5_000_000, 1);
    let (got, done, _) = transfer(&mut pair, &data, secs(60));
    assert!(done.is_some());
    assert!(got == data);
}

#[test]
fn option_stripping_on_syn_falls_back_to_tcp() {
    let mut up = Link::new(10, 50);
    up.filter = Some(util::strip_on_syn);
    let mut pair = Pair::new(
        EndpointConfig::default(),
        EndpointConfig::default(),
        vec![(up, Link::new(10, 50))],
        5,
    );
    let data = pattern(3_000_000, 5);
    let (got, done, c) = transfer(&mut pair, &data, secs(30));
    assert!(done.is_some());
    assert!(got == data);
    assert!(
        pair.client_events.contains(&Event::FellBack(c)),
        "client did not report fallback"
    );
    let st = pair.client.stats(c).unwrap();
    assert!(st.fallback && !st.mptcp);
}

#[test]
fn stripping_on_synack_only_falls_back_on_both_sides() {
    let mut down = Link::new(10, 50);
    down.filter = Some(util::strip_on_syn);
    let mut pair = Pair::new(
        EndpointConfig::default(),
        EndpointConfig::default(),
        vec![(Link::new(10, 50), down)],
        6,
    );
    let data = pattern(1_000_000, 6);
    let (got, done, c) = transfer(&mut pair, &data, secs(30));
    assert!(done.is_some());
    assert!(got == data);
    assert!(pair.client.stats(c).unwrap().fallback);
}

#[test]
fn path_down_mid_transfer_finishes_on_the_other_path() {
    let mut pair = Pair::new(
        EndpointConfig::default(),
        EndpointConfig::default(),
        vec![
            (Link::new(10, 50), Link::new(10, 50)),
            (Link::new(10, 50), Link::new(10, 50)),
        ],
        7,
    );
    let data = pattern(15_000_000, 8);
    let mut cut = false;
    let (got, done, c) = transfer_with(&mut pair, &data, secs(120), |p, _| {
        if !cut && p.now >= Instant::ZERO + Duration::from_millis(800) {
            cut = true;
            p.paths[0].up.up = false;
            p.paths[0].down.up = false;
        }
    });
    assert!(cut, "the path never went down");
    assert!(
        done.is_some(),
        "transfer did not finish after the path failure"
    );
    assert!(
        got == data,
        "data corrupted after failover ({} of {} bytes)",
        got.len(),
        data.len()
    );
    let st = pair.client.stats(c).unwrap();
    assert!(st.reinjected_bytes > 0, "nothing was reinjected");
}

#[test]
fn server_announces_address_and_client_joins_it() {
    let server_cfg = EndpointConfig {
        announce_addrs: vec!["10.9.1.1".parse().unwrap()],
        ..EndpointConfig::default()
    };
    // One client address and one path; the announced address routes over the same path.
    let mut pair = Pair::new(
        EndpointConfig::default(),
        server_cfg,
        vec![(Link::new(5, 100), Link::new(5, 100))],
        8,
    );
    let data = pattern(4_000_000, 2);
    let (got, done, c) = transfer(&mut pair, &data, secs(30));
    assert!(done.is_some());
    assert!(got == data);
    let st = pair.client.stats(c).unwrap();
    assert_eq!(st.add_addr_rx, 1, "client should accept the ADD_ADDR once");
    assert!(
        st.subflows
            .iter()
            .any(|s| s.remote.ip().to_string() == "10.9.1.1"),
        "no subflow to the announced address"
    );
}

/// A server with three addresses to announce sends one ADD_ADDR at a time: the next only
/// after the client echoed the previous (Linux drops an ADD_ADDR that arrives while it is
/// still handling the previous one).
#[test]
fn server_announces_addresses_one_at_a_time() {
    use mptcp_proto::wire::{IpRepr, MptcpOption, TcpOption, TcpRepr};
    let announce: Vec<std::net::IpAddr> = ["10.9.1.1", "10.9.2.1", "10.9.3.1"]
        .iter()
        .map(|a| a.parse().unwrap())
        .collect();
    let server_cfg = EndpointConfig {
        announce_addrs: announce.clone(),
        ..EndpointConfig::default()
    };
    let mut pair = Pair::new(
        EndpointConfig::default(),
        server_cfg,
        vec![(Link::new(5, 100), Link::new(5, 100))],
        9,
    );
    pair.capture_limit = usize::MAX;
    let data = pattern(1_000_000, 3);
    let (got, done, c) = transfer(&mut pair, &data, secs(30));
    assert!(done.is_some() && got == data);
    assert_eq!(pair.client.stats(c).unwrap().add_addr_rx, 3);
    // In sending order: the server's first ADD_ADDR of each address, the client's echoes.
    let mut announced = Vec::new();
    let mut echoed = Vec::new();
    for (to_server, pkt) in &pair.captured {
        let (_, payload) = IpRepr::parse(pkt).unwrap();
        let seg = TcpRepr::parse(payload, None).unwrap();
        for o in seg.options.iter() {
            let TcpOption::Mptcp(MptcpOption::AddAddr(aa)) = o else {
                continue;
            };
            if aa.echo && *to_server {
                echoed.push(aa.addr);
            } else if !aa.echo && !*to_server && !announced.contains(&aa.addr) {
                assert_eq!(
                    echoed.len(),
                    announced.len(),
                    "{} announced before {:?} were echoed (echoes: {echoed:?})",
                    aa.addr,
                    announced
                );
                announced.push(aa.addr);
            }
        }
    }
    assert_eq!(announced, announce, "announcements in order");
    assert_eq!(echoed, announce, "each echoed once, in order");
}

#[test]
fn abort_sends_fastclose_and_peer_closes() {
    let mut pair = Pair::new(
        EndpointConfig::default(),
        EndpointConfig::default(),
        vec![(Link::new(5, 100), Link::new(5, 100))],
        9,
    );
    let c = pair.connect();
    pair.drive_until(secs(2), |p| {
        p.server_events
            .iter()
            .any(|e| matches!(e, Event::Incoming { .. }))
    });
    let _ = pair.client.send(c, b"hello");
    pair.drive_until(secs(3), |_| false);
    pair.client.abort(pair.now, c);
    pair.drive_until(secs(5), |p| {
        p.server_events
            .iter()
            .any(|e| matches!(e, Event::Closed { .. }))
    });
    assert!(pair.server_events.iter().any(|e| matches!(
        e,
        Event::Closed {
            reason: mptcp_proto::CloseReason::PeerReset,
            ..
        }
    )));
}

#[test]
fn checksums_negotiated_and_data_intact() {
    let cfg = EndpointConfig {
        checksum: true,
        ..EndpointConfig::default()
    };
    let mut pair = Pair::new(
        cfg,
        EndpointConfig::default(),
        vec![
            (Link::new(5, 100), Link::new(5, 100)),
            (Link::new(5, 100), Link::new(5, 100)),
        ],
        10,
    );
    let data = pattern(3_000_000, 4);
    let (got, done, c) = transfer(&mut pair, &data, secs(30));
    assert!(done.is_some());
    assert!(got == data);
    let st = pair.client.stats(c).unwrap();
    assert!(st.checksum);
    assert_eq!(st.dss_checksum_errors, 0);
}

#[test]
fn closing_one_subflow_keeps_the_connection() {
    let mut pair = Pair::new(
        EndpointConfig::default(),
        EndpointConfig::default(),
        vec![
            (Link::new(10, 50), Link::new(10, 50)),
            (Link::new(10, 50), Link::new(10, 50)),
        ],
        11,
    );
    let data = pattern(8_000_000, 3);
    let mut closed_one = false;
    let (got, done, c) = transfer_with(&mut pair, &data, secs(60), |p, c| {
        if !closed_one && p.now >= Instant::ZERO + Duration::from_millis(500) {
            closed_one = p.client.close_subflow(c, mptcp_proto::SubflowId(1));
            assert!(closed_one, "second subflow should be closable");
        }
    });
    assert!(closed_one && done.is_some());
    assert!(got == data);
    assert!(
        pair.client_events.iter().any(|e| matches!(
            e,
            Event::SubflowDown {
                subflow: mptcp_proto::SubflowId(1),
                ..
            }
        )),
        "no SubflowDown for the closed subflow"
    );
    assert!(!pair.client_events.iter().any(
        |e| matches!(e, Event::Closed { reason, .. } if *reason != mptcp_proto::CloseReason::Normal)
    ));
    // The last subflow cannot be closed on its own (the connection may already be gone).
    assert!(!pair.client.close_subflow(c, mptcp_proto::SubflowId(0)));
}

#[test]
fn path_that_returns_carries_data_again_within_two_seconds() {
    let mut pair = Pair::new(
        EndpointConfig::default(),
        EndpointConfig::default(),
        vec![
            (Link::new(10, 20), Link::new(10, 20)),
            (Link::new(10, 20), Link::new(10, 20)),
        ],
        12,
    );
    let data = pattern(60_000_000, 5);
    let (down_at, up_at) = (Duration::from_millis(800), Duration::from_secs(10));
    let mut acked_at_return = None;
    let mut acked_two_s_later = None;
    let (got, done, _) = transfer_with(&mut pair, &data, secs(120), |p, c| {
        let t = p.now - Instant::ZERO;
        let on = !(down_at..up_at).contains(&t);
        p.paths[0].up.up = on;
        p.paths[0].down.up = on;
        let acked = || p.client.stats(c).map(|s| s.subflows[0].bytes_acked);
        if t >= up_at && acked_at_return.is_none() {
            acked_at_return = acked();
        }
        if t >= up_at + Duration::from_secs(2) && acked_two_s_later.is_none() {
            acked_two_s_later = acked();
        }
    });
    assert!(done.is_some() && got == data);
    let (before, after) = (acked_at_return.unwrap(), acked_two_s_later.unwrap());
    assert!(
        after > before + 100_000,
        "path 0 idle after it returned: {before} -> {after} bytes acked"
    );
}

#[test]
fn ipv6_two_paths_transfer_is_intact() {
    util::with_ipv6(|| {
        let mut pair = Pair::new(
            EndpointConfig::default(),
            EndpointConfig::default(),
            vec![
                (Link::new(5, 50), Link::new(5, 50)),
                (Link::new(15, 50), Link::new(15, 50)),
            ],
            13,
        );
        assert!(pair.server_addr.is_ipv6());
        let data = pattern(5_000_000, 6);
        let (got, done, c) = transfer(&mut pair, &data, secs(30));
        assert!(done.is_some() && got == data);
        let st = pair.client.stats(c).unwrap();
        assert!(st.mptcp && !st.fallback);
        assert_eq!(st.subflows.len(), 2);
        assert!(st
            .subflows
            .iter()
            .all(|s| s.local.is_ipv6() && s.bytes_sent > 100_000));
    });
}

#[test]
fn ipv6_add_addr_is_accepted_and_joined() {
    util::with_ipv6(|| {
        let server_cfg = EndpointConfig {
            announce_addrs: vec!["fd00:9::2".parse().unwrap()],
            ..EndpointConfig::default()
        };
        let mut pair = Pair::new(
            EndpointConfig::default(),
            server_cfg,
            vec![(Link::new(5, 100), Link::new(5, 100))],
            14,
        );
        let data = pattern(3_000_000, 2);
        let (got, done, c) = transfer(&mut pair, &data, secs(30));
        assert!(done.is_some() && got == data);
        let st = pair.client.stats(c).unwrap();
        assert_eq!(st.add_addr_rx, 1);
        assert!(st
            .subflows
            .iter()
            .any(|s| s.remote.ip().to_string() == "fd00:9::2"));
    });
}

/// Data acknowledged at subflow level but dropped by the receiver's MPTCP layer (here: one
/// segment's mapping moved far into the past, so the receiver takes it for a duplicate) is
/// sent again by the data-level retransmission timer.
#[test]
fn data_acked_by_a_subflow_but_never_data_acked_is_resent() {
    use mptcp_proto::wire::{MptcpOption, TcpOption};
    use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
    static DATA_SEGMENTS: AtomicU32 = AtomicU32::new(0);
    /// The (SSN, DSN) of the mapping being spoiled, once chosen.
    static TARGET: AtomicU64 = AtomicU64::new(u64::MAX);
    static ISN: AtomicU64 = AtomicU64::new(u64::MAX);
    fn spoil_one_mapping(pkt: &mut Vec<u8>) -> bool {
        util::rewrite_tcp(pkt, |seg| {
            if seg.payload.is_empty() {
                return;
            }
            let n = DATA_SEGMENTS.fetch_add(1, Ordering::Relaxed);
            for o in seg.options.iter_mut() {
                // The client's first data (MP_CAPABLE with data) sits at relative SSN 1.
                if let TcpOption::Mptcp(MptcpOption::MpCapable(mpc)) = o {
                    if mpc.data_len.is_some() && ISN.load(Ordering::Relaxed) == u64::MAX {
                        ISN.store(u64::from(seg.seq.0.wrapping_sub(1)), Ordering::Relaxed);
                    }
                }
                if let TcpOption::Mptcp(MptcpOption::Dss(d)) = o {
                    if let Some(m) = d.mapping.as_mut() {
                        // Every segment of one whole mapping, so the mapping stays consistent.
                        // The first segment of a mapping (its sequence number is the mapping's
                        // relative SSN above the initial sequence number).
                        let rel = seg.seq.0.wrapping_sub(ISN.load(Ordering::Relaxed) as u32);
                        if n >= 40 && rel == m.ssn && TARGET.load(Ordering::Relaxed) == u64::MAX {
                            TARGET.store(u64::from(m.ssn), Ordering::Relaxed);
                        }
                        if u64::from(m.ssn) == TARGET.load(Ordering::Relaxed) {
                            // 32 KB back (40 segments in, so still after the stream's
                            // start): below the receiver's DATA_ACK, so a "duplicate". (A
                            // mapping before the stream's start resets the subflow.)
                            let mask = if m.wide { u64::MAX } else { 0xffff_ffff };
                            m.dsn = m.dsn.wrapping_sub(32 << 10) & mask;
                        }
                    }
                }
            }
        });
        true
    }
    let mut up = Link::new(5, 50);
    up.filter = Some(spoil_one_mapping);
    let mut pair = Pair::new(
        EndpointConfig::default(),
        EndpointConfig::default(),
        vec![(up, Link::new(5, 50))],
        15,
    );
    let data = pattern(2_000_000, 9);
    let (got, done, c) = transfer(&mut pair, &data, secs(60));
    assert!(
        TARGET.load(Ordering::Relaxed) != u64::MAX,
        "the filter never fired"
    );
    assert!(
        done.is_some(),
        "stalled: {} of {} bytes; client {:?} server {:?} stats {:?}",
        got.len(),
        data.len(),
        pair.client_events,
        pair.server_events,
        pair.client.stats(c).map(|s| (
            s.reinjected_bytes,
            s.bytes_acked,
            s.subflows
                .iter()
                .map(|f| (f.bytes_sent, f.bytes_acked, f.established))
                .collect::<Vec<_>>()
        ))
    );
    assert!(got == data);
    assert!(pair.client.stats(c).unwrap().reinjected_bytes > 0);
}

/// A mapping covers many segments and only its first carries the DSS mapping (RFC 8684
/// §3.3.1): the others leave those option bytes to payload.
#[test]
fn mappings_span_segments_and_only_the_first_carries_the_mapping() {
    use mptcp_proto::wire::{IpRepr, MptcpOption, TcpOption, TcpRepr};
    use std::sync::atomic::{AtomicU64, Ordering};
    static WITH_MAPPING: AtomicU64 = AtomicU64::new(0);
    static WITHOUT: AtomicU64 = AtomicU64::new(0);
    static MAX_PLAIN_PAYLOAD: AtomicU64 = AtomicU64::new(0);
    #[allow(clippy::ptr_arg)] // the link filter signature
    fn count(pkt: &mut Vec<u8>) -> bool {
        let Ok((_, tcp)) = IpRepr::parse(pkt) else {
            return true;
        };
        let Ok(seg) = TcpRepr::parse(tcp, None) else {
            return true;
        };
        if seg.payload.is_empty() {
            return true;
        }
        let mapped = seg.options.iter().any(|o| match o {
            TcpOption::Mptcp(MptcpOption::Dss(d)) => d.mapping.is_some(),
            TcpOption::Mptcp(MptcpOption::MpCapable(_)) => true,
            _ => false,
        });
        if mapped {
            WITH_MAPPING.fetch_add(1, Ordering::Relaxed);
        } else {
            WITHOUT.fetch_add(1, Ordering::Relaxed);
            MAX_PLAIN_PAYLOAD.fetch_max(seg.payload.len() as u64, Ordering::Relaxed);
        }
        true
    }
    let mut up = Link::new(10, 100);
    up.filter = Some(count);
    let mut pair = Pair::new(
        EndpointConfig::default(),
        EndpointConfig::default(),
        vec![(up, Link::new(10, 100))],
        21,
    );
    let data = pattern(3_000_000, 4);
    let (got, done, _) = transfer(&mut pair, &data, secs(30));
    assert!(done.is_some() && got == data);
    let (with, without) = (
        WITH_MAPPING.load(Ordering::Relaxed),
        WITHOUT.load(Ordering::Relaxed),
    );
    assert!(
        without > with / 2,
        "{without} segments without a mapping vs {with} with one"
    );
    // MSS 1460 - timestamps 12: a segment inside a mapping carries no MPTCP option at all.
    assert_eq!(MAX_PLAIN_PAYLOAD.load(Ordering::Relaxed), 1448);
}

/// The first segment of a mapping is lost: the segments after it arrive before their
/// mapping. The receiver keeps them (and SACKs them) until the retransmitted first segment
/// brings the mapping, so only that one segment is resent.
#[test]
fn segments_ahead_of_their_lost_mapping_are_kept() {
    use mptcp_proto::wire::{IpRepr, MptcpOption, TcpOption, TcpRepr};
    use std::sync::atomic::{AtomicU32, Ordering};
    static MAPPINGS: AtomicU32 = AtomicU32::new(0);
    static DROPPED: AtomicU32 = AtomicU32::new(0);
    #[allow(clippy::ptr_arg)] // the link filter signature
    fn drop_one_mapping_start(pkt: &mut Vec<u8>) -> bool {
        let Ok((_, tcp)) = IpRepr::parse(pkt) else {
            return true;
        };
        let Ok(seg) = TcpRepr::parse(tcp, None) else {
            return true;
        };
        let mapping_len = seg.options.iter().find_map(|o| match o {
            TcpOption::Mptcp(MptcpOption::Dss(d)) => d.mapping.map(|m| m.data_len),
            _ => None,
        });
        // A mapping several segments long, well into the transfer, dropped once.
        if let Some(len) = mapping_len {
            if usize::from(len) > seg.payload.len() * 2 {
                let n = MAPPINGS.fetch_add(1, Ordering::Relaxed);
                if n == 60 {
                    DROPPED.fetch_add(1, Ordering::Relaxed);
                    return false;
                }
            }
        }
        true
    }
    let mut up = Link::new(10, 100);
    up.filter = Some(drop_one_mapping_start);
    let mut pair = Pair::new(
        EndpointConfig::default(),
        EndpointConfig::default(),
        vec![(up, Link::new(10, 100))],
        22,
    );
    let data = pattern(4_000_000, 5);
    let (got, done, c) = transfer(&mut pair, &data, secs(30));
    assert_eq!(DROPPED.load(Ordering::Relaxed), 1, "the filter never fired");
    assert!(done.is_some() && got == data);
    let stats = pair.client.stats(c).unwrap();
    let retransmits: u64 = stats.subflows.iter().map(|s| s.retransmits).sum();
    let rtos: u64 = stats.subflows.iter().map(|s| s.rto_count).sum();
    assert_eq!(retransmits, 1, "only the lost segment is resent");
    assert_eq!(rtos, 0);
}
