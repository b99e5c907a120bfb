//! Every experiment reruns bit for bit: same seed, same CSV, whatever the thread count.

use std::path::{Path, PathBuf};
use std::process::Command;

fn experiments_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../experiments")
}

/// Runs experiment `name` from a copy of its scenario in a fresh directory; returns the CSV.
fn run(name: &str, jobs: usize, tag: &str) -> String {
    let dir = std::env::temp_dir().join(format!("mptcp-exp-{}-{name}-{tag}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let toml = format!("{name}.toml");
    std::fs::copy(experiments_dir().join(&toml), dir.join(&toml)).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_mptcp-experiments"))
        .args([name, "--jobs", &jobs.to_string(), "--dir"])
        .arg(&dir)
        .output()
        .expect("run mptcp-experiments");
    assert!(
        out.status.success(),
        "{name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let csv = std::fs::read_to_string(dir.join(format!("{name}.csv"))).unwrap();
    let readme = std::fs::read_to_string(dir.join("README.md")).unwrap();
    assert!(readme.contains(&format!("<!-- BEGIN {name} -->")));
    assert!(dir.join(format!("{name}.svg")).exists());
    std::fs::remove_dir_all(&dir).unwrap();
    csv
}

#[test]
fn short_flows_and_backup_rerun_identically() {
    for name in ["short-flows", "backup"] {
        let a = run(name, 1, "a");
        let b = run(name, 2, "b");
        assert!(a.lines().count() > 5, "{name}: {a}");
        assert_eq!(a, b, "{name}: the CSV changed between runs");
    }
}

#[test]
fn committed_results_match_a_rerun() {
    // The CSV in the repository is what the command produces now.
    let csv = run("short-flows", 2, "c");
    let committed = std::fs::read_to_string(experiments_dir().join("short-flows.csv")).unwrap();
    assert_eq!(
        csv, committed,
        "experiments/short-flows.csv is stale: rerun the command"
    );
}

#[test]
fn unknown_experiment_is_refused() {
    let out = Command::new(env!("CARGO_BIN_EXE_mptcp-experiments"))
        .arg("nope")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown experiment"));
}
