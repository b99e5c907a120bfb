//! `mptcp perf`: an iperf3-compatible throughput test (a stable contract, see DESIGN.md):
//!
//! ```text
//! mptcp perf server [-p PORT] [-1] [-J]
//! mptcp perf client HOST [-p PORT] [-t SECS|-n BYTES] [-R] [-J] [-P N] [-l LEN]
//! ```
//!
//! Either end talks to the real iperf3 (3.x control protocol, TCP tests). Exit status: 0 when
//! the test completed, 1 when it failed (one line on stderr), 2 for a usage error.

mod engine;
pub mod json;
pub mod protocol;
pub mod report;
pub mod transport;
mod tun;

use crate::net_args::NetArgs;
use clap::{Args, Subcommand};
use std::process::ExitCode;

/// Arguments of `mptcp perf`.
#[derive(Debug, Args)]
pub struct PerfArgs {
    #[command(subcommand)]
    pub command: PerfCommand,
}

/// `mptcp perf server` or `mptcp perf client`.
#[derive(Debug, Subcommand)]
pub enum PerfCommand {
    /// Run an iperf3-compatible server.
    Server(ServerArgs),
    /// Run an iperf3-compatible client.
    Client(ClientArgs),
}

/// Arguments of `mptcp perf server`.
#[derive(Debug, Args)]
pub struct ServerArgs {
    /// Port to listen on.
    #[arg(short = 'p', long, default_value_t = 5201)]
    pub port: u16,
    /// Serve one test, then exit.
    #[arg(short = '1', long = "one-off")]
    pub one_off: bool,
    /// Print one iperf3-shaped JSON object per test instead of text.
    #[arg(short = 'J', long = "json")]
    pub json: bool,
}

/// Arguments of `mptcp perf client`.
#[derive(Debug, Args)]
pub struct ClientArgs {
    /// Server to connect to (name or address).
    pub host: String,
    /// Server port.
    #[arg(short = 'p', long, default_value_t = 5201)]
    pub port: u16,
    /// Seconds to transmit for (default 10).
    #[arg(short = 't', long, conflicts_with = "bytes")]
    pub time: Option<u64>,
    /// Bytes to transmit instead of a time (K, M, G suffixes: powers of 1024).
    #[arg(short = 'n', long = "bytes", value_parser = parse_size)]
    pub bytes: Option<u64>,
    /// Reverse: the server sends, the client receives.
    #[arg(short = 'R', long)]
    pub reverse: bool,
    /// Print an iperf3-shaped JSON object instead of text.
    #[arg(short = 'J', long = "json")]
    pub json: bool,
    /// Parallel streams.
    #[arg(short = 'P', long, default_value_t = 1,
          value_parser = clap::value_parser!(u16).range(1..=protocol::MAX_STREAMS as i64))]
    pub parallel: u16,
    /// Length of one write (K, M suffixes; default 128K).
    #[arg(short = 'l', long = "length", value_parser = parse_size)]
    pub length: Option<u64>,
}

/// iperf3's sizes: a number with an optional K, M, G or T suffix (powers of 1024).
fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (num, mult) = match s.chars().last() {
        Some(c @ ('k' | 'K' | 'm' | 'M' | 'g' | 'G' | 't' | 'T')) => {
            let m: u64 = match c.to_ascii_lowercase() {
                'k' => 1 << 10,
                'm' => 1 << 20,
                'g' => 1 << 30,
                _ => 1 << 40,
            };
            (&s[..s.len() - 1], m)
        }
        _ => (s, 1),
    };
    let v: f64 = num.parse().map_err(|_| format!("invalid size '{s}'"))?;
    if !(v.is_finite() && v > 0.0) {
        return Err(format!("invalid size '{s}'"));
    }
    let b = v * mult as f64;
    if b > u64::MAX as f64 / 2.0 {
        return Err(format!("size '{s}' is too large"));
    }
    Ok(b as u64)
}

/// Runs the subcommand on the stack the global options choose: the user-space stack with
/// `--tun NAME --addr IP`, the kernel's MPTCP with `--kernel` (or without `--tun`).
pub fn run(args: &PerfArgs, net: &NetArgs) -> ExitCode {
    let what = match &args.command {
        PerfCommand::Server(_) => "mptcp perf server",
        PerfCommand::Client(_) => "mptcp perf client",
    };
    let tun = net.tun.is_some() && !net.kernel;
    if tun {
        if let Err(e) = net.endpoint_config() {
            eprintln!("{what}: {e}");
            return ExitCode::from(2);
        }
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("{what}: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    if !tun {
        return rt.block_on(run_on(&transport::KernelTransport, args));
    }
    let code = rt.block_on(async {
        let backend = match net.build().await {
            Ok(mptcp_net::Backend::User(r)) => r,
            Ok(_) => {
                eprintln!("{what}: the user-space stack did not start");
                return ExitCode::from(1);
            }
            Err(e) => {
                eprintln!("{what}: cannot start the user-space stack: {e}");
                return ExitCode::from(1);
            }
        };
        let t = tun::TunTransport::new(backend, net.cc.clone());
        let code = tokio::select! {
            c = run_on(&t, args) => c,
            sig = mptcp_net::signal::terminated() => {
                eprintln!("{what}: interrupted by {sig}");
                ExitCode::from(1)
            }
        };
        t.shutdown().await;
        code
    });
    rt.shutdown_timeout(std::time::Duration::from_millis(100));
    code
}

/// Runs the subcommand on a transport.
pub async fn run_on<T: transport::PerfTransport>(t: &T, args: &PerfArgs) -> ExitCode {
    match &args.command {
        PerfCommand::Server(a) => {
            let o = engine::ServerOpts {
                port: a.port,
                one_off: a.one_off,
                json: a.json,
            };
            match engine::run_server(t, &o).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("mptcp perf server: {e}");
                    ExitCode::from(1)
                }
            }
        }
        PerfCommand::Client(a) => {
            let len = a.length.unwrap_or(protocol::DEFAULT_TCP_BLKSIZE as u64);
            if len == 0 || len > protocol::MAX_BLKSIZE as u64 {
                eprintln!(
                    "mptcp perf client: block size {len} out of range (1..={})",
                    protocol::MAX_BLKSIZE
                );
                return ExitCode::from(2);
            }
            let params = protocol::Params {
                // As iperf3: -n without -t means no time limit.
                time: match (a.time, a.bytes) {
                    (Some(t), _) => t,
                    (None, Some(_)) => 0,
                    (None, None) => 10,
                },
                num: a.bytes.unwrap_or(0),
                len: len as usize,
                parallel: a.parallel as usize,
                reverse: a.reverse,
                ..protocol::Params::default()
            };
            if params.time == 0 && params.num == 0 {
                eprintln!("mptcp perf client: a test needs -t SECS > 0 or -n BYTES");
                return ExitCode::from(2);
            }
            let o = engine::ClientOpts {
                host: a.host.clone(),
                port: a.port,
                params,
                json: a.json,
            };
            let (r, doc) = engine::run_client(t, &o).await;
            if a.json {
                println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
            }
            match r {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("mptcp perf client: {e}");
                    ExitCode::from(1)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("100"), Ok(100));
        assert_eq!(parse_size("1K"), Ok(1024));
        assert_eq!(parse_size("10M"), Ok(10 << 20));
        assert_eq!(parse_size("1.5k"), Ok(1536));
        assert!(parse_size("x").is_err());
        assert!(parse_size("-1").is_err());
        assert!(parse_size("1e30T").is_err());
    }
}
