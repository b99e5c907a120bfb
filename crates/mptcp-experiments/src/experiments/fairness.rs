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
            flow (flow 1). Ratio = MPTCP goodput / TCP goodput; the goal of coupled \
            congestion control is a ratio of about 1.",
    run,
};

const CCS: [&str; 5] = ["reno", "cubic", "lia", "olia", "balia"];
const COUPLED: [&str; 3] = ["lia", "olia", "balia"];

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
    let reports = runner.run_all(&variants, &RunOptions::default())?;
    let mut table = Table::new(&["cc", "subflows", "mptcp_mbps", "tcp_mbps", "ratio"]);
    let mut series: Vec<Series> = Vec::new();
    let mut notes = Vec::new();
    for ((name, n), r) in keys.iter().zip(&reports) {
        let (m, t) = (&r.flows[0], &r.flows[1]);
        check_integrity(&format!("{name} n={n} mptcp"), m)?;
        check_integrity(&format!("{name} n={n} tcp"), t)?;
        let opened = m.subflows.len();
        if opened != *n {
            return Err(format!("{name} n={n}: {opened} subflows opened"));
        }
        let secs = r.sim_time_s;
        let (mm, tm) = (mbps(m.bytes_delivered, secs), mbps(t.bytes_delivered, secs));
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
