//! Fairness at a shared bottleneck (seed 001 ch. 5, seed 004 experiment I): one MPTCP flow
//! with 1, 2 or 3 subflows over one bottleneck against one TCP Reno flow.

use super::{cc, check_integrity, mbps, path_manager, Experiment, Outcome};
use crate::plot::{Plot, Series};
use crate::runner::Runner;
use crate::table::{Cell, Table};
use mptcp_sim::{RunOptions, Scenario};

pub const EXPERIMENT: Experiment = Experiment {
    name: "fairness",
    title: "Fairness at a shared bottleneck",
    about: "Seed 001 ch. 5 and seed 004 experiment I: one MPTCP flow (flow 0, 1-3 subflows \
            from `ndiffports:N` over the same path) shares one bottleneck with one TCP Reno \
            flow (flow 1). Each configuration runs with 5 seeds (the seed drives the links' \
            sender jitter, so each run has other loss events); goodputs are the means over \
            the seeds and ratio = MPTCP goodput / TCP goodput; the goal of coupled \
            congestion control is a ratio of about 1.",
    run,
};

const CCS: [&str; 5] = ["reno", "cubic", "lia", "olia", "balia"];
const COUPLED: [&str; 3] = ["lia", "olia", "balia"];
/// Runs per configuration (seeds `--seed` to `--seed + SEEDS - 1`): one run sees only a
/// few dozen loss events per flow, too few for a ratio within a few percent.
const SEEDS: u64 = 5;

fn run(base: &Scenario, runner: &Runner) -> Result<Outcome, String> {
    if base.flows.len() != 2 {
        return Err("fairness.toml needs two flows: MPTCP then TCP".into());
    }
    let mut variants = Vec::new();
    let mut keys = Vec::new();
    for name in CCS {
        for n in 1..=3usize {
            let mut s = base.clone();
            s.flows[0].cc = cc(name)?;
            s.flows[0].path_manager = path_manager(&format!("ndiffports:{n}"))?;
            variants.push(s);
            keys.push((name, n));
        }
    }
    let mut runs = Vec::new();
    for k in 0..SEEDS {
        let r = Runner {
            seed: runner.seed.wrapping_add(k),
            ..runner.clone()
        };
        runs.push(r.run_all(&variants, &RunOptions::default())?);
    }
    let mut table = Table::new(&["cc", "subflows", "mptcp_mbps", "tcp_mbps", "ratio"]);
    let mut series: Vec<Series> = Vec::new();
    let mut notes = Vec::new();
    for (i, (name, n)) in keys.iter().enumerate() {
        let (mut mm, mut tm) = (0.0, 0.0);
        for reports in &runs {
            let r = &reports[i];
            let (m, t) = (&r.flows[0], &r.flows[1]);
            check_integrity(&format!("{name} n={n} mptcp"), m)?;
            check_integrity(&format!("{name} n={n} tcp"), t)?;
            let opened = m.subflows.len();
            if opened != *n {
                return Err(format!("{name} n={n}: {opened} subflows opened"));
            }
            let secs = r.sim_time_s;
            mm += mbps(m.bytes_delivered, secs) / SEEDS as f64;
            tm += mbps(t.bytes_delivered, secs) / SEEDS as f64;
        }
        let ratio = if tm > 0.0 { mm / tm } else { f64::INFINITY };
        table.push(vec![
            (*name).into(),
            Cell::Num(*n as f64, 0),
            Cell::Num(mm, 2),
            Cell::Num(tm, 2),
            Cell::Num(ratio, 3),
        ]);
        match series.iter_mut().find(|s| s.label == *name) {
            Some(s) => s.points.push((*n as f64, ratio)),
            None => series.push(Series {
                label: name.to_string(),
                points: vec![(*n as f64, ratio)],
            }),
        }
    }
    let ratio_col = table.column("ratio").unwrap_or(4);
    for name in CCS {
        let worst = table
            .rows
            .iter()
            .filter(|r| r[0] == Cell::Text(name.into()))
            .filter_map(|r| r[ratio_col].value())
            .fold(0.0f64, f64::max);
        if COUPLED.contains(&name) {
            let verdict = if worst <= 1.1 { "within" } else { "ABOVE" };
            notes.push(format!(
                "{name}: largest MPTCP/TCP ratio {worst:.2} over 1-3 subflows, {verdict} the 1.1 bound"
            ));
        } else {
            notes.push(format!(
                "{name} (uncoupled): largest MPTCP/TCP ratio {worst:.2}"
            ));
        }
    }
    Ok(Outcome {
        table,
        plot: Plot {
            title: "MPTCP vs TCP Reno at one bottleneck".into(),
            x_label: "MPTCP subflows".into(),
            y_label: "goodput ratio MPTCP / TCP".into(),
            series,
            log_x: false,
        },
        notes,
        extra: Vec::new(),
    })
}
