//! Middleboxes and path faults (the robustness issue): every case of a list, both
//! directions, with the bytes sent, delivered and lost. A case passes only when the
//! receiving application got exactly the bytes sent, in order (the simulator compares
//! every byte) and the transfer finished.

use super::{mbps, Experiment, Outcome};
use crate::plot::{Plot, Series};
use crate::runner::Runner;
use crate::table::{Cell, Table};
use mptcp_sim::scenario::{Direction, MiddleboxKind, PathAction, PathEvent};
use mptcp_sim::{RunOptions, Scenario};
use std::time::Duration;

pub const EXPERIMENT: Experiment = Experiment {
    name: "robustness",
    title: "Middleboxes and path faults",
    about: "Two paths (50 Mbit/s, 10 and 20 ms one way), one MPTCP flow each way; each case adds \
            one middlebox or fault. `lost_bytes` is what was sent but never reached the \
            application; `intact` means the received bytes equal the sent ones, in order, with \
            none missing or repeated. `rewrite-payload` runs with DSS checksums on.",
    run,
};

/// A case: its name and how it changes the base scenario.
type Case = (&'static str, fn(&mut Scenario));

fn mb(s: &mut Scenario, path: usize, kind: MiddleboxKind) {
    s.paths[path].middlebox = Some(kind);
}

fn event(s: &mut Scenario, path: usize, at_ms: u64, action: PathAction) {
    s.paths[path].events.push(PathEvent {
        at: Duration::from_millis(at_ms),
        action,
    });
    s.paths[path].events.sort_by_key(|e| e.at);
}

const CASES: &[Case] = &[
    ("none", |_| {}),
    ("strip-mptcp (SYN) on path 0", |s| {
        mb(s, 0, MiddleboxKind::StripMptcp)
    }),
    ("strip-mptcp-synack on path 0", |s| {
        mb(s, 0, MiddleboxKind::StripMptcpSynAck)
    }),
    ("strip-mptcp-data on path 0", |s| {
        mb(s, 0, MiddleboxKind::StripMptcpData)
    }),
    ("strip-mptcp-data on path 1 (joins)", |s| {
        mb(s, 1, MiddleboxKind::StripMptcpData)
    }),
    ("strip-mptcp (SYN) on path 1 (joins)", |s| {
        mb(s, 1, MiddleboxKind::StripMptcp)
    }),
    ("drop-mptcp-syn on path 0", |s| {
        mb(s, 0, MiddleboxKind::DropMptcpSyn)
    }),
    ("seq-rewrite on both paths", |s| {
        mb(s, 0, MiddleboxKind::SeqRewrite);
        mb(s, 1, MiddleboxKind::SeqRewrite);
    }),
    ("split on both paths", |s| {
        mb(s, 0, MiddleboxKind::Split);
        mb(s, 1, MiddleboxKind::Split);
    }),
    ("coalesce on both paths", |s| {
        mb(s, 0, MiddleboxKind::Coalesce);
        mb(s, 1, MiddleboxKind::Coalesce);
    }),
    ("nat on path 1 (join from behind NAT)", |s| {
        mb(s, 1, MiddleboxKind::Nat)
    }),
    ("nat on both paths", |s| {
        mb(s, 0, MiddleboxKind::Nat);
        mb(s, 1, MiddleboxKind::Nat);
    }),
    ("rewrite-payload on path 1, checksums", |s| {
        mb(s, 1, MiddleboxKind::RewritePayload);
        s.flows[0].checksum = true;
    }),
    ("2 % loss, 1 % reordering, 1 % duplication on both", |s| {
        for p in s.paths.iter_mut() {
            p.loss = 0.02;
            p.reorder = 0.01;
            p.duplicate = 0.01;
        }
    }),
    ("blackhole path 1 from 1 s to 4 s", |s| {
        event(s, 1, 1000, PathAction::Down);
        event(s, 1, 4000, PathAction::Up);
    }),
    ("blackhole path 0 (initial) from 1 s to 4 s", |s| {
        event(s, 0, 1000, PathAction::Down);
        event(s, 0, 4000, PathAction::Up);
    }),
    ("blackhole path 0 for good from 1 s", |s| {
        event(s, 0, 1000, PathAction::Down);
    }),
    ("interface of path 1 down 1 s to 4 s", |s| {
        event(s, 1, 1000, PathAction::IfaceDown);
        event(s, 1, 4000, PathAction::IfaceUp);
    }),
    ("interface of path 0 down 1 s to 4 s", |s| {
        event(s, 0, 1000, PathAction::IfaceDown);
        event(s, 0, 4000, PathAction::IfaceUp);
    }),
    ("both paths down 1 s to 3 s", |s| {
        for p in 0..2 {
            event(s, p, 1000, PathAction::Down);
            event(s, p, 3000, PathAction::Up);
        }
    }),
];

fn run(base: &Scenario, runner: &Runner) -> Result<Outcome, String> {
    if base.paths.len() != 2 || base.flows.len() != 1 {
        return Err("robustness.toml needs two paths and one MPTCP flow".into());
    }
    let mut variants = Vec::new();
    let mut keys = Vec::new();
    for (name, change) in CASES {
        for dir in [Direction::Upload, Direction::Download] {
            let mut s = base.clone();
            s.flows[0].direction = dir;
            change(&mut s);
            variants.push(s);
            keys.push((*name, dir));
        }
    }
    let reports = runner.run_all(&variants, &RunOptions::default())?;
    let mut table = Table::new(&[
        "case",
        "direction",
        "bytes_sent",
        "bytes_delivered",
        "lost_bytes",
        "intact",
        "fallback",
        "subflows",
        "completion_s",
        "goodput_mbps",
    ]);
    let mut failed = Vec::new();
    let mut up = Vec::new();
    let mut down = Vec::new();
    for (i, ((name, dir), r)) in keys.iter().zip(&reports).enumerate() {
        let f = &r.flows[0];
        let ok = f.integrity_ok && f.completion_time_s.is_some();
        let dir_name = match dir {
            Direction::Upload => "upload",
            Direction::Download => "download",
        };
        if !ok {
            failed.push(format!("{name} ({dir_name})"));
        }
        let secs = f.completion_time_s.unwrap_or(r.sim_time_s);
        let g = mbps(f.bytes_delivered, secs);
        let point = ((i / 2) as f64, g);
        match dir {
            Direction::Upload => up.push(point),
            Direction::Download => down.push(point),
        }
        table.push(vec![
            (*name).into(),
            dir_name.into(),
            Cell::Num(f.bytes_sent as f64, 0),
            Cell::Num(f.bytes_delivered as f64, 0),
            Cell::Num(f.bytes_sent.saturating_sub(f.bytes_delivered) as f64, 0),
            if ok { "yes" } else { "NO" }.into(),
            if f.fallback { "yes" } else { "no" }.into(),
            Cell::Num(f.subflows.len() as f64, 0),
            match f.completion_time_s {
                Some(t) => Cell::Num(t, 3),
                None => "-".into(),
            },
            Cell::Num(g, 1),
        ]);
    }
    let total: u64 = reports.iter().map(|r| r.flows[0].bytes_sent).sum();
    let lost: u64 = reports
        .iter()
        .map(|r| {
            r.flows[0]
                .bytes_sent
                .saturating_sub(r.flows[0].bytes_delivered)
        })
        .sum();
    let mut notes = vec![format!(
        "{} runs ({} cases x 2 directions), {} bytes sent in all, {} lost",
        reports.len(),
        CASES.len(),
        total,
        lost
    )];
    notes.push(if failed.is_empty() {
        "every run delivered exactly the bytes sent, in order".to_string()
    } else {
        format!("NOT intact or unfinished: {}", failed.join(", "))
    });
    Ok(Outcome {
        table,
        plot: Plot {
            title: "Goodput per robustness case (index = row pair in the table)".into(),
            x_label: "case".into(),
            y_label: "goodput (Mbit/s)".into(),
            series: vec![
                Series {
                    label: "upload".into(),
                    points: up,
                },
                Series {
                    label: "download".into(),
                    points: down,
                },
            ],
            log_x: false,
        },
        notes,
        extra: Vec::new(),
    })
}
