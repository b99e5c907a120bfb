//! Regression tests for bugs found by `hostile_input.rs`.

mod util;

use mptcp_proto::crypto;
use mptcp_proto::wire::{
    Dss, DssMapping, IpRepr, MptcpOption, TcpFlags, TcpOption, TcpOptions, TcpRepr, IP_PROTO_TCP,
};
use mptcp_proto::{Duration, Endpoint, EndpointConfig, Instant, SeqNum};
use std::net::SocketAddr;
use util::{Link, Pair};

fn packet(src: SocketAddr, dst: SocketAddr, seg: &TcpRepr<'_>) -> Vec<u8> {
    let ip = IpRepr {
        src: src.ip(),
        dst: dst.ip(),
        protocol: IP_PROTO_TCP,
        hop_limit: 64,
        payload_len: seg.buffer_len(),
    };
    let mut buf = vec![0u8; ip.buffer_len()];
    ip.emit(&mut buf);
    seg.emit(&mut buf[ip.header_len()..], src.ip(), dst.ip());
    buf
}

fn segment(
    src: SocketAddr,
    dst: SocketAddr,
    seq: u32,
    ack: u32,
    flags: u8,
    options: TcpOptions,
    payload: &[u8],
) -> Vec<u8> {
    let seg = TcpRepr {
        src_port: src.port(),
        dst_port: dst.port(),
        seq: SeqNum(seq),
        ack: SeqNum(ack),
        flags: TcpFlags(flags),
        window: 65535,
        urgent: 0,
        options,
        payload,
    };
    packet(src, dst, &seg)
}

/// input.rs `on_synchronized`: a segment whose sequence number lies before the peer's ISN
/// unwraps to just below 2^64, and adding its length overflowed.
#[test]
fn segment_before_isn_with_payload_does_not_overflow() {
    let cfg = EndpointConfig {
        mptcp: false,
        ..EndpointConfig::default()
    };
    let mut server = Endpoint::new(cfg, 1);
    server.listen(80).unwrap();
    let local: SocketAddr = "10.0.0.1:80".parse().unwrap();
    let remote: SocketAddr = "10.0.0.2:4000".parse().unwrap();
    let now = Instant::ZERO;
    server.handle_packet(
        now,
        &segment(
            remote,
            local,
            1000,
            0,
            TcpFlags::SYN,
            TcpOptions::new(),
            &[],
        ),
    );
    assert_eq!(server.connection_count(), 1);
    // SYN_RCVD, then an ACK with payload starting 10 bytes before the ISN.
    server.handle_packet(
        now,
        &segment(
            remote,
            local,
            990,
            0,
            TcpFlags::ACK,
            TcpOptions::new(),
            &[0u8; 100],
        ),
    );
    let mut buf = Vec::new();
    while server.poll_transmit(now, &mut buf).is_some() {}
}

/// Established MPTCP connection with DSS checksums, and the tuple, next sequence number
/// and acknowledgment number a client segment to the server should carry.
fn established_checksum_pair() -> (Pair, SocketAddr, SocketAddr, u32, u32) {
    established_pair(true)
}

fn established_pair(checksum: bool) -> (Pair, SocketAddr, SocketAddr, u32, u32) {
    let cfg = EndpointConfig {
        checksum,
        send_buffer: 16 * 1024,
        recv_buffer: 16 * 1024,
        ..EndpointConfig::default()
    };
    let mut pair = Pair::new(
        cfg.clone(),
        cfg,
        vec![(Link::new(5, 10), Link::new(5, 10))],
        11,
    );
    pair.capture_limit = 64;
    let c = pair.connect();
    let _ = pair.client.send(c, b"hello");
    pair.drive_until(Instant::ZERO + Duration::from_secs(1), |_| false);
    let (_, last) = pair
        .captured
        .iter()
        .rev()
        .find(|(to_server, _)| *to_server)
        .expect("client sent something")
        .clone();
    let (ip, payload) = IpRepr::parse(&last).unwrap();
    let seg = TcpRepr::parse(payload, None).unwrap();
    let seq = seg.seq.0.wrapping_add(seg.payload.len() as u32);
    (
        pair,
        SocketAddr::new(ip.src, seg.src_port),
        SocketAddr::new(ip.dst, seg.dst_port),
        seq,
        seg.ack.0,
    )
}

fn dss_mapping(ssn: u32, data_len: u16, checksum: Option<u16>) -> TcpOptions {
    let mut o = TcpOptions::new();
    o.push(TcpOption::Mptcp(MptcpOption::Dss(Dss {
        data_ack: None,
        mapping: Some(DssMapping {
            dsn: 1,
            wide: false,
            ssn,
            data_len,
            checksum,
        }),
        data_fin: false,
    })));
    o
}

/// input.rs `add_rx_map`: every checksummed mapping allocated `data_len` bytes up front, up
/// to 512 mappings per subflow: 32 MiB from a few hundred pure ACKs. Now bounded by the
/// receive buffer.
#[test]
fn checksummed_mappings_are_bounded_by_the_receive_buffer() {
    let (mut pair, client, server, seq, ack) = established_checksum_pair();
    let now = pair.now;
    for k in 0..300u32 {
        let opts = dss_mapping(1 + k * 65535 % 0x7fff_0000, 65535, Some(0x1234));
        pair.server.handle_packet(
            now,
            &segment(client, server, seq, ack, TcpFlags::ACK, opts, &[]),
        );
    }
    let c = pair.server.config();
    let bound = pair.server.connection_count() * (c.send_buffer + c.recv_buffer)
        + c.max_pending_control * 1500;
    assert!(
        pair.server.buffered_bytes() <= bound,
        "{} > {bound}",
        pair.server.buffered_bytes()
    );
}

/// input.rs `add_rx_map`: a mapping whose relative subflow sequence number lies before the
/// subflow start unwraps to just below 2^64; `ssn + len` overflowed.
#[test]
fn mapping_before_subflow_start_does_not_overflow() {
    let (mut pair, client, server, seq, ack) = established_checksum_pair();
    let now = pair.now;
    for ssn in [0xffff_fff0u32, 0x8000_0001, 0xffff_ffff] {
        let opts = dss_mapping(ssn, 1000, None);
        pair.server.handle_packet(
            now,
            &segment(client, server, seq, ack, TcpFlags::ACK, opts, &[1, 2, 3]),
        );
    }
}

/// input.rs `place_infinite` / `process_fin`: the data offset of a peer's infinite mapping
/// (RFC 8684 §3.7) is any value the peer likes; adding the subflow offset to it overflowed.
#[test]
fn infinite_mapping_with_wild_dsn_does_not_overflow() {
    let (mut pair, client, server, seq, ack) = established_pair(false);
    // The client's key, from its MP_CAPABLE, gives the data sequence space.
    let key = pair
        .captured
        .iter()
        .filter(|(to_server, _)| *to_server)
        .find_map(|(_, p)| {
            let (_, payload) = IpRepr::parse(p).ok()?;
            let seg = TcpRepr::parse(payload, None).ok()?;
            let key = seg.mptcp_options().find_map(|o| match o {
                MptcpOption::MpCapable(c) => c.sender_key,
                _ => None,
            });
            key
        })
        .expect("client MP_CAPABLE key captured");
    let base = crypto::idsn(key).wrapping_add(1);
    let mut opts = TcpOptions::new();
    opts.push(TcpOption::Mptcp(MptcpOption::Dss(Dss {
        data_ack: None,
        mapping: Some(DssMapping {
            dsn: base.wrapping_add(u64::MAX - 2),
            wide: true,
            ssn: 1,
            data_len: 0,
            checksum: None,
        }),
        data_fin: false,
    })));
    let now = pair.now;
    pair.server.handle_packet(
        now,
        &segment(
            client,
            server,
            seq,
            ack,
            TcpFlags::ACK | TcpFlags::FIN,
            opts,
            &[7u8; 10],
        ),
    );
    pair.drive_until(now + Duration::from_secs(1), |_| false);
}

/// A refused connect must reach the application: the client holds the handle since
/// `connect`, so it gets `Closed { Refused }` (it used to be dropped silently).
#[test]
fn refused_connect_reports_closed() {
    use mptcp_proto::{CloseReason, Event};
    let mut client = Endpoint::new(EndpointConfig::default(), 1);
    let mut server = Endpoint::new(EndpointConfig::default(), 2);
    let now = Instant::ZERO;
    let remote: SocketAddr = "10.0.0.2:5000".parse().unwrap();
    let params = client.connect_params(vec!["10.0.0.1".parse().unwrap()], remote);
    let h = client.connect(now, params).expect("connect");
    let mut buf = Vec::new();
    for _ in 0..4 {
        while let Some(t) = client.poll_transmit(now, &mut buf) {
            server.handle_packet(now, &buf[..t.len]);
        }
        while let Some(t) = server.poll_transmit(now, &mut buf) {
            client.handle_packet(now, &buf[..t.len]);
        }
    }
    let events: Vec<Event> = std::iter::from_fn(|| client.poll_event()).collect();
    assert!(
        events.contains(&Event::Closed {
            conn: h,
            reason: CloseReason::Refused
        }),
        "{events:?}"
    );
}

/// Found by the simulator's soak run: the server answers with a mapping that spans many
/// segments (DSS on the first one only) and that first segment is lost. The following
/// segments carry data and acknowledge the client's data without any MPTCP option, before
/// the client ever saw a DATA_ACK: that is a mapping's continuation, not a path that strips
/// DSS options. The client took it for stripping, fell back alone (the server kept MPTCP)
/// and the stream ended short with a normal close.
#[test]
fn lost_first_segment_of_a_long_mapping_is_not_option_stripping() {
    use mptcp_proto::Event;
    use std::sync::atomic::{AtomicBool, Ordering};
    static DROPPED: AtomicBool = AtomicBool::new(false);
    #[allow(clippy::ptr_arg)] // the link filter's signature
    fn drop_first_data(pkt: &mut Vec<u8>) -> bool {
        let Ok((_, payload)) = IpRepr::parse(pkt) else {
            return true;
        };
        let has_data = TcpRepr::parse(payload, None).is_ok_and(|s| !s.payload.is_empty());
        !has_data || DROPPED.swap(true, Ordering::SeqCst)
    }
    let cfg = EndpointConfig::default();
    let mut down = Link::new(40, 10);
    down.filter = Some(drop_first_data);
    let mut pair = Pair::new(cfg.clone(), cfg, vec![(Link::new(40, 10), down)], 3);
    let c = pair.connect();
    let request = util::pattern(3000, 1);
    let response = util::pattern(30_000, 2);
    assert_eq!(pair.client.send(c, &request), Ok(3000));
    pair.client.shutdown(c).unwrap();
    let (mut server_conn, mut written, mut got) = (None, 0, Vec::new());
    let mut buf = vec![0u8; 65536];
    pair.drive_until(Instant::ZERO + Duration::from_secs(30), |p| {
        for e in p.server_events.drain(..) {
            if let Event::Incoming { conn, .. } = e {
                server_conn = Some(conn);
            }
        }
        if let Some(s) = server_conn {
            while p.server.recv(s, &mut buf).is_ok_and(|n| n > 0) {}
            while written < response.len() {
                match p.server.send(s, &response[written..]) {
                    Ok(n) if n > 0 => written += n,
                    _ => break,
                }
            }
            if written == response.len() {
                let _ = p.server.shutdown(s);
            }
        }
        while let Ok(n) = p.client.recv(c, &mut buf) {
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        p.client_events
            .iter()
            .any(|e| matches!(e, Event::Closed { .. }))
    });
    assert!(
        DROPPED.load(Ordering::SeqCst),
        "no data segment was dropped"
    );
    assert!(
        !pair
            .client_events
            .iter()
            .any(|e| matches!(e, Event::FellBack(_))),
        "client fell back: {:?}",
        pair.client_events
    );
    assert_eq!(got.len(), response.len());
    assert!(got == response, "response corrupted");
}

/// Found by the soak run too: a data segment without options that continues a mapping and
/// acknowledges our data for the first time (the peer's pure ACKs with DATA_ACKs were lost)
/// was taken for a peer that fell back; the stream then ended short with a normal close.
#[test]
fn continuation_segment_acknowledging_our_data_is_not_a_peer_fallback() {
    use mptcp_proto::Event;
    #[allow(clippy::ptr_arg)] // the link filter's signature
    fn drop_pure_acks(pkt: &mut Vec<u8>) -> bool {
        let Ok((_, payload)) = IpRepr::parse(pkt) else {
            return true;
        };
        TcpRepr::parse(payload, None).map_or(true, |s| {
            !s.payload.is_empty() || s.flags.syn() || s.flags.fin()
        })
    }
    let cfg = EndpointConfig::default();
    let mut down = Link::new(10, 50);
    down.filter = Some(drop_pure_acks);
    let mut pair = Pair::new(cfg.clone(), cfg, vec![(Link::new(10, 50), down)], 5);
    let c = pair.connect();
    let request = util::pattern(20_000, 3);
    let response = util::pattern(200_000, 4);
    let (mut server_conn, mut sent, mut written, mut got) = (None, 0, 0, Vec::new());
    let mut buf = vec![0u8; 65536];
    pair.drive_until(Instant::ZERO + Duration::from_secs(60), |p| {
        while sent < request.len() {
            match p.client.send(c, &request[sent..]) {
                Ok(n) if n > 0 => sent += n,
                _ => break,
            }
        }
        if sent == request.len() {
            let _ = p.client.shutdown(c);
        }
        for e in p.server_events.drain(..) {
            if let Event::Incoming { conn, .. } = e {
                server_conn = Some(conn);
            }
        }
        if let Some(s) = server_conn {
            while p.server.recv(s, &mut buf).is_ok_and(|n| n > 0) {}
            while written < response.len() {
                match p.server.send(s, &response[written..]) {
                    Ok(n) if n > 0 => written += n,
                    _ => break,
                }
            }
            if written == response.len() {
                let _ = p.server.shutdown(s);
            }
        }
        while let Ok(n) = p.client.recv(c, &mut buf) {
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        p.client_events
            .iter()
            .any(|e| matches!(e, Event::Closed { .. }))
    });
    assert_eq!(got.len(), response.len(), "events {:?}", pair.client_events);
    assert!(got == response, "response corrupted");
}

/// input.rs `add_rx_map`: a mapping that did not fit the receiver's table (512 entries
/// then) was dropped while its bytes were accepted and acknowledged. The sender puts a
/// mapping on its first segment only, so after a loss on a fast path (hundreds of
/// single-segment mappings out of order) the bytes could never be placed, the subflow
/// retransmitted its next segment forever and the connection stalled. Now the segment of a
/// mapping that cannot be kept is not acknowledged (the sender resends it, mapping
/// included), and the table grows with the receive buffer.
#[test]
fn a_mapping_the_receiver_cannot_keep_leaves_its_bytes_unacknowledged() {
    let (mut pair, client, server, seq, ack) = established_pair(false);
    let key = pair
        .captured
        .iter()
        .filter(|(to_server, _)| *to_server)
        .find_map(|(_, p)| {
            let (_, payload) = IpRepr::parse(p).ok()?;
            let seg = TcpRepr::parse(payload, None).ok()?;
            let key = seg.mptcp_options().find_map(|o| match o {
                MptcpOption::MpCapable(c) => c.sender_key,
                _ => None,
            });
            key
        })
        .expect("client MP_CAPABLE key captured");
    // "hello" took data offsets 0..5 and subflow offsets 1..6; `seq` is subflow offset 6.
    let base = crypto::idsn(key).wrapping_add(1);
    let one_byte = |k: u32| -> Vec<u8> {
        let mut o = TcpOptions::new();
        o.push(TcpOption::Mptcp(MptcpOption::Dss(Dss {
            data_ack: None,
            mapping: Some(DssMapping {
                dsn: base.wrapping_add(5 + u64::from(k)),
                wide: true,
                ssn: 6 + k,
                data_len: 1,
                checksum: None,
            }),
            data_fin: false,
        })));
        segment(
            client,
            server,
            seq.wrapping_add(k),
            ack,
            TcpFlags::ACK,
            o,
            &[k as u8],
        )
    };
    // The last cumulative ACK the server sends at once after `pkt`, if any.
    let ack_after = |pair: &mut Pair, pkt: &[u8]| -> Option<u32> {
        let now = pair.now;
        pair.server.handle_packet(now, pkt);
        let mut buf = Vec::new();
        let mut last = None;
        while let Some(t) = pair.server.poll_transmit(now, &mut buf) {
            let (_, payload) = IpRepr::parse(&buf[..t.len]).unwrap();
            last = Some(TcpRepr::parse(payload, None).unwrap().ack.0);
        }
        last
    };
    // Byte 0 is lost; bytes 1..=N arrive out of order, one mapping each. With a 16 KiB
    // receive buffer the table holds 512 mappings.
    const N: u32 = 600;
    for k in 1..=N {
        let _ = ack_after(&mut pair, &one_byte(k));
    }
    // The hole fills: the cumulative ACK covers what was kept with its mapping, no more.
    let cum = ack_after(&mut pair, &one_byte(0)).expect("a hole filled is acknowledged");
    let kept = cum.wrapping_sub(seq);
    assert!(kept > 1 && kept <= N, "acknowledged {kept} of {}", N + 1);
    // What was refused comes again with its mapping and is taken: nothing is stranded.
    for k in kept..=N {
        let _ = ack_after(&mut pair, &one_byte(k));
    }
    let conn = pair
        .server_events
        .iter()
        .find_map(|e| match e {
            mptcp_proto::Event::Incoming { conn, .. } => Some(*conn),
            _ => None,
        })
        .expect("server connection");
    let mut got = vec![0u8; 4096];
    let n = pair.server.recv(conn, &mut got).unwrap();
    assert_eq!(n, 5 + N as usize + 1, "bytes readable at data level");
    assert_eq!(&got[..5], b"hello");
    assert!((0..=N).all(|k| got[5 + k as usize] == k as u8));
}
