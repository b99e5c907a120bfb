//! End-to-end transfers between two engines over in-memory paths.

mod util;

use mptcp_proto::{Duration, EndpointConfig, Event, Instant};
use util::{pattern, transfer, Link, Pair};

fn secs(s: u64) -> Instant {
    Instant::ZERO + Duration::from_secs(s)
}

#[test]
fn single_path_mptcp_transfer_is_intact() {
    let mut pair = Pair::new(
        EndpointConfig::default(),
        EndpointConfig::default(),
        vec![(Link::new(10, 100), Link::new(10, 100))],
        1,
    );
    let data = pattern(2_000_000, 7);
    let (got, done, c) = transfer(&mut pair, &data, secs(30));
    assert!(done.is_some(), "transfer did not finish");
    assert_eq!(got.len(), data.len());
    assert!(got == data, "payload corrupted");
    let _ = c;
    assert!(pair
        .client_events
        .iter()
        .any(|e| matches!(e, Event::Connected(_))));
}

#[test]
fn plain_tcp_transfer_is_intact() {
    let cfg = EndpointConfig {
        mptcp: false,
        ..EndpointConfig::default()
    };
    let mut pair = Pair::new(
        cfg.clone(),
        cfg,
        vec![(Link::new(5, 50), Link::new(5, 50))],
        2,
    );
    let data = pattern(1_000_000, 3);
    let (got, done, _) = transfer(&mut pair, &data, secs(30));
    assert!(done.is_some());
    assert!(got == data);
}

#[test]
fn two_paths_both_carry_data() {
    let mut pair = Pair::new(
        EndpointConfig::default(),
        EndpointConfig::default(),
        vec![
            (Link::new(10, 100), Link::new(10, 100)),
            (Link::new(10, 100), Link::new(10, 100)),
        ],
        3,
    );
    let data = pattern(20_000_000, 9);
    let (got, done, c) = transfer(&mut pair, &data, secs(60));
    assert!(done.is_some(), "not finished");
    assert!(got == data);
    let st = pair.client.stats(c).expect("client connection still known");
    assert!(st.mptcp && !st.fallback);
    assert_eq!(st.subflows.len(), 2, "one subflow per path");
    for sf in &st.subflows {
        assert!(
            sf.bytes_sent > 1_000_000,
            "subflow {:?} carried only {} bytes",
            sf.id,
            sf.bytes_sent
        );
    }
}

#[test]
fn lossy_path_transfer_is_intact() {
    let mut up = Link::new(10, 50);
    up.loss = 0.02;
    let mut down = Link::new(10, 50);
    down.loss = 0.02;
    let mut pair = Pair::new(
        EndpointConfig::default(),
        EndpointConfig::default(),
        vec![(up, down), (Link::new(10, 50), Link::new(10, 50))],
        4,
    );
    let data = pattern(5_000_000, 1);
    let (got, done, _) = transfer(&mut pair, &data, secs(60));
    assert!(done.is_some());
    assert!(got == data);
}
