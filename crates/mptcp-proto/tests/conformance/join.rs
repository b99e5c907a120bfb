//! §3.2 MP_JOIN: token, HMACs, failures, the fourth-ACK rule.

use crate::script::*;
use mptcp_proto::wire::mptcp::subtype;
use mptcp_proto::wire::{MpJoin, MpTcpRst, MptcpOption, TcpOption};
use mptcp_proto::{EndpointConfig, SubflowId};

const H: u8 = mptcp_proto::wire::MpCapable::FLAG_H;
const R_B: u32 = 0x0bad_cafe;
const R_A: u32 = 0x1234_5678;

fn join_opt(j: MpJoin) -> TcpOption {
    TcpOption::Mptcp(MptcpOption::MpJoin(j))
}

/// A client with two local addresses, fully established by a DATA_ACK: returns the rig
/// and the MP_JOIN SYN it then sends from its second address.
fn client_with_join_syn() -> (ClientRig, Seg) {
    let mut r = ClientRig::new(
        EndpointConfig::default(),
        &["10.0.0.1", "10.1.0.1"],
        ClientRig::synack_mpc(H),
    );
    let before: Vec<Seg> = r.third.clone();
    assert!(
        before.iter().all(|s| s.join().is_none()),
        "CAP-31: no MP_JOIN before a DSS was received"
    );
    let dack = r.client_idsn().wrapping_add(1);
    let out =
        r.d.input(&r.f.seg(ACK, vec![dss(Some(dack), None, false)], &[]));
    let syn = out
        .iter()
        .find(|s| s.has(SYN) && s.join().is_some())
        .expect("MP_JOIN SYN after the first DATA_ACK")
        .clone();
    (r, syn)
}

#[test]
fn cap_15_join_syn_token_is_sha256_msb32_of_peer_key() {
    let (_r, syn) = client_with_join_syn();
    assert_eq!(syn.src.ip().to_string(), "10.1.0.1");
    assert_eq!(syn.dst, sa(SERVER), "HEUR-01: same destination port");
    assert_eq!(syn.mptcp_len(subtype::MP_JOIN), Some(12), "JOIN-01");
    match syn.join().unwrap() {
        MpJoin::Syn { token, addr_id, .. } => {
            assert_eq!(token, token_of(SERVER_KEY));
            assert_ne!(addr_id, 0, "JOIN-05: another address, another ID");
        }
        other => panic!("not a SYN form: {other:?}"),
    }
}

fn synack_for(syn: &Seg, hmac: u64) -> (Flow, Vec<u8>) {
    let mut f = Flow {
        me: syn.dst,
        it: syn.src,
        snd_nxt: 0x4000_0000,
        rcv_nxt: syn.seq.wrapping_add(1),
        ssn: 1,
    };
    let p = f.seg(
        SYN | ACK,
        vec![
            TcpOption::Mss(1460),
            join_opt(MpJoin::SynAck {
                backup: false,
                addr_id: 0,
                hmac,
                nonce: R_B,
            }),
        ],
        &[],
    );
    f.snd_nxt += 1;
    (f, p)
}

fn syn_nonce(syn: &Seg) -> u32 {
    match syn.join() {
        Some(MpJoin::Syn { nonce, .. }) => nonce,
        other => panic!("{other:?}"),
    }
}

#[test]
fn join_15_bad_synack_hmac_client_resets_with_mp_tcprst() {
    let (mut r, syn) = client_with_join_syn();
    let ck = r.client_key.unwrap();
    let good = u64::from_be_bytes(
        join_mac(SERVER_KEY, ck, R_B, syn_nonce(&syn))[..8]
            .try_into()
            .unwrap(),
    );
    let (_f, p) = synack_for(&syn, good ^ 1);
    let out = r.d.input(&p);
    let rst = out
        .iter()
        .find(|s| s.src == syn.src && s.has(RST))
        .expect("RST on the join subflow");
    assert_eq!(rst.rst_reason(), Some(MpTcpRst::REASON_MPTCP), "JOIN-18");
    assert!(out.iter().all(|s| s.join().is_none()), "no third ACK");
    let st = r.d.ep.stats(r.conn).unwrap();
    assert_eq!(st.mp_join_hmac_failure, 1);
    // The connection survives on its first subflow.
    r.d.ep.send(r.conn, b"still here").unwrap();
    let out = r.d.drain();
    assert!(out
        .iter()
        .any(|s| s.payload == b"still here" && s.src.ip().to_string() == "10.0.0.1"));
}

#[test]
fn join_17_synack_without_mp_join_client_resets() {
    let (mut r, syn) = client_with_join_syn();
    let f = Flow {
        me: syn.dst,
        it: syn.src,
        snd_nxt: 0x4000_0000,
        rcv_nxt: syn.seq.wrapping_add(1),
        ssn: 1,
    };
    let out =
        r.d.input(&f.seg(SYN | ACK, vec![TcpOption::Mss(1460)], &[]));
    assert!(
        out.iter().any(|s| s.src == syn.src && s.has(RST)),
        "plain SYN/ACK to an MP_JOIN must be reset: {out:?}"
    );
}

#[test]
fn join_14_no_data_on_join_subflow_before_fourth_ack() {
    let (mut r, syn) = client_with_join_syn();
    let ck = r.client_key.unwrap();
    let ra = syn_nonce(&syn);
    let good = u64::from_be_bytes(join_mac(SERVER_KEY, ck, R_B, ra)[..8].try_into().unwrap());
    let (mut f2, p) = synack_for(&syn, good);
    let out = r.d.input(&p);
    let third = out
        .iter()
        .find(|s| s.src == syn.src && s.join().is_some())
        .expect("third ACK with MP_JOIN");
    assert_eq!(third.mptcp_len(subtype::MP_JOIN), Some(24), "JOIN-01");
    let want = join_mac(ck, SERVER_KEY, ra, R_B);
    assert_eq!(
        third.join(),
        Some(MpJoin::Ack {
            hmac: want[..20].try_into().unwrap()
        }),
        "JOIN-11"
    );
    assert!(third.payload.is_empty());
    // Data waits; nothing may go on the join subflow until the fourth ACK.
    r.d.ep.send(r.conn, &[1u8; 100]).unwrap();
    let mut seen = r.d.drain();
    seen.extend(r.d.advance(ms(5_000)));
    let on_join: Vec<&Seg> = seen.iter().filter(|s| s.src == syn.src).collect();
    assert!(
        on_join.iter().all(|s| s.payload.is_empty()),
        "data before the fourth ACK"
    );
    assert!(
        on_join.iter().filter(|s| s.join().is_some()).count() >= 1,
        "JOIN-13: third ACK retransmitted until acknowledged"
    );
    // The fourth ACK; then, with the first subflow made backup, data goes on the join subflow.
    f2.absorb(&seen);
    // (It also DATA_ACKs the 100 bytes sent on the first subflow, so Nagle does not wait.)
    let dack = r.client_idsn().wrapping_add(101);
    let _ =
        r.d.input(&f2.seg(ACK, vec![dss(Some(dack), None, false)], &[]));
    r.d.ep.set_subflow_backup(r.conn, SubflowId(0), true);
    r.d.ep.send(r.conn, &[2u8; 100]).unwrap();
    let out = r.d.drain();
    assert!(
        out.iter()
            .any(|s| s.src == syn.src && !s.payload.is_empty()),
        "data on the join subflow after the fourth ACK: {out:?}"
    );
}

/// A server with an established connection and a scripted MP_JOIN SYN from 10.1.0.1.
fn server_join_synack() -> (ServerRig, Flow, Seg) {
    let mut s = ServerRig::new(EndpointConfig::default(), PEER_KEY, H);
    // Let the server hear a DSS first (a pure DATA_ACK).
    let p =
        s.f.seg(ACK, vec![dss(Some(s.server_dsn(0)), None, false)], &[]);
    let _ = s.d.input(&p);
    let mut f = Flow {
        me: sa("10.1.0.1:40001"),
        it: sa(SERVER),
        snd_nxt: 0x2000_0000,
        rcv_nxt: 0,
        ssn: 1,
    };
    let syn = f.seg(
        SYN,
        vec![
            TcpOption::Mss(1460),
            join_opt(MpJoin::Syn {
                backup: false,
                addr_id: 1,
                token: token_of(s.server_key),
                nonce: R_A,
            }),
        ],
        &[],
    );
    let out = s.d.input(&syn);
    assert_eq!(out.len(), 1, "{out:?}");
    let synack = out[0].clone();
    assert!(synack.has(SYN | ACK));
    f.snd_nxt += 1;
    f.rcv_nxt = synack.seq.wrapping_add(1);
    (s, f, synack)
}

#[test]
fn join_09_server_synack_carries_truncated_hmac() {
    let (s, _f, synack) = server_join_synack();
    assert_eq!(synack.mptcp_len(subtype::MP_JOIN), Some(16));
    let Some(MpJoin::SynAck { hmac, nonce, .. }) = synack.join() else {
        panic!("no MP_JOIN in SYN/ACK: {synack:?}")
    };
    let want = join_mac(s.server_key, PEER_KEY, nonce, R_A);
    assert_eq!(hmac, u64::from_be_bytes(want[..8].try_into().unwrap()));
}

#[test]
fn join_16_bad_third_ack_hmac_server_resets() {
    let (mut s, f, synack) = server_join_synack();
    let Some(MpJoin::SynAck { nonce, .. }) = synack.join() else {
        panic!()
    };
    let mut mac: [u8; 20] = join_mac(PEER_KEY, s.server_key, R_A, nonce)[..20]
        .try_into()
        .unwrap();
    mac[19] ^= 0xff;
    let out =
        s.d.input(&f.seg(ACK, vec![join_opt(MpJoin::Ack { hmac: mac })], &[]));
    let rst = out.iter().find(|x| x.has(RST)).expect("RST for a bad HMAC");
    assert_eq!(rst.dst, f.me);
    assert!(rst.rst_reason().is_some(), "RST carries MP_TCPRST");
    assert_eq!(s.d.ep.stats(s.conn).unwrap().mp_join_hmac_failure, 1);
    // The connection survives on its first subflow.
    let out = s.send_data(Some(s.server_dsn(0)), b"after");
    let _ = out;
    assert_eq!(s.d.read_all(s.conn), b"after");
}

#[test]
fn join_12_good_third_ack_gets_an_immediate_ack() {
    let (mut s, f, synack) = server_join_synack();
    let Some(MpJoin::SynAck { nonce, .. }) = synack.join() else {
        panic!()
    };
    let mac: [u8; 20] = join_mac(PEER_KEY, s.server_key, R_A, nonce)[..20]
        .try_into()
        .unwrap();
    let out =
        s.d.input(&f.seg(ACK, vec![join_opt(MpJoin::Ack { hmac: mac })], &[]));
    let ack = out
        .iter()
        .find(|x| x.dst == f.me)
        .expect("fourth ACK sent at once");
    assert!(ack.has(ACK) && !ack.has(RST));
    assert_eq!(ack.ack, f.snd_nxt);
}

#[test]
fn join_10_unknown_token_gets_rst() {
    let mut s = ServerRig::new(EndpointConfig::default(), PEER_KEY, H);
    let f = Flow {
        me: sa("10.1.0.1:40001"),
        it: sa(SERVER),
        snd_nxt: 0x2000_0000,
        rcv_nxt: 0,
        ssn: 1,
    };
    let syn = f.seg(
        SYN,
        vec![join_opt(MpJoin::Syn {
            backup: false,
            addr_id: 1,
            token: token_of(s.server_key) ^ 0x8000_0000,
            nonce: R_A,
        })],
        &[],
    );
    let out = s.d.input(&syn);
    assert_eq!(out.len(), 1);
    let rst = &out[0];
    assert!(rst.has(RST | ACK), "{rst:?}");
    assert_eq!(rst.ack, 0x2000_0001);
    assert_eq!(
        rst.rst_reason(),
        Some(MpTcpRst::REASON_MPTCP),
        "ERR-01 / JOIN-10"
    );
    assert_eq!(s.d.ep.endpoint_stats().join_no_token, 1);
}
