//! Heterogeneous RTTs with a limited receive (and send) buffer, seed 001 §4: with the
//! default lowest-RTT scheduler (opportunistic retransmission, penalisation and its
//! window guard) MPTCP over a fast and a slow path must never deliver less than plain TCP
//! over the fast path alone with the same buffers.
//!
//! Tolerance: 3 %. MPTCP carries a DSS option in every data segment (about 1.4 % less
//! payload per packet than plain TCP with timestamps), and the join adds a little
//! handshake traffic; anything beyond that is head-of-line blocking on the slow path.

use mptcp_sim::{run, RunOptions, Scenario};

/// Allowed shortfall against TCP on the fast path alone.
const TOLERANCE: f64 = 0.03;

/// Two paths of `rate`, 10 ms one-way delay, the second `extra_ms` slower; one flow of
/// `kind` over `paths` with send and receive buffers of `buffer`.
fn scenario(rate: &str, extra_ms: u64, buffer: &str, kind: &str, paths: &str) -> Scenario {
    let toml = format!(
        r#"
seed = 1
duration = "12s"

[[path]]
rate = "{rate}"
delay = "10ms"

[[path]]
rate = "{rate}"
delay = "{slow}ms"

[[flow]]
kind = "{kind}"
paths = {paths}
bytes = "1GB"
recv_buffer = "{buffer}"
send_buffer = "{buffer}"
"#,
        slow = 10 + extra_ms
    );
    Scenario::from_toml(&toml, "rcvbuf.toml").unwrap()
}

/// Goodput (bit/s) of the single flow, which must not have lost or corrupted data.
fn goodput(s: &Scenario) -> f64 {
    let r = run(s, &RunOptions::default()).unwrap();
    let f = &r.flows[0];
    // The transfer is larger than the run: every byte read must still be the right one.
    assert!(f.bytes_delivered > 0);
    f.bytes_delivered as f64 * 8.0 / r.sim_time_s
}

#[test]
fn min_rtt_never_falls_below_the_fast_path_alone() {
    let mut report = String::new();
    let mut worst: f64 = f64::INFINITY;
    for (rate, buffer, extras) in [
        ("100Mbit", "500KB", &[100, 500][..]),
        ("100Mbit", "2MB", &[100, 500][..]),
        ("40Mbit", "1MB", &[100, 500][..]),
    ] {
        let tcp = goodput(&scenario(rate, 0, buffer, "tcp", "[0]"));
        for &extra in extras {
            let mptcp = goodput(&scenario(rate, extra, buffer, "mptcp", "[0, 1]"));
            let ratio = mptcp / tcp;
            worst = worst.min(ratio);
            report += &format!(
                "{rate} +{extra} ms {buffer}: min-rtt {:.2} Mbit/s, TCP fast path {:.2} Mbit/s \
                 ({ratio:.3})\n",
                mptcp / 1e6,
                tcp / 1e6
            );
        }
    }
    println!("{report}");
    assert!(
        worst >= 1.0 - TOLERANCE,
        "min-rtt fell more than {:.0} % below TCP on the fast path:\n{report}",
        TOLERANCE * 100.0
    );
}
