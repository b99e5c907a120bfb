//! Receive buffer versus RTT difference (seed 001): two 100 Mbit/s paths, extra delay on
//! one, buffers of 0.5 to 8 MB, per scheduler.

use super::{check_integrity, mbps, scheduler, Experiment, Outcome};
use crate::plot::{Plot, Series};
use crate::runner::Runner;
use crate::table::{Cell, Table};
use mptcp_sim::scenario::FlowKind;
use mptcp_sim::{RunOptions, Scenario};
use std::time::Duration;

pub const EXPERIMENT: Experiment = Experiment {
    name: "rcvbuf",
    title: "Receive buffer versus RTT difference",
    about: "Seed 001: two 100 Mbit/s paths, path 1 with 0, 10, 100 or 500 ms of extra one-way \
            delay, send and receive buffers of 0.5 to 8 MB, per scheduler. `single_path_mbps` \
            is plain TCP on the fast path with the same buffers: with opportunistic \
            retransmission and penalisation (min-rtt) MPTCP should never fall below it.",
    run,
};

const SCHEDULERS: [&str; 5] = ["min-rtt", "round-robin", "blest", "ecf", "redundant"];
const EXTRA_MS: [u64; 4] = [0, 10, 100, 500];
const BUFFERS_KB: [u64; 5] = [500, 1000, 2000, 4000, 8000];

fn run(base: &Scenario, runner: &Runner) -> Result<Outcome, String> {
    if base.paths.len() != 2 || base.flows.len() != 1 {
        return Err("rcvbuf.toml needs two paths and one MPTCP flow".into());
    }
    let mut variants = Vec::new();
    let mut keys = Vec::new();
    // References: TCP on the fast path, per buffer.
    for b in BUFFERS_KB {
        let mut s = base.clone();
        s.flows[0].kind = FlowKind::Tcp;
        s.flows[0].paths = vec![0];
        s.flows[0].recv_buffer = Some(b * 1000);
        s.flows[0].send_buffer = Some(b * 1000);
        variants.push(s);
    }
    for sch in SCHEDULERS {
        for extra in EXTRA_MS {
            for b in BUFFERS_KB {
                let mut s = base.clone();
                s.paths[1].delay = base.paths[1].delay + Duration::from_millis(extra);
                s.flows[0].scheduler = scheduler(sch)?;
                s.flows[0].recv_buffer = Some(b * 1000);
                s.flows[0].send_buffer = Some(b * 1000);
                variants.push(s);
                keys.push((sch, extra, b));
            }
        }
    }
    let reports = runner.run_all(&variants, &RunOptions::default())?;
    let (refs, runs) = reports.split_at(BUFFERS_KB.len());
    let mut single = Vec::new();
    for (b, r) in BUFFERS_KB.iter().zip(refs) {
        check_integrity(&format!("tcp buffer={b}KB"), &r.flows[0])?;
        single.push(mbps(r.flows[0].bytes_delivered, r.sim_time_s));
    }
    let mut table = Table::new(&[
        "scheduler",
        "extra_delay_ms",
        "buffer_mb",
        "goodput_mbps",
        "single_path_mbps",
    ]);
    let mut series: Vec<Series> = Vec::new();
    let mut below = Vec::new();
    for ((sch, extra, b), r) in keys.iter().zip(runs) {
        let f = &r.flows[0];
        check_integrity(&format!("{sch} extra={extra}ms buffer={b}KB"), f)?;
        let g = mbps(f.bytes_delivered, r.sim_time_s);
        let bi = BUFFERS_KB.iter().position(|x| x == b).unwrap_or(0);
        let mb = *b as f64 / 1000.0;
        if *sch == "min-rtt" && g < single[bi] {
            below.push(format!("+{extra} ms, {mb} MB: {g:.1} < {:.1}", single[bi]));
        }
        table.push(vec![
            (*sch).into(),
            Cell::Num(*extra as f64, 0),
            Cell::Num(mb, 1),
            Cell::Num(g, 2),
            Cell::Num(single[bi], 2),
        ]);
        if *sch == "min-rtt" {
            let label = format!("min-rtt, +{extra} ms");
            match series.iter_mut().find(|s| s.label == label) {
                Some(s) => s.points.push((mb, g)),
                None => series.push(Series {
                    label,
                    points: vec![(mb, g)],
                }),
            }
        }
    }
    series.push(Series {
        label: "TCP, fast path alone".into(),
        points: BUFFERS_KB
            .iter()
            .zip(&single)
            .map(|(b, g)| (*b as f64 / 1000.0, *g))
            .collect(),
    });
    let notes = vec![if below.is_empty() {
        "min-rtt (with opportunistic retransmission and penalisation) never fell below TCP on \
         the fast path alone"
            .to_string()
    } else {
        format!("min-rtt below the fast path alone: {}", below.join("; "))
    }];
    Ok(Outcome {
        table,
        plot: Plot {
            title: "Goodput vs buffer, min-rtt scheduler".into(),
            x_label: "send and receive buffer (MB)".into(),
            y_label: "goodput (Mbit/s)".into(),
            series,
            log_x: true,
        },
        notes,
        extra: Vec::new(),
    })
}
