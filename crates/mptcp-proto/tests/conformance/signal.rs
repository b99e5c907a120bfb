//! §3.4-3.5 ADD_ADDR, REMOVE_ADDR, MP_PRIO, MP_FASTCLOSE.

use crate::script::*;
use mptcp_proto::wire::mptcp::subtype;
use mptcp_proto::wire::{AddAddr, MpFastclose, MpJoin, MpPrio, MptcpOption, RemoveAddr, TcpOption};
use mptcp_proto::{CloseReason, EndpointConfig, Event};
use std::net::{IpAddr, Ipv4Addr};

const H: u8 = mptcp_proto::wire::MpCapable::FLAG_H;
const NEW_ADDR: Ipv4Addr = Ipv4Addr::new(10, 9, 1, 1);

fn add_addr(id: u8, hmac: u64) -> TcpOption {
    TcpOption::Mptcp(MptcpOption::AddAddr(AddAddr {
        echo: false,
        addr_id: id,
        addr: IpAddr::V4(NEW_ADDR),
        port: None,
        hmac: Some(hmac),
    }))
}

fn established_client() -> ClientRig {
    let mut r = ClientRig::new(
        EndpointConfig::default(),
        &["10.0.0.1"],
        ClientRig::synack_mpc(H),
    );
    let dack = r.client_idsn().wrapping_add(1);
    let out =
        r.d.input(&r.f.seg(ACK, vec![dss(Some(dack), None, false)], &[]));
    r.f.absorb(&out);
    r
}

/// ADDR-10 then ADDR-12: a wrong HMAC is ignored, a right one is echoed and joined.
/// Returns the client and the MP_JOIN SYN towards the announced address.
fn announce(r: &mut ClientRig) -> Seg {
    let ck = r.client_key.unwrap();
    let good = add_addr_mac(SERVER_KEY, ck, 5, NEW_ADDR);
    let mut out =
        r.d.input(&r.f.seg(ACK, vec![add_addr(5, good ^ 0x10)], &[]));
    out.extend(r.d.advance(ms(100)));
    assert!(
        out.iter()
            .all(|s| s.mptcp().all(|m| m.subtype() != subtype::ADD_ADDR)),
        "no echo"
    );
    assert!(
        out.iter().all(|s| s.join().is_none()),
        "no join to an unauthenticated address"
    );
    let st = r.d.ep.stats(r.conn).unwrap();
    assert_eq!(st.add_addr_bad_hmac, 1);
    let out = r.d.input(&r.f.seg(ACK, vec![add_addr(5, good)], &[]));
    let echo = out
        .iter()
        .find_map(|s| {
            s.mptcp().find_map(|m| match m {
                MptcpOption::AddAddr(a) => Some(*a),
                _ => None,
            })
        })
        .expect("ADD_ADDR echo");
    assert_eq!(
        echo,
        AddAddr {
            echo: true,
            addr_id: 5,
            addr: IpAddr::V4(NEW_ADDR),
            port: None,
            hmac: None
        }
    );
    let syn = out
        .iter()
        .find(|s| s.has(SYN) && s.join().is_some())
        .expect("MP_JOIN to the announced address")
        .clone();
    assert_eq!(
        syn.dst,
        std::net::SocketAddr::new(IpAddr::V4(NEW_ADDR), 5201),
        "ADDR-08"
    );
    syn
}

#[test]
fn addr_10_bad_hmac_ignored_then_addr_12_good_one_echoed_and_joined() {
    let mut r = established_client();
    let syn = announce(&mut r);
    match syn.join() {
        Some(MpJoin::Syn { token, .. }) => assert_eq!(token, token_of(SERVER_KEY)),
        other => panic!("{other:?}"),
    }
    let st = r.d.ep.stats(r.conn).unwrap();
    assert_eq!((st.add_addr_rx, st.add_addr_bad_hmac), (2, 1));
}

#[test]
fn rmaddr_07_remove_addr_closes_the_subflow() {
    let mut r = established_client();
    let syn = announce(&mut r);
    // Complete the join.
    let ck = r.client_key.unwrap();
    let Some(MpJoin::Syn { nonce: ra, .. }) = syn.join() else {
        panic!()
    };
    let rb = 0x7777_0001u32;
    let hmac = u64::from_be_bytes(join_mac(SERVER_KEY, ck, rb, ra)[..8].try_into().unwrap());
    let mut j = Flow {
        me: syn.dst,
        it: syn.src,
        snd_nxt: 0x3000_0000,
        rcv_nxt: syn.seq.wrapping_add(1),
        ssn: 1,
    };
    let p = j.seg(
        SYN | ACK,
        vec![TcpOption::Mptcp(MptcpOption::MpJoin(MpJoin::SynAck {
            backup: false,
            addr_id: 5,
            hmac,
            nonce: rb,
        }))],
        &[],
    );
    j.snd_nxt += 1;
    let out = r.d.input(&p);
    j.absorb(&out);
    let _ =
        r.d.input(&j.seg(ACK, vec![dss(Some(r.client_idsn() + 1), None, false)], &[]));
    let up =
        r.d.ep
            .stats(r.conn)
            .unwrap()
            .subflows
            .iter()
            .filter(|s| s.established)
            .count();
    assert_eq!(up, 2);
    // An unknown ID changes nothing (RMADDR-08).
    let rm = |ids: &[u8]| {
        TcpOption::Mptcp(MptcpOption::RemoveAddr(RemoveAddr {
            addr_ids: ids.iter().copied().collect(),
        }))
    };
    let out = r.d.input(&r.f.seg(ACK, vec![rm(&[99])], &[]));
    assert!(out.iter().all(|s| !s.has(RST)));
    // REMOVE_ADDR [5] on the first subflow closes the subflow to that address.
    let out = r.d.input(&r.f.seg(ACK, vec![rm(&[5])], &[]));
    assert!(
        out.iter()
            .any(|s| s.src == syn.src && s.dst == syn.dst && s.has(RST)),
        "RST on the removed subflow: {out:?}"
    );
    assert!(
        out.iter().all(|s| s.dst != sa(SERVER) || !s.has(RST)),
        "first subflow untouched"
    );
    let st = r.d.ep.stats(r.conn).unwrap();
    assert_eq!(st.subflows.iter().filter(|s| s.established).count(), 1);
    assert!(r.d.has_event(|e| matches!(
        e,
        Event::SubflowDown {
            reason: mptcp_proto::CloseReason::Removed,
            ..
        }
    )));
    assert!(!r.d.has_event(|e| matches!(e, Event::Closed { .. })));
}

#[test]
fn prio_02_backup_subflow_carries_no_data_while_a_regular_one_is_up() {
    let mut s = ServerRig::new(EndpointConfig::default(), PEER_KEY, H);
    let j = s.join("10.1.0.1:40001", 1);
    // The client asks for backup on the join subflow (MP_PRIO, 3 bytes).
    let prio = TcpOption::Mptcp(MptcpOption::MpPrio(MpPrio {
        backup: true,
        addr_id: None,
    }));
    assert_eq!(
        match &prio {
            TcpOption::Mptcp(m) => m.buffer_len(),
            _ => 0,
        },
        3
    );
    let _ = s.d.input(&j.seg(
        ACK,
        vec![prio, dss(Some(s.server_dsn(0)), None, false)],
        &[],
    ));
    assert_eq!(s.d.ep.stats(s.conn).unwrap().mp_prio_rx, 1);
    let data = crate::util::pattern(200_000, 4);
    let mut written = 0;
    let mut acked = 0u64;
    let mut pending = Vec::new();
    for round in 0..40 {
        while written < data.len() {
            match s.d.ep.send(s.conn, &data[written..]) {
                Ok(n) if n > 0 => written += n,
                _ => break,
            }
        }
        let mut out = std::mem::take(&mut pending);
        out.extend(s.d.advance(ms(50)));
        assert!(
            j.on(&out).iter().all(|x| x.payload.is_empty()),
            "round {round}: data on the backup subflow while the regular one works"
        );
        s.f.absorb(&out);
        acked += out
            .iter()
            .filter(|x| x.dst == s.f.me)
            .map(|x| x.payload.len() as u64)
            .sum::<u64>();
        let p =
            s.f.seg(ACK, vec![dss(Some(s.server_dsn(acked)), None, false)], &[]);
        pending = s.d.input(&p);
    }
    assert_eq!(s.d.ep.stats(s.conn).unwrap().subflows[0].rto_count, 0);
    assert!(
        acked > 100_000,
        "the regular subflow carried the data ({acked})"
    );
    // The regular subflow is reset: the backup takes over (PRIO-01).
    let mut out = s.d.input(&s.f.seg(RST, vec![], &[]));
    assert_eq!(s.d.ep.send(s.conn, b"more data"), Ok(9));
    out.extend(s.d.advance(ms(500)));
    assert!(
        j.on(&out).iter().any(|x| !x.payload.is_empty()),
        "backup used once alone"
    );
}

#[test]
fn fcls_06_wrong_key_ignored_fcls_05_right_key_closes() {
    let mut s = ServerRig::new(EndpointConfig::default(), PEER_KEY, H);
    let j = s.join("10.1.0.1:40001", 1);
    let fc = |key| TcpOption::Mptcp(MptcpOption::MpFastclose(MpFastclose { receiver_key: key }));
    let out = s.d.input(&s.f.seg(ACK, vec![fc(42)], &[]));
    assert!(
        out.iter().all(|x| !x.has(RST)),
        "wrong key: nothing happens"
    );
    let st = s.d.ep.stats(s.conn).unwrap();
    assert_eq!((st.mp_fastclose_bad_key, st.mp_fastclose_rx), (1, 0));
    let _ = s.send_data(None, b"alive");
    assert_eq!(s.d.read_all(s.conn), b"alive");
    // Out of window (GEN-02): ignored even with the right key.
    let mut far = s.f;
    far.snd_nxt = far.snd_nxt.wrapping_add(0x4000_0000);
    let out = s.d.input(&far.seg(ACK, vec![fc(s.server_key)], &[]));
    assert!(
        out.iter().all(|x| !x.has(RST)),
        "out-of-window MP_FASTCLOSE acted upon"
    );
    assert_eq!(s.d.ep.stats(s.conn).unwrap().mp_fastclose_rx, 0);
    // The right key: RST on every subflow, connection reset.
    let out = s.d.input(&s.f.seg(ACK, vec![fc(s.server_key)], &[]));
    assert!(
        out.iter().any(|x| x.dst == s.f.me && x.has(RST)),
        "RST on the first subflow"
    );
    assert!(
        out.iter().any(|x| x.dst == j.me && x.has(RST)),
        "RST on the join subflow"
    );
    assert!(s.d.has_event(|e| matches!(
        e,
        Event::Closed {
            reason: CloseReason::PeerReset,
            ..
        }
    )));
}
