//! TCP behaviour of subflows: RFC 5961, PAWS (RFC 7323), TIME_WAIT, zero window, keepalive,
//! delayed ACK, Nagle, half-close.

use crate::script::*;
use crate::util::{Link, Pair};
use mptcp_proto::wire::TcpOption;
use mptcp_proto::{CloseReason, ConnectionHandle, Duration, EndpointConfig, Event, Instant};

fn plain() -> EndpointConfig {
    EndpointConfig {
        mptcp: false,
        ..EndpointConfig::default()
    }
}

/// A server endpoint with an established connection from a scripted client; with `ts`,
/// timestamps are negotiated (the client's TSval starts at 1000).
fn tcp_server(cfg: EndpointConfig, ts: bool) -> (Driver, Flow, ConnectionHandle) {
    let mut d = Driver::new(cfg, 11);
    d.ep.listen(5201).unwrap();
    let mut f = Flow {
        me: sa("10.0.0.1:40000"),
        it: sa(SERVER),
        snd_nxt: PEER_ISN,
        rcv_nxt: 0,
        ssn: 1,
    };
    let mut opts = vec![TcpOption::Mss(1460)];
    if ts {
        opts.push(TcpOption::Timestamp {
            tsval: 1000,
            tsecr: 0,
        });
    }
    let out = d.input(&f.seg(SYN, opts, &[]));
    assert!(out[0].has(SYN | ACK));
    f.snd_nxt += 1;
    f.rcv_nxt = out[0].seq.wrapping_add(1);
    let ack_opts = if ts {
        vec![TcpOption::Timestamp {
            tsval: 1001,
            tsecr: out[0].tsval().unwrap(),
        }]
    } else {
        vec![]
    };
    let _ = d.input(&f.seg(ACK, ack_opts, &[]));
    let c = d.incoming().expect("connection accepted");
    (d, f, c)
}

fn is_challenge_ack(out: &[Seg], f: &Flow) -> bool {
    out.len() == 1
        && out[0].has(ACK)
        && !out[0].has(RST)
        && out[0].payload.is_empty()
        && out[0].ack == f.snd_nxt
}

fn still_works(d: &mut Driver, f: &mut Flow, c: ConnectionHandle) {
    let _ = d.input(&f.data(vec![], b"ping"));
    assert_eq!(d.read_all(c), b"ping", "connection no longer delivers data");
    assert!(!d.has_event(|e| matches!(e, Event::Closed { .. })));
}

#[test]
fn tcp_rfc5961_rst_in_window_but_not_exact_gets_challenge_ack() {
    let (mut d, mut f, c) = tcp_server(plain(), false);
    let mut r = f;
    r.snd_nxt = r.snd_nxt.wrapping_add(100);
    let out = d.input(&r.seg(RST, vec![], &[]));
    assert!(
        is_challenge_ack(&out, &f),
        "challenge ACK expected: {out:?}"
    );
    still_works(&mut d, &mut f, c);
}

#[test]
fn tcp_rfc5961_rst_at_rcv_nxt_resets() {
    let (mut d, f, c) = tcp_server(EndpointConfig::default(), false);
    let out = d.input(&f.seg(RST, vec![], &[]));
    assert!(out.iter().all(|s| !s.has(RST)), "no RST answers a RST");
    assert!(d.has_event(|e| *e
        == Event::Closed {
            conn: c,
            reason: CloseReason::PeerReset
        }));
}

#[test]
fn tcp_rfc5961_syn_on_established_gets_challenge_ack() {
    let (mut d, mut f, c) = tcp_server(plain(), false);
    let mut r = f;
    r.snd_nxt = r.snd_nxt.wrapping_add(5000);
    let out = d.input(&r.seg(SYN, vec![TcpOption::Mss(1460)], &[]));
    assert!(
        is_challenge_ack(&out, &f),
        "challenge ACK expected: {out:?}"
    );
    still_works(&mut d, &mut f, c);
}

#[test]
fn tcp_rfc5961_ack_above_snd_max_is_dropped_with_an_ack() {
    let (mut d, mut f, c) = tcp_server(plain(), false);
    let mut bad = f;
    bad.rcv_nxt = bad.rcv_nxt.wrapping_add(10_000);
    let out = d.input(&bad.data(vec![], b"bogus"));
    assert!(is_challenge_ack(&out, &f), "ACK expected: {out:?}");
    assert!(
        d.read_all(c).is_empty(),
        "payload of an unacceptable ACK delivered"
    );
    still_works(&mut d, &mut f, c);
}

#[test]
fn tcp_rfc7323_paws_drops_an_old_timestamp() {
    let (mut d, mut f, c) = tcp_server(plain(), true);
    let ts = |v| vec![TcpOption::Timestamp { tsval: v, tsecr: 0 }];
    let _ = d.input(&f.data(ts(2000), b"new"));
    assert_eq!(d.read_all(c), b"new");
    let mut old = f;
    let out = d.input(&old.data(ts(1500), b"old"));
    assert!(
        d.read_all(c).is_empty(),
        "segment with an old timestamp accepted"
    );
    assert!(
        out.iter().any(|s| s.has(ACK) && s.ack == f.snd_nxt),
        "dup ACK for the PAWS drop"
    );
    let _ = d.input(&f.data(ts(2001), b"ok"));
    assert_eq!(d.read_all(c), b"ok");
}

#[test]
fn tcp_time_wait_after_active_close_then_gone() {
    let cfg = EndpointConfig {
        time_wait: Duration::from_secs(2),
        ..plain()
    };
    let mut r = ClientRig::new(cfg, &["10.0.0.1"], None);
    r.d.ep.shutdown(r.conn).unwrap();
    let out = r.d.drain();
    let fin = out.iter().find(|s| s.has(FIN)).expect("FIN");
    r.f.absorb(&out);
    let fin_seq = fin.seq;
    // ACK + FIN from the server.
    let p = r.f.seg(ACK | FIN, vec![], &[]);
    r.f.snd_nxt += 1;
    let out = r.d.input(&p);
    assert!(
        out.iter().any(|s| s.has(ACK) && s.ack == r.f.snd_nxt),
        "last ACK"
    );
    assert_eq!(r.d.ep.connection_count(), 1, "in TIME_WAIT");
    // A retransmitted FIN is ACKed again.
    let mut again = r.f;
    again.snd_nxt -= 1;
    r.d.now += ms(1000);
    let out = r.d.input(&again.seg(ACK | FIN, vec![], &[]));
    assert!(out
        .iter()
        .any(|s| s.has(ACK) && s.ack == r.f.snd_nxt && s.seq == fin_seq + 1));
    let _ = r.d.advance(ms(900));
    assert_eq!(r.d.ep.connection_count(), 1, "TIME_WAIT lasts `time_wait`");
    let _ = r.d.advance(ms(2_500));
    assert_eq!(r.d.ep.connection_count(), 0, "gone after TIME_WAIT");
}

#[test]
fn tcp_delayed_ack_for_a_single_segment() {
    let (mut d, mut f, _c) = tcp_server(plain(), false);
    let out = d.input(&f.data(vec![], &[1u8; 100]));
    assert!(
        out.is_empty(),
        "a single segment is not ACKed at once: {out:?}"
    );
    let delay = d.ep.config().delayed_ack;
    let out = d.advance(delay - ms(1));
    assert!(out.is_empty());
    let out = d.advance(ms(1));
    assert_eq!(out.len(), 1, "delayed ACK after `delayed_ack`");
    assert_eq!(out[0].ack, f.snd_nxt);
    // Two full segments: ACKed at once.
    let _ = d.input(&f.data(vec![], &[2u8; 1460]));
    let out = d.input(&f.data(vec![], &[3u8; 1460]));
    assert!(
        out.iter().any(|s| s.ack == f.snd_nxt),
        "every second segment ACKed at once"
    );
}

fn nagle_coalesces(cfg: EndpointConfig, synack: Option<TcpOption>) {
    let mut r = ClientRig::new(cfg, &["10.0.0.1"], synack);
    if r.client_key.is_some() {
        let dack = r.client_idsn() + 1;
        let _ =
            r.d.input(&r.f.seg(ACK, vec![dss(Some(dack), None, false)], &[]));
    }
    r.d.ep.send(r.conn, &[1u8; 10]).unwrap();
    let out = r.d.drain();
    assert_eq!(
        out.iter().filter(|s| !s.payload.is_empty()).count(),
        1,
        "first write goes out"
    );
    r.f.absorb(&out);
    for _ in 0..5 {
        r.d.ep.send(r.conn, &[2u8; 10]).unwrap();
        let out = r.d.drain();
        assert!(
            out.iter().all(|s| s.payload.is_empty()),
            "small write sent with data in flight: {out:?}"
        );
    }
    let opts = match r.client_key {
        Some(_) => vec![dss(Some(r.client_idsn() + 11), None, false)],
        None => vec![],
    };
    let out = r.d.input(&r.f.seg(ACK, opts, &[]));
    let sizes: Vec<usize> = out
        .iter()
        .map(|s| s.payload.len())
        .filter(|n| *n > 0)
        .collect();
    assert_eq!(
        sizes,
        vec![50],
        "the small writes coalesce into one segment"
    );
}

#[test]
fn tcp_nagle_coalesces_small_writes_mptcp() {
    nagle_coalesces(EndpointConfig::default(), ClientRig::synack_mpc(1));
}

#[test]
fn tcp_nagle_coalesces_small_writes_plain_tcp() {
    nagle_coalesces(plain(), None);
}

fn secs(s: u64) -> Instant {
    Instant::ZERO + Duration::from_secs(s)
}

#[test]
fn tcp_zero_window_sender_stops_probes_and_resumes() {
    let server_cfg = EndpointConfig {
        recv_buffer: 64 * 1024,
        ..EndpointConfig::default()
    };
    let mut pair = Pair::new(
        EndpointConfig::default(),
        server_cfg,
        vec![(Link::new(5, 100), Link::new(5, 100))],
        31,
    );
    pair.capture_limit = 200_000;
    let data = crate::util::pattern(1_000_000, 5);
    let c = pair.connect();
    let mut sent = 0;
    let mut server = None;
    let mut got = Vec::new();
    let mut buf = vec![0u8; 65536];
    let mut reading = false;
    let mut stall_marker = 0;
    pair.drive_until(secs(60), |p| {
        while sent < data.len() {
            match p.client.send(c, &data[sent..]) {
                Ok(n) if n > 0 => sent += n,
                _ => break,
            }
        }
        if server.is_none() {
            server = p.server_events.iter().find_map(|e| match e {
                Event::Incoming { conn, .. } => Some(*conn),
                _ => None,
            });
        }
        if !reading && p.now >= secs(10) {
            reading = true;
            stall_marker = p.captured.len();
        }
        if let (Some(s), true) = (server, reading) {
            while let Ok(n) = p.server.recv(s, &mut buf) {
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
        }
        got.len() == data.len()
    });
    assert!(
        got == data,
        "transfer did not resume after the window opened ({} bytes)",
        got.len()
    );
    // Between 3 s and 10 s nothing but window probes went from the client.
    let segs: Vec<(bool, Seg)> = pair
        .captured
        .iter()
        .take(stall_marker)
        .map(|(up, p)| (*up, Seg::parse(p)))
        .collect();
    let delivered_before: usize = segs
        .iter()
        .filter(|(up, _)| *up)
        .map(|(_, s)| s.payload.len())
        .sum();
    assert!(
        delivered_before <= 64 * 1024 + 2 * 1460,
        "sent {delivered_before} into a 64 KiB window"
    );
    // The last upstream packets of the stall are window probes, and they are answered
    // with the (still closed) window.
    let ups: Vec<&Seg> = segs.iter().filter(|(up, _)| *up).map(|(_, s)| s).collect();
    let tail = &ups[ups.len().saturating_sub(4)..];
    assert_eq!(tail.len(), 4, "the sender went silent: no window probes");
    assert!(
        tail.iter().all(|s| s.payload.len() <= 1),
        "more than probes sent into a zero window"
    );
    let answers = segs
        .iter()
        .rev()
        .take(8)
        .filter(|(up, s)| !*up && s.window == 0)
        .count();
    assert!(answers >= 2, "window probes not answered");
}

#[test]
fn tcp_keepalive_probes_idle_connection_and_closes_a_dead_one() {
    let cfg = EndpointConfig {
        keepalive: Some(Duration::from_secs(10)),
        ..EndpointConfig::default()
    };
    let mut pair = Pair::new(
        cfg,
        EndpointConfig::default(),
        vec![(Link::new(5, 100), Link::new(5, 100))],
        41,
    );
    pair.capture_limit = 10_000;
    let c = pair.connect();
    pair.drive_until(secs(2), |p| {
        p.client_events
            .iter()
            .any(|e| matches!(e, Event::Connected(_)))
    });
    let _ = pair.client.send(c, b"x");
    pair.drive_until(secs(3), |_| false);
    let mark = pair.captured.len();
    pair.drive_until(secs(200), |_| false);
    let probes = pair
        .captured
        .iter()
        .skip(mark)
        .filter(|(up, _)| *up)
        .count();
    assert!(
        probes >= 2,
        "no keepalive probes on an idle connection ({probes})"
    );
    let answers = pair
        .captured
        .iter()
        .skip(mark)
        .filter(|(up, _)| !*up)
        .count();
    assert!(
        answers >= probes,
        "the peer did not answer the probes ({answers} < {probes})"
    );
    assert!(
        !pair
            .client_events
            .iter()
            .any(|e| matches!(e, Event::Closed { .. })),
        "a live idle connection was closed: {:?}",
        pair.client_events
    );
    // The peer disappears: the connection dies after the probes go unanswered.
    for p in pair.paths.iter_mut() {
        p.up.up = false;
        p.down.up = false;
    }
    pair.drive_until(secs(2_000), |p| {
        p.client_events
            .iter()
            .any(|e| matches!(e, Event::Closed { .. }))
    });
    assert!(
        pair.client_events.contains(&Event::Closed {
            conn: c,
            reason: CloseReason::Timeout
        }),
        "{:?}",
        pair.client_events
    );
}

#[test]
fn tcp_half_close_peer_keeps_sending() {
    let mut pair = Pair::new(
        EndpointConfig::default(),
        EndpointConfig::default(),
        vec![(Link::new(5, 100), Link::new(5, 100))],
        51,
    );
    let c = pair.connect();
    let data = crate::util::pattern(2_000_000, 6);
    let mut server = None;
    let mut sent = 0;
    let mut got = Vec::new();
    let mut buf = vec![0u8; 65536];
    let mut client_eof = false;
    let mut server_eof = false;
    let mut shut = false;
    let ok = pair.drive_until(secs(60), |p| {
        if !shut && p.client.send(c, b"request").is_ok() {
            p.client.shutdown(c).unwrap();
            shut = true;
        }
        if server.is_none() {
            server = p.server_events.iter().find_map(|e| match e {
                Event::Incoming { conn, .. } => Some(*conn),
                _ => None,
            });
        }
        let Some(s) = server else { return false };
        while !server_eof {
            match p.server.recv(s, &mut buf) {
                Ok(0) => server_eof = true,
                Ok(_) => {}
                Err(_) => break,
            }
        }
        // The server keeps sending after the client's DATA_FIN.
        if server_eof {
            while sent < data.len() {
                match p.server.send(s, &data[sent..]) {
                    Ok(n) if n > 0 => sent += n,
                    _ => break,
                }
            }
            if sent == data.len() {
                let _ = p.server.shutdown(s);
            }
        }
        loop {
            match p.client.recv(c, &mut buf) {
                Ok(0) => {
                    client_eof = true;
                    break;
                }
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(_) => break,
            }
        }
        client_eof
            && p.client_events
                .iter()
                .any(|e| matches!(e, Event::Closed { .. }))
            && p.server_events
                .iter()
                .any(|e| matches!(e, Event::Closed { .. }))
    });
    assert!(server_eof, "server never saw the client's DATA_FIN");
    assert!(
        got == data,
        "client received {} of {} bytes after its shutdown",
        got.len(),
        data.len()
    );
    assert!(ok, "both sides should close");
    assert!(pair.client_events.contains(&Event::Closed {
        conn: c,
        reason: CloseReason::Normal
    }));
}
