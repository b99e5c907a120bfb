//! The event loop: drives the sans-IO engine with real time and the TUN device.
//!
//! Each turn: run expired timers, drain `poll_transmit` (a bounded batch) and the events
//! under the lock, write the batch to the device outside the lock, then wait for the first
//! of: a packet from the device, an application call, the next timer, or the stop signal.

use crate::pcap::PcapFile;
use crate::state::Shared;
use std::sync::Arc;
use tokio::sync::watch;
use tun_rs::AsyncDevice;

/// Most packets taken from the engine per turn before the device is read again.
const TX_BATCH: usize = 64;
/// Most packets read from the device per turn without blocking.
const RX_BATCH: usize = 64;
/// Receive buffer: the largest IP packet.
const RX_BUF: usize = 65536;

/// Runs until `stop` turns true or the device fails; the reason lands in the shared state.
pub(crate) async fn run(
    shared: Arc<Shared>,
    dev: AsyncDevice,
    mut pcap: Option<PcapFile>,
    mut stop: watch::Receiver<bool>,
) {
    let why = match turn_loop(&shared, &dev, &mut pcap, &mut stop).await {
        Ok(()) => "runtime shut down".to_string(),
        Err(e) => format!("TUN device error: {e}"),
    };
    if let Some(p) = pcap.as_mut() {
        p.finish();
    }
    shared.lock().stop(why);
}

async fn turn_loop(
    shared: &Shared,
    dev: &AsyncDevice,
    pcap: &mut Option<PcapFile>,
    stop: &mut watch::Receiver<bool>,
) -> std::io::Result<()> {
    let mut rx = vec![0u8; RX_BUF];
    let mut tx_bufs: Vec<Vec<u8>> = Vec::with_capacity(TX_BATCH);
    let mut spare: Vec<Vec<u8>> = Vec::with_capacity(TX_BATCH);
    loop {
        if *stop.borrow() {
            return Ok(());
        }
        let (deadline, more) = {
            let mut st = shared.lock();
            let now = shared.now();
            st.ep.handle_timeout(now);
            let mut more = false;
            loop {
                if tx_bufs.len() >= TX_BATCH {
                    more = true;
                    break;
                }
                let mut buf = spare.pop().unwrap_or_default();
                match st.ep.poll_transmit(now, &mut buf) {
                    Some(t) => {
                        buf.truncate(t.len);
                        tx_bufs.push(buf);
                    }
                    None => {
                        spare.push(buf);
                        break;
                    }
                }
            }
            st.dispatch_events(now);
            (st.ep.poll_timeout(), more)
        };
        for pkt in tx_bufs.drain(..) {
            if let Some(p) = pcap.as_mut() {
                p.write(&pkt);
            }
            // A packet the kernel refuses is a lost packet: TCP recovers.
            let _ = dev.send(&pkt).await;
            spare.push(pkt);
        }
        if more {
            // Let the device be read before sending more.
            read_ready(shared, dev, pcap, &mut rx)?;
            tokio::task::yield_now().await;
            continue;
        }
        let sleep = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(shared.to_tokio(d)).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            _ = stop.changed() => {}
            r = dev.recv(&mut rx) => {
                let n = r?;
                handle(shared, pcap, &rx[..n]);
                read_ready(shared, dev, pcap, &mut rx)?;
            }
            _ = shared.wake_loop.notified() => {}
            _ = sleep => {}
        }
    }
}

/// Feeds one packet to the engine.
fn handle(shared: &Shared, pcap: &mut Option<PcapFile>, pkt: &[u8]) {
    if let Some(p) = pcap.as_mut() {
        p.write(pkt);
    }
    let now = shared.now();
    let mut st = shared.lock();
    if let Some((local, remote)) = crate::icmp::unreachable_tuple(pkt) {
        st.on_unreachable(now, local, remote);
    }
    st.ep.handle_packet(now, pkt);
}

/// Reads the packets already waiting on the device, without blocking.
fn read_ready(
    shared: &Shared,
    dev: &AsyncDevice,
    pcap: &mut Option<PcapFile>,
    rx: &mut [u8],
) -> std::io::Result<()> {
    for _ in 0..RX_BATCH {
        match dev.try_recv(rx) {
            Ok(n) => handle(shared, pcap, &rx[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
