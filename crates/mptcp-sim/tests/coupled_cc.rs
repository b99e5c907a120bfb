//! Coupled congestion control at shared bottlenecks, through the real engine.
//!
//! The simulator's paths are independent links and a flow uses each of its paths once, so
//! two subflows of one connection cannot share a single link yet (that needs an
//! ndiffports-like path manager). The symmetric topology below is the same test spread
//! over two links: each MPTCP subflow shares its link with one TCP Reno flow. A coupled
//! controller must take no more than one TCP flow would (RFC 6356 §2, goal 2), i.e. about
//! the goodput of each TCP flow, in total over both links; uncoupled Reno subflows behave
//! as two TCP flows and take about twice that.

use mptcp_proto::CcAlgorithm;
use mptcp_sim::{run, Report, RunOptions, Scenario};

/// Two 20 Mbit/s links (20 ms RTT, default one-BDP queues); MPTCP over both, one TCP Reno
/// flow on each. 60 s, long enough for dozens of loss cycles on both links, with transfers
/// too large to complete: goodput is bytes delivered over the whole run.
const TWO_BOTTLENECKS: &str = r#"
seed = 1
duration = "60s"

[[path]]
rate = "20Mbit"
delay = "10ms"

[[path]]
rate = "20Mbit"
delay = "10ms"

[[flow]]
kind = "mptcp"
paths = [0, 1]
bytes = "1GB"

[[flow]]
kind = "tcp"
paths = [0]
bytes = "1GB"

[[flow]]
kind = "tcp"
paths = [1]
bytes = "1GB"
"#;

/// Goodputs (bit/s) of the MPTCP flow and of the two TCP flows, with `cc` on the MPTCP flow.
fn run_with(cc: CcAlgorithm) -> (f64, f64, f64, Report) {
    let mut s = Scenario::from_toml(TWO_BOTTLENECKS, "two-bottlenecks.toml").unwrap();
    s.flows[0].cc = cc;
    assert_eq!(s.flows[1].cc, CcAlgorithm::Reno);
    assert_eq!(s.flows[2].cc, CcAlgorithm::Reno);
    let r = run(&s, &RunOptions::default()).unwrap();
    let g = |i: usize| r.flows[i].goodput_bps;
    (g(0), g(1), g(2), r)
}

#[test]
fn coupled_mptcp_takes_one_tcp_share_uncoupled_takes_two() {
    let mut summary = String::new();
    for cc in [
        CcAlgorithm::Reno,
        CcAlgorithm::Lia,
        CcAlgorithm::Olia,
        CcAlgorithm::Balia,
    ] {
        let (mptcp, tcp0, tcp1, r) = run_with(cc);
        let tcp = (tcp0 + tcp1) / 2.0;
        let ratio = mptcp / tcp;
        summary += &format!(
            "{}: mptcp {:.2} Mbit/s, tcp {:.2} / {:.2} Mbit/s, ratio {ratio:.2}\n",
            cc.name(),
            mptcp / 1e6,
            tcp0 / 1e6,
            tcp1 / 1e6
        );
        // Both subflows carried data.
        for path in [0, 1] {
            assert!(
                r.flows[0]
                    .subflows
                    .iter()
                    .any(|s| s.path == Some(path) && s.bytes > 0),
                "{}: no data on path {path}\n{}",
                cc.name(),
                r.to_text()
            );
        }
        // The links stay busy: 85 % of 2 x 20 Mbit/s as goodput (headers take 4.5 %).
        assert!(
            mptcp + tcp0 + tcp1 > 0.85 * 40e6,
            "{}: links under-used\n{summary}{}",
            cc.name(),
            r.to_text()
        );
        if cc == CcAlgorithm::Reno {
            assert!(ratio > 1.5, "uncoupled reno is not greedier\n{summary}");
        } else {
            assert!(
                ratio <= 1.1,
                "{} takes more than one TCP share\n{summary}",
                cc.name()
            );
        }
    }
    eprintln!("{summary}");
}

/// One bottleneck, one MPTCP flow (`ndiffports:N`) against one TCP Reno flow, 20 s.
fn shared(cc: CcAlgorithm, subflows: usize, rate: &str, delay: &str, queue: &str) -> Report {
    let toml = format!(
        r#"
seed = 1
duration = "20s"

[[path]]
rate = "{rate}"
delay = "{delay}"
queue = "{queue}"

[[flow]]
kind = "mptcp"
paths = [0]
bytes = "1GB"

[[flow]]
kind = "tcp"
paths = [0]
bytes = "1GB"
"#
    );
    let mut s = Scenario::from_toml(&toml, "shared.toml").unwrap();
    s.flows[0].cc = cc;
    s.flows[0].path_manager =
        mptcp_proto::path_manager::PathManagerKind::from_name(&format!("ndiffports:{subflows}"))
            .unwrap();
    run(&s, &RunOptions::default()).unwrap()
}

/// With a single subflow a coupled controller is Reno (RFC 6356 §3: alpha = 1), and Linux
/// then runs Reno's own congestion avoidance: the MPTCP flow must behave exactly like
/// MPTCP with uncoupled Reno, packet for packet. Window growth in bytes instead of whole
/// segments changed where in the ACK train the extra segment went, which at a drop-tail
/// queue alone moved the MPTCP/TCP ratio by 3-37 %.
#[test]
fn one_subflow_coupled_is_exactly_reno_at_a_shared_bottleneck() {
    for (rate, delay, queue) in [("20Mbit", "20ms", "100KB"), ("10Mbit", "30ms", "40KB")] {
        let reno = shared(CcAlgorithm::Reno, 1, rate, delay, queue);
        for cc in [CcAlgorithm::Lia, CcAlgorithm::Olia, CcAlgorithm::Balia] {
            let r = shared(cc, 1, rate, delay, queue);
            for f in 0..2 {
                assert_eq!(
                    r.flows[f].bytes_delivered,
                    reno.flows[f].bytes_delivered,
                    "{} at {rate}/{delay}/{queue}, flow {f}\n{}",
                    cc.name(),
                    r.to_text()
                );
                assert_eq!(r.flows[f].subflows, reno.flows[f].subflows);
            }
        }
    }
}

/// Uncoupled Reno subflows at one bottleneck behave as that many TCP flows: with three the
/// MPTCP flow takes well over twice the TCP flow's goodput (the unfairness coupling avoids).
#[test]
fn uncoupled_reno_subflows_take_several_tcp_shares() {
    let r = shared(CcAlgorithm::Reno, 3, "20Mbit", "20ms", "100KB");
    assert_eq!(r.flows[0].subflows.len(), 3, "{}", r.to_text());
    let ratio = r.flows[0].goodput_bps / r.flows[1].goodput_bps;
    assert!(ratio > 2.0, "ratio {ratio:.2}\n{}", r.to_text());
    for sf in &r.flows[0].subflows {
        assert!(sf.fast_recoveries > 0, "{}", r.to_text());
    }
}
