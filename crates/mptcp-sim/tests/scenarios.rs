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
        "strip-mptcp-synack",
        "drop-mptcp-syn",
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

/// A middlebox rewrites payload on the second of two paths, DSS checksums on: each
/// subflow joined over it fails its checksum and is reset (MP_FAIL); the first path
/// delivers the bytes intact. (On the initial path, before any join, the lone subflow
/// falls back to TCP instead and carries the rewritten bytes, as TCP would.)
#[test]
fn rewritten_payload_on_one_path_is_caught_by_checksums() {
    for direction in ["upload", "download"] {
        let text = format!(
            r#"
seed = 7
duration = "60s"
[[path]]
rate = "50Mbit"
delay = "5ms"
[[path]]
rate = "50Mbit"
delay = "10ms"
middlebox = "rewrite-payload"
[[flow]]
kind = "mptcp"
paths = [0, 1]
bytes = "4MB"
checksum = true
direction = "{direction}"
"#
        );
        let s = Scenario::from_toml(&text, "inline.toml").unwrap();
        let r = run(&s, &RunOptions::default()).unwrap();
        let f = &r.flows[0];
        assert!(f.integrity_ok, "{direction}:\n{}", r.to_text());
        assert!(f.completion_time_s.is_some(), "{direction} did not finish");
        assert!(!f.fallback, "{direction}: a reset, not a fallback");
    }
}

/// SYNs with MP_CAPABLE vanish: after `syn_retries_before_fallback` (2) retransmissions
/// the client retries without MPTCP, as Linux does, and the flow completes as TCP.
#[test]
fn dropped_mptcp_syns_retry_as_tcp() {
    let text = r#"
seed = 3
duration = "60s"
[[path]]
rate = "50Mbit"
delay = "5ms"
middlebox = "drop-mptcp-syn"
[[flow]]
kind = "mptcp"
paths = [0]
bytes = "1MB"
"#;
    let s = Scenario::from_toml(text, "inline.toml").unwrap();
    let r = run(&s, &RunOptions::default()).unwrap();
    let f = &r.flows[0];
    assert!(f.fallback && f.integrity_ok, "{}", r.to_text());
    // SYN at 0, retransmitted at 1 s and 3 s, then a plain SYN at 7 s.
    let t = f.completion_time_s.expect("finished");
    assert!(
        (7.0..9.0).contains(&t),
        "completed at {t} s\n{}",
        r.to_text()
    );
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

/// Bytes flow `flow` sent on `path` between `from` and `to` seconds (samples taken every
/// 100 ms: cumulative counts at the last sample at or before each time).
fn sent_between(r: &Report, flow: usize, path: usize, from: f64, to: f64) -> u64 {
    let at = |t: f64| {
        r.samples
            .iter()
            .filter(|s| s.flow == flow && s.path == path && s.time_s <= t + 1e-9)
            .map(|s| s.bytes)
            .next_back()
            .unwrap_or(0)
    };
    at(to) - at(from)
}

fn sampled(s: &Scenario) -> Report {
    let opts = RunOptions {
        sample_interval: Some(std::time::Duration::from_millis(100)),
        ..RunOptions::default()
    };
    run(s, &opts).unwrap_or_else(|e| panic!("{e}"))
}

/// Asserts that every path of flow 0 sent at least a quarter of what `rate_bps` allows
/// during `[from, to)`: all paths carry data, none is left idle (Veerman's rejoin bug:
/// after a link came back only that link was used).
fn every_path_busy(r: &Report, paths: &[usize], rate_bps: f64, from: f64, to: f64) {
    let floor = (rate_bps * (to - from) / 8.0 / 4.0) as u64;
    for &p in paths {
        let b = sent_between(r, 0, p, from, to);
        assert!(
            b >= floor,
            "path {p} sent {b} B in [{from}, {to}) s, expected at least {floor}\n{}",
            r.to_text()
        );
    }
}

fn subflow_ups(r: &Report, path: usize) -> Vec<(f64, String)> {
    r.events
        .iter()
        .filter(|e| e.kind == "subflow-up" && e.flow == Some(0) && e.path == Some(path))
        .map(|e| (e.time_s, e.detail.clone()))
        .collect()
}

/// The shipped path-down-up scenario, made long enough to run on past the return: within
/// 2 s of path 0 coming back (10 s) both paths carry data again.
#[test]
fn path_down_up_both_paths_busy_within_2s_of_the_return() {
    let mut s = load("path-down-up.toml");
    s.flows[0].bytes = 250_000_000;
    let r = sampled(&s);
    assert!(r.flows[0].integrity_ok, "{}", r.to_text());
    assert!(r.flows[0].completion_time_s.unwrap() > 14.0);
    every_path_busy(&r, &[0, 1], 50e6, 11.5, 12.0);
}

/// The shipped path-rejoin scenario: path 0 is down from 5 s to 30 s, long enough for its
/// subflow to time out (no driver report: a silent failure). The path manager keeps trying
/// the pair (a join SYN about every second), so a new subflow is up within 1.2 s of the
/// return and both paths carry data within 2 s.
#[test]
fn a_path_back_after_its_subflow_died_is_rejoined_within_2s() {
    let r = sampled(&load("path-rejoin.toml"));
    assert!(r.flows[0].integrity_ok, "{}", r.to_text());
    assert!(
        r.events.iter().any(|e| e.kind == "subflow-down"
            && e.path == Some(0)
            && e.detail.contains("Timeout")
            && e.time_s < 30.0),
        "the subflow survived the outage: not the case under test\n{}",
        r.to_text()
    );
    let back: Vec<f64> = subflow_ups(&r, 0)
        .into_iter()
        .map(|(t, _)| t)
        .filter(|t| *t >= 30.0)
        .collect();
    assert!(
        back.first().is_some_and(|t| *t <= 31.2),
        "rejoined at {back:?}\n{}",
        r.to_text()
    );
    every_path_busy(&r, &[0, 1], 50e6, 31.5, 32.0);
}

/// The same outage reported by the driver (iface-down / iface-up): the subflow is reset at
/// once and a new one is up one round trip after the report.
#[test]
fn iface_down_up_resets_and_rejoins_at_once() {
    let text = std::fs::read_to_string(scenario_path("path-rejoin.toml"))
        .unwrap()
        .replace("action = \"down\"", "action = \"iface-down\"")
        .replace("action = \"up\"", "action = \"iface-up\"")
        .replace("at = \"30s\"", "at = \"15s\"")
        .replace("300MB", "150MB");
    let s = Scenario::from_toml(&text, "iface.toml").unwrap();
    let r = sampled(&s);
    assert!(r.flows[0].integrity_ok, "{}", r.to_text());
    assert!(
        r.events.iter().any(|e| e.kind == "subflow-down"
            && e.path == Some(0)
            && e.detail.contains("AddressDown")
            && (e.time_s - 5.0).abs() < 1e-6),
        "{}",
        r.to_text()
    );
    let back = subflow_ups(&r, 0)
        .into_iter()
        .map(|(t, _)| t)
        .find(|t| *t >= 15.0);
    assert!(back.is_some_and(|t| t <= 15.1), "rejoined at {back:?}");
    every_path_busy(&r, &[0, 1], 50e6, 15.5, 16.0);
}

/// ndiffports:3 over one path next to a TCP flow: three subflows, all on path 0 (the
/// simulator routes by the client's address, so they share its queue), with distinct
/// source ports, each carrying data; both flows intact.
#[test]
fn ndiffports_subflows_share_one_bottleneck() {
    let text = r#"
seed = 3
duration = "60s"
[[path]]
rate = "100Mbit"
delay = "10ms"
[[flow]]
kind = "mptcp"
paths = [0]
bytes = "60MB"
path_manager = "ndiffports:3"
[[flow]]
kind = "tcp"
paths = [0]
bytes = "60MB"
"#;
    let s = Scenario::from_toml(text, "ndiffports.toml").unwrap();
    let r = run(&s, &RunOptions::default()).unwrap();
    assert!(r.all_ok(), "{}", r.to_text());
    assert_eq!(r.stats.unroutable, 0);
    let f = &r.flows[0];
    assert_eq!(f.subflows.len(), 3, "{}", r.to_text());
    for sf in &f.subflows {
        assert_eq!(sf.path, Some(0));
        assert!(sf.bytes > 1_000_000, "{}", r.to_text());
    }
    let ports: std::collections::BTreeSet<String> = subflow_ups(&r, 0)
        .into_iter()
        .map(|(_, d)| d.split(' ').nth(2).unwrap_or("").to_string())
        .collect();
    assert_eq!(
        ports.len(),
        3,
        "source address:port of each subflow: {ports:?}"
    );
    assert!(
        ports.iter().all(|p| p.starts_with("10.0.0.1:")),
        "{ports:?}"
    );
}

/// lb-server: the server sets flag C on its load-balanced address and announces its unique
/// address 10.254.0.2; the client never joins the load-balanced address, joins the unique
/// one, and (":backup") the data leaves the initial subflow. Both directions.
#[test]
fn lb_server_gets_joins_on_its_unique_address_only() {
    for direction in ["upload", "download"] {
        let text = format!(
            r#"
seed = 5
duration = "60s"
[[path]]
rate = "50Mbit"
delay = "10ms"
loss = 0.01
[[path]]
rate = "50Mbit"
delay = "10ms"
[[flow]]
kind = "mptcp"
paths = [0, 1]
bytes = "30MB"
direction = "{direction}"
path_manager = "lb-server:backup"
"#
        );
        let s = Scenario::from_toml(&text, "lb.toml").unwrap();
        let r = run(&s, &RunOptions::default()).unwrap();
        assert!(r.all_ok(), "{direction}\n{}", r.to_text());
        let ups: Vec<String> = (0..2)
            .flat_map(|p| subflow_ups(&r, p))
            .map(|(_, d)| d)
            .collect();
        let to_vip = ups
            .iter()
            .filter(|d| d.ends_with("10.254.0.1:5201"))
            .count();
        let to_unique = ups
            .iter()
            .filter(|d| d.ends_with("10.254.0.2:5201"))
            .count();
        assert_eq!(to_vip, 1, "only the initial subflow: {ups:?}");
        assert!(to_unique >= 1, "no join to the unique address: {ups:?}");
        let f = &r.flows[0];
        let initial = f.subflows[0].bytes;
        let rest: u64 = f.subflows[1..].iter().map(|s| s.bytes).sum();
        assert!(
            rest > 2 * initial,
            "{direction}: initial {initial} B, direct {rest} B\n{}",
            r.to_text()
        );
    }
}

/// endpoints: the simulator makes each extra client address a `subflow` endpoint with a
/// matching limit, so three paths give three subflows, one per path.
#[test]
fn endpoints_pm_in_the_simulator_uses_every_path() {
    let text = r#"
seed = 2
duration = "60s"
[[path]]
rate = "30Mbit"
delay = "10ms"
[[path]]
rate = "30Mbit"
delay = "15ms"
[[path]]
rate = "30Mbit"
delay = "20ms"
[[flow]]
kind = "mptcp"
paths = [0, 1, 2]
bytes = "30MB"
path_manager = "endpoints"
"#;
    let s = Scenario::from_toml(text, "endpoints.toml").unwrap();
    let r = run(&s, &RunOptions::default()).unwrap();
    assert!(r.all_ok(), "{}", r.to_text());
    let paths: Vec<Option<usize>> = r.flows[0].subflows.iter().map(|s| s.path).collect();
    assert_eq!(paths, vec![Some(0), Some(1), Some(2)], "{}", r.to_text());
    assert!(r.flows[0].subflows.iter().all(|s| s.bytes > 1_000_000));
}

/// `join_delay` holds the second subflow back for that long after the connection is
/// established (seed 001: short flows are faster on one subflow).
#[test]
fn join_delay_holds_the_second_subflow_back() {
    let text = |delay: &str| {
        format!(
            "[[path]]\nrate = \"10Mbit\"\ndelay = \"10ms\"\n[[path]]\nrate = \"10Mbit\"\n\
             delay = \"10ms\"\n[[flow]]\npaths = [0, 1]\nbytes = \"2MB\"\n{delay}"
        )
    };
    let up_times = |r: &mptcp_sim::Report| -> Vec<(usize, f64)> {
        r.events
            .iter()
            .filter(|e| e.kind == "subflow-up")
            .filter_map(|e| e.path.map(|p| (p, e.time_s)))
            .collect()
    };
    let at_once = Scenario::from_toml(&text(""), "t.toml").unwrap();
    let r = run(&at_once, &RunOptions::default()).unwrap();
    assert!(r.flows[0].integrity_ok);
    let ups = up_times(&r);
    let (t0, t1) = (ups[0].1, ups.iter().find(|u| u.0 == 1).unwrap().1);
    assert!(t1 - t0 < 0.1, "{ups:?}");
    let delayed = Scenario::from_toml(&text("join_delay = \"500ms\"\n"), "t.toml").unwrap();
    let r = run(&delayed, &RunOptions::default()).unwrap();
    assert!(r.flows[0].integrity_ok);
    let ups = up_times(&r);
    let (t0, t1) = (ups[0].1, ups.iter().find(|u| u.0 == 1).unwrap().1);
    assert!((0.5..0.6).contains(&(t1 - t0)), "{ups:?}");
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
