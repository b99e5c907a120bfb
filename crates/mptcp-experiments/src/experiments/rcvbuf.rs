//! Receive buffer versus RTT difference (seed 001): two 100 Mbit/s paths, extra delay on
//! one, buffers of 0.5 to 8 MB, per scheduler.

use super::{check_integrity, mbps, scheduler, Experiment, Outcome};
use crate::plot::{Plot, Series};
use crate::runner::Runner;
use crate::table::{Cell, Table};
use mptcp_sim::scenario::FlowKind;
use mptcp_sim::{RunOptions, Scenario};
use std::time::Duration;

/// Shortfall against TCP on the fast path that the notes do not count as falling below
/// it: MPTCP's DSS option and join traffic (as in `mptcp-sim/tests/rcvbuf.rs`).
const TOLERANCE: f64 = 0.03;

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
    // (ratio to TCP on the fast path, description) of min-rtt's worst point.
    let mut worst: Option<(f64, String)> = None;
    for ((sch, extra, b), r) in keys.iter().zip(runs) {
        let f = &r.flows[0];
        check_integrity(&format!("{sch} extra={extra}ms buffer={b}KB"), f)?;
        let g = mbps(f.bytes_delivered, r.sim_time_s);
        let bi = BUFFERS_KB.iter().position(|x| x == b).unwrap_or(0);
        let mb = *b as f64 / 1000.0;
        if *sch == "min-rtt" {
            let ratio = g / single[bi].max(f64::MIN_POSITIVE);
            let point = format!("+{extra} ms, {mb} MB: {g:.1} against {:.1}", single[bi]);
            if ratio < 1.0 - TOLERANCE {
                below.push(point.clone());
            }
            if worst.as_ref().is_none_or(|(w, _)| ratio < *w) {
                worst = Some((ratio, point));
            }
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
    let worst = worst.map_or(String::new(), |(r, p)| {
        format!(" (worst: {p} Mbit/s, {:.1} %)", (r - 1.0) * 100.0)
    });
    let notes = vec![if below.is_empty() {
        format!(
            "min-rtt (with opportunistic retransmission, penalisation and its window guard) \
             never fell more than {:.0} % below TCP on the fast path alone{worst}; the DSS \
             option costs MPTCP about 1.4 % of the payload per segment",
            TOLERANCE * 100.0
        )
    } else {
        format!(
            "min-rtt more than {:.0} % below the fast path alone: {}",
            TOLERANCE * 100.0,
            below.join("; ")
        )
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
