//! Link down/up timelines (seed 004 experiments B and E, rates and times scaled to 1/10):
//! throughput per path over time, and whether every path that is up carries data.

use super::{check_integrity, Experiment, Outcome};
use crate::plot::{Plot, Series};
use crate::runner::Runner;
use crate::table::{Cell, Table};
use mptcp_sim::scenario::PathAction;
use mptcp_sim::{RunOptions, Scenario};
use std::time::Duration;

pub const EXPERIMENT_B: Experiment = Experiment {
    name: "timeline-b",
    title: "Links going down and up (seed 004 experiment B)",
    about: "Seed 004 experiment B at 1/10 of the rates and times: two 100 Mbit/s LAN paths; \
            path 1 joins at 12 s, path 0 goes down at 42 s and returns at 54 s, end at 90 s. \
            The seed's kernel used only the returning link afterwards; each phase's table row \
            shows the mean rate of every path (sampled every 0.5 s, the first 2 s of a phase \
            left out).",
    run,
};

pub const EXPERIMENT_E: Experiment = Experiment {
    name: "timeline-e",
    title: "Three links going down and up (seed 004 experiment E)",
    about: "Seed 004 experiment E at 1/10 of the rates and times: paths of 100, 100 and \
            1000 Mbit/s; the timeline of the seed's Table 3 (path 1 joins at 3 s, path 0 down \
            at 28 s, path 2 joins at 31 s, path 1 down at 61 s, path 0 up at 64 s, path 2 down \
            at 67 s, path 1 up at 70 s, path 2 up at 88 s, end at 100 s).",
    run,
};

const SAMPLE: Duration = Duration::from_millis(500);
/// Time a path gets to ramp up after a change before its phase's mean counts.
const SETTLE_S: f64 = 2.0;

/// Whether each path is up at time `t` (the events of the scenario, in order).
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

fn run(base: &Scenario, runner: &Runner) -> Result<Outcome, String> {
    let opts = RunOptions {
        sample_interval: Some(SAMPLE),
        ..RunOptions::default()
    };
    let r = runner.run_one(base, &opts)?;
    let f = r.flows.first().ok_or("no flow")?;
    check_integrity("timeline", f)?;
    let n = base.paths.len();
    // Rate per path per sample interval, from the cumulative samples of flow 0.
    let mut times: Vec<f64> = r.samples.iter().map(|s| s.time_s).collect();
    times.dedup();
    let cumulative = |p: usize, t: f64| -> u64 {
        r.samples
            .iter()
            .filter(|s| s.flow == 0 && s.path == p && s.time_s <= t + 1e-9)
            .map(|s| s.bytes)
            .max()
            .unwrap_or(0)
    };
    let dt = SAMPLE.as_secs_f64();
    let mut series: Vec<Series> = (0..n)
        .map(|p| Series {
            label: format!("path {p} ({} Mbit/s)", base.paths[p].rate / 1_000_000),
            points: Vec::new(),
        })
        .collect();
    let mut rates: Vec<Vec<(f64, f64)>> = vec![Vec::new(); n];
    for w in times.windows(2) {
        for p in 0..n {
            let rate = (cumulative(p, w[1]) - cumulative(p, w[0])) as f64 * 8.0 / dt / 1e6;
            series[p].points.push((w[1], rate));
            rates[p].push((w[1], rate));
        }
    }
    // Phases: between consecutive event times.
    let mut cuts: Vec<f64> = base
        .paths
        .iter()
        .flat_map(|p| p.events.iter().map(|e| e.at.as_secs_f64()))
        .chain([0.0, r.sim_time_s])
        .collect();
    cuts.sort_by(f64::total_cmp);
    cuts.dedup();
    let mut cols = vec!["phase_start_s".to_string(), "phase_end_s".to_string()];
    for p in 0..n {
        cols.push(format!("path{p}_up"));
        cols.push(format!("path{p}_mbps"));
    }
    cols.push("every_up_path_used".into());
    let mut table = Table {
        columns: cols,
        rows: Vec::new(),
    };
    let mut unused = Vec::new();
    for w in cuts.windows(2) {
        let (a, b) = (w[0], w[1]);
        if b - a <= SETTLE_S {
            continue;
        }
        let mut row = vec![Cell::Num(a, 1), Cell::Num(b, 1)];
        let mut all_used = true;
        for (p, rate) in rates.iter().enumerate() {
            let up = up_at(base, p, (a + b) / 2.0);
            let pts: Vec<f64> = rate
                .iter()
                .filter(|(t, _)| *t > a + SETTLE_S && *t <= b)
                .map(|(_, r)| *r)
                .collect();
            let mean = if pts.is_empty() {
                0.0
            } else {
                pts.iter().sum::<f64>() / pts.len() as f64
            };
            if up && mean < 1.0 {
                all_used = false;
            }
            row.push(Cell::Text(if up { "up" } else { "down" }.into()));
            row.push(Cell::Num(mean, 1));
        }
        if !all_used {
            unused.push(format!("{a:.0}-{b:.0} s"));
        }
        row.push(Cell::Text(if all_used { "yes" } else { "no" }.into()));
        table.rows.push(row);
    }
    let mut cols = vec!["time_s".to_string()];
    cols.extend((0..n).map(|p| format!("path{p}_mbps")));
    let mut series_table = Table {
        columns: cols,
        rows: Vec::new(),
    };
    for (i, w) in times.windows(2).enumerate() {
        let mut row = vec![Cell::Num(w[1], 1)];
        row.extend(rates.iter().map(|r| Cell::Num(r[i].1, 2)));
        series_table.rows.push(row);
    }
    let notes = vec![if unused.is_empty() {
        "in every phase every path that was up carried data".to_string()
    } else {
        format!(
            "a path that was up carried no data during: {}",
            unused.join(", ")
        )
    }];
    Ok(Outcome {
        table,
        plot: Plot {
            title: "Throughput per path over time".into(),
            x_label: "time (s)".into(),
            y_label: "Mbit/s (0.5 s intervals)".into(),
            series,
            log_x: false,
        },
        notes,
        extra: vec![("series".to_string(), series_table)],
    })
}
