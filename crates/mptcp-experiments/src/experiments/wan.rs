//! WAN paths of very different RTT (seed 004 experiments F, G and H, rates scaled to 1/10).

use super::{check_integrity, mbps, Experiment, Outcome};
use crate::plot::{Plot, Series};
use crate::runner::Runner;
use crate::table::{Cell, Table};
use mptcp_sim::scenario::PathSpec;
use mptcp_sim::{RunOptions, Scenario};
use std::time::Duration;

pub const EXPERIMENT: Experiment = Experiment {
    name: "wan",
    title: "WAN paths of very different RTT",
    about: "Seed 004 experiments F, G and H with rates scaled to 1/10: F = 100 + 30 Mbit/s, \
            both 33 ms RTT; G = F plus a 1 Gbit/s path of 202 ms RTT; H = a 100 Mbit/s LAN \
            path (1 ms RTT) plus a 100 Mbit/s WAN path (33 ms RTT). One MPTCP flow, send and \
            receive buffers swept. `links_mbps` is the sum of the path rates. The base \
            scenario file holds the G topology; F and H are derived from it.",
    run,
};

fn path(base: &PathSpec, rate_mbit: u64, rtt_ms: f64) -> PathSpec {
    PathSpec {
        rate: rate_mbit * 1_000_000,
        delay: Duration::from_secs_f64(rtt_ms / 2000.0),
        queue: None,
        ..base.clone()
    }
}

fn run(base: &Scenario, runner: &Runner) -> Result<Outcome, String> {
    let Some(p0) = base.paths.first() else {
        return Err("wan.toml needs at least one path".into());
    };
    let cases: [(&str, Vec<PathSpec>, Vec<u64>); 3] = [
        (
            "F",
            vec![path(p0, 100, 33.3), path(p0, 30, 33.3)],
            vec![250, 500, 1000, 2000, 4000],
        ),
        (
            "G",
            vec![
                path(p0, 100, 33.3),
                path(p0, 30, 33.3),
                path(p0, 1000, 202.0),
            ],
            vec![600, 1200, 2400, 6000, 12000, 24000, 57000],
        ),
        (
            "H",
            vec![path(p0, 100, 1.0), path(p0, 100, 33.3)],
            vec![250, 500, 1000, 2000, 4000],
        ),
    ];
    let mut variants = Vec::new();
    let mut keys = Vec::new();
    for (name, paths, buffers) in &cases {
        for b in buffers {
            let mut s = base.clone();
            s.paths = paths.clone();
            s.flows.truncate(1);
            s.flows[0].paths = (0..paths.len()).collect();
            s.flows[0].recv_buffer = Some(b * 1000);
            s.flows[0].send_buffer = Some(b * 1000);
            variants.push(s);
            let links: u64 = paths.iter().map(|p| p.rate).sum();
            keys.push((*name, *b, links));
        }
    }
    let reports = runner.run_all(&variants, &RunOptions::default())?;
    let mut table = Table::new(&["case", "buffer_mb", "goodput_mbps", "links_mbps"]);
    let mut series: Vec<Series> = Vec::new();
    let mut notes = Vec::new();
    for ((name, b, links), r) in keys.iter().zip(&reports) {
        let f = &r.flows[0];
        check_integrity(&format!("{name} buffer={b}KB"), f)?;
        let g = mbps(f.bytes_delivered, r.sim_time_s);
        let mb = *b as f64 / 1000.0;
        table.push(vec![
            (*name).into(),
            Cell::Num(mb, 1),
            Cell::Num(g, 2),
            Cell::Num(*links as f64 / 1e6, 0),
        ]);
        let label = format!("{name} ({} Mbit/s of links)", links / 1_000_000);
        match series.iter_mut().find(|s| s.label == label) {
            Some(s) => s.points.push((mb, g)),
            None => series.push(Series {
                label,
                points: vec![(mb, g)],
            }),
        }
    }
    for s in &series {
        if let Some((b, g)) = s.points.iter().copied().max_by(|a, b| a.1.total_cmp(&b.1)) {
            notes.push(format!(
                "{}: best {g:.1} Mbit/s with {b} MB buffers",
                s.label
            ));
        }
    }
    Ok(Outcome {
        table,
        plot: Plot {
            title: "Goodput vs buffer on WAN paths (seed 004 F, G, H at 1/10)".into(),
            x_label: "send and receive buffer (MB)".into(),
            y_label: "goodput (Mbit/s)".into(),
            series,
            log_x: true,
        },
        notes,
        extra: Vec::new(),
    })
}
