//! Short flows: completion time with and without delaying the second subflow (seed 001,
//! E16: TCP wins below about 10 packets; start the second subflow after about 2 RTTs).

use super::{check_integrity, Experiment, Outcome};
use crate::plot::{Plot, Series};
use crate::runner::Runner;
use crate::table::{Cell, Table};
use mptcp_sim::scenario::FlowKind;
use mptcp_sim::{RunOptions, Scenario};
use std::time::Duration;

pub const EXPERIMENT: Experiment = Experiment {
    name: "short-flows",
    title: "Short flows: delaying the second subflow",
    about: "Seed 001 (E16): one flow of 1 to 1000 segments over two paths, completion time \
            from the SYN to the last byte delivered: plain TCP on path 0, MPTCP joining the \
            second path at once, and MPTCP delaying the join by 2 RTTs of path 0 \
            (`join_delay`).",
    run,
};

const SEGMENTS: [u64; 9] = [1, 2, 5, 10, 20, 50, 100, 300, 1000];
const MODES: [&str; 3] = ["tcp", "mptcp", "mptcp, join after 2 RTT"];

fn run(base: &Scenario, runner: &Runner) -> Result<Outcome, String> {
    if base.paths.len() != 2 || base.flows.len() != 1 {
        return Err("short-flows.toml needs two paths and one flow".into());
    }
    let rtt = base.paths[0].delay * 2;
    let mut variants = Vec::new();
    let mut keys = Vec::new();
    for mode in MODES {
        for n in SEGMENTS {
            let mut s = base.clone();
            s.flows[0].bytes = n * 1448;
            match mode {
                "tcp" => {
                    s.flows[0].kind = FlowKind::Tcp;
                    s.flows[0].paths = vec![0];
                }
                "mptcp" => s.flows[0].join_delay = Some(Duration::ZERO),
                _ => s.flows[0].join_delay = Some(rtt * 2),
            }
            variants.push(s);
            keys.push((mode, n));
        }
    }
    let reports = runner.run_all(&variants, &RunOptions::default())?;
    let mut table = Table::new(&["mode", "segments", "completion_ms"]);
    let mut series: Vec<Series> = Vec::new();
    for ((mode, n), r) in keys.iter().zip(&reports) {
        let f = &r.flows[0];
        check_integrity(&format!("{mode} n={n}"), f)?;
        let ms = f
            .completion_time_s
            .ok_or_else(|| format!("{mode} n={n} did not finish"))?
            * 1000.0;
        table.push(vec![
            (*mode).into(),
            Cell::Num(*n as f64, 0),
            Cell::Num(ms, 1),
        ]);
        match series.iter_mut().find(|s| s.label == *mode) {
            Some(s) => s.points.push((*n as f64, ms)),
            None => series.push(Series {
                label: mode.to_string(),
                points: vec![(*n as f64, ms)],
            }),
        }
    }
    let at = |mode: &str, n: u64| {
        table
            .rows
            .iter()
            .find(|r| r[0] == Cell::Text(mode.into()) && r[1].value() == Some(n as f64))
            .and_then(|r| r[2].value())
            .unwrap_or(f64::NAN)
    };
    let mut notes = Vec::new();
    let cross = SEGMENTS
        .iter()
        .find(|&&n| at("mptcp", n) < at("tcp", n))
        .map_or("never".to_string(), |n| format!("from {n} segments"));
    notes.push(format!(
        "MPTCP (immediate join) finishes before TCP {cross}"
    ));
    // The seed's finding: below about 10 segments TCP wins. How far each MPTCP variant is
    // from TCP on the short sizes.
    for mode in ["mptcp", "mptcp, join after 2 RTT"] {
        let worst = SEGMENTS
            .iter()
            .filter(|&&n| n <= 50)
            .map(|&n| (at(mode, n) / at("tcp", n) - 1.0) * 100.0)
            .fold(f64::MIN, f64::max);
        notes.push(format!(
            "{mode}: at most {worst:+.1} % of TCP's completion time for 1-50 segments"
        ));
    }
    Ok(Outcome {
        table,
        plot: Plot {
            title: "Completion time of short flows".into(),
            x_label: "flow size (segments of 1448 bytes)".into(),
            y_label: "completion time (ms)".into(),
            series,
            log_x: true,
        },
        notes,
        extra: Vec::new(),
    })
}
