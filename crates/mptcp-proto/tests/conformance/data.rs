//! §3.3 DSS: 32-bit DSN expansion, DATA_ACK across subflows, DATA_FIN.

use crate::script::*;
use mptcp_proto::{EndpointConfig, Event};

const H: u8 = mptcp_proto::wire::MpCapable::FLAG_H;

#[test]
fn dss_03_32bit_dsn_expanded_across_a_wrap() {
    // A peer key whose IDSN sits just below a multiple of 2^32 (searched deterministically).
    let key = (1u64..)
        .find(|k| {
            let low = idsn_of(*k) & 0xffff_ffff;
            (0xffff_0000..0xffff_f000).contains(&low)
        })
        .unwrap();
    let mut s = ServerRig::new(EndpointConfig::default(), key, H);
    let base = s.next_dsn();
    let seg = 1400usize;
    let total = 100 * seg;
    assert_ne!(
        base >> 32,
        (base + total as u64) >> 32,
        "the test must cross a wrap"
    );
    let data = crate::util::pattern(total, 3);
    // Build all segments with 32-bit DSNs, then deliver them, swapping two around the wrap.
    let mut pkts = Vec::new();
    for chunk in data.chunks(seg) {
        let map = (s.next_dsn(), false, s.f.ssn, chunk.len() as u16);
        s.dsn_off += chunk.len() as u64;
        pkts.push(s.f.data(vec![dss(None, Some(map), false)], chunk));
    }
    let wrap_at = ((0x1_0000_0000 - (base & 0xffff_ffff)) as usize) / seg;
    pkts.swap(wrap_at, wrap_at + 1);
    let mut got = Vec::new();
    let mut last_dack = None;
    for p in &pkts {
        let out = s.d.input(p);
        if let Some(a) = out.iter().rev().find_map(|x| x.data_ack()) {
            last_dack = Some(a);
        }
        got.extend(s.d.read_all(s.conn));
    }
    let out = s.d.advance(ms(500));
    if let Some(a) = out.iter().rev().find_map(|x| x.data_ack()) {
        last_dack = Some(a);
    }
    assert!(
        got == data,
        "data corrupted across the DSN wrap ({} bytes)",
        got.len()
    );
    let a = last_dack.expect("DATA_ACK");
    assert_eq!(expand32(base, a.value, a.wide), base + total as u64);
    assert_eq!(s.d.ep.stats(s.conn).unwrap().duplicate_bytes, 0);
}

#[test]
fn dack_01_data_ack_covers_data_received_on_another_subflow() {
    let mut s = ServerRig::new(EndpointConfig::default(), PEER_KEY, H);
    let mut j = s.join("10.1.0.1:40001", 1);
    let base = s.next_dsn();
    // Bytes [100, 200) arrive first, on the join subflow: a hole at data level.
    let p = j.data(
        vec![dss(None, Some((base + 100, true, 1, 100)), false)],
        &[2u8; 100],
    );
    let mut out = s.d.input(&p);
    out.extend(s.d.advance(ms(300)));
    let dack = out
        .iter()
        .rev()
        .find_map(|x| x.data_ack())
        .expect("DATA_ACK on join subflow");
    assert_eq!(dack.value, base, "nothing in order yet");
    // Bytes [0, 100) on the first subflow: its ACK covers both.
    let map = (base, true, s.f.ssn, 100);
    let p = s.f.data(vec![dss(None, Some(map), false)], &[1u8; 100]);
    s.dsn_off += 200;
    let mut out = s.d.input(&p);
    out.extend(s.d.advance(ms(300)));
    let on_first = out
        .iter()
        .filter(|x| x.dst == s.f.me)
        .rev()
        .find_map(|x| x.data_ack())
        .expect("DATA_ACK on the first subflow");
    assert_eq!(on_first.value, base + 200);
    let got = s.d.read_all(s.conn);
    assert_eq!(got.len(), 200);
    assert!(got[..100].iter().all(|b| *b == 1) && got[100..].iter().all(|b| *b == 2));
}

#[test]
fn dfin_02_data_fin_is_a_bare_dss_and_acked_by_data_ack_plus_one() {
    let mut r = ClientRig::new(
        EndpointConfig::default(),
        &["10.0.0.1"],
        ClientRig::synack_mpc(H),
    );
    let base = r.client_idsn().wrapping_add(1);
    let _ =
        r.d.input(&r.f.seg(ACK, vec![dss(Some(base), None, false)], &[]));
    r.d.ep.send(r.conn, &[4u8; 100]).unwrap();
    let out = r.d.drain();
    r.f.absorb(&out);
    let _ =
        r.d.input(&r.f.seg(ACK, vec![dss(Some(base + 100), None, false)], &[]));
    r.d.ep.shutdown(r.conn).unwrap();
    let out = r.d.drain();
    r.f.absorb(&out);
    let fin_seg = out
        .iter()
        .find(|s| s.dss().is_some_and(|d| d.data_fin))
        .expect("DATA_FIN");
    assert!(
        fin_seg.payload.is_empty() && !fin_seg.has(FIN),
        "bare DSS, no subflow FIN yet"
    );
    let d = fin_seg.dss().unwrap();
    let m = d.mapping.expect("DATA_FIN carries a mapping");
    assert_eq!(
        (m.ssn, m.data_len),
        (0, 1),
        "DFIN-02: SSN 0, data-level length 1"
    );
    assert_eq!(expand32(base, m.dsn, m.wide), base + 100);
    // Not acknowledged: repeated (DFIN-12).
    let out = r.d.advance(ms(3_000));
    assert!(
        out.iter().any(|s| s.dss().is_some_and(|d| d.data_fin)),
        "DATA_FIN retransmitted"
    );
    assert!(
        out.iter().all(|s| !s.has(FIN)),
        "DFIN-04: no subflow FIN before the DATA_ACK"
    );
    // DATA_ACK = DATA_FIN + 1, then the server's own bare DATA_FIN.
    let sbase = idsn_of(SERVER_KEY).wrapping_add(1);
    let p = r.f.seg(
        ACK,
        vec![dss(Some(base + 101), Some((sbase, true, 0, 1)), true)],
        &[],
    );
    let mut out = r.d.input(&p);
    out.extend(r.d.advance(ms(300)));
    let dack = out
        .iter()
        .rev()
        .find_map(|x| x.data_ack())
        .unwrap_or_else(|| panic!("DATA_ACK of the peer DATA_FIN: {out:?} {:?}", r.d.events));
    assert_eq!(
        expand32(sbase, dack.value, dack.wide),
        sbase + 1,
        "DATA_FIN acked by DATA_ACK + 1"
    );
    assert!(r.d.has_event(|e| *e == Event::PeerFinished(r.conn)));
    assert!(
        out.iter().any(|s| s.has(FIN)),
        "DFIN-06: subflow FIN once both DATA_FINs are acked"
    );
}

#[test]
fn dfin_01_data_and_data_fin_in_one_mapping() {
    let mut s = ServerRig::new(EndpointConfig::default(), PEER_KEY, H);
    let base = s.next_dsn();
    let p = s.f.data(
        vec![dss(None, Some((base, true, 1, 11)), true)],
        b"0123456789",
    );
    let mut out = s.d.input(&p);
    out.extend(s.d.advance(ms(300)));
    let dack = out
        .iter()
        .rev()
        .find_map(|x| x.data_ack())
        .expect("DATA_ACK");
    assert_eq!(dack.value, base + 11, "10 bytes + DATA_FIN");
    let mut buf = [0u8; 64];
    assert_eq!(s.d.ep.recv(s.conn, &mut buf), Ok(10));
    assert_eq!(&buf[..10], b"0123456789");
    assert_eq!(s.d.ep.recv(s.conn, &mut buf), Ok(0), "end of stream");
}

/// DFIN-01 with DSS checksums: the checksum of a mapping that also carries the DATA_FIN
/// counts the DATA_FIN in its data-level length (RFC 8684 §3.3.1; Linux does the same).
#[test]
fn dfin_01_checksummed_data_and_data_fin_in_one_mapping() {
    use mptcp_proto::wire::{DssMapping, MptcpOption, TcpOption};
    let mut s = ServerRig::new(EndpointConfig::default(), PEER_KEY, H | 0x80);
    let base = s.next_dsn();
    let payload = b"0123456789";
    let csum = mptcp_proto::crypto::dss_checksum(base, 1, 11, payload);
    let opt = TcpOption::Mptcp(MptcpOption::Dss(mptcp_proto::wire::Dss {
        data_ack: None,
        mapping: Some(DssMapping {
            dsn: base,
            wide: true,
            ssn: 1,
            data_len: 11,
            checksum: Some(csum),
        }),
        data_fin: true,
    }));
    let p = s.f.data(vec![opt], payload);
    let mut out = s.d.input(&p);
    out.extend(s.d.advance(ms(300)));
    assert!(
        out.iter().all(|x| x.rst_reason().is_none()),
        "reset: the checksum was judged wrong"
    );
    let dack = out
        .iter()
        .rev()
        .find_map(|x| x.data_ack())
        .expect("DATA_ACK");
    assert_eq!(dack.value, base + 11, "10 bytes + DATA_FIN");
    let mut buf = [0u8; 64];
    assert_eq!(s.d.ep.recv(s.conn, &mut buf), Ok(10));
    assert_eq!(&buf[..10], payload);
}

/// FB-06: our data is acknowledged at subflow level without any DATA_ACK (a middlebox
/// strips DSS): we fall back, the next data segment carries one infinite mapping (data
/// length 0, retroactive to SSN 1 / IDSN + 1), and later ones no MPTCP option.
#[test]
fn fb_06_fallback_on_stripped_dss_sends_one_infinite_mapping() {
    let mut r = ServerRig::new(EndpointConfig::default(), PEER_KEY, H);
    r.d.ep.send(r.conn, &[1u8; 1000]).unwrap();
    let out = r.d.drain();
    assert!(out
        .iter()
        .any(|s| s.dss().is_some_and(|d| d.mapping.is_some())));
    r.f.absorb(&out);
    // A plain ACK of that data: no DSS, no DATA_ACK.
    let out = r.d.input(&r.f.seg(ACK, vec![], &[]));
    r.f.absorb(&out);
    assert!(r.d.has_event(|e| *e == Event::FellBack(r.conn)));
    r.d.ep.send(r.conn, &[2u8; 3000]).unwrap();
    let out = r.d.drain();
    let data: Vec<&Seg> = out.iter().filter(|s| !s.payload.is_empty()).collect();
    assert!(data.len() >= 2, "{out:?}");
    let map = data[0]
        .dss()
        .and_then(|d| d.mapping)
        .expect("infinite mapping on the first new data");
    assert_eq!(map.data_len, 0);
    assert_eq!(map.ssn, 1);
    assert_eq!(
        expand32(idsn_of(r.server_key), map.dsn, map.wide),
        idsn_of(r.server_key).wrapping_add(1)
    );
    assert!(data[1..].iter().all(|s| s.mptcp().count() == 0), "{data:?}");
    assert_eq!(r.d.ep.stats(r.conn).map(|s| s.infinite_map_tx), Some(1));
}
