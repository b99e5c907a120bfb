//! A long soak run (see `mptcp_sim::soak`): many connections opening and closing for hours
//! of simulated time over faulty paths with middleboxes; every byte checked, memory
//! measured at quiet checkpoints. Prints a summary (or the JSON report with `--json`) and
//! exits non-zero on any violation.
//!
//! Usage: `cargo run --release -p mptcp-sim --example soak -- [--seed N] [--duration 2h]
//!         [--checkpoints N] [--interarrival 500ms] [--max-bytes 4MB] [--json]`

use mptcp_sim::soak::{run_soak, SoakConfig};
use mptcp_sim::units::{parse_duration, parse_size};

fn usage(msg: &str) -> ! {
    eprintln!("soak: {msg}");
    eprintln!(
        "usage: soak [--seed N] [--duration 2h] [--checkpoints N] [--interarrival 500ms] \
         [--max-bytes 4MB] [--json]"
    );
    std::process::exit(2);
}

fn main() {
    let mut cfg = SoakConfig::new(1, std::time::Duration::from_secs(2 * 3600));
    let mut json = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || {
            args.next()
                .unwrap_or_else(|| usage(&format!("{a} needs a value")))
        };
        match a.as_str() {
            "--seed" => cfg.seed = val().parse().unwrap_or_else(|_| usage("bad --seed")),
            "--duration" => {
                cfg.duration = parse_duration(&val()).unwrap_or_else(|| usage("bad --duration"))
            }
            "--checkpoints" => {
                cfg.checkpoints = val().parse().unwrap_or_else(|_| usage("bad --checkpoints"))
            }
            "--interarrival" => {
                cfg.mean_interarrival =
                    parse_duration(&val()).unwrap_or_else(|| usage("bad --interarrival"))
            }
            "--max-bytes" => {
                cfg.max_bytes = parse_size(&val()).unwrap_or_else(|| usage("bad --max-bytes"))
            }
            "--json" => json = true,
            other => usage(&format!("unknown argument {other}")),
        }
    }
    let report = run_soak(cfg);
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
    } else {
        println!(
            "seed {}  simulated {:.0} s  wall {:.1} s  middleboxes {:?}",
            report.seed, report.sim_time_s, report.wall_time_s, report.middleboxes
        );
        println!(
            "connections: {} opened ({} MPTCP, {} TCP, {} from the server side), {} closed: \
             {} completed, failed {:?}, {} fell back, {} connect errors",
            report.opened(),
            report.opened_mptcp,
            report.opened_tcp,
            report.opened_reverse,
            report.closed(),
            report.completed,
            report.failed,
            report.fallbacks,
            report.connect_errors
        );
        println!(
            "bytes: {} sent, {} delivered and verified, {} corrupt, {} duplicated, {} lost; \
             {} packets, {} faults, {} timer spins",
            report.bytes_sent,
            report.bytes_delivered,
            report.bytes_corrupt,
            report.bytes_duplicated,
            report.bytes_lost,
            report.packets,
            report.faults,
            report.timer_spins
        );
        println!("checkpoints (time s, open, client conns/tuples/tokens/timers/buffered, server ..., pool idle, in network, NAT, queued):");
        for c in &report.checkpoints {
            println!(
                "  {:>8.0} {:>3}  {}/{}/{}/{}/{}  {}/{}/{}/{}/{}  {:>5} {:>5} {:>5} {:>3}",
                c.time_s,
                c.app_open,
                c.client.connections,
                c.client.tuples,
                c.client.tokens,
                c.client.timers,
                c.client.buffered_bytes,
                c.server.connections,
                c.server.tuples,
                c.server.tokens,
                c.server.timers,
                c.server.buffered_bytes,
                c.pool_idle,
                c.packets_in_network,
                c.nat_mappings,
                c.queued_actions
            );
        }
    }
    for b in &report.broken {
        eprintln!("soak: broken stream: {b}");
    }
    if let Err(errs) = report.check() {
        for e in errs {
            eprintln!("soak: {e}");
        }
        std::process::exit(1);
    }
}
