//! Active backup with an expiration delay (seed 002 ch. 2): the share of traffic on the
//! backup path as the delay grows.

use super::{check_integrity, path_bytes, scheduler, Experiment, Outcome};
use crate::plot::{Plot, Series};
use crate::runner::Runner;
use crate::table::{Cell, Table};
use mptcp_sim::{RunOptions, Scenario};
use std::time::Duration;

pub const EXPERIMENT: Experiment = Experiment {
    name: "backup",
    title: "Active backup: traffic on the backup path versus expiration delay",
    about: "Seed 002 ch. 2: path 0 is regular, path 1 is marked backup (`backup = true`); data \
            that waited longer than the expiration delay may use the backup subflow. Delay 0 \
            should equal the default scheduler with no path marked backup; an infinite delay \
            is strict backup. The share is that of the bytes sent in steady state: each point \
            runs at least 60 s and the first 5 s (slow start) are left out.",
    run,
};

/// Runs per point when a path has a random element (loss, reordering, duplication, sender
/// jitter, on by default): seeds `seed` to `seed + SEEDS - 1`, averaged. Without one, the
/// seed changes nothing (keys and ports only) and one run says it all.
const SEEDS: u64 = 5;

/// Shortest run per point: the congestion windows' sawtooth and the way the two paths'
/// ACK clocks meet make the share of a short run wander by a few thousandths, more than
/// what separates neighbouring delays where both paths are saturated.
const MIN_DURATION: Duration = Duration::from_secs(60);

/// Left out of the share: slow start and the join.
const WARMUP: Duration = Duration::from_secs(5);

/// Interval of the byte counts the share is taken from.
const SAMPLE: Duration = Duration::from_secs(1);

const DELAYS_MS: [f64; 9] = [
    0.0,
    10.0,
    20.0,
    50.0,
    100.0,
    200.0,
    500.0,
    1000.0,
    f64::INFINITY,
];

/// Bytes flow 0 sent on `path` by time `t` (the last sample at or before it).
fn sent_by(r: &mptcp_sim::Report, path: usize, t: f64) -> u64 {
    r.samples
        .iter()
        .filter(|s| s.flow == 0 && s.path == path && s.time_s <= t + 1e-9)
        .map(|s| s.bytes)
        .max()
        .unwrap_or(0)
}

/// Share of the backup path (path 1) in the bytes sent after the warm-up (all of them if
/// the run ended sooner).
fn share(r: &mptcp_sim::Report) -> f64 {
    let f = &r.flows[0];
    let (total0, total1) = (path_bytes(f, 0), path_bytes(f, 1));
    let w = WARMUP.as_secs_f64();
    let (b0, b1) = if r.sim_time_s > 2.0 * w {
        (
            total0.saturating_sub(sent_by(r, 0, w)),
            total1.saturating_sub(sent_by(r, 1, w)),
        )
    } else {
        (total0, total1)
    };
    if b0 + b1 == 0 {
        0.0
    } else {
        b1 as f64 / (b0 + b1) as f64
    }
}

fn run(base: &Scenario, runner: &Runner) -> Result<Outcome, String> {
    if base.paths.len() != 2 || !base.paths[1].backup || base.paths[0].backup {
        return Err("backup.toml needs path 0 regular and path 1 with backup = true".into());
    }
    // Reference: the default scheduler with neither path marked backup.
    let mut reference = base.clone();
    reference.paths[1].backup = false;
    reference.flows[0].scheduler = scheduler("default")?;
    let mut variants = vec![reference];
    for v in variants.iter_mut() {
        v.duration = v.duration.max(MIN_DURATION);
    }
    for d in DELAYS_MS {
        let mut s = base.clone();
        let name = if d.is_finite() {
            format!("active-backup:{d}ms")
        } else {
            "active-backup:inf".to_string()
        };
        s.flows[0].scheduler = scheduler(&name)?;
        s.duration = s.duration.max(MIN_DURATION);
        variants.push(s);
    }
    let random = base.paths.iter().any(|p| {
        p.loss > 0.0 || p.reorder > 0.0 || p.duplicate > 0.0 || p.jitter != Some(Duration::ZERO)
    });
    let seeds = if random { SEEDS } else { 1 };
    let opts = RunOptions {
        sample_interval: Some(SAMPLE),
        ..RunOptions::default()
    };
    let mut per_seed = Vec::new();
    for k in 0..seeds {
        let r = Runner {
            seed: runner.seed + k,
            ..runner.clone()
        };
        per_seed.push(r.run_all(&variants, &opts)?);
    }
    for (k, reports) in per_seed.iter().enumerate() {
        for (i, r) in reports.iter().enumerate() {
            check_integrity(&format!("seed +{k} run {i}"), &r.flows[0])?;
        }
    }
    let mean = |i: usize, f: &dyn Fn(&mptcp_sim::Report) -> f64| -> f64 {
        per_seed.iter().map(|rs| f(&rs[i])).sum::<f64>() / seeds as f64
    };
    let goodput = |r: &mptcp_sim::Report| r.flows[0].goodput_bps / 1e6;
    let reference_share = mean(0, &share);
    let mut table = Table::new(&["expiration_delay_ms", "backup_share", "goodput_mbps"]);
    let mut points = Vec::new();
    let mut shares = Vec::new();
    for (i, d) in DELAYS_MS.iter().enumerate() {
        let s = mean(i + 1, &share);
        shares.push(s);
        table.push(vec![
            Cell::Num(*d, 0),
            Cell::Num(s, 4),
            Cell::Num(mean(i + 1, &goodput), 2),
        ]);
        if d.is_finite() {
            points.push((d.max(1.0), s));
        }
    }
    table.push(vec![
        "default, no backup".into(),
        Cell::Num(reference_share, 4),
        Cell::Num(mean(0, &goodput), 2),
    ]);
    let monotonic = shares.windows(2).all(|w| w[1] <= w[0]);
    let notes = vec![
        format!(
            "backup share {} as the delay grows ({})",
            if monotonic {
                "never rises"
            } else {
                "RISES somewhere"
            },
            shares
                .iter()
                .map(|s| format!("{s:.4}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        format!(
            "delay 0: share {:.4}; default scheduler without backup: {reference_share:.4} ({})",
            shares[0],
            if (shares[0] - reference_share).abs() < 1e-9 {
                "equal"
            } else {
                "DIFFERENT"
            }
        ),
    ];
    Ok(Outcome {
        table,
        plot: Plot {
            title: "Share of bytes on the backup path".into(),
            x_label: "expiration delay (ms; 0 drawn at 1)".into(),
            y_label: "backup share".into(),
            series: vec![Series {
                label: "active backup".into(),
                points,
            }],
            log_x: true,
        },
        notes,
        extra: Vec::new(),
    })
}
