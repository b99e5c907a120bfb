//! The user-space stack on a TUN device: [`Runtime`] owns the device, the host
//! configuration guard and the event-loop task; [`Handle`] is what streams and listeners use.

use crate::pcap::PcapFile;
use crate::state::Shared;
use crate::tun::{self, TunGuard};
use mptcp_proto::{Endpoint, EndpointConfig};
use std::io;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How to set the stack up.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// TUN device to create or attach to.
    pub tun_name: String,
    /// The stack's addresses, one per path; each is routed to the device.
    pub addrs: Vec<IpAddr>,
    /// Engine settings. `announce_addrs` is filled from `addrs` when left empty; `mss` is
    /// lowered to what the device carries ([`tun::max_mss`]).
    pub endpoint: EndpointConfig,
    /// Capture every packet sent and received into this file.
    pub pcap: Option<PathBuf>,
}

/// A running user-space stack. Dropping it stops the loop and undoes the host configuration.
pub struct Runtime {
    handle: Handle,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
    /// Dropped last: routes and sysctls go back once the loop stops.
    _guard: TunGuard,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("tun", &self._guard.name())
            .finish()
    }
}

/// A cheap, clonable reference to a running stack.
#[derive(Clone)]
pub struct Handle {
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handle").finish_non_exhaustive()
    }
}

impl Runtime {
    /// Opens the device, configures the host and starts the event loop on the current tokio
    /// runtime. Needs root (or CAP_NET_ADMIN).
    pub async fn start(config: RuntimeConfig) -> io::Result<Runtime> {
        if config.addrs.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the stack needs at least one address (--addr IP)",
            ));
        }
        let pcap = match &config.pcap {
            Some(p) => Some(PcapFile::create(p)?),
            None => None,
        };
        let (dev, guard) = tun::open(&config.tun_name, &config.addrs)?;
        let mut ep_config = config.endpoint.clone();
        if ep_config.announce_addrs.is_empty() {
            ep_config.announce_addrs = config.addrs.clone();
        }
        ep_config.mss = ep_config.mss.min(tun::max_mss(&config.addrs));
        let ep = Endpoint::new(ep_config, rand::random());
        let shared = Shared::new(ep, config.addrs.clone());
        let (stop, stop_rx) = watch::channel(false);
        let task = tokio::spawn(crate::driver::run(shared.clone(), dev, pcap, stop_rx));
        Ok(Runtime {
            handle: Handle { shared },
            stop,
            task: Some(task),
            _guard: guard,
        })
    }

    /// A handle for streams and listeners.
    pub fn handle(&self) -> &Handle {
        &self.handle
    }

    /// Stops the loop and waits for it to finish (the capture is flushed), then undoes the
    /// host configuration.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

impl Handle {
    /// The stack's addresses.
    pub fn addrs(&self) -> Vec<IpAddr> {
        self.shared.lock().addrs.clone()
    }

    /// Number of connections the engine holds (including closing ones).
    pub fn connection_count(&self) -> usize {
        self.shared.lock().ep.connection_count()
    }
}
