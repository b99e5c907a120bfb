//! A short soak run (a few simulated minutes) in CI: many connections over faulty paths
//! with middleboxes, every byte checked, no memory left behind. The long run is
//! `cargo run --release -p mptcp-sim --example soak` (see the README).

use mptcp_sim::soak::{run_soak, SoakConfig, SoakReport};
use std::time::Duration;

fn short(seed: u64) -> SoakReport {
    let mut cfg = SoakConfig::new(seed, Duration::from_secs(180));
    cfg.checkpoints = 3;
    cfg.quiet = Duration::from_secs(90);
    cfg.max_bytes = 1 << 20;
    cfg.mean_fault_interval = Duration::from_secs(20);
    run_soak(cfg)
}

#[test]
fn short_soak_keeps_every_byte_and_no_memory() {
    let r = short(1);
    eprintln!("{r:#?}");
    assert!(r.opened() >= 100, "{} connections opened", r.opened());
    assert!(r.opened_tcp > 0 && r.opened_mptcp > 0 && r.opened_reverse > 0);
    assert!(r.bytes_delivered > 10 << 20, "{} bytes", r.bytes_delivered);
    assert!(r.faults > 0);
    assert_eq!(r.checkpoints.len(), 4);
    if let Err(errs) = r.check() {
        panic!("soak violations:\n{}", errs.join("\n"));
    }
}

#[test]
fn another_seed_other_middleboxes() {
    let r = short(7);
    if let Err(errs) = r.check() {
        panic!(
            "soak violations (middleboxes {:?}):\n{}",
            r.middleboxes,
            errs.join("\n")
        );
    }
}

/// The checks catch what they are meant to catch.
#[test]
fn check_reports_violations() {
    let mut r = SoakReport {
        opened_mptcp: 2,
        completed: 2,
        ..SoakReport::default()
    };
    assert!(r.check().is_ok());
    r.bytes_corrupt = 1;
    assert!(r.check().is_err());
    r.bytes_corrupt = 0;
    r.opened_tcp = 1;
    assert!(r.check().is_err(), "a connection never closed");
    r.opened_tcp = 0;
    let mut cp = mptcp_sim::soak::Checkpoint::default();
    r.checkpoints = vec![cp.clone(); 4];
    assert!(r.check().is_ok());
    cp.client.tuples = 1;
    r.checkpoints.push(cp.clone());
    assert!(r.check().is_err(), "a tuple left with no connection open");
    r.checkpoints.pop();
    r.checkpoints[3].nat_mappings = 10_000;
    assert!(r.check().is_err(), "NAT table growth");
}
