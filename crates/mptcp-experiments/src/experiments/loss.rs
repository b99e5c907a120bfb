//! Random loss of 0 to 5 % on one of two paths, coupled versus uncoupled congestion control
//! (seed 001).

use super::{cc, check_integrity, mbps, path_bytes, Experiment, Outcome};
use crate::plot::{Plot, Series};
use crate::runner::Runner;
use crate::table::{Cell, Table};
use mptcp_sim::scenario::FlowKind;
use mptcp_sim::{RunOptions, Scenario};

pub const EXPERIMENT: Experiment = Experiment {
    name: "loss",
    title: "Loss on one of two paths",
    about: "Seed 001: two equal paths, random loss of 0-5 % on path 1, one long MPTCP flow per \
            congestion control. `tcp_clean_mbps` is plain TCP Reno alone on the clean path 0: \
            MPTCP should never do worse than that.",
    run,
};

const CCS: [&str; 5] = ["reno", "cubic", "lia", "olia", "balia"];
const LOSS_PCT: [f64; 7] = [0.0, 0.5, 1.0, 2.0, 3.0, 4.0, 5.0];

fn run(base: &Scenario, runner: &Runner) -> Result<Outcome, String> {
    if base.paths.len() != 2 || base.flows.len() != 1 {
        return Err("loss.toml needs two paths and one MPTCP flow".into());
    }
    // Reference: TCP alone on the clean path.
    let mut tcp = base.clone();
    tcp.flows[0].kind = FlowKind::Tcp;
    tcp.flows[0].paths = vec![0];
    tcp.flows[0].cc = cc("reno")?;
    let mut variants = vec![tcp];
    let mut keys = Vec::new();
    for name in CCS {
        for loss in LOSS_PCT {
            let mut s = base.clone();
            s.paths[1].loss = loss / 100.0;
            s.flows[0].cc = cc(name)?;
            variants.push(s);
            keys.push((name, loss));
        }
    }
    let reports = runner.run_all(&variants, &RunOptions::default())?;
    let tcp_f = &reports[0].flows[0];
    check_integrity("tcp alone", tcp_f)?;
    let tcp_mbps = mbps(tcp_f.bytes_delivered, reports[0].sim_time_s);
    let mut table = Table::new(&[
        "cc",
        "loss_pct",
        "goodput_mbps",
        "lossy_path_share",
        "tcp_clean_mbps",
    ]);
    let mut series: Vec<Series> = Vec::new();
    let mut below = Vec::new();
    for ((name, loss), r) in keys.iter().zip(&reports[1..]) {
        let f = &r.flows[0];
        check_integrity(&format!("{name} loss={loss}%"), f)?;
        let g = mbps(f.bytes_delivered, r.sim_time_s);
        let (b0, b1) = (path_bytes(f, 0), path_bytes(f, 1));
        let share = if b0 + b1 > 0 {
            b1 as f64 / (b0 + b1) as f64
        } else {
            0.0
        };
        if g < tcp_mbps {
            below.push(format!("{name} at {loss}%"));
        }
        table.push(vec![
            (*name).into(),
            Cell::Num(*loss, 1),
            Cell::Num(g, 2),
            Cell::Num(share, 3),
            Cell::Num(tcp_mbps, 2),
        ]);
        match series.iter_mut().find(|s| s.label == *name) {
            Some(s) => s.points.push((*loss, g)),
            None => series.push(Series {
                label: name.to_string(),
                points: vec![(*loss, g)],
            }),
        }
    }
    series.push(Series {
        label: "TCP alone, clean path".into(),
        points: LOSS_PCT.iter().map(|&l| (l, tcp_mbps)).collect(),
    });
    let notes = vec![if below.is_empty() {
        format!("every MPTCP run beat TCP alone on the clean path ({tcp_mbps:.1} Mbit/s)")
    } else {
        format!(
            "below TCP alone on the clean path ({tcp_mbps:.1} Mbit/s): {}",
            below.join(", ")
        )
    }];
    Ok(Outcome {
        table,
        plot: Plot {
            title: "Goodput with loss on path 1".into(),
            x_label: "loss on path 1 (%)".into(),
            y_label: "goodput (Mbit/s)".into(),
            series,
            log_x: false,
        },
        notes,
        extra: Vec::new(),
    })
}
