use super::*;
use crate::packet::testutil::{build, parse};
use mptcp_proto::wire::{DataAck, Dss, DssMapping, MpCapable, MptcpOption, SackBlocks, TcpOption};
use mptcp_proto::SeqNum;

const CLIENT: (Ipv4Addr, u16) = (Ipv4Addr::new(10, 1, 0, 1), 40000);
const SERVER: (Ipv4Addr, u16) = (Ipv4Addr::new(10, 254, 0, 1), 5201);

fn mp_capable() -> TcpOption {
    TcpOption::Mptcp(MptcpOption::MpCapable(MpCapable {
        version: 1,
        flags: 0x01,
        sender_key: None,
        receiver_key: None,
        data_len: None,
        checksum: None,
    }))
}

fn dss() -> TcpOption {
    TcpOption::Mptcp(MptcpOption::Dss(Dss {
        data_ack: Some(DataAck {
            value: 77,
            wide: false,
        }),
        mapping: Some(DssMapping {
            dsn: 1000,
            wide: true,
            ssn: 1,
            data_len: 10,
            checksum: None,
        }),
        data_fin: false,
    }))
}

fn ts() -> TcpOption {
    TcpOption::Timestamp { tsval: 5, tsecr: 6 }
}

fn syn() -> Vec<u8> {
    build(
        CLIENT,
        SERVER,
        100,
        0,
        flags::SYN,
        &[TcpOption::Mss(1460), TcpOption::SackPermitted, mp_capable()],
        b"",
    )
}

fn data(seq: u32, payload: &[u8]) -> Vec<u8> {
    build(
        CLIENT,
        SERVER,
        seq,
        55,
        flags::ACK | flags::PSH,
        &[TcpOption::Nop, TcpOption::Nop, ts(), dss()],
        payload,
    )
}

fn has_mptcp(pkt: &[u8]) -> bool {
    parse(pkt)
        .1
        .options
        .iter()
        .any(|o| matches!(o, TcpOption::Mptcp(_)))
}

#[test]
fn strip_mptcp_nops_syn_options() {
    let mut p = syn();
    let len = p.len();
    assert!(has_mptcp(&p));
    assert!(strip_mptcp_syn(&mut p));
    assert_eq!(p.len(), len);
    assert!(!has_mptcp(&p));
    let (_, tcp) = parse(&p);
    assert!(tcp.options.contains(&TcpOption::Mss(1460)));
    assert!(tcp.options.contains(&TcpOption::SackPermitted));
    // Data segments are left alone.
    let mut d = data(1, b"0123456789");
    assert!(!strip_mptcp_syn(&mut d));
    assert!(has_mptcp(&d));
}

#[test]
fn strip_mptcp_data_removes_option_from_data_only() {
    let mut d = data(1, b"0123456789");
    let before = d.len();
    assert!(strip_mptcp_data(&mut d));
    assert!(d.len() < before);
    let (ip, tcp) = parse(&d);
    assert!(!tcp.options.iter().any(|o| matches!(o, TcpOption::Mptcp(_))));
    assert!(tcp.options.contains(&ts()));
    assert_eq!(tcp.payload, b"0123456789");
    assert_eq!(ip.payload_len, tcp.buffer_len());
    // SYNs and pure ACKs are untouched.
    let mut s = syn();
    assert!(!strip_mptcp_data(&mut s));
    assert!(has_mptcp(&s));
    let mut ack = data(1, b"");
    assert!(!strip_mptcp_data(&mut ack));
    assert!(has_mptcp(&ack));
}

#[test]
fn seq_rewrite_shifts_and_restores() {
    let mut up = data(1000, b"abc");
    assert!(seq_rewrite(&mut up, Side::Upstream));
    assert_eq!(parse(&up).1.seq, SeqNum(1000u32.wrapping_add(SEQ_SHIFT)));
    let mut blocks = SackBlocks::new();
    blocks.push((
        SeqNum(2000u32.wrapping_add(SEQ_SHIFT)),
        SeqNum(3000u32.wrapping_add(SEQ_SHIFT)),
    ));
    let mut down = build(
        SERVER,
        CLIENT,
        9,
        1003u32.wrapping_add(SEQ_SHIFT),
        flags::ACK,
        &[TcpOption::Nop, TcpOption::Nop, TcpOption::Sack(blocks)],
        b"",
    );
    assert!(seq_rewrite(&mut down, Side::Downstream));
    let (_, tcp) = parse(&down);
    assert_eq!(tcp.ack, SeqNum(1003));
    assert_eq!(tcp.seq, SeqNum(9));
    let sack = tcp.options.iter().find_map(|o| match o {
        TcpOption::Sack(b) => Some(b.clone()),
        _ => None,
    });
    assert_eq!(sack.unwrap().as_slice(), &[(SeqNum(2000), SeqNum(3000))]);
}

#[test]
fn split_halves_payload_and_keeps_options() {
    let mut pool = BufPool::new();
    let fin = build(
        CLIENT,
        SERVER,
        500,
        55,
        flags::ACK | flags::PSH | flags::FIN,
        &[ts(), dss()],
        b"0123456789",
    );
    let mut first = fin.clone();
    let second = split(&mut first, &mut pool).unwrap();
    let (_, a) = parse(&first);
    let (_, b) = parse(&second);
    assert_eq!(a.payload, b"01234");
    assert_eq!(b.payload, b"56789");
    assert_eq!(a.seq, SeqNum(500));
    assert_eq!(b.seq, SeqNum(505));
    assert_eq!(a.options, b.options);
    assert!(a.options.contains(&dss()));
    assert!(!a.flags.fin() && b.flags.fin());
    // One byte and SYNs are not split.
    let mut one = data(1, b"x");
    assert!(split(&mut one, &mut pool).is_none());
    let mut s = syn();
    assert!(split(&mut s, &mut pool).is_none());
}

#[test]
fn coalesce_merges_contiguous_segments() {
    let mut first = data(1, b"hello ");
    let second = build(CLIENT, SERVER, 7, 99, flags::ACK, &[ts()], b"world");
    assert!(coalesce(&mut first, &second));
    let (_, tcp) = parse(&first);
    assert_eq!(tcp.payload, b"hello world");
    assert_eq!(tcp.ack, SeqNum(99));
    assert!(tcp.options.contains(&dss()), "first one's options kept");
    // A gap, another 4-tuple, or a SYN: no merge.
    let mut a = data(1, b"abc");
    assert!(!coalesce(&mut a, &data(5, b"def")));
    let other = build((CLIENT.0, 1), SERVER, 4, 0, flags::ACK, &[], b"def");
    assert!(!coalesce(&mut a, &other));
    assert!(!coalesce(&mut a, &syn()));
}

#[test]
fn coalescer_holds_and_flushes() {
    let mut pool = BufPool::new();
    let mut mb = Middlebox::new(MiddleboxKind::Coalesce, 0);
    let mut out = Vec::new();
    let t0 = Instant::ZERO;
    mb.process(Side::Upstream, t0, data(1, b"aa"), &mut pool, &mut out);
    assert!(out.is_empty(), "first data segment held");
    assert_eq!(mb.next_flush(Side::Upstream), Some(t0 + COALESCE_WINDOW));
    mb.process(Side::Upstream, t0, data(3, b"bb"), &mut pool, &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(parse(&out[0]).1.payload, b"aabb");
    out.clear();
    // A lone segment is released after the window.
    mb.process(Side::Upstream, t0, data(5, b"cc"), &mut pool, &mut out);
    mb.flush(Side::Upstream, t0, &mut out);
    assert!(out.is_empty());
    mb.flush(Side::Upstream, t0 + COALESCE_WINDOW, &mut out);
    assert_eq!(out.len(), 1);
    out.clear();
    // A pure ACK releases the held segment first, then passes.
    mb.process(Side::Upstream, t0, data(7, b"dd"), &mut pool, &mut out);
    mb.process(Side::Upstream, t0, data(9, b""), &mut pool, &mut out);
    assert_eq!(out.len(), 2);
    assert_eq!(parse(&out[0]).1.payload, b"dd");
    assert_eq!(parse(&out[1]).1.payload, b"");
}

#[test]
fn nat_maps_and_restores() {
    let mut nat = Nat::new(3);
    let mut up = data(1, b"x");
    assert!(nat.translate(&mut up, Side::Upstream, Instant::ZERO));
    let (ip, tcp) = parse(&up);
    assert_eq!(ip.src, std::net::IpAddr::V4(Ipv4Addr::new(10, 253, 3, 1)));
    assert_eq!(tcp.src_port, NAT_FIRST_PORT);
    // Same flow, same mapping; another source port, another mapping.
    let mut again = data(2, b"y");
    nat.translate(&mut again, Side::Upstream, Instant::ZERO);
    assert_eq!(parse(&again).1.src_port, NAT_FIRST_PORT);
    let mut other = build((CLIENT.0, 40001), SERVER, 1, 0, flags::ACK, &[], b"");
    nat.translate(&mut other, Side::Upstream, Instant::ZERO);
    assert_eq!(parse(&other).1.src_port, NAT_FIRST_PORT + 1);
    // Back: restored.
    let mut down = build(
        SERVER,
        (nat_addr(3), NAT_FIRST_PORT),
        9,
        2,
        flags::ACK,
        &[dss()],
        b"reply",
    );
    assert!(nat.translate(&mut down, Side::Downstream, Instant::ZERO));
    let (ip, tcp) = parse(&down);
    assert_eq!(ip.dst, std::net::IpAddr::V4(CLIENT.0));
    assert_eq!(tcp.dst_port, CLIENT.1);
    assert_eq!(tcp.payload, b"reply");
    // Unknown mapping: dropped.
    let mut stray = build(SERVER, (nat_addr(3), 9), 9, 2, flags::ACK, &[], b"");
    assert!(!nat.translate(&mut stray, Side::Downstream, Instant::ZERO));
}

#[test]
fn nat_mappings_expire_and_ports_are_reused() {
    let mut nat = Nat::new(3);
    let secs = |s: u64| Instant::ZERO + mptcp_proto::Duration::from_secs(s);
    let mut up = data(1, b"x");
    assert!(nat.translate(&mut up, Side::Upstream, secs(0)));
    let mut other = build((CLIENT.0, 40001), SERVER, 1, 0, flags::ACK, &[], b"");
    assert!(nat.translate(&mut other, Side::Upstream, secs(0)));
    assert_eq!(nat.mappings(), 2);
    // The first flow closes with FINs both ways; the second is reset.
    let mut fin = build(CLIENT, SERVER, 2, 0, flags::FIN | flags::ACK, &[], b"");
    nat.translate(&mut fin, Side::Upstream, secs(1));
    let mut fin = build(
        SERVER,
        (nat_addr(3), NAT_FIRST_PORT),
        9,
        3,
        flags::FIN | flags::ACK,
        &[],
        b"",
    );
    assert!(nat.translate(&mut fin, Side::Downstream, secs(1)));
    let mut rst = build((CLIENT.0, 40001), SERVER, 1, 0, flags::RST, &[], b"");
    nat.translate(&mut rst, Side::Upstream, secs(1));
    // Reset: gone after NAT_TIMEOUT_RST; FIN both ways: after NAT_TIMEOUT_FIN.
    let mut probe = data(3, b"z");
    nat.translate(&mut probe, Side::Upstream, secs(30));
    assert_eq!(nat.mappings(), 1);
    assert_eq!(parse(&probe).1.src_port, NAT_FIRST_PORT);
    let mut late = build((CLIENT.0, 40002), SERVER, 1, 0, flags::SYN, &[], b"");
    nat.translate(&mut late, Side::Upstream, secs(200));
    assert_eq!(
        nat.mappings(),
        1,
        "the FIN-closed mapping expired, a new one came"
    );
    // An idle established mapping lives at least 2 h 4 min.
    let mut idle = build((CLIENT.0, 40002), SERVER, 2, 0, flags::ACK, &[], b"");
    nat.translate(&mut idle, Side::Upstream, secs(200 + 7000));
    assert_eq!(nat.mappings(), 1);
    assert_eq!(parse(&idle).1.src_port, parse(&late).1.src_port);
}

#[test]
fn middlebox_passes_non_tcp() {
    let mut pool = BufPool::new();
    let mut out = Vec::new();
    for kind in [
        MiddleboxKind::StripMptcp,
        MiddleboxKind::StripMptcpData,
        MiddleboxKind::Nat,
        MiddleboxKind::SeqRewrite,
        MiddleboxKind::Split,
        MiddleboxKind::Coalesce,
    ] {
        let mut mb = Middlebox::new(kind, 0);
        out.clear();
        mb.process(
            Side::Upstream,
            Instant::ZERO,
            vec![0x45, 0, 0, 3],
            &mut pool,
            &mut out,
        );
        assert_eq!(out, vec![vec![0x45, 0, 0, 3]], "{kind:?}");
    }
}

#[test]
fn middlebox_split_yields_two() {
    let mut pool = BufPool::new();
    let mut out = Vec::new();
    let mut mb = Middlebox::new(MiddleboxKind::Split, 0);
    mb.process(
        Side::Downstream,
        Instant::ZERO,
        data(1, b"abcd"),
        &mut pool,
        &mut out,
    );
    assert_eq!(out.len(), 2);
}
