//! The global options of the real-network commands (`cat`, `perf`), a stable contract:
//! `mptcp [--tun NAME] [--addr IP]... [--kernel] [--scheduler S] [--cc C]
//! [--path-manager P] [--checksum] [--pcap FILE] [--syn-cookies WHEN] <command>`.
//!
//! [`NetArgs::build`] turns them into a [`Backend`]: the user-space stack on a TUN device, or
//! the host kernel's MPTCP with `--kernel`. [`run_async`] runs a command on a tokio runtime
//! that exits promptly even while stdin is still being read.

use clap::Args;
use mptcp_net::{Backend, RuntimeConfig};
use mptcp_proto::{CcAlgorithm, EndpointConfig, SynCookies};
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Options shared by the commands that use a real network.
#[derive(Debug, Clone, Default, Args)]
pub struct NetArgs {
    /// TUN device the user-space stack uses (created, or attached to if it exists).
    #[arg(long, value_name = "NAME")]
    pub tun: Option<String>,
    /// An address of the stack, one per path (repeat for several paths).
    #[arg(long = "addr", value_name = "IP")]
    pub addrs: Vec<IpAddr>,
    /// Use the host kernel's MPTCP instead of the user-space stack.
    #[arg(long)]
    pub kernel: bool,
    /// Packet scheduler of the user-space stack: default (min-rtt), round-robin, redundant,
    /// blest[:LAMBDA], ecf[:BETA], active-backup[:DELAY] (e.g. active-backup:200ms).
    #[arg(long, value_name = "S")]
    pub scheduler: Option<String>,
    /// Congestion control: reno (default), cubic, or the coupled lia, olia, balia
    /// (user-space stack; with --kernel, the sockets' Linux name).
    #[arg(long, value_name = "C")]
    pub cc: Option<String>,
    /// Path manager of the user-space stack.
    #[arg(long = "path-manager", value_name = "P")]
    pub path_manager: Option<String>,
    /// Ask for DSS checksums.
    #[arg(long)]
    pub checksum: bool,
    /// Capture every packet the stack sends and receives into FILE (pcap, raw IP).
    #[arg(long, value_name = "FILE")]
    pub pcap: Option<PathBuf>,
    /// When listeners answer with SYN cookies: on-overflow (default, past the half-open
    /// limit), always, off (user-space stack).
    #[arg(long = "syn-cookies", value_name = "WHEN")]
    pub syn_cookies: Option<String>,
}

impl NetArgs {
    /// Checks the option combination and names; returns the engine configuration.
    pub fn endpoint_config(&self) -> Result<EndpointConfig, String> {
        let mut config = EndpointConfig::default();
        if let Some(name) = &self.scheduler {
            config.scheduler = mptcp_proto::scheduler::SchedulerKind::from_name(name)
                .map_err(|e| e.to_string())?;
        }
        if let Some(name) = &self.path_manager {
            config.path_manager = mptcp_proto::path_manager::PathManagerKind::from_name(name)
                .map_err(|e| e.to_string())?;
        }
        // With --kernel the name is Linux's (the socket option checks it).
        if let Some(name) = self.cc.as_ref().filter(|_| !self.kernel) {
            config.congestion = CcAlgorithm::from_name(name).map_err(|e| e.to_string())?;
        }
        config.checksum = self.checksum;
        if let Some(when) = &self.syn_cookies {
            config.syn_cookies = match when.as_str() {
                "on-overflow" => SynCookies::OnOverflow,
                "always" => SynCookies::Always,
                "off" => SynCookies::Off,
                other => {
                    return Err(format!(
                        "--syn-cookies {other:?}: expected on-overflow, always or off"
                    ))
                }
            };
        }
        if self.kernel {
            if self.tun.is_some() {
                return Err("--kernel and --tun exclude each other".into());
            }
            if self.pcap.is_some() {
                return Err("--pcap needs the user-space stack (--tun), not --kernel".into());
            }
            // The kernel takes these settings per namespace, not per socket: saying nothing
            // would measure something else than was asked.
            if self.scheduler.is_some() {
                return Err(
                    "--scheduler applies to the user-space stack (--tun); the kernel's \
                     scheduler is not selectable per socket"
                        .into(),
                );
            }
            if self.path_manager.is_some() {
                return Err(
                    "--path-manager applies to the user-space stack (--tun); configure \
                     the kernel's with `ip mptcp endpoint` and `ip mptcp limits`"
                        .into(),
                );
            }
            if self.syn_cookies.is_some() {
                return Err(
                    "--syn-cookies applies to the user-space stack (--tun); the kernel's \
                     follow sysctl net.ipv4.tcp_syncookies"
                        .into(),
                );
            }
            if self.checksum {
                return Err(
                    "--checksum applies to the user-space stack (--tun); the kernel's \
                     DSS checksums follow sysctl net.mptcp.checksum_enabled"
                        .into(),
                );
            }
        } else {
            if self.tun.is_none() {
                return Err("no stack chosen: give --tun NAME --addr IP, or --kernel".into());
            }
            if self.addrs.is_empty() {
                return Err("--tun needs at least one --addr IP".into());
            }
        }
        Ok(config)
    }

    /// Builds the chosen stack: starts the TUN runtime, or prepares the kernel backend.
    /// Must run inside a tokio runtime.
    pub async fn build(&self) -> Result<Backend, String> {
        let endpoint = self.endpoint_config()?;
        if self.kernel {
            return Ok(Backend::Kernel {
                local: self.addrs.first().copied(),
                cc: self.cc.clone(),
            });
        }
        let config = RuntimeConfig {
            tun_name: self.tun.clone().unwrap_or_default(),
            addrs: self.addrs.clone(),
            endpoint,
            pcap: self.pcap.clone(),
        };
        mptcp_net::Runtime::start(config)
            .await
            .map(Backend::User)
            .map_err(|e| e.to_string())
    }

    /// Resolves `HOST:PORT`, preferring an address of a family the stack has.
    pub async fn resolve(&self, target: &str) -> Result<SocketAddr, String> {
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host(target)
            .await
            .map_err(|e| format!("cannot resolve {target}: {e}"))?
            .collect();
        let usable = |a: &&SocketAddr| {
            self.addrs.is_empty() || self.addrs.iter().any(|l| l.is_ipv4() == a.is_ipv4())
        };
        addrs
            .iter()
            .find(usable)
            .or(addrs.first())
            .copied()
            .ok_or_else(|| format!("cannot resolve {target}: no address"))
    }
}

/// Runs `f` on a fresh tokio runtime. An `Err` is printed as one line prefixed by `what`
/// and gives exit status 1. The runtime is not waited for after `f` ends (a blocked stdin
/// read cannot hold the exit).
pub fn run_async<F>(what: &str, f: F) -> ExitCode
where
    F: Future<Output = Result<(), String>>,
{
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("{what}: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = rt.block_on(f);
    rt.shutdown_timeout(Duration::from_millis(100));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{what}: {e}");
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kernel_args() -> NetArgs {
        NetArgs {
            kernel: true,
            ..NetArgs::default()
        }
    }

    #[test]
    fn user_space_settings_are_refused_with_the_kernel() {
        let mut a = kernel_args();
        assert!(a.endpoint_config().is_ok());
        a.scheduler = Some("default".into());
        assert!(a.endpoint_config().unwrap_err().contains("--scheduler"));
        let mut a = kernel_args();
        a.path_manager = Some("default".into());
        assert!(a.endpoint_config().unwrap_err().contains("--path-manager"));
        let mut a = kernel_args();
        a.checksum = true;
        assert!(a
            .endpoint_config()
            .unwrap_err()
            .contains("checksum_enabled"));
        // The kernel takes a congestion control per socket: allowed.
        let mut a = kernel_args();
        a.cc = Some("bbr".into());
        assert!(a.endpoint_config().is_ok());
    }

    #[test]
    fn unknown_names_are_reported_before_combinations() {
        let mut a = kernel_args();
        a.scheduler = Some("nope".into());
        assert!(a
            .endpoint_config()
            .unwrap_err()
            .contains("unknown scheduler"));
    }

    #[test]
    fn user_space_stack_needs_tun_and_an_address() {
        let mut a = NetArgs::default();
        assert!(a.endpoint_config().unwrap_err().contains("no stack chosen"));
        a.tun = Some("t0".into());
        assert!(a.endpoint_config().unwrap_err().contains("--addr"));
        a.addrs = vec!["10.0.0.1".parse().unwrap()];
        a.scheduler = Some("min-rtt".into());
        a.checksum = true;
        let c = a.endpoint_config().unwrap();
        assert!(c.checksum);
        assert_eq!(c.syn_cookies, SynCookies::OnOverflow);
        a.syn_cookies = Some("always".into());
        assert_eq!(a.endpoint_config().unwrap().syn_cookies, SynCookies::Always);
        a.syn_cookies = Some("sometimes".into());
        assert!(a.endpoint_config().unwrap_err().contains("--syn-cookies"));
        let mut k = kernel_args();
        k.syn_cookies = Some("always".into());
        assert!(k.endpoint_config().unwrap_err().contains("tcp_syncookies"));
    }
}
