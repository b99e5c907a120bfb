//! The path managers end to end: two engines over in-memory paths, checking on the wire
//! (captured packets) and in the counters which subflows each manager opens, that flag C,
//! backup flags and limits are honoured, that announcements survive loss, and that lost
//! subflows come back.

mod util;

use mptcp_proto::path_manager::{PathManagerKind, PmEndpoint, PmLimits};
use mptcp_proto::wire::{IpRepr, MpCapable, MpJoin, MptcpOption, TcpOption, TcpRepr};
use mptcp_proto::{CloseReason, Duration, EndpointConfig, Event, Instant};
use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use util::{pattern, transfer, transfer_with, Link, Pair};

fn at(ms: u64) -> Instant {
    Instant::ZERO + Duration::from_millis(ms)
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// The parts of a captured packet these tests look at.
struct Seg {
    src: SocketAddr,
    dst: SocketAddr,
    syn: bool,
    ack: bool,
    rst: bool,
    mptcp: Vec<MptcpOption>,
}

fn parse(pkt: &[u8]) -> Option<Seg> {
    let (ip, payload) = IpRepr::parse(pkt).ok()?;
    let tcp = TcpRepr::parse(payload, None).ok()?;
    Some(Seg {
        src: SocketAddr::new(ip.src, tcp.src_port),
        dst: SocketAddr::new(ip.dst, tcp.dst_port),
        syn: tcp.flags.syn(),
        ack: tcp.flags.ack(),
        rst: tcp.flags.rst(),
        mptcp: tcp
            .options
            .iter()
            .filter_map(|o| match o {
                TcpOption::Mptcp(m) => Some(m.clone()),
                _ => None,
            })
            .collect(),
    })
}

fn captured(pair: &Pair) -> Vec<(bool, Seg)> {
    pair.captured
        .iter()
        .filter_map(|(to_server, p)| parse(p).map(|s| (*to_server, s)))
        .collect()
}

/// (client address, server address) of every subflow the client ever had.
fn client_pairs(pair: &Pair, c: mptcp_proto::ConnectionHandle) -> Vec<(IpAddr, IpAddr)> {
    let st = pair.client.stats(c).expect("connection");
    st.subflows
        .iter()
        .map(|s| (s.local.ip(), s.remote.ip()))
        .collect()
}

fn two_paths() -> Vec<(Link, Link)> {
    vec![
        (Link::new(5, 100), Link::new(5, 100)),
        (Link::new(5, 100), Link::new(5, 100)),
    ]
}

/// A server announcing 10.9.1.1 to a client with two addresses.
fn announcing_pair(client_pm: PathManagerKind, seed: u64) -> Pair {
    let client = EndpointConfig {
        path_manager: client_pm,
        ..EndpointConfig::default()
    };
    let server = EndpointConfig {
        announce_addrs: vec![ip("10.9.1.1")],
        ..EndpointConfig::default()
    };
    Pair::new(client, server, two_paths(), seed)
}

#[test]
fn default_is_linux_like_and_fullmesh_is_a_full_mesh() {
    let data = pattern(3_000_000, 1);
    let mut got_pairs = Vec::new();
    for kind in [PathManagerKind::Default, PathManagerKind::FullMesh] {
        let mut pair = announcing_pair(kind, 31);
        // Keep the connection open after the transfer so every subflow is still listed.
        let (got, done, c) = transfer(&mut pair, &data, at(20_000));
        assert!(done.is_some() && got == data, "{kind}: transfer");
        let mut pairs = client_pairs(&pair, c);
        pairs.sort();
        got_pairs.push(pairs);
    }
    let s0 = ip("10.9.0.1");
    let s1 = ip("10.9.1.1");
    let (c0, c1) = (ip("10.0.0.1"), ip("10.1.0.1"));
    // Linux-like: each client address to the initial server address, the announced
    // address from the initial client address only.
    assert_eq!(got_pairs[0], vec![(c0, s0), (c0, s1), (c1, s0)]);
    // Full mesh: every pair.
    assert_eq!(got_pairs[1], vec![(c0, s0), (c0, s1), (c1, s0), (c1, s1)]);
}

#[test]
fn ndiffports_opens_n_subflows_over_one_address_pair() {
    for n in [1u8, 3] {
        let client = EndpointConfig {
            path_manager: PathManagerKind::NDiffPorts(n),
            ..EndpointConfig::default()
        };
        let mut pair = Pair::new(
            client,
            EndpointConfig::default(),
            vec![(Link::new(5, 100), Link::new(5, 100))],
            32,
        );
        let data = pattern(4_000_000, 2);
        let (got, done, c) = transfer(&mut pair, &data, at(20_000));
        assert!(done.is_some() && got == data);
        let st = pair.client.stats(c).unwrap();
        assert_eq!(st.subflows.len(), usize::from(n), "n = {n}");
        let ports: BTreeSet<u16> = st.subflows.iter().map(|s| s.local.port()).collect();
        assert_eq!(ports.len(), usize::from(n), "distinct source ports");
        for s in &st.subflows {
            assert_eq!(s.local.ip(), ip("10.0.0.1"));
            assert_eq!(s.remote, pair.server_addr);
            assert!(s.bytes_sent > 100_000, "subflow {:?} idle", s.id);
        }
    }
}

/// Drops the server's first six ADD_ADDRs (not echoes): more than the default four sends.
#[allow(clippy::ptr_arg)] // the signature of `Link::filter`
fn drop_six_add_addrs(pkt: &mut Vec<u8>) -> bool {
    use std::sync::atomic::{AtomicU32, Ordering};
    static DROPPED: AtomicU32 = AtomicU32::new(0);
    let Some(seg) = parse(pkt) else {
        return true;
    };
    let announces = seg
        .mptcp
        .iter()
        .any(|o| matches!(o, MptcpOption::AddAddr(a) if !a.echo));
    !(announces && DROPPED.fetch_add(1, Ordering::Relaxed) < 6)
}

/// Same, with its own counter for the second server.
#[allow(clippy::ptr_arg)] // the signature of `Link::filter`
fn drop_six_add_addrs_too(pkt: &mut Vec<u8>) -> bool {
    use std::sync::atomic::{AtomicU32, Ordering};
    static DROPPED: AtomicU32 = AtomicU32::new(0);
    let Some(seg) = parse(pkt) else {
        return true;
    };
    let announces = seg
        .mptcp
        .iter()
        .any(|o| matches!(o, MptcpOption::AddAddr(a) if !a.echo));
    !(announces && DROPPED.fetch_add(1, Ordering::Relaxed) < 6)
}

/// A server behind a load balancer: flag C (from the path manager, or from the
/// configuration for the default manager) and a unique address 10.9.1.1; `filter` on the
/// server-to-client link of path 0.
fn lb_pair(server_pm: PathManagerKind, filter: fn(&mut Vec<u8>) -> bool) -> Pair {
    let server = EndpointConfig {
        path_manager: server_pm,
        deny_join_initial_addr: server_pm == PathManagerKind::Default,
        announce_addrs: vec![ip("10.9.1.1")],
        add_addr_timeout: Duration::from_millis(300),
        ..EndpointConfig::default()
    };
    // 10 Mbit/s: the transfer lasts seconds, long after the fourth announcement.
    let mut paths = vec![
        (Link::new(5, 10), Link::new(5, 10)),
        (Link::new(5, 10), Link::new(5, 10)),
    ];
    paths[0].1.filter = Some(filter);
    let mut pair = Pair::new(EndpointConfig::default(), server, paths, 33);
    pair.capture_limit = 200_000;
    pair
}

#[test]
fn lb_server_sets_flag_c_and_announces_until_the_client_joins() {
    let mut pair = lb_pair(
        PathManagerKind::LbServer { backup: true },
        drop_six_add_addrs,
    );
    let data = pattern(6_000_000, 3);
    // Bytes of the initial subflow when the direct one came up.
    let mut initial_at_join: Option<u64> = None;
    let (got, done, c) = transfer_with(&mut pair, &data, at(30_000), |p, c| {
        if initial_at_join.is_none() {
            if let Some(st) = p.client.stats(c) {
                if st.subflows.len() > 1 && st.subflows[1].established {
                    initial_at_join = Some(st.subflows[0].bytes_sent);
                }
            }
        }
    });
    assert!(done.is_some() && got == data);
    let segs = captured(&pair);
    let synack = segs
        .iter()
        .find_map(|(_, s)| match s.mptcp.first() {
            Some(MptcpOption::MpCapable(m)) if s.syn && s.ack => Some(*m),
            _ => None,
        })
        .expect("SYN/ACK with MP_CAPABLE");
    assert_ne!(synack.flags & MpCapable::FLAG_C, 0, "flag C");
    let vip = pair.server_addr;
    let joins: Vec<&Seg> = segs
        .iter()
        .map(|(_, s)| s)
        .filter(|s| s.syn && !s.ack && s.mptcp.iter().any(|o| matches!(o, MptcpOption::MpJoin(_))))
        .collect();
    assert!(
        joins.iter().all(|j| j.dst != vip),
        "a join to the load-balanced address"
    );
    assert!(
        joins.iter().any(|j| j.dst.ip() == ip("10.9.1.1")),
        "no join to the unique address"
    );
    let st = pair.client.stats(c).unwrap();
    assert_eq!(st.add_addr_rx, 1, "the seventh announcement got through");
    // The initial subflow (through the balancer) became backup once the direct one was up:
    // from then on the data avoided it.
    let initial = &st.subflows[0];
    let direct: u64 = st.subflows[1..].iter().map(|s| s.bytes_sent).sum();
    assert!(initial.backup, "initial subflow not marked backup");
    let later = initial.bytes_sent - initial_at_join.expect("direct subflow up");
    assert!(direct > 1_000_000, "direct subflow carried {direct} B");
    assert!(
        later * 20 < direct,
        "initial subflow carried {later} B after the join, direct {direct} B"
    );
}

#[test]
fn the_default_server_gives_up_announcing_after_its_retries() {
    // The same loss with a default server (flag C from its configuration): four sends, all
    // lost, so the client never learns the unique address and keeps one subflow.
    let mut pair = lb_pair(PathManagerKind::Default, drop_six_add_addrs_too);
    let data = pattern(6_000_000, 3);
    let (got, done, c) = transfer(&mut pair, &data, at(30_000));
    assert!(done.is_some() && got == data);
    assert!(done.unwrap() > at(3_000), "too short to tell");
    let st = pair.client.stats(c).unwrap();
    assert_eq!(st.add_addr_rx, 0);
    assert!(st.subflows.iter().all(|s| s.remote.ip() != ip("10.9.1.1")));
}

/// Drops the client's ADD_ADDR echoes: only the join can stop the retransmissions.
#[allow(clippy::ptr_arg)] // the signature of `Link::filter`
fn drop_echoes(pkt: &mut Vec<u8>) -> bool {
    let Some(seg) = parse(pkt) else {
        return true;
    };
    !seg.mptcp
        .iter()
        .any(|o| matches!(o, MptcpOption::AddAddr(a) if a.echo))
}

#[test]
fn a_join_to_the_announced_address_stops_its_retransmission() {
    let server = EndpointConfig {
        path_manager: PathManagerKind::LbServer { backup: false },
        announce_addrs: vec![ip("10.9.1.1")],
        add_addr_timeout: Duration::from_millis(200),
        ..EndpointConfig::default()
    };
    let mut paths = two_paths();
    paths[0].0.filter = Some(drop_echoes);
    paths[1].0.filter = Some(drop_echoes);
    let mut pair = Pair::new(EndpointConfig::default(), server, paths, 34);
    pair.capture_limit = 200_000;
    let data = pattern(20_000_000, 4);
    let (got, done, _) = transfer(&mut pair, &data, at(30_000));
    assert!(done.is_some() && got == data);
    let segs = captured(&pair);
    let join_at = segs
        .iter()
        .position(|(to_server, s)| *to_server && s.syn && !s.ack && s.dst.ip() == ip("10.9.1.1"))
        .expect("join to the unique address");
    let announces = |range: &[(bool, Seg)]| {
        range
            .iter()
            .filter(|(to_server, s)| {
                !*to_server
                    && s.mptcp
                        .iter()
                        .any(|o| matches!(o, MptcpOption::AddAddr(a) if !a.echo))
            })
            .count()
    };
    assert!(announces(&segs[..join_at]) >= 1);
    // Until the join's SYN reached the server one more may have left (200 ms period);
    // afterwards none, although no echo ever arrived (the transfer lasts seconds).
    let after = announces(&segs[join_at..]);
    assert!(after <= 1, "{after} announcements after the join");
}

#[test]
fn endpoints_pm_sets_backup_on_joins_and_limits_incoming_joins() {
    let client = EndpointConfig {
        path_manager: PathManagerKind::Endpoints,
        pm_endpoints: vec!["10.1.0.1 subflow backup".parse::<PmEndpoint>().unwrap()],
        ..EndpointConfig::default()
    };
    for server_limit in [1u32, 0] {
        let server = EndpointConfig {
            path_manager: PathManagerKind::Endpoints,
            pm_limits: PmLimits {
                subflows: server_limit,
                add_addr_accepted: 0,
            },
            ..EndpointConfig::default()
        };
        let mut pair = Pair::new(client.clone(), server, two_paths(), 35);
        pair.capture_limit = 100_000;
        let data = pattern(3_000_000, 5);
        let (got, done, c) = transfer(&mut pair, &data, at(20_000));
        assert!(done.is_some() && got == data);
        let segs = captured(&pair);
        let join = segs
            .iter()
            .find_map(|(_, s)| {
                s.mptcp.iter().find_map(|o| match o {
                    MptcpOption::MpJoin(MpJoin::Syn { backup, .. }) if s.syn && !s.ack => {
                        Some((s.src.ip(), *backup))
                    }
                    _ => None,
                })
            })
            .expect("a join SYN");
        assert_eq!(
            join,
            (ip("10.1.0.1"), true),
            "join from the backup endpoint"
        );
        let st = pair.client.stats(c).unwrap();
        if server_limit == 1 {
            assert_eq!(st.subflows.len(), 2);
            assert!(st.subflows[1].backup && st.subflows[1].established);
            // Backup: the regular subflow carried the data.
            assert!(st.subflows[0].bytes_sent > 10 * st.subflows[1].bytes_sent.max(1));
        } else {
            // The server's limit refused the join with a RST; with the kernel's behaviour
            // (a refusal) the client tried a bounded number of times.
            let rsts = segs
                .iter()
                .filter(|(to_server, s)| !*to_server && s.rst && s.dst.ip() == ip("10.1.0.1"))
                .count();
            assert!(rsts >= 1, "join not refused");
            assert!(rsts <= 4, "{rsts} refused joins: retries unbounded");
            assert!(st
                .subflows
                .iter()
                .all(|s| s.local.ip() == ip("10.0.0.1") || !s.established));
        }
    }
}

/// Two 10 Mbit/s paths, 10 ms each way.
fn outage_pair(rejoin: bool, seed: u64) -> Pair {
    outage_pair_with(rejoin, seed, EndpointConfig::default())
}

/// [`outage_pair`] from this client configuration.
fn outage_pair_with(rejoin: bool, seed: u64, base: EndpointConfig) -> Pair {
    let client = EndpointConfig {
        rejoin: if rejoin { base.rejoin } else { None },
        ..base
    };
    Pair::new(
        client,
        EndpointConfig::default(),
        vec![
            (Link::new(10, 10), Link::new(10, 10)),
            (Link::new(10, 10), Link::new(10, 10)),
        ],
        seed,
    )
}

/// Bytes the client sent so far from `addr` (all its subflows there).
fn sent_from(pair: &Pair, c: mptcp_proto::ConnectionHandle, addr: &str) -> u64 {
    pair.client
        .stats(c)
        .map(|st| {
            st.subflows
                .iter()
                .filter(|s| s.local.ip() == ip(addr))
                .map(|s| s.bytes_sent)
                .sum()
        })
        .unwrap_or(0)
}

/// SubflowUp events of the client from `addr` so far.
fn subflow_ups_from(pair: &Pair, addr: &str) -> usize {
    pair.client_events
        .iter()
        .filter(|e| matches!(e, Event::SubflowUp { local, .. } if local.ip() == ip(addr)))
        .count()
}

/// Path 1 fails silently from 1 s to 25 s (its subflow times out meanwhile: no driver
/// report; a short retry budget makes it give up within the outage) and comes back. With
/// rejoin, a new subflow is up on it within 1.2 s (a join SYN at least every second, plus
/// a round trip) and in the second after that both paths carry data (neither is left
/// idle); without, path 1 stays unused.
#[test]
fn a_subflow_lost_to_a_long_outage_is_rejoined_when_the_path_returns() {
    // Gives up after about 11 s: 0.2 + 0.4 + 0.8 + 1.6 + 4 x 2 s.
    let short_lived = EndpointConfig {
        max_rto: Duration::from_secs(2),
        max_retransmissions: 8,
        ..EndpointConfig::default()
    };
    for rejoin in [true, false] {
        let mut pair = outage_pair_with(rejoin, 36, short_lived.clone());
        let data = pattern(50_000_000, 6);
        let mut marks: Vec<(u64, u64)> = Vec::new();
        let mut back_at: Option<Instant> = None;
        let (got, done, _) = transfer_with(&mut pair, &data, at(90_000), |p, c| {
            let t = p.now;
            let down = t >= at(1_000) && t < at(25_000);
            p.paths[1].up.up = !down;
            p.paths[1].down.up = !down;
            if t >= at(25_000) && back_at.is_none() && subflow_ups_from(p, "10.1.0.1") >= 2 {
                back_at = Some(t);
            }
            for m in [26_000, 27_000] {
                if t >= at(m) && marks.len() == (m as usize - 26_000) / 1_000 {
                    marks.push((sent_from(p, c, "10.0.0.1"), sent_from(p, c, "10.1.0.1")));
                }
            }
        });
        assert!(done.is_some() && got == data, "rejoin {rejoin}: transfer");
        let timed_out = pair.client_events.iter().any(|e| {
            matches!(
                e,
                Event::SubflowDown {
                    reason: CloseReason::Timeout,
                    ..
                }
            )
        });
        assert!(timed_out, "the outage did not kill the subflow");
        assert_eq!(marks.len(), 2, "the transfer ended before 27 s");
        let (p0, p1) = (marks[1].0 - marks[0].0, marks[1].1 - marks[0].1);
        if rejoin {
            let back = back_at.expect("no new subflow on path 1");
            assert!(back <= at(26_200), "path 1 rejoined at {back:?}");
            // 10 Mbit/s is 1.25 MB per second: each path carried a good part of it.
            assert!(
                p0 > 400_000 && p1 > 400_000,
                "26-27 s: path 0 {p0} B, path 1 {p1} B"
            );
        } else {
            assert!(back_at.is_none());
            assert_eq!(p1, 0, "path 1 used without rejoin");
        }
    }
}

/// Path 1 fails silently from 1 s to 25 s with the default configuration: its subflow
/// rides the outage out, probing the path at least every `multipath_rto_max` (capped
/// timeouts give up by time, after minutes, not after 15 quick probes), and carries data
/// again within 2 s of the path's return, rejoin or not.
#[test]
fn a_subflow_probes_a_long_outage_and_resumes_when_the_path_returns() {
    for rejoin in [true, false] {
        let mut pair = outage_pair(rejoin, 38);
        let data = pattern(50_000_000, 6);
        let mut marks: Vec<(u64, u64)> = Vec::new();
        let (got, done, _) = transfer_with(&mut pair, &data, at(90_000), |p, c| {
            let t = p.now;
            let down = t >= at(1_000) && t < at(25_000);
            p.paths[1].up.up = !down;
            p.paths[1].down.up = !down;
            for m in [25_000, 27_000] {
                if t >= at(m) && marks.len() == (m as usize - 25_000) / 2_000 {
                    marks.push((sent_from(p, c, "10.0.0.1"), sent_from(p, c, "10.1.0.1")));
                }
            }
        });
        assert!(done.is_some() && got == data, "rejoin {rejoin}: transfer");
        assert!(
            !pair
                .client_events
                .iter()
                .any(|e| matches!(e, Event::SubflowDown { .. })),
            "rejoin {rejoin}: a subflow went down"
        );
        assert_eq!(marks.len(), 2, "the transfer ended before 27 s");
        let (p0, p1) = (marks[1].0 - marks[0].0, marks[1].1 - marks[0].1);
        // 25-27 s: 2.5 MB per path at 10 Mbit/s; each carried a good part of it.
        assert!(
            p0 > 800_000 && p1 > 800_000,
            "rejoin {rejoin}: 25-27 s: path 0 {p0} B, path 1 {p1} B"
        );
    }
}

/// The driver reports path 1's address down then up: its subflow is reset at once (its
/// data moves to path 0), and a new one is up within a few round trips of the report.
#[test]
fn address_down_and_up_reports_close_and_reopen_at_once() {
    let mut pair = outage_pair(true, 37);
    let data = pattern(15_000_000, 7);
    let (mut down_at, mut up_at) = (false, false);
    let mut back_at: Option<Instant> = None;
    let (got, done, c) = transfer_with(&mut pair, &data, at(60_000), |p, _| {
        let ip1 = ip("10.1.0.1");
        if p.now >= at(2_000) && !down_at {
            down_at = true;
            p.paths[1].up.up = false;
            p.paths[1].down.up = false;
            p.client.address_down(p.now, ip1);
        }
        if p.now >= at(4_000) && !up_at {
            up_at = true;
            p.paths[1].up.up = true;
            p.paths[1].down.up = true;
            p.client.address_up(p.now, ip1);
        }
        if up_at && back_at.is_none() && subflow_ups_from(p, "10.1.0.1") >= 2 {
            back_at = Some(p.now);
        }
    });
    assert!(done.is_some() && got == data);
    assert!(pair.client_events.iter().any(|e| matches!(
        e,
        Event::SubflowDown {
            reason: CloseReason::AddressDown,
            ..
        }
    )));
    // A handshake is one round trip (20 ms) after the report.
    let back = back_at.expect("no new subflow on path 1");
    assert!(back <= at(4_100), "rejoined at {back:?}");
    let st = pair.client.stats(c).unwrap();
    let on1: Vec<_> = st
        .subflows
        .iter()
        .filter(|s| s.local.ip() == ip("10.1.0.1"))
        .collect();
    assert_eq!(on1.len(), 2, "one subflow before, one after");
    assert!(on1[1].bytes_sent > 1_000_000, "new subflow idle");
}
