//! The schedulers inside the engine, over in-memory paths: trusted-only data, active
//! backup's expiration timer, the redundant scheduler's accounting, opportunistic
//! retransmission with the default.

mod util;

use mptcp_proto::scheduler::SchedulerKind;
use mptcp_proto::wire::{IpRepr, TcpRepr};
use mptcp_proto::{
    CloseReason, ConnectionHandle, Duration, EndpointConfig, Event, Instant, SendFlags,
};
use std::net::IpAddr;
use util::{pattern, transfer, transfer_with, Link, Pair};

fn secs(s: u64) -> Instant {
    Instant::ZERO + Duration::from_secs(s)
}

fn ms(m: u64) -> Instant {
    Instant::ZERO + Duration::from_millis(m)
}

fn with_scheduler(name: &str) -> EndpointConfig {
    EndpointConfig {
        scheduler: SchedulerKind::from_name(name).unwrap(),
        ..EndpointConfig::default()
    }
}

const ALL: &[&str] = &[
    "min-rtt",
    "round-robin",
    "redundant",
    "blest",
    "ecf",
    "active-backup:0",
    "active-backup:20ms",
];

/// Client writes `parts` in order (each with its flags), shuts down, the server reads
/// everything. Returns what the server read, whether it finished, the client connection.
fn transfer_parts(
    pair: &mut Pair,
    parts: &[(Vec<u8>, SendFlags)],
    limit: Instant,
    mut hook: impl FnMut(&mut Pair, ConnectionHandle),
) -> (Vec<u8>, bool, ConnectionHandle) {
    let c = pair.connect();
    let (mut part, mut off) = (0usize, 0usize);
    let mut shut = false;
    let mut server_conn = None;
    let mut got = Vec::new();
    let mut done = false;
    let mut buf = vec![0u8; 65536];
    pair.drive_until(limit, |p| {
        hook(p, c);
        while part < parts.len() {
            let (data, flags) = &parts[part];
            match p.client.send_with(c, &data[off..], *flags) {
                Ok(n) if n > 0 => {
                    off += n;
                    if off == data.len() {
                        part += 1;
                        off = 0;
                    }
                }
                _ => break,
            }
        }
        if part == parts.len() && !shut && p.client.shutdown(c).is_ok() {
            shut = true;
        }
        for e in p.server_events.drain(..) {
            if let Event::Incoming { conn, .. } = e {
                server_conn = Some(conn);
            }
        }
        if let Some(s) = server_conn {
            loop {
                match p.server.recv(s, &mut buf) {
                    Ok(0) => {
                        if !done {
                            done = true;
                            let _ = p.server.shutdown(s);
                        }
                        break;
                    }
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                    Err(_) => break,
                }
            }
        }
        done && p
            .client_events
            .iter()
            .any(|e| matches!(e, Event::Closed { .. }))
    });
    (got, done, c)
}

/// Regular bytes are below 0x80, sensitive ones at or above: a sensitive byte in a TCP
/// payload is recognised without parsing any mapping.
fn regular(len: usize, seed: u8) -> Vec<u8> {
    pattern(len, seed).into_iter().map(|b| b & 0x7f).collect()
}

fn sensitive(len: usize, seed: u8) -> Vec<u8> {
    pattern(len, seed).into_iter().map(|b| b | 0x80).collect()
}

/// Payload bytes >= 0x80 that the client sent from `addr`, and all payload bytes.
fn sensitive_bytes_from(pair: &Pair, addr: IpAddr) -> (usize, usize) {
    let mut marked = 0;
    let mut total = 0;
    for (to_server, pkt) in &pair.captured {
        if !to_server {
            continue;
        }
        let (ip, payload) = IpRepr::parse(pkt).expect("engine emits valid IP");
        if ip.src != addr {
            continue;
        }
        let seg = TcpRepr::parse(payload, None).expect("engine emits valid TCP");
        total += seg.payload.len();
        marked += seg.payload.iter().filter(|&&b| b >= 0x80).count();
    }
    (marked, total)
}

/// Path 0 (slower, lossy, carries the initial subflow as seed 002 §2.3 assumes) is
/// trusted, path 1 (fast) is not. Sensitive bytes must only ever leave on path 0: first
/// data, retransmissions, reinjections, opportunistic retransmissions and redundant copies
/// alike.
///
/// The server's small receive buffer makes the window block on data held by the slow
/// path when a scheduler puts data there regardless (round-robin), so the connection
/// retransmits opportunistically.
fn trusted_run(name: &str, flags: SendFlags, seed: u64) -> (Pair, Vec<u8>, Vec<u8>, bool, u64) {
    let cfg = EndpointConfig {
        trusted_addrs: vec![TRUSTED.parse().unwrap()],
        ..with_scheduler(name)
    };
    let mut slow_up = Link::new(20, 20);
    slow_up.loss = 0.01;
    let server = EndpointConfig {
        recv_buffer: 96 * 1024,
        ..EndpointConfig::default()
    };
    let mut pair = Pair::new(
        cfg,
        server,
        vec![
            (slow_up, Link::new(20, 20)),
            (Link::new(5, 100), Link::new(5, 100)),
        ],
        seed,
    );
    pair.capture_limit = usize::MAX;
    let parts = vec![
        (sensitive(30_000, 1), flags),
        (regular(800_000, 2), SendFlags::default()),
        (sensitive(200_000, 3), flags),
        (regular(600_000, 4), SendFlags::default()),
        (sensitive(5_000, 5), flags),
        (regular(300_000, 6), SendFlags::default()),
    ];
    let data: Vec<u8> = parts.iter().flat_map(|(d, _)| d.clone()).collect();
    let mut orp = 0;
    let (got, done, _) = transfer_parts(&mut pair, &parts, secs(120), |p, c| {
        if let Some(st) = p.client.stats(c) {
            orp = st.opportunistic_retransmissions;
        }
    });
    (pair, data, got, done, orp)
}

const TRUSTED: &str = "10.0.0.1";
const UNTRUSTED: &str = "10.1.0.1";

#[test]
fn trusted_only_data_never_leaves_on_an_untrusted_path() {
    let untrusted: IpAddr = UNTRUSTED.parse().unwrap();
    let trusted: IpAddr = TRUSTED.parse().unwrap();
    let sensitive_len = 235_000;
    for (k, name) in ALL.iter().enumerate() {
        let (pair, data, got, done, orp) =
            trusted_run(name, SendFlags { trusted_only: true }, 40 + k as u64);
        // Round-robin puts data on the slow path whatever the window (min-rtt's guard
        // keeps it off here): its run is the one that must exercise the retransmissions.
        if *name == "round-robin" {
            assert!(orp > 0, "no opportunistic retransmission to check");
        }
        assert!(done, "{name}: transfer did not finish");
        assert!(got == data, "{name}: payload corrupted");
        let (bad, total) = sensitive_bytes_from(&pair, untrusted);
        assert_eq!(bad, 0, "{name}: sensitive bytes on the untrusted path");
        assert!(
            total > 200_000,
            "{name}: the untrusted path carried only {total} bytes"
        );
        let (good, _) = sensitive_bytes_from(&pair, trusted);
        assert!(
            good >= sensitive_len,
            "{name}: {good} sensitive bytes on the trusted path"
        );
    }
}

/// The same transfer without the flag puts sensitive bytes on the fast untrusted path:
/// the check above is not vacuous.
#[test]
fn unflagged_data_uses_the_untrusted_path() {
    for (k, name) in ["min-rtt", "redundant"].iter().enumerate() {
        let (pair, data, got, done, _) = trusted_run(name, SendFlags::default(), 40 + k as u64);
        assert!(done && got == data, "{name}");
        let (bad, _) = sensitive_bytes_from(&pair, UNTRUSTED.parse().unwrap());
        assert!(
            bad > 10_000,
            "{name}: only {bad} sensitive bytes off the trusted path"
        );
    }
}

/// While the trusted path is down, sensitive data waits (the connection neither sends it
/// elsewhere nor gives up), and goes once the path is back.
#[test]
fn trusted_only_data_waits_for_a_trusted_path() {
    // Here the initial subflow (path 0) is untrusted: the first bytes are not sensitive,
    // so the connection becomes fully established and the trusted path 1 is joined.
    let untrusted: IpAddr = "10.0.0.1".parse().unwrap();
    let cfg = EndpointConfig {
        trusted_addrs: vec!["10.1.0.1".parse().unwrap()],
        ..EndpointConfig::default()
    };
    let mut pair = Pair::new(
        cfg,
        EndpointConfig::default(),
        vec![
            (Link::new(5, 100), Link::new(5, 100)),
            (Link::new(10, 50), Link::new(10, 50)),
        ],
        9,
    );
    pair.capture_limit = usize::MAX;
    let flags = SendFlags { trusted_only: true };
    let parts = vec![
        (regular(3_000_000, 1), SendFlags::default()),
        (sensitive(400_000, 2), flags),
        (regular(500_000, 3), SendFlags::default()),
    ];
    let data: Vec<u8> = parts.iter().flat_map(|(d, _)| d.clone()).collect();
    let (mut down_at, mut up_at) = (None, None);
    let (got, done, _) = transfer_parts(&mut pair, &parts, secs(60), |p, _| {
        // Cut the trusted path once the join is up and data flows, restore it 3 s later.
        if down_at.is_none() && p.now >= ms(150) {
            down_at = Some(p.now);
            p.paths[1].up.up = false;
            p.paths[1].down.up = false;
        }
        if up_at.is_none() && p.now >= ms(3300) {
            up_at = Some(p.now);
            p.paths[1].up.up = true;
            p.paths[1].down.up = true;
        }
    });
    assert!(done && got == data, "transfer failed");
    let up_at = up_at.expect("path restored");
    assert!(
        pair.now > up_at,
        "finished at {:?}, before the trusted path came back",
        pair.now
    );
    let (bad, total) = sensitive_bytes_from(&pair, untrusted);
    assert_eq!(bad, 0, "sensitive bytes on the untrusted path");
    assert!(total >= 500_000, "path 0 carried {total} bytes");
}

/// Active backup: a regular path with a 1 s one-way delay (its ACKs come back after 2 s)
/// and a fast backup path. Data written at once and stuck behind the regular window must
/// go to the backup when it expires (the scheduler's timer), not before, and not only
/// when the next ACK comes.
#[test]
fn active_backup_uses_the_backup_when_data_expires() {
    let backup_addr: IpAddr = "10.0.0.1".parse().unwrap();
    for delay_ms in [300u64, 700] {
        let cfg = EndpointConfig {
            backup_addrs: vec![backup_addr],
            ..with_scheduler(&format!("active-backup:{delay_ms}ms"))
        };
        let mut pair = Pair::new(
            cfg,
            EndpointConfig::default(),
            vec![
                (Link::new(5, 100), Link::new(5, 100)),
                (Link::new(1000, 100), Link::new(1000, 100)),
            ],
            11,
        );
        let c = pair.connect();
        // One byte first: the DATA_ACK makes the connection fully established so the
        // regular path is joined (the byte goes on the backup, the only subflow yet).
        pair.drive_until(secs(1), |_| false);
        assert_eq!(pair.client.send(c, b"x"), Ok(1));
        // Both subflows established and the backup mark known: well after 2 RTTs of path 1
        // (the pair stops early once nothing is left to do).
        pair.drive_until(secs(10), |_| false);
        let write_at = pair.now;
        assert!(write_at >= secs(4), "stopped at {write_at:?}");
        let st = pair.client.stats(c).unwrap();
        assert_eq!(st.subflows.len(), 2);
        assert!(st.subflows.iter().all(|s| s.established));
        assert!(st.subflows[0].backup && !st.subflows[1].backup);
        assert_eq!(st.subflows[0].bytes_sent, 1);
        assert_eq!(st.subflows[1].bytes_sent, 0);
        let data = pattern(400_000, 3);
        let mut sent = 0;
        while sent < data.len() {
            sent += pair.client.send(c, &data[sent..]).unwrap();
        }
        pair.flush();
        let st = pair.client.stats(c).unwrap();
        assert!(
            st.subflows[1].bytes_sent > 0,
            "fresh data goes to the regular subflow"
        );
        assert_eq!(
            st.subflows[0].bytes_sent, 1,
            "fresh data went to the backup"
        );
        let mut first_backup = None;
        pair.drive_until(write_at + Duration::from_secs(3), |p| {
            let st = p.client.stats(c).unwrap();
            if first_backup.is_none() && st.subflows[0].bytes_sent > 1 {
                first_backup = Some(p.now);
            }
            false
        });
        let delay = Duration::from_millis(delay_ms);
        let b = first_backup.expect("the backup never carried data");
        assert!(
            b >= write_at + delay,
            "backup used at {b:?}, before the data expired"
        );
        assert!(
            b <= write_at + delay + Duration::from_millis(5),
            "backup used at {b:?}: not when the data expired"
        );
    }
}

/// The redundant scheduler over two equal paths: both carry (nearly) everything, the
/// receiver drops the copies, the DATA_ACK frees each byte once, the copies are counted as
/// redundant (not as reinjections), and no buffer is left held.
#[test]
fn redundant_copies_are_accounted_once() {
    let mut pair = Pair::new(
        with_scheduler("redundant"),
        EndpointConfig::default(),
        vec![
            (Link::new(10, 50), Link::new(10, 50)),
            (Link::new(10, 50), Link::new(10, 50)),
        ],
        12,
    );
    let data = pattern(3_000_000, 4);
    let mut server_conn = None;
    let mut server_stats = None;
    let (got, done, c) = transfer_with(&mut pair, &data, secs(60), |p, _| {
        for e in p.server_events.iter() {
            if let Event::Incoming { conn, .. } = e {
                server_conn = Some(*conn);
            }
        }
        if let Some(s) = server_conn.and_then(|s| p.server.stats(s)) {
            server_stats = Some(s);
        }
    });
    assert!(done.is_some() && got == data);
    let st = pair.client.stats(c).unwrap();
    let n = data.len() as u64;
    assert_eq!(st.bytes_written, n);
    assert_eq!(st.bytes_acked, n, "DATA_ACK covers each byte once");
    assert_eq!(st.reinjected_bytes, 0, "copies are not reinjections");
    assert_eq!(st.opportunistic_retransmissions, 0);
    let sent: Vec<u64> = st.subflows.iter().map(|s| s.bytes_sent).collect();
    assert!(
        sent.iter().all(|&b| b > n / 2),
        "each path should carry most of the data: {sent:?}"
    );
    let total: u64 = sent.iter().sum();
    assert!(
        st.redundant_bytes + n <= total && total <= st.redundant_bytes + n + n / 50,
        "copies {} + data {n} vs sent {total} (retransmissions are rare on clean paths)",
        st.redundant_bytes
    );
    let srv = server_stats.expect("server connection seen");
    // Copies still in flight when the server's counters were last read are not counted.
    assert!(
        srv.duplicate_bytes >= st.redundant_bytes * 9 / 10 && srv.duplicate_bytes <= total - n,
        "server dropped {} duplicate bytes of {} copies",
        srv.duplicate_bytes,
        st.redundant_bytes
    );
    assert_eq!(srv.bytes_read, n);
    // Once the subflows finished too, nothing is held (the slow subflow's copies included).
    pair.drive_until(pair.now + Duration::from_secs(5), |_| false);
    assert_eq!(pair.client.buffered_bytes(), 0, "buffers released");
}

/// Redundant over very different paths with a small send buffer: the slow subflow's
/// window (about 450 KB) grows beyond the send buffer (256 KiB) and it keeps copies of data
/// DATA_ACKed through the fast one; they count against the application's room, so no
/// subflow is reset for "too much outstanding data", and the transfer completes.
#[test]
fn redundant_copies_never_reset_a_subflow() {
    let cfg = EndpointConfig {
        send_buffer: 256 * 1024,
        ..with_scheduler("redundant")
    };
    let mut pair = Pair::new(
        cfg,
        EndpointConfig::default(),
        vec![
            (Link::new(5, 100), Link::new(5, 100)),
            (Link::new(100, 20), Link::new(100, 20)),
        ],
        13,
    );
    let data = pattern(16_000_000, 5);
    let mut peak = 0usize;
    let (got, done, c) = transfer_with(&mut pair, &data, secs(60), |p, _| {
        peak = peak.max(p.client.buffered_bytes());
    });
    assert!(done.is_some() && got == data);
    let abnormal: Vec<&Event> = pair
        .client_events
        .iter()
        .filter(
            |e| matches!(e, Event::SubflowDown { reason, .. } if *reason != CloseReason::Normal),
        )
        .collect();
    assert!(abnormal.is_empty(), "subflows reset: {abnormal:?}");
    let st = pair.client.stats(c).unwrap();
    assert!(
        st.subflows[1].cwnd > 256 * 1024,
        "the slow window stayed below the send buffer: {:?}",
        st.subflows[1]
    );
    assert!(
        st.redundant_bytes > 100_000,
        "slow path made {} copies",
        st.redundant_bytes
    );
    // Data plus copies: the engine's bound is one send buffer of each (the same byte may
    // be kept by two subflows for a moment, so one buffer alone is not a bound).
    assert!(
        peak <= 2 * 256 * 1024,
        "{peak} bytes held for a 256 KiB send buffer"
    );
}

/// The default scheduler still retransmits opportunistically (and penalises) when the
/// peer's window blocks on data held by a slower subflow; redundant does not need to.
/// The fast path's small queue keeps its window small so that the receive window leaves
/// room for the slow path too (min-rtt's guard: 384 KiB against the ~300 kB the fast path
/// sends in one slow RTT), and losses there hold its data longer than the guard foresees.
#[test]
fn default_keeps_opportunistic_retransmission() {
    let server = EndpointConfig {
        recv_buffer: 384 * 1024,
        ..EndpointConfig::default()
    };
    for (name, want) in [("min-rtt", true), ("redundant", false)] {
        let mut fast = Link::new(5, 20);
        fast.queue_limit = 30_000;
        let mut slow = Link::new(60, 10);
        slow.loss = 0.02;
        let mut pair = Pair::new(
            with_scheduler(name),
            server.clone(),
            vec![(fast, Link::new(5, 20)), (slow, Link::new(60, 10))],
            14,
        );
        let data = pattern(3_000_000, 6);
        let (got, done, c) = transfer(&mut pair, &data, secs(60));
        assert!(done.is_some() && got == data, "{name}");
        let st = pair.client.stats(c).unwrap();
        assert!(
            st.subflows[1].bytes_sent > 100_000,
            "{name}: slow path unused: {st:?}"
        );
        assert_eq!(st.opportunistic_retransmissions > 0, want, "{name}: {st:?}");
        if want {
            assert!(st.reinjected_bytes > 0);
        }
    }
}

/// Every scheduler moves a transfer intact over two different paths, with loss.
#[test]
fn every_scheduler_transfers_intact() {
    for (k, name) in ALL.iter().enumerate() {
        let mut lossy = Link::new(30, 20);
        lossy.loss = 0.01;
        let mut pair = Pair::new(
            with_scheduler(name),
            EndpointConfig::default(),
            vec![
                (Link::new(5, 50), Link::new(5, 50)),
                (lossy, Link::new(30, 20)),
            ],
            20 + k as u64,
        );
        let data = pattern(2_000_000, k as u8);
        let (got, done, _) = transfer(&mut pair, &data, secs(60));
        assert!(done.is_some(), "{name}: not finished");
        assert!(got == data, "{name}: corrupted");
    }
}

/// An application that writes a little at a time over a fast and a slow path: the
/// default sends it all on the fast path, round robin spreads it over both.
#[test]
fn round_robin_spreads_scarce_data() {
    let mut shares = Vec::new();
    for name in ["min-rtt", "round-robin"] {
        // Nobody reads at the server: a fixed buffer keeps the window open (autotuning
        // would rightly keep it at its small start).
        let server = EndpointConfig {
            recv_buffer_autotune: false,
            ..EndpointConfig::default()
        };
        let mut pair = Pair::new(
            with_scheduler(name),
            server,
            vec![
                (Link::new(5, 50), Link::new(5, 50)),
                (Link::new(25, 50), Link::new(25, 50)),
            ],
            15,
        );
        let c = pair.connect();
        pair.drive_until(secs(1), |_| false);
        assert_eq!(pair.client.send(c, b"x"), Ok(1));
        pair.drive_until(secs(2), |_| false);
        let data = pattern(4 * 1400, 9);
        // One write of four segments on idle paths: round robin takes turns per segment.
        let before: Vec<u64> = pair
            .client
            .stats(c)
            .unwrap()
            .subflows
            .iter()
            .map(|s| s.bytes_sent)
            .collect();
        assert_eq!(pair.client.send(c, &data), Ok(data.len()));
        pair.flush();
        let after: Vec<u64> = pair
            .client
            .stats(c)
            .unwrap()
            .subflows
            .iter()
            .map(|s| s.bytes_sent)
            .collect();
        let grew = before.iter().zip(&after).filter(|(b, a)| a > b).count();
        assert_eq!(
            grew,
            if name == "round-robin" { 2 } else { 1 },
            "{name}: {before:?} -> {after:?}"
        );
        for i in 1..100u64 {
            assert_eq!(pair.client.send(c, &data), Ok(data.len()));
            pair.drive_until(secs(2) + Duration::from_millis(50 * (i + 1)), |_| false);
        }
        pair.drive_until(secs(10), |_| false);
        let st = pair.client.stats(c).unwrap();
        assert_eq!(st.bytes_acked, 1 + 100 * data.len() as u64, "{name}");
        let sent: Vec<u64> = st.subflows.iter().map(|s| s.bytes_sent).collect();
        shares.push(sent[1] as f64 / (sent[0] + sent[1]) as f64);
    }
    assert!(
        shares[0] < 0.05,
        "min-rtt put {:.2} on the slow path",
        shares[0]
    );
    assert!(
        (0.35..0.65).contains(&shares[1]),
        "round robin put {:.2} on the slow path",
        shares[1]
    );
}
