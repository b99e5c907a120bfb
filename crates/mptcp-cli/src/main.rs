//! The `mptcp` command: `sim` (the simulator), and `perf` and `cat` on a real network (the
//! global options in [`net_args`] choose the stack).

mod cat;
mod net_args;
mod perf;
mod sim;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Multipath TCP tools.
#[derive(Debug, Parser)]
#[command(name = "mptcp", version, about = "Multipath TCP (RFC 8684) tools")]
struct Cli {
    #[command(flatten)]
    net: net_args::NetArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a scenario file in the deterministic network simulator.
    Sim(sim::SimArgs),
    /// iperf3-compatible throughput test (server or client).
    Perf(perf::PerfArgs),
    /// Pipe stdin and stdout through one MPTCP connection.
    Cat(cat::CatArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Sim(args) => sim::run(&args),
        Command::Perf(args) => perf::run(&args, &cli.net),
        Command::Cat(args) => cat::run(&cli.net, &args),
    }
}
