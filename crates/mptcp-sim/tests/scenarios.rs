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
            ..RunOptions::default()
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

/// Sampling reads counters only: the run is the same with and without it, and the samples
/// show the path going down (5 s) and coming back (10 s) in `path-down-up.toml`.
#[test]
fn samples_follow_bytes_per_path_without_changing_the_run() {
    let s = load("path-down-up.toml");
    let plain = run(&s, &RunOptions::default()).unwrap();
    let opts = RunOptions {
        sample_interval: Some(std::time::Duration::from_millis(500)),
        ..RunOptions::default()
    };
    let sampled = run(&s, &opts).unwrap();
    assert!(plain.samples.is_empty());
    assert_eq!(plain.flows, sampled.flows);
    assert_eq!(plain.events, sampled.events);
    let bytes_at = |path: usize, t: f64| {
        sampled
            .samples
            .iter()
            .filter(|x| x.path == path && x.time_s <= t + 1e-9)
            .map(|x| x.bytes)
            .next_back()
            .unwrap_or(0)
    };
    // Cumulative per path, never decreasing.
    for p in 0..2 {
        let series: Vec<u64> = sampled
            .samples
            .iter()
            .filter(|x| x.path == p)
            .map(|x| x.bytes)
            .collect();
        assert!(
            series.windows(2).all(|w| w[0] <= w[1]),
            "path {p}: {series:?}"
        );
    }
    // Path 0 (down from 5 s to 10 s) carries data before, nothing while down (6-9.5 s: a
    // few probes at most), and data again after it returns; path 1 carries on throughout.
    assert!(bytes_at(0, 4.5) > bytes_at(0, 1.0) + 1_000_000);
    assert!(
        bytes_at(0, 9.5) - bytes_at(0, 6.0) < 20_000,
        "sent into a dead path"
    );
    assert!(bytes_at(1, 9.5) > bytes_at(1, 6.0) + 1_000_000);
    let done = sampled.flows[0].completion_time_s.unwrap();
    assert!(done > 10.5, "finished at {done} s");
    assert!(
        bytes_at(0, done) > bytes_at(0, 10.0) + 1_000_000,
        "path 0 unused after it came back"
    );
}
