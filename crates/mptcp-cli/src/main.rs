//! The `mptcp` command. For now only `mptcp sim`; `perf` and `cat` come later as further
//! subcommands.

mod perf;
mod sim;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Multipath TCP tools.
#[derive(Debug, Parser)]
#[command(name = "mptcp", version, about = "Multipath TCP (RFC 8684) tools")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a scenario file in the deterministic network simulator.
    Sim(sim::SimArgs),
    /// iperf3-compatible throughput test (server or client).
    Perf(perf::PerfArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Sim(args) => sim::run(&args),
        // The global options (--tun/--kernel) will choose the backend.
        Command::Perf(args) => perf::run(&args, &perf::Backend::Kernel),
    }
}
