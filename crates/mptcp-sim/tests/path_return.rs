//! After a path returns, every path that is up carries data again within 2 s (seed 004
//! reported that after a link came back only that link was used).
//!
//! Each case runs one MPTCP bulk transfer over 20 Mbit/s paths with a timeline of path
//! events, either silent (`down` / `up`: the link drops or passes packets, the endpoints
//! learn it only from their own retransmissions) or reported (`iface-down` / `iface-up`:
//! the client's driver reports its address). At every return, each path that is up in the
//! half second from 1.5 s to 2 s later must have sent at least a quarter of its rate: a
//! probe now and then is not enough, the path must be in use.

use mptcp_sim::scenario::PathAction;
use mptcp_sim::{run, Report, RunOptions, Scenario};

const RATE_BPS: f64 = 20e6;

/// A scenario of `paths` 20 Mbit/s paths (5 ms one way) and one long MPTCP transfer; each
/// event is `(path, time_s, action)`.
fn scenario(paths: usize, duration_s: u32, events: &[(usize, f64, &str)]) -> Scenario {
    let mut text = format!("seed = 7\nduration = \"{duration_s}s\"\n");
    for p in 0..paths {
        text.push_str("\n[[path]]\nrate = \"20Mbit\"\ndelay = \"5ms\"\n");
        for (_, at, action) in events.iter().filter(|e| e.0 == p) {
            text.push_str(&format!(
                "[[path.event]]\nat = \"{}ms\"\naction = \"{action}\"\n",
                (at * 1000.0).round() as u64
            ));
        }
    }
    let list: Vec<String> = (0..paths).map(|p| p.to_string()).collect();
    text.push_str(&format!(
        "\n[[flow]]\nkind = \"mptcp\"\npaths = [{}]\nbytes = \"1GB\"\n",
        list.join(", ")
    ));
    Scenario::from_toml(&text, "path-return.toml").unwrap_or_else(|e| panic!("{e}"))
}

fn sampled(s: &Scenario) -> Report {
    let opts = RunOptions {
        sample_interval: Some(std::time::Duration::from_millis(100)),
        ..RunOptions::default()
    };
    run(s, &opts).unwrap_or_else(|e| panic!("{e}"))
}

/// Bytes flow 0 sent on `path` in `[from, to]` s (cumulative samples every 100 ms).
fn sent_between(r: &Report, path: usize, from: f64, to: f64) -> u64 {
    let at = |t: f64| {
        r.samples
            .iter()
            .filter(|s| s.flow == 0 && s.path == path && s.time_s <= t + 1e-9)
            .map(|s| s.bytes)
            .next_back()
            .unwrap_or(0)
    };
    at(to) - at(from)
}

/// Whether `path` is up at `t` by the scenario's events.
fn up_at(s: &Scenario, path: usize, t: f64) -> bool {
    let mut up = true;
    for e in &s.paths[path].events {
        if e.at.as_secs_f64() <= t {
            match e.action {
                PathAction::Down | PathAction::IfaceDown | PathAction::AddrRemove => up = false,
                PathAction::Up | PathAction::IfaceUp | PathAction::AddrAdd => up = true,
                PathAction::Set(_) => {}
            }
        }
    }
    up
}

/// Runs `s` and checks, after each of `checks` (times a path returned or the last
/// subflow's path died), that every path up from then to 2 s later is busy in its last
/// half second. Returns the report for further checks.
fn assert_busy_after(s: &Scenario, checks: &[f64]) -> Report {
    let r = sampled(s);
    let f = &r.flows[0];
    assert!(f.bytes_delivered <= f.bytes_sent, "{}", r.to_text());
    assert!(!f.fallback, "fell back to TCP\n{}", r.to_text());
    assert!(
        !r.events.iter().any(|e| e.kind == "connection-closed"),
        "the connection closed\n{}",
        r.to_text()
    );
    let floor = (RATE_BPS * 0.5 / 8.0 / 4.0) as u64;
    for &t in checks {
        for p in 0..s.paths.len() {
            // Only paths up during the whole window count.
            if !(up_at(s, p, t) && up_at(s, p, t + 2.0)) {
                continue;
            }
            let b = sent_between(&r, p, t + 1.5, t + 2.0);
            assert!(
                b >= floor,
                "after {t} s: path {p} sent {b} B in [{}, {}] s, expected at least {floor}\n{}",
                t + 1.5,
                t + 2.0,
                r.to_text()
            );
        }
    }
    r
}

/// One of two paths fails and returns, silently.
#[test]
fn silent_return_of_one_path_is_used_within_2s() {
    let s = scenario(2, 9, &[(0, 2.0, "down"), (0, 6.0, "up")]);
    assert_busy_after(&s, &[6.0]);
}

/// One of two paths fails and returns, reported by the driver.
#[test]
fn reported_return_of_one_path_is_used_within_2s() {
    let s = scenario(2, 9, &[(0, 2.0, "iface-down"), (0, 6.0, "iface-up")]);
    assert_busy_after(&s, &[6.0]);
}

/// Total outage, silent: both paths fail; path 1 returns first, path 0 later. The
/// connection survives, and each returning path is used within 2 s although every
/// subflow backed off meanwhile.
#[test]
fn silent_total_outage_then_each_returning_path_is_used_within_2s() {
    let s = scenario(
        2,
        19,
        &[
            (0, 2.0, "down"),
            (1, 2.0, "down"),
            (1, 12.0, "up"),
            (0, 15.0, "up"),
        ],
    );
    assert_busy_after(&s, &[12.0, 15.0]);
}

/// Total outage, reported: both addresses go down (the last subflows ride it out on their
/// timers); path 1 comes back first, path 0 later.
#[test]
fn reported_total_outage_then_each_returning_path_is_used_within_2s() {
    let s = scenario(
        2,
        19,
        &[
            (0, 2.0, "iface-down"),
            (1, 2.0, "iface-down"),
            (1, 12.0, "iface-up"),
            (0, 15.0, "iface-up"),
        ],
    );
    assert_busy_after(&s, &[12.0, 15.0]);
}

/// The path of the only subflow dies while another path is up: path 1 was down when the
/// connection started (its join SYNs go unanswered) and comes back at the moment path 0
/// fails. The connection moves to path 1 within 2 s; path 0 is used again within 2 s of
/// its own return.
#[test]
fn silent_death_of_the_only_subflows_path_moves_to_the_other_within_2s() {
    let s = scenario(
        2,
        11,
        &[
            (1, 0.0, "down"),
            (1, 3.0, "up"),
            (0, 3.0, "down"),
            (0, 7.0, "up"),
        ],
    );
    assert_busy_after(&s, &[3.0, 7.0]);
}

/// The same with the driver reporting path 0's address down and up.
#[test]
fn reported_death_of_the_only_subflows_path_moves_to_the_other_within_2s() {
    let s = scenario(
        2,
        11,
        &[
            (1, 0.0, "down"),
            (1, 3.0, "up"),
            (0, 3.0, "iface-down"),
            (0, 7.0, "iface-up"),
        ],
    );
    assert_busy_after(&s, &[3.0, 7.0]);
}

/// Three paths through a timeline like seed 004's experiment E (scaled down): joins,
/// failures and returns overlap, and whenever a path returns every path that is up is in
/// use within 2 s.
#[test]
fn overlapping_failures_of_three_paths_every_up_path_used_within_2s() {
    let s = scenario(
        3,
        16,
        &[
            (1, 0.0, "down"),
            (2, 0.0, "down"),
            (1, 1.0, "up"),
            (0, 3.0, "down"),
            (2, 4.0, "up"),
            (1, 6.0, "down"),
            (0, 7.0, "up"),
            (2, 9.0, "down"),
            (1, 10.0, "up"),
            (2, 12.0, "up"),
        ],
    );
    assert_busy_after(&s, &[1.0, 4.0, 6.0, 7.0, 9.0, 10.0, 12.0]);
}
