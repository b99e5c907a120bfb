//! §3.1 MP_CAPABLE: option forms, checksum negotiation, invalid options, fallback, keys.

use crate::script::*;
use mptcp_proto::wire::mptcp::subtype;
use mptcp_proto::wire::MpCapable;
use mptcp_proto::{crypto, EndpointConfig, Event};

const H: u8 = MpCapable::FLAG_H;
const A: u8 = MpCapable::FLAG_A;

#[test]
fn cap_01_option_sizes_on_the_wire() {
    // Client side: SYN 4, third ACK 20 (client key then server key), first data 22.
    let mut r = ClientRig::new(
        EndpointConfig::default(),
        &["10.0.0.1"],
        ClientRig::synack_mpc(H),
    );
    let syn = r.syn.mpc().expect("MPC on SYN");
    assert_eq!(r.syn.mptcp_len(subtype::MP_CAPABLE), Some(4));
    assert_eq!(syn.version, 1, "CAP-02: highest version we support");
    assert_eq!(syn.flags, H, "CAP-08/CAP-12: only H set by default");
    let third = r
        .third
        .iter()
        .find(|s| s.mpc().is_some())
        .expect("third ACK with MPC");
    assert!(third.payload.is_empty());
    assert_eq!(third.mptcp_len(subtype::MP_CAPABLE), Some(20));
    let m = third.mpc().unwrap();
    assert_eq!(
        m.receiver_key,
        Some(SERVER_KEY),
        "second key is the server's"
    );
    let ck = m.sender_key.unwrap();
    assert_ne!(ck, SERVER_KEY);
    assert_eq!(m.flags, H);
    // First data before any DSS from the server: MPC with data-level length.
    assert_eq!(r.d.ep.send(r.conn, b"hello world").unwrap(), 11);
    let out = r.d.drain();
    let data = out
        .iter()
        .find(|s| !s.payload.is_empty())
        .expect("data sent");
    assert_eq!(data.mptcp_len(subtype::MP_CAPABLE), Some(22), "{data:?}");
    let m = data.mpc().unwrap();
    assert_eq!((m.sender_key, m.receiver_key), (Some(ck), Some(SERVER_KEY)));
    assert_eq!(m.data_len, Some(11));
    assert!(
        data.dss().is_none(),
        "MPC replaces the DSS on the first data"
    );
    // The options area stays 4-byte aligned (22 + 2 NOPs).
    let opt_bytes: usize = data.options.iter().map(|o| o.buffer_len()).sum();
    assert_eq!(opt_bytes % 4, 0);

    // Server side: SYN/ACK 12 bytes, server key only.
    let s = ServerRig::new(EndpointConfig::default(), PEER_KEY, H);
    assert_eq!(s.synack.mptcp_len(subtype::MP_CAPABLE), Some(12));
    let m = s.synack.mpc().unwrap();
    assert_eq!((m.version, m.flags, m.receiver_key), (1, H, None));
}

#[test]
fn cap_05_checksum_flag_in_synack_turns_checksums_on() {
    // Client did not ask (A=0), server's SYN/ACK says A=1.
    let mut r = ClientRig::new(
        EndpointConfig::default(),
        &["10.0.0.1"],
        ClientRig::synack_mpc(A | H),
    );
    assert_eq!(r.syn.mpc().unwrap().flags & A, 0);
    let third = r.third.iter().find_map(|s| s.mpc()).expect("third ACK");
    assert_ne!(third.flags & A, 0, "third ACK confirms checksums (CAP-06)");
    r.d.ep.send(r.conn, &[7u8; 300]).unwrap();
    let out = r.d.drain();
    r.f.absorb(&out);
    let data = out.iter().find(|s| !s.payload.is_empty()).unwrap();
    assert_eq!(
        data.mptcp_len(subtype::MP_CAPABLE),
        Some(24),
        "MPC + data + checksum"
    );
    let m = data.mpc().unwrap();
    let dsn = r.client_idsn().wrapping_add(1);
    assert_eq!(
        m.checksum,
        Some(crypto::dss_checksum(dsn, 1, 300, &data.payload))
    );
    // DATA_ACK it: the client is then fully established and uses DSS, still checksummed.
    let ack = r.f.seg(ACK, vec![dss(Some(dsn + 300), None, false)], &[]);
    let _ = r.d.input(&ack);
    r.d.ep.send(r.conn, &[9u8; 200]).unwrap();
    let out = r.d.drain();
    let data = out.iter().find(|s| !s.payload.is_empty()).unwrap();
    let map = data.dss().and_then(|d| d.mapping).expect("DSS mapping");
    let full = crate::script::expand32(dsn + 300, map.dsn, map.wide);
    assert_eq!(full, dsn + 300);
    assert_eq!(
        map.checksum,
        Some(crypto::dss_checksum(
            full,
            map.ssn,
            map.data_len,
            &data.payload
        )),
        "every DSS mapping carries a valid checksum"
    );
    assert!(r.d.ep.stats(r.conn).unwrap().checksum);
}

#[test]
fn cap_05_checksum_flag_in_syn_turns_checksums_on_for_the_server() {
    // The server does not want checksums; the client's SYN has A=1.
    let mut s = ServerRig::new(EndpointConfig::default(), PEER_KEY, A | H);
    assert!(s.d.ep.stats(s.conn).unwrap().checksum);
    s.d.ep.send(s.conn, &[3u8; 500]).unwrap();
    let out = s.d.drain();
    let data = out
        .iter()
        .find(|x| !x.payload.is_empty())
        .expect("server data");
    let map = data.dss().and_then(|d| d.mapping).expect("mapping");
    let dsn = s.server_dsn(0);
    let full = crate::script::expand32(dsn, map.dsn, map.wide);
    assert_eq!(full, dsn);
    assert_eq!(
        map.checksum,
        Some(crypto::dss_checksum(
            full,
            map.ssn,
            map.data_len,
            &data.payload
        ))
    );
}

/// A SYN with `opt` gets a SYN/ACK without MPTCP; the connection then runs plain TCP both ways.
fn expect_plain_tcp_answer(opt: mptcp_proto::wire::TcpOption) {
    let mut d = Driver::new(EndpointConfig::default(), 5);
    d.ep.listen(5201).unwrap();
    let mut f = Flow {
        me: sa("10.0.0.1:40000"),
        it: sa(SERVER),
        snd_nxt: PEER_ISN,
        rcv_nxt: 0,
        ssn: 1,
    };
    let out = d.input(&f.seg(SYN, vec![opt], &[]));
    assert_eq!(out.len(), 1);
    assert!(out[0].has(SYN | ACK));
    assert_eq!(
        out[0].mptcp().count(),
        0,
        "SYN/ACK must not carry MPTCP: {:?}",
        out[0]
    );
    f.snd_nxt += 1;
    f.rcv_nxt = out[0].seq.wrapping_add(1);
    let out = d.input(&f.data(vec![], b"plain data"));
    let c = d.incoming().expect("accepted as TCP");
    assert_eq!(d.read_all(c), b"plain data");
    d.ep.send(c, b"answer").unwrap();
    let mut out2 = d.drain();
    out2.extend(out);
    out2.extend(d.advance(ms(500)));
    assert!(out2.iter().any(|s| s.payload == b"answer"));
    for s in &out2 {
        assert_eq!(
            s.mptcp().count(),
            0,
            "no MPTCP option after fallback: {s:?}"
        );
    }
    assert!(!d.ep.stats(c).unwrap().mptcp);
}

#[test]
fn cap_09_flag_b_in_syn_ignores_mpc() {
    expect_plain_tcp_answer(mpc(1, MpCapable::FLAG_B | H, None, None, None));
}

#[test]
fn cap_13_no_crypto_flag_in_syn_ignores_mpc() {
    expect_plain_tcp_answer(mpc(1, 0, None, None, None));
}

#[test]
fn cap_03_version_0_syn_with_key_gets_plain_tcp() {
    expect_plain_tcp_answer(mpc(0, H, Some(PEER_KEY), None, None));
}

#[test]
fn cap_03_higher_version_syn_is_answered_with_version_1() {
    let mut d = Driver::new(EndpointConfig::default(), 5);
    d.ep.listen(5201).unwrap();
    let f = Flow {
        me: sa("10.0.0.1:40000"),
        it: sa(SERVER),
        snd_nxt: PEER_ISN,
        rcv_nxt: 0,
        ssn: 1,
    };
    let out = d.input(&f.seg(SYN, vec![mpc(2, H, None, None, None)], &[]));
    let m = out[0].mpc().expect("MPC answered");
    assert_eq!(m.version, 1);
}

#[test]
fn cap_22_plain_syn_gets_plain_synack() {
    expect_plain_tcp_answer(mptcp_proto::wire::TcpOption::Mss(1400));
}

#[test]
fn cap_21_synack_without_mpc_client_falls_back() {
    let mut r = ClientRig::new(EndpointConfig::default(), &["10.0.0.1"], None);
    assert!(
        r.third.iter().all(|s| s.mptcp().count() == 0),
        "{:?}",
        r.third
    );
    assert!(r.d.has_event(|e| *e == Event::FellBack(r.conn)));
    r.d.ep.send(r.conn, b"data").unwrap();
    let out = r.d.drain();
    assert!(out.iter().any(|s| s.payload == b"data"));
    assert!(
        out.iter().all(|s| s.mptcp().count() == 0),
        "no DSS: {out:?}"
    );
}

#[test]
fn cap_04_version_0_synack_client_falls_back() {
    let r = ClientRig::new(
        EndpointConfig::default(),
        &["10.0.0.1"],
        Some(mpc(0, H, Some(SERVER_KEY), None, None)),
    );
    assert!(
        r.third.iter().all(|s| s.mptcp().count() == 0),
        "{:?}",
        r.third
    );
    assert!(r.d.has_event(|e| *e == Event::FellBack(r.conn)));
}

#[test]
fn cap_16_first_data_ack_is_idsn_plus_one_plus_len() {
    let mut s = ServerRig::new(EndpointConfig::default(), PEER_KEY, H);
    let idsn = idsn_of(PEER_KEY);
    // First data repeats MP_CAPABLE with the data-level length (CAP-27/28).
    let payload = [0x5au8; 100];
    let p = s.f.data(
        vec![mpc(1, H, Some(PEER_KEY), Some(s.server_key), Some(100))],
        &payload,
    );
    s.dsn_off += 100;
    let mut out = s.d.input(&p);
    out.extend(s.d.advance(ms(300)));
    let dack = out
        .iter()
        .rev()
        .find_map(|x| x.data_ack())
        .expect("DATA_ACK sent");
    assert!(dack.wide, "MPC data is acked with a 64-bit DATA_ACK");
    assert_eq!(dack.value, idsn.wrapping_add(1).wrapping_add(100));
    // Then a DSS mapping continuing at IDSN + 101.
    let mut out = s.send_data(None, &[1u8; 50]);
    out.extend(s.d.advance(ms(300)));
    let dack = out
        .iter()
        .rev()
        .find_map(|x| x.data_ack())
        .expect("DATA_ACK");
    assert_eq!(dack.value, idsn.wrapping_add(151));
    let got = s.d.read_all(s.conn);
    assert_eq!(got.len(), 150);
    assert_eq!(&got[..100], &payload[..]);
}

#[test]
fn cap_10_c_flag_no_join_to_initial_address() {
    use crate::util::{Link, Pair};
    let server_cfg = EndpointConfig {
        deny_join_initial_addr: true,
        announce_addrs: vec!["10.9.1.1".parse().unwrap()],
        ..EndpointConfig::default()
    };
    let mut pair = Pair::new(
        EndpointConfig::default(),
        server_cfg,
        vec![
            (Link::new(5, 100), Link::new(5, 100)),
            (Link::new(5, 100), Link::new(5, 100)),
        ],
        21,
    );
    pair.capture_limit = 100_000;
    let data = crate::util::pattern(300_000, 1);
    let (got, done, _) =
        crate::util::transfer(&mut pair, &data, mptcp_proto::Instant::ZERO + ms(20_000));
    assert!(done.is_some() && got == data);
    let segs: Vec<Seg> = pair.captured.iter().map(|(_, p)| Seg::parse(p)).collect();
    let synack = segs
        .iter()
        .find(|s| s.has(SYN | ACK) && s.mpc().is_some())
        .unwrap();
    assert_ne!(
        synack.mpc().unwrap().flags & MpCapable::FLAG_C,
        0,
        "CAP-11: C flag set"
    );
    let joins: Vec<&Seg> = segs
        .iter()
        .filter(|s| s.has(SYN) && !s.has(ACK) && s.join().is_some())
        .collect();
    assert!(
        !joins.is_empty(),
        "joins to the announced address are still allowed"
    );
    for j in &joins {
        assert_ne!(
            j.dst,
            sa(SERVER),
            "MP_JOIN to the initial address despite flag C"
        );
    }
    assert!(joins.iter().any(|j| j.dst.ip().to_string() == "10.9.1.1"));
}
