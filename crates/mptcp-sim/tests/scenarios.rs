//! End-to-end runs of the shipped scenarios through the real engine.

use mptcp_sim::scenario::FlowKind;
use mptcp_sim::{run, Report, RunOptions, Scenario};
use std::path::{Path, PathBuf};

fn scenario_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../scenarios")
        .join(name)
}

fn load(name: &str) -> Scenario {
    Scenario::from_file(&scenario_path(name)).unwrap_or_else(|e| panic!("{e}"))
}

fn run_scenario(name: &str) -> Report {
    run(&load(name), &RunOptions::default()).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn two_equal_paths_uses_both() {
    let r = run_scenario("two-equal-paths.toml");
    let f = &r.flows[0];
    assert!(f.integrity_ok, "{}", r.to_text());
    // The links' rate counts whole IP packets. A 1500-byte packet carries at most 1432
    // payload bytes (IPv4 20, TCP 20, timestamps 12, DSS mapping 16): 95.5 % of the rate,
    // before handshakes and slow start. 88 % of 200 Mbit/s of application goodput is what
    // the engine reaches here (it keeps both links busy once the windows are open).
    assert!(
        f.goodput_bps >= 0.88 * 200e6,
        "goodput {} bit/s\n{}",
        f.goodput_bps,
        r.to_text()
    );
    for path in [0, 1] {
        let bytes: u64 = f
            .subflows
            .iter()
            .filter(|s| s.path == Some(path))
            .map(|s| s.bytes)
            .sum();
        assert!(bytes > 0, "path {path} carried no data\n{}", r.to_text());
    }
}

#[test]
fn lossy_path_beats_one_clean_path() {
    let r = run_scenario("lossy-path.toml");
    let f = &r.flows[0];
    assert!(f.integrity_ok, "{}", r.to_text());
    // Baseline: plain TCP alone on the clean path of the same scenario.
    let mut clean = load("lossy-path.toml");
    clean.flows[0].kind = FlowKind::Tcp;
    clean.flows[0].paths = vec![0];
    let base = run(&clean, &RunOptions::default()).unwrap();
    let b = &base.flows[0];
    assert!(b.integrity_ok);
    assert!(
        f.goodput_bps > b.goodput_bps,
        "MPTCP over a clean and a lossy path: {} bit/s; TCP on the clean path alone: {} bit/s\n{}",
        f.goodput_bps,
        b.goodput_bps,
        r.to_text()
    );
}

#[test]
fn path_down_up_completes() {
    let r = run_scenario("path-down-up.toml");
    let f = &r.flows[0];
    assert!(f.integrity_ok, "{}", r.to_text());
    assert!(f.completion_time_s.is_some());
    assert!(r.events.iter().any(|e| e.kind == "path-down"));
    assert!(r.events.iter().any(|e| e.kind == "path-up"));
}

#[test]
fn strip_mptcp_falls_back() {
    let r = run_scenario("strip-mptcp.toml");
    let f = &r.flows[0];
    assert!(f.fallback, "{}", r.to_text());
    assert!(f.integrity_ok, "{}", r.to_text());
}

fn without_wall_time(r: &Report) -> String {
    let mut r = r.clone();
    r.wall_time_s = 0.0;
    r.to_json()
}

#[test]
fn same_seed_same_json() {
    let s = load("lossy-path.toml");
    let mut small = s.clone();
    small.flows[0].bytes = 5_000_000;
    let a = run(&small, &RunOptions::default()).unwrap();
    let b = run(&small, &RunOptions::default()).unwrap();
    assert_eq!(without_wall_time(&a), without_wall_time(&b));
    let c = run(
        &small,
        &RunOptions {
            seed: Some(99),
            ..RunOptions::default()
        },
    )
    .unwrap();
    assert!(c.flows[0].integrity_ok);
}

#[test]
fn pcap_files_are_written() {
    let mut s = load("nat.toml");
    s.flows[0].bytes = 200_000;
    let dir = std::env::temp_dir().join(format!("mptcp-sim-e2e-pcap-{}", std::process::id()));
    let r = run(
        &s,
        &RunOptions {
            seed: None,
            pcap_dir: Some(dir.clone()),
        },
    )
    .unwrap();
    assert!(r.flows[0].integrity_ok, "{}", r.to_text());
    for p in 0..2 {
        let len = std::fs::metadata(dir.join(format!("path{p}.pcap")))
            .unwrap()
            .len();
        assert!(len > 24, "path{p}.pcap is empty");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Every middlebox, both directions, with reordering and duplication on the same path:
/// the bytes arrive intact (possibly after falling back to TCP).
#[test]
fn every_middlebox_keeps_the_stream_intact() {
    for mb in [
        "strip-mptcp",
        "strip-mptcp-data",
        "nat",
        "seq-rewrite",
        "split",
        "coalesce",
    ] {
        for direction in ["upload", "download"] {
            let text = format!(
                r#"
seed = 175
duration = "120s"
[[path]]
rate = "50Mbit"
delay = "5ms"
reorder = 0.01
duplicate = 0.05
middlebox = "{mb}"
[[path]]
rate = "50Mbit"
delay = "25ms"
[[flow]]
kind = "mptcp"
paths = [0, 1]
bytes = "2MB"
direction = "{direction}"
"#
            );
            let s = Scenario::from_toml(&text, "inline.toml").unwrap_or_else(|e| panic!("{e}"));
            let r = run(&s, &RunOptions::default()).unwrap();
            let f = &r.flows[0];
            assert!(f.integrity_ok, "{mb} {direction}:\n{}", r.to_text());
            assert!(
                f.completion_time_s.is_some(),
                "{mb} {direction} did not finish"
            );
        }
    }
}

/// A lone subflow whose data loses its DSS options on a duplicating, reordering path.
#[test]
fn dss_stripped_on_download_falls_back_and_finishes() {
    let text = r#"
seed = 175
duration = "60s"
[[path]]
rate = "100Mbit"
delay = "5ms"
reorder = 0.01
duplicate = 0.05
middlebox = "strip-mptcp-data"
[[flow]]
kind = "mptcp"
paths = [0]
bytes = "1MB"
start = "0.5s"
direction = "download"
"#;
    let s = Scenario::from_toml(text, "inline.toml").unwrap();
    let r = run(&s, &RunOptions::default()).unwrap();
    let f = &r.flows[0];
    assert!(f.fallback && f.integrity_ok, "{}", r.to_text());
}

/// Bytes the sender put on `path` (retransmissions included).
fn path_bytes(f: &mptcp_sim::FlowReport, path: usize) -> u64 {
    f.subflows
        .iter()
        .filter(|s| s.path == Some(path))
        .map(|s| s.bytes)
        .sum()
}

/// Active backup (seed 002 §2.2) over a regular path and a backup path with the lower
/// RTT: the backup's share of the bytes falls as the expiration delay grows; delay 0 is
/// the default scheduler with no path marked backup, "inf" the default honouring the
/// mark (the backup carries nothing while the regular path works).
#[test]
fn active_backup_share_falls_with_the_expiration_delay() {
    use mptcp_proto::scheduler::SchedulerKind;
    let base = load("active-backup.toml");
    assert!(base.paths[1].backup && !base.paths[0].backup);
    let run_with = |scheduler: &str, backup: bool| {
        let mut s = base.clone();
        s.flows[0].scheduler = SchedulerKind::from_name(scheduler).unwrap();
        s.paths[1].backup = backup;
        let r = run(&s, &RunOptions::default()).unwrap();
        assert!(r.flows[0].integrity_ok, "{scheduler}:\n{}", r.to_text());
        r
    };
    let share = |r: &Report| {
        let f = &r.flows[0];
        path_bytes(f, 1) as f64 / (path_bytes(f, 0) + path_bytes(f, 1)) as f64
    };
    let delays = ["0", "250ms", "1s", "2s", "3s", "inf"];
    let mut shares = Vec::new();
    let mut reports = Vec::new();
    for d in delays {
        let r = run_with(&format!("active-backup:{d}"), true);
        shares.push(share(&r));
        reports.push(r);
    }
    let table: Vec<String> = delays
        .iter()
        .zip(&shares)
        .map(|(d, s)| format!("{d}: {:.1} %", s * 100.0))
        .collect();
    for w in shares.windows(2) {
        assert!(w[1] <= w[0], "backup share rose with the delay: {table:?}");
    }
    assert!(shares[0] > 0.4, "delay 0 should pool both paths: {table:?}");
    assert!(
        shares[3] < shares[0] - 0.1,
        "2 s should use the backup less: {table:?}"
    );
    // Strict backup: the backup subflow is up and carries nothing.
    let strict = &reports[delays.len() - 1].flows[0];
    assert!(
        strict.subflows.iter().any(|s| s.path == Some(1)),
        "{table:?}"
    );
    assert_eq!(path_bytes(strict, 1), 0, "{table:?}");
    // The two ends are exactly the default scheduler (same report, bar the wall time).
    let default_pooled = run_with("default", false);
    assert_eq!(
        without_wall_time(&reports[0]),
        without_wall_time(&default_pooled)
    );
    let default_backup = run_with("default", true);
    assert_eq!(
        without_wall_time(&reports[delays.len() - 1]),
        without_wall_time(&default_backup)
    );
}

/// Every scheduler completes two-path transfers with the bytes checked one by one by the
/// receiving application: over very different RTTs and over a lossy path, both ways.
#[test]
fn every_scheduler_completes_intact() {
    use mptcp_proto::scheduler::SchedulerKind;
    use mptcp_sim::scenario::Direction;
    for file in ["heterogeneous-rtt.toml", "lossy-path.toml"] {
        for name in [
            "min-rtt",
            "round-robin",
            "redundant",
            "blest",
            "ecf",
            "active-backup:100ms",
        ] {
            for direction in [Direction::Upload, Direction::Download] {
                let mut s = load(file);
                s.flows[0].bytes = 10_000_000;
                s.flows[0].direction = direction;
                s.flows[0].scheduler = SchedulerKind::from_name(name).unwrap();
                let r = run(&s, &RunOptions::default()).unwrap();
                let f = &r.flows[0];
                let what = format!("{file} {name} {direction:?}");
                assert!(f.integrity_ok, "{what}:\n{}", r.to_text());
                assert!(f.completion_time_s.is_some(), "{what} did not finish");
                assert!(!f.fallback, "{what} fell back");
                assert!(
                    path_bytes(f, 0) > 0 && path_bytes(f, 1) > 0,
                    "{what}:\n{}",
                    r.to_text()
                );
                if name == "redundant" {
                    // Every byte went at least once over the path that carried the most.
                    let most = path_bytes(f, 0).max(path_bytes(f, 1));
                    assert!(most >= 10_000_000, "{what}:\n{}", r.to_text());
                }
            }
        }
    }
}
