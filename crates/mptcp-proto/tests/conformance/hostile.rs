//! Hostile peers: mappings that would corrupt the stream, announcement floods and RST
//! floods. Each is refused or ignored as RFC 8684 / RFC 5961 say, with a counter moving,
//! and the connection carries on intact where it can.

use crate::script::*;
use mptcp_proto::wire::{AddAddr, MpTcpRst, MptcpOption, TcpOption};
use mptcp_proto::EndpointConfig;
use std::net::{IpAddr, Ipv4Addr};

const H: u8 = mptcp_proto::wire::MpCapable::FLAG_H;

/// A server with the initial subflow and a joined one (so a reset costs only the join).
fn rig_with_join() -> (ServerRig, Flow) {
    let mut r = ServerRig::new(EndpointConfig::default(), PEER_KEY, H);
    let j = r.join("10.1.0.1:40001", 1);
    (r, j)
}

/// The join subflow got a RST with MP_TCPRST "MPTCP-specific error".
fn assert_join_reset(out: &[Seg], j: &Flow) {
    let rst = j
        .on(out)
        .into_iter()
        .find(|s| s.has(RST))
        .unwrap_or_else(|| panic!("no RST on the join subflow: {out:?}"));
    assert_eq!(rst.rst_reason(), Some(MpTcpRst::REASON_MPTCP));
}

/// The initial subflow still delivers: data sent on it arrives, in order, after `before`.
fn assert_stream_continues(r: &mut ServerRig, before: &[u8]) {
    let tail = b"still here";
    r.send_data(None, tail);
    let got = r.d.read_all(r.conn);
    let mut want = before.to_vec();
    want.extend_from_slice(tail);
    assert_eq!(got, want, "the stream was corrupted");
}

#[test]
fn map_contradicting_an_earlier_one_resets_the_subflow() {
    let (mut r, mut j) = rig_with_join();
    let first = [7u8; 100];
    r.send_data(None, &first);
    // Join subflow: a 100-byte mapping, of which 50 bytes arrive...
    let dsn = r.next_dsn();
    let p = j.data(
        vec![dss(None, Some((dsn, true, 1, 100)), false)],
        &[1u8; 50],
    );
    let out = r.d.input(&p);
    assert!(j.on(&out).iter().all(|s| !s.has(RST)));
    // ...then the same subflow bytes claim another DSN.
    let p = j.data(
        vec![dss(None, Some((dsn + 5000, true, 1, 100)), false)],
        &[1u8; 50],
    );
    let out = r.d.input(&p);
    assert_join_reset(&out, &j);
    let st = r.d.ep.stats(r.conn).unwrap();
    assert_eq!(st.dss_mapping_errors, 1, "{st:?}");
    // The join's 50 bytes were never complete data: the peer resends them elsewhere; the
    // stream goes on from the initial subflow's bytes. (Here: the scripted peer sends the
    // join's data again on the initial subflow.)
    r.send_data(None, &[1u8; 100]);
    let mut before = first.to_vec();
    before.extend_from_slice(&[1u8; 100]);
    assert_stream_continues(&mut r, &before);
}

#[test]
fn map_overlapping_inconsistently_resets_the_subflow() {
    let (mut r, mut j) = rig_with_join();
    let dsn = r.next_dsn();
    // Mapping A: SSN 1..101 -> DSN dsn..; 50 bytes arrive.
    let p = j.data(
        vec![dss(None, Some((dsn, true, 1, 100)), false)],
        &[2u8; 50],
    );
    r.d.input(&p);
    // Mapping B: SSN 26..126 -> dsn + 30: overlaps A where A says dsn + 25.
    let p = j.data(
        vec![dss(None, Some((dsn + 30, true, 26, 100)), false)],
        &[2u8; 50],
    );
    let out = r.d.input(&p);
    assert_join_reset(&out, &j);
    assert_eq!(r.d.ep.stats(r.conn).unwrap().dss_mapping_errors, 1);
    // A's first 50 bytes were consistent and stay; nothing of B's segment got in.
    r.dsn_off += 50;
    assert_stream_continues(&mut r, &[2u8; 50]);
}

#[test]
fn map_consistent_overlap_is_accepted() {
    let (mut r, mut j) = rig_with_join();
    let dsn = r.next_dsn();
    let p = j.data(
        vec![dss(None, Some((dsn, true, 1, 100)), false)],
        &[3u8; 50],
    );
    r.d.input(&p);
    // B overlaps A consistently (SSN 26 -> dsn + 25) and extends it.
    let p = j.data(
        vec![dss(None, Some((dsn + 25, true, 26, 125)), false)],
        &[3u8; 100],
    );
    let out = r.d.input(&p);
    assert!(j.on(&out).iter().all(|s| !s.has(RST)), "{out:?}");
    assert_eq!(r.d.ep.stats(r.conn).unwrap().dss_mapping_errors, 0);
    assert_eq!(r.d.read_all(r.conn), vec![3u8; 150]);
}

#[test]
fn map_outside_the_receive_window_resets_the_subflow() {
    let (mut r, mut j) = rig_with_join();
    // 64 MB ahead of a 4 MB receive buffer.
    let dsn = r.next_dsn() + (64 << 20);
    let p = j.data(
        vec![dss(None, Some((dsn, true, 1, 100)), false)],
        &[4u8; 100],
    );
    let out = r.d.input(&p);
    assert_join_reset(&out, &j);
    assert_eq!(r.d.ep.stats(r.conn).unwrap().dss_mapping_errors, 1);
    assert_stream_continues(&mut r, &[]);
}

#[test]
fn map_before_the_stream_start_resets_the_subflow() {
    let (mut r, mut j) = rig_with_join();
    let dsn = r.peer_idsn().wrapping_sub(1000);
    let p = j.data(
        vec![dss(None, Some((dsn, true, 1, 100)), false)],
        &[5u8; 100],
    );
    let out = r.d.input(&p);
    assert_join_reset(&out, &j);
    assert_eq!(r.d.ep.stats(r.conn).unwrap().dss_mapping_errors, 1);
    assert_stream_continues(&mut r, &[]);
}

#[test]
fn thousands_of_announced_addresses_stay_within_the_limits() {
    let cfg = EndpointConfig {
        max_remote_addrs: 8,
        max_subflows: 4,
        ..EndpointConfig::default()
    };
    let mut r = ClientRig::new(cfg.clone(), &["10.0.0.1"], ClientRig::synack_mpc(H));
    let dack = r.client_idsn().wrapping_add(1);
    let out =
        r.d.input(&r.f.seg(ACK, vec![dss(Some(dack), None, false)], &[]));
    r.f.absorb(&out);
    let ck = r.client_key.unwrap();
    let n = 5000u32;
    let mut joins = 0;
    for i in 0..n {
        let addr = Ipv4Addr::from(0x0a80_0000 + i);
        let id = (i % 250) as u8 + 1;
        let opt = TcpOption::Mptcp(MptcpOption::AddAddr(AddAddr {
            echo: false,
            addr_id: id,
            addr: IpAddr::V4(addr),
            port: None,
            hmac: Some(add_addr_mac(SERVER_KEY, ck, id, addr)),
        }));
        let out = r.d.input(&r.f.seg(ACK, vec![opt], &[]));
        joins += out
            .iter()
            .filter(|s| s.has(SYN) && s.join().is_some())
            .count();
        r.f.absorb(&out);
        assert!(
            r.d.ep.buffered_bytes() < 64 * 1024,
            "{} bytes held after {i} announcements",
            r.d.ep.buffered_bytes()
        );
    }
    let st = r.d.ep.stats(r.conn).unwrap();
    assert_eq!(st.add_addr_rx, u64::from(n));
    assert_eq!(st.add_addr_bad_hmac, 0);
    assert!(
        st.add_addr_dropped >= u64::from(n) - 8,
        "addresses beyond max_remote_addrs counted: {st:?}"
    );
    assert!(
        st.subflows.len() <= cfg.max_subflows,
        "{} subflows",
        st.subflows.len()
    );
    assert!(joins < cfg.max_subflows, "{joins} joins opened");
}

#[test]
fn rst_flood_in_the_window_gets_rate_limited_challenge_acks() {
    let mut r = ServerRig::new(EndpointConfig::default(), PEER_KEY, H);
    r.send_data(None, &[9u8; 10]);
    let mut challenges = 0;
    for k in 0..1000u32 {
        // In the window but not at RCV.NXT: a blind attacker's guess (RFC 5961 §3.2).
        let p = build(
            r.f.me,
            r.f.it,
            r.f.snd_nxt.wrapping_add(1000 + k),
            0,
            RST,
            0,
            vec![],
            &[],
        );
        challenges +=
            r.d.input(&p)
                .iter()
                .filter(|s| s.has(ACK) && !s.has(RST))
                .count();
    }
    // Outside the window: silently ignored.
    let p = build(
        r.f.me,
        r.f.it,
        r.f.snd_nxt.wrapping_sub(100_000),
        0,
        RST,
        0,
        vec![],
        &[],
    );
    assert!(r.d.input(&p).is_empty());
    let st = r.d.ep.stats(r.conn).unwrap();
    let sf = &st.subflows[0];
    assert_eq!(sf.challenge_acks, 100, "{sf:?}");
    assert_eq!(sf.challenge_acks_limited, 900, "{sf:?}");
    assert_eq!(sf.rst_ignored, 1, "{sf:?}");
    assert_eq!(challenges, 100);
    // The next second allows challenges again; the connection is alive throughout.
    r.d.advance(ms(1000));
    let p = build(
        r.f.me,
        r.f.it,
        r.f.snd_nxt.wrapping_add(5),
        0,
        RST,
        0,
        vec![],
        &[],
    );
    assert!(r.d.input(&p).iter().any(|s| s.has(ACK) && !s.has(RST)));
    assert_stream_continues(&mut r, &[9u8; 10]);
}
