//! The experiments of the seed documents. Each reads its base scenario from
//! `experiments/<name>.toml`, varies it, and returns a table, a plot and notes.

mod backup;
mod fairness;
mod loss;
mod rcvbuf;
mod robustness;
mod short_flows;
mod timeline;
mod wan;

use crate::plot::Plot;
use crate::runner::Runner;
use crate::table::Table;
use mptcp_proto::path_manager::PathManagerKind;
use mptcp_proto::scheduler::SchedulerKind;
use mptcp_proto::CcAlgorithm;
use mptcp_sim::{FlowReport, Scenario};

/// What an experiment produces.
#[derive(Debug)]
pub struct Outcome {
    /// Written to `<name>.csv` and shown in the README.
    pub table: Table,
    /// Written to `<name>.svg`.
    pub plot: Plot,
    /// Findings in one line each, checked against the claims of the issue or seed.
    pub notes: Vec<String>,
    /// More tables, written to `<name>-<suffix>.csv` only.
    pub extra: Vec<(String, Table)>,
}

/// One experiment.
pub struct Experiment {
    /// File stem and command-line name.
    pub name: &'static str,
    /// Heading in the README.
    pub title: &'static str,
    /// Where it comes from and what it varies.
    pub about: &'static str,
    /// Runs it on the base scenario.
    pub run: fn(&Scenario, &Runner) -> Result<Outcome, String>,
}

/// Every experiment, in README order.
pub fn all() -> Vec<Experiment> {
    vec![
        fairness::EXPERIMENT,
        rcvbuf::EXPERIMENT,
        loss::EXPERIMENT,
        timeline::EXPERIMENT_B,
        timeline::EXPERIMENT_E,
        wan::EXPERIMENT,
        backup::EXPERIMENT,
        short_flows::EXPERIMENT,
        robustness::EXPERIMENT,
    ]
}

/// Mbit/s of `bytes` over `secs`.
pub fn mbps(bytes: u64, secs: f64) -> f64 {
    if secs > 0.0 {
        bytes as f64 * 8.0 / secs / 1e6
    } else {
        0.0
    }
}

/// Bytes a flow sent on `path` (all its subflows there).
pub fn path_bytes(f: &FlowReport, path: usize) -> u64 {
    f.subflows
        .iter()
        .filter(|s| s.path == Some(path))
        .map(|s| s.bytes)
        .sum()
}

/// Fails when a run lost or corrupted data: no experiment result counts then.
pub fn check_integrity(label: &str, f: &FlowReport) -> Result<(), String> {
    // Long-running flows end at the time limit: what was delivered must be intact.
    if f.bytes_delivered > f.bytes_sent {
        return Err(format!("{label}: delivered more than was sent"));
    }
    if f.completion_time_s.is_some() && !f.integrity_ok {
        return Err(format!("{label}: integrity check failed"));
    }
    Ok(())
}

pub(crate) fn cc(name: &str) -> Result<CcAlgorithm, String> {
    CcAlgorithm::from_name(name).map_err(|e| e.to_string())
}

pub(crate) fn scheduler(name: &str) -> Result<SchedulerKind, String> {
    SchedulerKind::from_name(name).map_err(|e| e.to_string())
}

pub(crate) fn path_manager(name: &str) -> Result<PathManagerKind, String> {
    PathManagerKind::from_name(name).map_err(|e| e.to_string())
}
