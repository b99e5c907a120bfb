//! `mptcp sim FILE [--seed N] [--json] [--pcap DIR]` (a stable contract, see DESIGN.md).
//!
//! Exit status: 0 when every flow passed its integrity check, 1 when one did not (or a
//! capture could not be written), 2 when the scenario is malformed.

use clap::Args;
use mptcp_sim::{RunOptions, Scenario};
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `mptcp sim`.
#[derive(Debug, Args)]
pub struct SimArgs {
    /// Scenario file (TOML).
    pub file: PathBuf,
    /// Seed of every random choice; overrides the file's `seed`.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Print one JSON object instead of the human-readable summary.
    #[arg(long)]
    pub json: bool,
    /// Write one capture per path, DIR/path{N}.pcap.
    #[arg(long, value_name = "DIR")]
    pub pcap: Option<PathBuf>,
    /// Add bytes sent per flow and path every INTERVAL (e.g. "100ms") to the JSON, as
    /// `"samples": [{"time_s", "flow", "path", "bytes"}]`.
    #[arg(long, value_name = "INTERVAL", value_parser = parse_interval)]
    pub sample: Option<std::time::Duration>,
}

fn parse_interval(s: &str) -> Result<std::time::Duration, String> {
    mptcp_sim::units::parse_duration(s)
        .filter(|d| *d >= std::time::Duration::from_millis(1))
        .ok_or_else(|| format!("expected a duration of at least 1ms like \"100ms\", got {s:?}"))
}

/// Runs the subcommand.
pub fn run(args: &SimArgs) -> ExitCode {
    let scenario = match Scenario::from_file(&args.file) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let opts = RunOptions {
        seed: args.seed,
        pcap_dir: args.pcap.clone(),
        sample_interval: args.sample,
    };
    let report = match mptcp_sim::run(&scenario, &opts) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(1);
        }
    };
    if args.json {
        println!("{}", report.to_json());
    } else {
        print!("{}", report.to_text());
    }
    if report.all_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
