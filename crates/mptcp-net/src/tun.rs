//! The TUN device and the host configuration around it: the device (created or attached by
//! name, up, no packet-information header), one host route per stack address, IP forwarding.
//!
//! Everything added is recorded in a [`TunGuard`] whose `Drop` undoes it, so the host is left
//! as it was on a normal exit, on an error and on a signal (the caller drops the guard).
//! The stack's addresses are never assigned to the kernel: it must not answer for them.

use std::io;
use std::net::IpAddr;
use std::path::Path;
use std::process::Command;
use tun_rs::{AsyncDevice, DeviceBuilder};

/// MTU of the device; the engine's MSS is capped so that a segment fits (see [`max_mss`]).
pub const TUN_MTU: u16 = 1500;

/// The largest MSS whose segments fit the device with the stack's addresses: the MTU less
/// the TCP header and the largest IP header in use (IPv4 20 bytes: 1460; IPv6 40 bytes:
/// 1440). The engine has one MSS for all subflows, so one IPv6 address lowers it for all.
///
/// It matters: peers size their segments from the MSS we announce, and we size ours from
/// the smaller of theirs and this one. A 1460-byte segment in IPv6 is a 1520-byte packet,
/// which a 1500-byte link refuses with an ICMPv6 "packet too big" that the engine does not
/// act on, so the transfer would stall.
pub fn max_mss(addrs: &[IpAddr]) -> u16 {
    let ip_header = if addrs.iter().any(IpAddr::is_ipv6) {
        40
    } else {
        20
    };
    TUN_MTU - ip_header - 20
}

/// Runs `ip ARGS...`, turning a failure into an error with ip's own message.
pub(crate) fn run_ip(args: &[&str]) -> io::Result<()> {
    let out = Command::new("ip").args(args).output().map_err(|e| {
        io::Error::new(e.kind(), format!("cannot run `ip {}`: {e}", args.join(" ")))
    })?;
    if out.status.success() {
        return Ok(());
    }
    let msg = String::from_utf8_lossy(&out.stderr);
    let msg = msg.lines().next().unwrap_or("").trim();
    let kind = if msg.contains("Operation not permitted") {
        io::ErrorKind::PermissionDenied
    } else if msg.contains("File exists") {
        io::ErrorKind::AlreadyExists
    } else {
        io::ErrorKind::Other
    };
    Err(io::Error::new(
        kind,
        format!("`ip {}` failed: {msg}", args.join(" ")),
    ))
}

/// What was changed on the host, undone in reverse order on drop.
#[derive(Debug)]
pub struct TunGuard {
    name: String,
    /// Routes `ADDR/32` (or `/128`) added to the device.
    routes: Vec<String>,
    /// Forwarding sysctl files and the values they had before.
    sysctls: Vec<(String, String)>,
    /// The device existed and was down before: bring it down again.
    restore_down: bool,
}

impl TunGuard {
    /// Name of the device.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn set_sysctl(&mut self, path: &str, value: &str) -> io::Result<()> {
        let old = std::fs::read_to_string(path)
            .map_err(|e| io::Error::new(e.kind(), format!("cannot read {path}: {e}")))?;
        let old = old.trim().to_string();
        if old == value {
            return Ok(());
        }
        std::fs::write(path, value)
            .map_err(|e| io::Error::new(e.kind(), format!("cannot write {path}: {e}")))?;
        self.sysctls.push((path.to_string(), old));
        Ok(())
    }
}

impl Drop for TunGuard {
    fn drop(&mut self) {
        for route in self.routes.drain(..).rev() {
            let _ = run_ip(&["route", "del", &route, "dev", &self.name]);
        }
        for (path, old) in self.sysctls.drain(..).rev() {
            let _ = std::fs::write(&path, old);
        }
        if self.restore_down {
            let _ = run_ip(&["link", "set", &self.name, "down"]);
        }
    }
}

/// Whether interface `name` exists and whether it is up.
fn link_state(name: &str) -> Option<bool> {
    let dir = Path::new("/sys/class/net").join(name);
    if !dir.exists() {
        return None;
    }
    let flags = std::fs::read_to_string(dir.join("flags")).unwrap_or_default();
    let flags = u32::from_str_radix(flags.trim().trim_start_matches("0x"), 16).unwrap_or(0);
    Some(flags & 1 != 0)
}

/// Whether the kernel already owns `addr` (assigned to one of its interfaces).
fn is_local_address(addr: IpAddr) -> bool {
    let a = addr.to_string();
    Command::new("ip")
        .args(["-o", "addr", "show", "to", &a])
        .output()
        .map(|o| o.status.success() && !o.stdout.is_empty())
        .unwrap_or(false)
}

/// Creates (or attaches to) TUN device `name`, brings it up, routes each of `addrs` to it and
/// enables forwarding. On error, whatever was already done is undone before returning.
pub fn open(name: &str, addrs: &[IpAddr]) -> io::Result<(AsyncDevice, TunGuard)> {
    if name.is_empty() || name.len() > 15 || name.contains('/') || name.contains(' ') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("invalid TUN device name {name:?}"),
        ));
    }
    for addr in addrs {
        if is_local_address(*addr) {
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                format!("address {addr} is in use: it is assigned to a kernel interface"),
            ));
        }
    }
    let before = link_state(name);
    let mut guard = TunGuard {
        name: name.to_string(),
        routes: Vec::new(),
        sysctls: Vec::new(),
        restore_down: before == Some(false),
    };
    let dev = DeviceBuilder::new()
        .name(name)
        .packet_information(false)
        .mtu(TUN_MTU)
        .enable(true)
        .build_async()
        .map_err(|e| {
            let hint = if e.kind() == io::ErrorKind::PermissionDenied {
                " (needs root or CAP_NET_ADMIN)"
            } else {
                ""
            };
            io::Error::new(
                e.kind(),
                format!("cannot open TUN device {name}: {e}{hint}"),
            )
        })?;
    // Make sure it is up even when attached to an existing device.
    run_ip(&["link", "set", name, "up"])?;
    for addr in addrs {
        let route = match addr {
            IpAddr::V4(a) => format!("{a}/32"),
            IpAddr::V6(a) => format!("{a}/128"),
        };
        run_ip(&["route", "add", &route, "dev", name]).map_err(|e| {
            let kind = e.kind();
            let what = if kind == io::ErrorKind::AlreadyExists {
                format!("address {addr} is already routed (address in use?)")
            } else {
                format!("cannot route {addr} to {name}: {e}")
            };
            io::Error::new(kind, what)
        })?;
        guard.routes.push(route);
    }
    if addrs.iter().any(|a| a.is_ipv4()) {
        guard.set_sysctl("/proc/sys/net/ipv4/ip_forward", "1")?;
    }
    if addrs.iter().any(|a| a.is_ipv6()) {
        guard.set_sysctl("/proc/sys/net/ipv6/conf/all/forwarding", "1")?;
    }
    Ok((dev, guard))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_mss_fits_the_device() {
        let v4: IpAddr = "10.7.0.1".parse().unwrap();
        let v6: IpAddr = "fd07::1".parse().unwrap();
        assert_eq!(max_mss(&[v4]), 1460);
        assert_eq!(max_mss(&[v6]), 1440);
        assert_eq!(max_mss(&[v4, v6]), 1440);
        // A full segment plus headers is exactly the MTU.
        assert_eq!(max_mss(&[v6]) + 20 + 40, TUN_MTU);
    }
}
