mod util;
use mptcp_proto::{Duration, EndpointConfig, Instant};
use util::{pattern, transfer, Link, Pair};
#[test]
fn probe() {
    let n: usize = std::env::var("PROBE_BYTES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000_000);
    let mk = || {
        let mut l = Link::new(20, 100);
        l.queue_limit = 500_000;
        l
    };
    let mut pair = Pair::new(
        EndpointConfig::default(),
        EndpointConfig::default(),
        if std::env::var("ONE").is_ok() { vec![(mk(), mk())] } else { vec![(mk(), mk()), (mk(), mk())] },
        3,
    );
    let data = pattern(n, 9);
    let t0 = std::time::Instant::now();
    let (got, done, c) = transfer(&mut pair, &data, Instant::ZERO + Duration::from_secs(120));
    let wall = t0.elapsed();
    assert!(got == data);
    let done = done.unwrap();
    let st = pair.client.stats(c).unwrap();
    eprintln!(
        "done {:?} goodput {:.1} Mbit/s wall {:?}",
        done,
        n as f64 * 8.0 / done.as_secs_f64() / 1e6,
        wall
    );
    for s in st.subflows {
        eprintln!(
            "sf {:?} sent {} retx {} rto {} fr {} srtt {:?} cwnd {}",
            s.id, s.bytes_sent, s.retransmits, s.rto_count, s.fast_recoveries, s.srtt, s.cwnd
        );
    }
    eprintln!(
        "reinjected {} dup {}",
        st.reinjected_bytes, st.duplicate_bytes
    );
}
