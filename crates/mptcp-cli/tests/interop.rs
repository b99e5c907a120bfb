//! Interoperability with the Linux kernel's MPTCP, over network namespaces the tests build
//! themselves. Needs root, `ip`, `ss` and /dev/net/tun; otherwise each test prints
//! "skipped: <reason>" and passes.
//!
//! Topology (names carry the process id and a counter, so tests run in parallel):
//! ```text
//!  ns "us": mptcp --tun mtun0 --addr 10.7.0.1 [--addr 10.7.0.P ...]
//!      v1a 10.7.1.1/24  <--veth-->  v1b 10.7.1.2/24   ns "kernel": mptcp --kernel ...
//!      vPa 10.7.P.1/24  <--veth-->  vPb 10.7.P.2/24   (path P, up to 9)
//! ```
//! The kernel namespace routes 10.7.0.P via 10.7.P.1; the "us" namespace sends traffic
//! from 10.7.0.P out of vPa (policy routing). `Topology::new_v6` builds one IPv6 path
//! instead (stack fd07::1, v1a fd07:1::1/64, v1b fd07:1::2/64). Every case checks the
//! SHA-256 of what arrived and the kernel's own MPTcpExt counters, and ends with
//! `teardown()`: no process, TUN device, route or namespace is left behind.

use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_mptcp");
/// Upper bound for one transfer.
const RUN_TIMEOUT: Duration = Duration::from_secs(60);
static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Why the environment cannot run these tests, if it cannot.
fn skip_reason() -> Option<String> {
    let uid = Command::new("id").arg("-u").output().ok()?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Some("not root".into());
    }
    for tool in ["ip", "ss"] {
        let ok = Command::new(tool)
            .arg("-V")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok();
        if !ok {
            return Some(format!("`{tool}` is missing"));
        }
    }
    if !Path::new("/dev/net/tun").exists() {
        return Some("/dev/net/tun is missing".into());
    }
    None
}

macro_rules! skip_unless_able {
    () => {
        if let Some(reason) = skip_reason() {
            println!("skipped: {reason}");
            return;
        }
    };
}

/// Runs a command and panics with its stderr when it fails.
fn sh(args: &[&str]) {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Two namespaces and their veths; deleting the namespaces removes everything (on drop,
/// also when a test panics).
struct Topology {
    us: String,
    kernel: String,
    dir: PathBuf,
    /// The stack's first address (its route shows that the stack is up).
    stack_ip: &'static str,
}

impl Drop for Topology {
    fn drop(&mut self) {
        for ns in [&self.us, &self.kernel] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Topology {
    /// `paths` IPv4 paths (at most 9): path P is v{P}a 10.7.P.1/24 in "us" and v{P}b
    /// 10.7.P.2/24 in "kernel"; the stack's address 10.7.0.P uses path P.
    fn new(paths: usize) -> Topology {
        assert!((1..=9).contains(&paths), "1 to 9 paths");
        let topo = Topology::namespaces("10.7.0.1");
        let (us, k) = (topo.us.as_str(), topo.kernel.as_str());
        for p in 1..=paths {
            let (a, b) = topo.veth(p);
            sh(&[
                "ip",
                "-n",
                us,
                "addr",
                "add",
                &format!("10.7.{p}.1/24"),
                "dev",
                &a,
            ]);
            sh(&[
                "ip",
                "-n",
                k,
                "addr",
                "add",
                &format!("10.7.{p}.2/24"),
                "dev",
                &b,
            ]);
            let stack = format!("10.7.0.{p}/32");
            let via = format!("10.7.{p}.1");
            sh(&["ip", "-n", k, "route", "add", &stack, "via", &via]);
            if p > 1 {
                // Packets from 10.7.0.P leave "us" through path P.
                let table = format!("{}", 100 + p);
                let gw = format!("10.7.{p}.2");
                sh(&[
                    "ip", "-n", us, "rule", "add", "from", &stack, "table", &table,
                ]);
                sh(&[
                    "ip", "-n", us, "route", "add", "default", "via", &gw, "table", &table,
                ]);
            }
        }
        topo
    }

    /// One IPv6 path: v1a fd07:1::1/64 in "us", v1b fd07:1::2/64 in "kernel"; the stack's
    /// address is fd07::1 (routed via fd07:1::1 in "kernel").
    fn new_v6() -> Topology {
        let topo = Topology::namespaces("fd07::1");
        let (us, k) = (topo.us.as_str(), topo.kernel.as_str());
        // No duplicate address detection, on the link-local addresses either: until it
        // ends, neighbour discovery stalls and the first SYN or SYN-ACK is lost (a 1-2 s
        // retransmission).
        for ns in [us, k] {
            for conf in ["all", "default"] {
                sh(&[
                    "ip",
                    "netns",
                    "exec",
                    ns,
                    "sysctl",
                    "-qw",
                    &format!("net.ipv6.conf.{conf}.accept_dad=0"),
                ]);
            }
        }
        let (a, b) = topo.veth(1);
        sh(&[
            "ip",
            "-n",
            us,
            "addr",
            "add",
            "fd07:1::1/64",
            "dev",
            &a,
            "nodad",
        ]);
        sh(&[
            "ip",
            "-n",
            k,
            "addr",
            "add",
            "fd07:1::2/64",
            "dev",
            &b,
            "nodad",
        ]);
        sh(&[
            "ip",
            "-n",
            k,
            "-6",
            "route",
            "add",
            "fd07::1/128",
            "via",
            "fd07:1::1",
        ]);
        topo
    }

    /// The two namespaces, with loopback up, MPTCP limits raised and rp_filter off.
    fn namespaces(stack_ip: &'static str) -> Topology {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let id = format!("{}x{n}", std::process::id());
        let dir = std::env::temp_dir().join(format!("mptcp-interop-{id}"));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let topo = Topology {
            us: format!("mus{id}"),
            kernel: format!("mkern{id}"),
            dir,
            stack_ip,
        };
        let (us, k) = (topo.us.as_str(), topo.kernel.as_str());
        sh(&["ip", "netns", "add", us]);
        sh(&["ip", "netns", "add", k]);
        for ns in [us, k] {
            sh(&["ip", "-n", ns, "link", "set", "lo", "up"]);
            sh(&[
                "ip",
                "-n",
                ns,
                "mptcp",
                "limits",
                "set",
                "subflows",
                "8",
                "add_addr_accepted",
                "8",
            ]);
            sh(&[
                "ip",
                "netns",
                "exec",
                ns,
                "sysctl",
                "-qw",
                "net.ipv4.conf.all.rp_filter=0",
            ]);
            sh(&[
                "ip",
                "netns",
                "exec",
                ns,
                "sysctl",
                "-qw",
                "net.ipv4.conf.default.rp_filter=0",
            ]);
        }
        sh(&[
            "ip",
            "netns",
            "exec",
            us,
            "sysctl",
            "-qw",
            "net.ipv4.ip_forward=1",
        ]);
        topo
    }

    /// `ip`'s family flag for the stack's addresses (`ip route show` does not guess it).
    fn family(&self) -> &'static str {
        if self.stack_ip.contains(':') {
            "-6"
        } else {
            "-4"
        }
    }

    /// The veth pair of path `p`, up: (v{p}a in "us", v{p}b in "kernel").
    fn veth(&self, p: usize) -> (String, String) {
        let (a, b) = (format!("v{p}a"), format!("v{p}b"));
        sh(&[
            "ip",
            "link",
            "add",
            &a,
            "netns",
            &self.us,
            "type",
            "veth",
            "peer",
            "name",
            &b,
            "netns",
            &self.kernel,
        ]);
        sh(&["ip", "-n", &self.us, "link", "set", &a, "up"]);
        sh(&["ip", "-n", &self.kernel, "link", "set", &b, "up"]);
        (a, b)
    }

    /// Ends the test's network: checks that no process runs in either namespace and that
    /// the stack removed its TUN device and routes, then deletes the namespaces and checks
    /// they (and the temporary directory) are gone.
    fn teardown(self) {
        for ns in [&self.us, &self.kernel] {
            let out = Command::new("ip")
                .args(["netns", "pids", ns])
                .output()
                .expect("ip netns pids");
            let pids = String::from_utf8_lossy(&out.stdout);
            assert!(pids.trim().is_empty(), "processes left in {ns}: {pids}");
        }
        let link = Command::new("ip")
            .args(["-n", &self.us, "link", "show", "mtun0"])
            .output()
            .expect("ip link");
        assert!(!link.status.success(), "TUN device left behind");
        for family in ["-4", "-6"] {
            let out = Command::new("ip")
                .args(["-n", &self.us, family, "route", "show", "table", "all"])
                .output()
                .expect("ip route");
            let routes = String::from_utf8_lossy(&out.stdout);
            assert!(!routes.contains("mtun0"), "routes left behind: {routes}");
        }
        let (us, kernel, dir) = (self.us.clone(), self.kernel.clone(), self.dir.clone());
        drop(self);
        let out = Command::new("ip")
            .args(["netns", "list"])
            .output()
            .expect("ip netns list");
        let list = String::from_utf8_lossy(&out.stdout);
        for ns in [&us, &kernel] {
            assert!(
                !list
                    .lines()
                    .any(|l| l.split_whitespace().next() == Some(ns)),
                "namespace {ns} left behind"
            );
        }
        assert!(!dir.exists(), "{} left behind", dir.display());
    }

    /// `--addr` arguments for `paths` stack addresses.
    fn stack_args(paths: usize) -> Vec<String> {
        let addrs: Vec<String> = (1..=paths).map(|p| format!("10.7.0.{p}")).collect();
        Topology::stack_args_for(&addrs)
    }

    /// `--tun mtun0 --addr A...` for the given stack addresses.
    fn stack_args_for(addrs: &[String]) -> Vec<String> {
        let mut v = vec!["--tun".to_string(), "mtun0".to_string()];
        for a in addrs {
            v.push("--addr".into());
            v.push(a.clone());
        }
        // Debugging aid: MPTCP_INTEROP_PCAP=DIR captures what our stack sends and receives
        // (one file per run of the stack: process id, a counter, the first address).
        if let Ok(dir) = std::env::var("MPTCP_INTEROP_PCAP") {
            static RUNS: AtomicU32 = AtomicU32::new(0);
            let n = RUNS.fetch_add(1, Ordering::SeqCst);
            let first = addrs.first().map_or(String::new(), |a| a.replace(':', "_"));
            let file = format!("{dir}/{}-{n}-{first}.pcap", std::process::id());
            println!("capture: {file}");
            v.push("--pcap".into());
            v.push(file);
        }
        v
    }

    /// Starts `mptcp ARGS` in namespace `ns`, stdin from `input`, stdout to `output`.
    fn spawn(&self, ns: &str, args: &[String], input: &Path, output: &Path) -> Proc {
        let stderr = self.dir.join(format!("{ns}.{}.err", args.len()));
        let child = Command::new("ip")
            .args(["netns", "exec", ns, BIN])
            .args(args)
            .stdin(std::fs::File::open(input).expect("input"))
            .stdout(std::fs::File::create(output).expect("output"))
            .stderr(std::fs::File::create(&stderr).expect("stderr"))
            .spawn()
            .expect("spawn mptcp");
        Proc {
            child: Some(child),
            stderr,
        }
    }

    /// The kernel's MPTcpExt counters in `ns`.
    fn nstat(&self, ns: &str) -> HashMap<String, u64> {
        // Read from /proc/net/netstat ("MPTcpExt: names" then "MPTcpExt: values") rather
        // than with nstat, which locks and rewrites one history file shared by every
        // namespace: parallel tests polling it wait for each other under load.
        let out = Command::new("ip")
            .args(["netns", "exec", ns, "cat", "/proc/net/netstat"])
            .output()
            .expect("read /proc/net/netstat");
        let text = String::from_utf8_lossy(&out.stdout);
        let rows: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("MPTcpExt:"))
            .collect();
        let [names, values] = rows[..] else {
            panic!("no MPTcpExt counters in /proc/net/netstat:\n{text}");
        };
        names
            .split_whitespace()
            .zip(values.split_whitespace())
            .filter_map(|(n, v)| Some((format!("MPTcpExt{n}"), v.parse().ok()?)))
            .collect()
    }

    /// Waits until a kernel socket listens on `port` in `ns`.
    fn wait_kernel_listen(&self, ns: &str, port: u16) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            let out = Command::new("ip")
                .args(["netns", "exec", ns, "ss", "-Hltn"])
                .output()
                .expect("ss");
            if String::from_utf8_lossy(&out.stdout).contains(&format!(":{port} ")) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("nothing listens on port {port} in {ns}");
    }

    /// Waits until the stack's route exists in `ns` (the TUN runtime is up).
    fn wait_stack_up(&self, ns: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            let out = Command::new("ip")
                .args(["-n", ns, self.family(), "route", "show", self.stack_ip])
                .output()
                .expect("ip route");
            if String::from_utf8_lossy(&out.stdout).contains("mtun0") {
                std::thread::sleep(Duration::from_millis(300));
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the stack did not come up in {ns}");
    }

    /// A file of `len` pseudo-random bytes.
    fn data_file(&self, name: &str, len: usize, seed: u64) -> PathBuf {
        let mut x = seed | 1;
        let mut data = Vec::with_capacity(len + 8);
        while data.len() < len {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            data.extend_from_slice(&x.to_le_bytes());
        }
        data.truncate(len);
        let p = self.dir.join(name);
        std::fs::write(&p, data).expect("write data");
        p
    }
}

/// A child process, killed on drop.
struct Proc {
    child: Option<Child>,
    stderr: PathBuf,
}

impl Proc {
    /// Waits for the exit (bounded); returns the status and stderr.
    fn wait(&mut self) -> (ExitStatus, String) {
        let mut child = self.child.take().expect("waited once");
        let deadline = Instant::now() + RUN_TIMEOUT;
        let status = loop {
            if let Some(s) = child.try_wait().expect("try_wait") {
                break s;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "timed out; stderr: {}",
                    std::fs::read_to_string(&self.stderr).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        (
            status,
            std::fs::read_to_string(&self.stderr).unwrap_or_default(),
        )
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn sha256(path: &Path) -> String {
    let data = std::fs::read(path).expect("read");
    format!("{:x}", Sha256::digest(&data))
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// `stack` with `--pcap FILE` (replacing the one MPTCP_INTEROP_PCAP adds: the option may
/// be given once).
fn with_pcap(stack: Vec<String>, file: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut it = stack.into_iter();
    while let Some(a) = it.next() {
        if a == "--pcap" {
            it.next();
        } else {
            out.push(a);
        }
    }
    out.push("--pcap".into());
    out.push(file.to_str().expect("utf-8 path").into());
    out
}

/// Our client (user-space stack) sends 5 MB to a kernel server, which sends 1 MB back.
#[test]
fn our_client_to_kernel_server() {
    skip_unless_able!();
    let t = Topology::new(1);
    let up = t.data_file("up.bin", 5_000_000, 1);
    let down = t.data_file("down.bin", 1_000_000, 2);
    let (srv_out, cli_out) = (t.dir.join("srv.out"), t.dir.join("cli.out"));
    let mut server = t.spawn(
        &t.kernel,
        &args(&["--kernel", "cat", "listen", "5000"]),
        &down,
        &srv_out,
    );
    t.wait_kernel_listen(&t.kernel, 5000);
    let mut cargs = Topology::stack_args(1);
    cargs.extend(args(&["cat", "connect", "10.7.1.2:5000"]));
    let mut client = t.spawn(&t.us, &cargs, &up, &cli_out);
    let (cs, cerr) = client.wait();
    let (ss, serr) = server.wait();
    assert!(cs.success(), "client failed: {cerr}");
    assert!(ss.success(), "server failed: {serr}");
    assert!(!cerr.contains("fell back"), "unexpected fallback: {cerr}");
    assert_eq!(sha256(&srv_out), sha256(&up), "upload corrupted");
    assert_eq!(sha256(&cli_out), sha256(&down), "download corrupted");
    let k = t.nstat(&t.kernel);
    assert_eq!(k.get("MPTcpExtMPCapableSYNRX"), Some(&1), "{k:?}");
    assert_eq!(k.get("MPTcpExtMPCapableACKRX"), Some(&1), "{k:?}");
    // The stack removed its route and device on exit.
    let routes = Command::new("ip")
        .args(["-n", &t.us, "route", "show", "10.7.0.1"])
        .output()
        .expect("ip route");
    assert!(routes.stdout.is_empty(), "route left behind");
    t.teardown();
}

/// A kernel client sends 5 MB to our server, which sends 1 MB back.
#[test]
fn kernel_client_to_our_server() {
    skip_unless_able!();
    let t = Topology::new(1);
    let up = t.data_file("up.bin", 5_000_000, 3);
    let down = t.data_file("down.bin", 1_000_000, 4);
    let (srv_out, cli_out) = (t.dir.join("srv.out"), t.dir.join("cli.out"));
    let mut sargs = Topology::stack_args(1);
    sargs.extend(args(&["cat", "listen", "5000"]));
    let mut server = t.spawn(&t.us, &sargs, &down, &srv_out);
    t.wait_stack_up(&t.us);
    let mut client = t.spawn(
        &t.kernel,
        &args(&["--kernel", "cat", "connect", "10.7.0.1:5000"]),
        &up,
        &cli_out,
    );
    let (cs, cerr) = client.wait();
    let (ss, serr) = server.wait();
    assert!(cs.success(), "client failed: {cerr}");
    assert!(ss.success(), "server failed: {serr}");
    assert_eq!(sha256(&srv_out), sha256(&up), "upload corrupted");
    assert_eq!(sha256(&cli_out), sha256(&down), "download corrupted");
    let k = t.nstat(&t.kernel);
    assert_eq!(k.get("MPTcpExtMPCapableSYNTX"), Some(&1), "{k:?}");
    assert_eq!(k.get("MPTcpExtMPCapableSYNACKRX"), Some(&1), "{k:?}");
    t.teardown();
}

/// Our client with two addresses: the second joins the kernel server's connection
/// (MP_JOIN), and data flows over both paths.
#[test]
fn our_client_joins_second_subflow() {
    skip_unless_able!();
    let t = Topology::new(2);
    // 2 x 40 Mbit/s: the transfer lasts long enough for the join on a loaded machine.
    t.shape(1, "40mbit");
    t.shape(2, "40mbit");
    let up = t.data_file("up.bin", 5_000_000, 5);
    // The server keeps sending while the join happens: Linux refuses joins once it has
    // closed its own sending side.
    let down = t.data_file("down.bin", 3_000_000, 6);
    let (srv_out, cli_out) = (t.dir.join("srv.out"), t.dir.join("cli.out"));
    let mut server = t.spawn(
        &t.kernel,
        &args(&["--kernel", "cat", "listen", "5000"]),
        &down,
        &srv_out,
    );
    t.wait_kernel_listen(&t.kernel, 5000);
    let mut cargs = Topology::stack_args(2);
    cargs.extend(args(&["cat", "connect", "10.7.1.2:5000"]));
    let mut client = t.spawn(&t.us, &cargs, &up, &cli_out);
    let (cs, cerr) = client.wait();
    let (ss, serr) = server.wait();
    assert!(cs.success(), "client failed: {cerr}");
    assert!(ss.success(), "server failed: {serr}");
    assert_eq!(sha256(&srv_out), sha256(&up), "upload corrupted");
    assert_eq!(sha256(&cli_out), sha256(&down), "download corrupted");
    let k = t.nstat(&t.kernel);
    assert_eq!(k.get("MPTcpExtMPCapableSYNRX"), Some(&1), "{k:?}");
    assert_eq!(k.get("MPTcpExtMPJoinSynRx"), Some(&1), "{k:?}");
    assert_eq!(k.get("MPTcpExtMPJoinAckRx"), Some(&1), "{k:?}");
    assert_eq!(
        k.get("MPTcpExtMPJoinRejected").copied().unwrap_or(0),
        0,
        "{k:?}"
    );
    t.teardown();
}

/// Our server with two addresses announces the second (ADD_ADDR); the kernel client
/// joins it (MP_JOIN towards our stack).
#[test]
fn kernel_client_joins_announced_address() {
    skip_unless_able!();
    let t = Topology::new(2);
    // 2 x 40 Mbit/s: the transfer lasts long enough for the join on a loaded machine.
    t.shape(1, "40mbit");
    t.shape(2, "40mbit");
    let up = t.data_file("up.bin", 5_000_000, 10);
    let down = t.data_file("down.bin", 3_000_000, 11);
    let (srv_out, cli_out) = (t.dir.join("srv.out"), t.dir.join("cli.out"));
    let mut sargs = Topology::stack_args(2);
    sargs.extend(args(&["cat", "listen", "5000"]));
    let mut server = t.spawn(&t.us, &sargs, &down, &srv_out);
    t.wait_stack_up(&t.us);
    let mut client = t.spawn(
        &t.kernel,
        &args(&["--kernel", "cat", "connect", "10.7.0.1:5000"]),
        &up,
        &cli_out,
    );
    let (cs, cerr) = client.wait();
    let (ss, serr) = server.wait();
    assert!(cs.success(), "client failed: {cerr}");
    assert!(ss.success(), "server failed: {serr}");
    assert_eq!(sha256(&srv_out), sha256(&up), "upload corrupted");
    assert_eq!(sha256(&cli_out), sha256(&down), "download corrupted");
    let k = t.nstat(&t.kernel);
    assert_eq!(k.get("MPTcpExtAddAddr"), Some(&1), "{k:?}");
    assert_eq!(k.get("MPTcpExtMPJoinSynTx"), Some(&1), "{k:?}");
    assert_eq!(k.get("MPTcpExtMPJoinSynAckRx"), Some(&1), "{k:?}");
    t.teardown();
}

/// A kernel server with MPTCP disabled: our client falls back to TCP, says so, and the
/// transfer still completes.
#[test]
fn fallback_to_plain_tcp_server() {
    skip_unless_able!();
    let t = Topology::new(1);
    sh(&[
        "ip",
        "netns",
        "exec",
        &t.kernel,
        "sysctl",
        "-qw",
        "net.mptcp.enabled=0",
    ]);
    let up = t.data_file("up.bin", 1_000_000, 7);
    let down = t.data_file("down.bin", 100_000, 8);
    let (srv_out, cli_out) = (t.dir.join("srv.out"), t.dir.join("cli.out"));
    let mut server = t.spawn(
        &t.kernel,
        &args(&["--kernel", "cat", "listen", "5000"]),
        &down,
        &srv_out,
    );
    t.wait_kernel_listen(&t.kernel, 5000);
    let mut cargs = Topology::stack_args(1);
    cargs.extend(args(&["cat", "connect", "10.7.1.2:5000"]));
    let mut client = t.spawn(&t.us, &cargs, &up, &cli_out);
    let (cs, cerr) = client.wait();
    let (ss, serr) = server.wait();
    assert!(cs.success(), "client failed: {cerr}");
    assert!(ss.success(), "server failed: {serr}");
    assert!(
        cerr.contains("fell back to TCP"),
        "no fallback notice: {cerr}"
    );
    assert_eq!(sha256(&srv_out), sha256(&up), "upload corrupted");
    assert_eq!(sha256(&cli_out), sha256(&down), "download corrupted");
    t.teardown();
}

/// Errors are one line with a non-zero exit: a bad scheduler name, nothing listening, no
/// route to the peer.
#[test]
fn errors_are_one_line() {
    let out = Command::new(BIN)
        .args(["--kernel", "--scheduler", "nope", "cat", "listen", "5000"])
        .output()
        .expect("run mptcp");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("unknown scheduler"), "{err}");
    skip_unless_able!();
    let t = Topology::new(1);
    let empty = t.data_file("empty.bin", 0, 9);
    let mut cargs = Topology::stack_args(1);
    cargs.extend(args(&["cat", "connect", "10.7.1.2:5000"]));
    let mut client = t.spawn(&t.us, &cargs, &empty, &t.dir.join("out"));
    let (cs, cerr) = client.wait();
    assert!(!cs.success());
    assert_eq!(cerr.lines().count(), 1, "{cerr}");
    assert!(cerr.contains("refused"), "{cerr}");
    // No route to 10.9.9.9 in "us": the kernel's ICMP ends the attempt at once.
    let mut cargs = Topology::stack_args(1);
    cargs.extend(args(&["cat", "connect", "10.9.9.9:5000"]));
    let started = Instant::now();
    let mut client = t.spawn(&t.us, &cargs, &empty, &t.dir.join("out2"));
    let (cs, cerr) = client.wait();
    assert!(!cs.success());
    assert_eq!(cerr.lines().count(), 1, "{cerr}");
    assert!(cerr.contains("unreachable"), "{cerr}");
    assert!(started.elapsed() < Duration::from_secs(10), "slow failure");
    t.teardown();
}

/// Ctrl-C (SIGINT) undoes everything the stack added: route, device, forwarding sysctl.
#[test]
fn sigint_undoes_host_configuration() {
    skip_unless_able!();
    let t = Topology::new(1);
    sh(&[
        "ip",
        "netns",
        "exec",
        &t.us,
        "sysctl",
        "-qw",
        "net.ipv4.ip_forward=0",
    ]);
    let fifo = t.dir.join("stdin.fifo");
    sh(&["mkfifo", fifo.to_str().expect("utf-8 path")]);
    // Holds the fifo open for writing so the stack's stdin never ends.
    let _writer = Proc {
        child: Some(
            Command::new("sh")
                .args(["-c", &format!("exec sleep 60 > {}", fifo.display())])
                .spawn()
                .expect("spawn writer"),
        ),
        stderr: t.dir.join("writer.err"),
    };
    let mut sargs = Topology::stack_args(1);
    sargs.extend(args(&["cat", "listen", "5000"]));
    let mut stack = t.spawn(&t.us, &sargs, &fifo, &t.dir.join("out"));
    t.wait_stack_up(&t.us);
    let fwd = || {
        let out = Command::new("ip")
            .args([
                "netns",
                "exec",
                &t.us,
                "sysctl",
                "-n",
                "net.ipv4.ip_forward",
            ])
            .output()
            .expect("sysctl");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    assert_eq!(fwd(), "1");
    let pid = stack.child.as_ref().expect("running").id().to_string();
    sh(&["kill", "-INT", &pid]);
    let (status, err) = stack.wait();
    assert!(!status.success());
    assert!(err.contains("interrupted by SIGINT"), "{err}");
    assert_eq!(fwd(), "0", "forwarding not restored");
    let link = Command::new("ip")
        .args(["-n", &t.us, "link", "show", "mtun0"])
        .output()
        .expect("ip link");
    assert!(!link.status.success(), "TUN device left behind");
    let routes = Command::new("ip")
        .args(["-n", &t.us, "route", "show", "10.7.0.1"])
        .output()
        .expect("ip route");
    assert!(routes.stdout.is_empty(), "route left behind");
    t.teardown();
}

/// Runs `args` inside namespace `ns` and panics when it fails.
fn ns_sh(ns: &str, args: &[&str]) {
    let mut v = vec!["ip", "netns", "exec", ns];
    v.extend_from_slice(args);
    sh(&v);
}

/// A counter, 0 when the kernel does not report it.
fn ctr(k: &HashMap<String, u64>, name: &str) -> u64 {
    k.get(name).copied().unwrap_or(0)
}

/// One of the kernel's IPv6 SNMP counters in `ns` (/proc/net/snmp6), 0 when absent.
fn snmp6_counter(ns: &str, name: &str) -> u64 {
    let out = Command::new("ip")
        .args(["netns", "exec", ns, "cat", "/proc/net/snmp6"])
        .output()
        .expect("read /proc/net/snmp6");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| {
            let mut it = l.split_whitespace();
            (it.next()? == name).then(|| it.next()?.parse().ok())?
        })
        .unwrap_or(0)
}

/// Bytes `dev` in `ns` has sent.
fn tx_bytes(ns: &str, dev: &str) -> u64 {
    let out = Command::new("ip")
        .args(["netns", "exec", ns, "cat"])
        .arg(format!("/sys/class/net/{dev}/statistics/tx_bytes"))
        .output()
        .expect("read tx_bytes");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("tx_bytes is a number")
}

/// Polls `f` every 50 ms until it holds; panics with `what` after `limit`.
fn wait_until(limit: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One IPv4/TCP packet of a capture.
struct Seg {
    src: [u8; 4],
    dst: [u8; 4],
    flags: u8,
    /// Subtypes of the MPTCP options it carries.
    mptcp: Vec<u8>,
}

/// The IPv4/TCP packets of a LINKTYPE_RAW pcap file, in order.
fn pcap_segments(path: &Path) -> Vec<Seg> {
    let data = std::fs::read(path).expect("read pcap");
    assert!(data.len() >= 24, "short pcap");
    let le = data[..4] == [0xd4, 0xc3, 0xb2, 0xa1];
    let u32_at = |b: &[u8]| {
        let a = [b[0], b[1], b[2], b[3]];
        if le {
            u32::from_le_bytes(a)
        } else {
            u32::from_be_bytes(a)
        }
    };
    let mut out = Vec::new();
    let mut i = 24;
    while i + 16 <= data.len() {
        let len = u32_at(&data[i + 8..]) as usize;
        let Some(pkt) = data.get(i + 16..i + 16 + len) else {
            break;
        };
        i += 16 + len;
        if pkt.len() < 40 || pkt[0] >> 4 != 4 || pkt[9] != 6 {
            continue;
        }
        let ihl = usize::from(pkt[0] & 15) * 4;
        let Some(tcp) = pkt.get(ihl..) else { continue };
        let doff = usize::from(tcp[12] >> 4) * 4;
        let mut mptcp = Vec::new();
        let mut o = 20;
        while o < doff.min(tcp.len()) {
            match tcp[o] {
                0 => break,
                1 => o += 1,
                kind => {
                    let l = usize::from(*tcp.get(o + 1).unwrap_or(&0));
                    if l < 2 {
                        break;
                    }
                    if kind == 30 {
                        if let Some(b) = tcp.get(o + 2) {
                            mptcp.push(b >> 4);
                        }
                    }
                    o += l;
                }
            }
        }
        out.push(Seg {
            src: [pkt[12], pkt[13], pkt[14], pkt[15]],
            dst: [pkt[16], pkt[17], pkt[18], pkt[19]],
            flags: tcp[13],
            mptcp,
        });
    }
    out
}

impl Topology {
    /// Limits both directions of path `p` to `rate` (tbf), so transfers last long enough
    /// for mid-transfer events.
    fn shape(&self, p: usize, rate: &str) {
        for (ns, dev) in [
            (&self.us, format!("v{p}a")),
            (&self.kernel, format!("v{p}b")),
        ] {
            sh(&[
                "ip", "netns", "exec", ns, "tc", "qdisc", "add", "dev", &dev, "root", "tbf",
                "rate", rate, "burst", "32kb", "latency", "200ms",
            ]);
        }
    }

    /// A fifo that never ends (a writer holds it open until the returned process dies).
    fn endless_input(&self, name: &str) -> (PathBuf, Proc) {
        let fifo = self.dir.join(name);
        sh(&["mkfifo", fifo.to_str().expect("utf-8 path")]);
        let writer = Proc {
            child: Some(
                Command::new("sh")
                    .args(["-c", &format!("exec sleep 60 > {}", fifo.display())])
                    .spawn()
                    .expect("spawn writer"),
            ),
            stderr: self.dir.join(format!("{name}.err")),
        };
        (fifo, writer)
    }

    /// Size of a file, 0 when it does not exist yet.
    fn size(path: &Path) -> u64 {
        std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
    }
}

/// The kernel namespace requires DSS checksums (`net.mptcp.checksum_enabled=1`): data
/// flows both ways intact and the kernel sees no checksum error.
#[test]
fn dss_checksums_required_by_kernel() {
    skip_unless_able!();
    checksum_case(2_000_000);
}

/// DSS checksums, our direction only: the kernel receives 3 MB with checksums we
/// computed (it closes without sending data, so its DATA_FIN travels alone).
#[test]
fn dss_checksums_our_upload() {
    skip_unless_able!();
    checksum_case(0);
}

/// 3 MB up, `down_len` bytes down, with the kernel namespace requiring DSS checksums.
fn checksum_case(down_len: usize) {
    let t = Topology::new(1);
    ns_sh(
        &t.kernel,
        &["sysctl", "-qw", "net.mptcp.checksum_enabled=1"],
    );
    let up = t.data_file("up.bin", 3_000_000, 20);
    let down = t.data_file("down.bin", down_len, 21);
    let (srv_out, cli_out) = (t.dir.join("srv.out"), t.dir.join("cli.out"));
    let mut server = t.spawn(
        &t.kernel,
        &args(&["--kernel", "cat", "listen", "5000"]),
        &down,
        &srv_out,
    );
    t.wait_kernel_listen(&t.kernel, 5000);
    let mut cargs = Topology::stack_args(1);
    cargs.extend(args(&["cat", "connect", "10.7.1.2:5000"]));
    let mut client = t.spawn(&t.us, &cargs, &up, &cli_out);
    let (cs, cerr) = client.wait();
    let (ss, serr) = server.wait();
    assert!(cs.success(), "client failed: {cerr}");
    assert!(ss.success(), "server failed: {serr}");
    assert!(!cerr.contains("fell back"), "unexpected fallback: {cerr}");
    assert_eq!(sha256(&srv_out), sha256(&up), "upload corrupted");
    assert_eq!(sha256(&cli_out), sha256(&down), "download corrupted");
    let k = t.nstat(&t.kernel);
    assert!(ctr(&k, "MPTcpExtMPCapableSYNRX") >= 1, "{k:?}"); // retransmissions may count twice
    assert_eq!(ctr(&k, "MPTcpExtDataCsumErr"), 0, "{k:?}");
    assert_eq!(ctr(&k, "MPTcpExtMPFailTx"), 0, "{k:?}");
    assert_eq!(ctr(&k, "MPTcpExtDSSCorruptionFallback"), 0, "{k:?}");
    assert_eq!(ctr(&k, "MPTcpExtDSSCorruptionReset"), 0, "{k:?}");
    t.teardown();
}

/// A middlebox (nftables in the kernel namespace) strips MP_CAPABLE from SYNs: the
/// connection runs as plain TCP, our client says so, and the data is intact.
#[test]
fn mptcp_option_stripped_from_syn() {
    skip_unless_able!();
    if Command::new("nft").arg("-v").output().is_err() {
        println!("skipped: `nft` is missing");
        return;
    }
    let t = Topology::new(1);
    ns_sh(&t.kernel, &["nft", "add", "table", "inet", "t"]);
    ns_sh(
        &t.kernel,
        &[
            "nft",
            "add chain inet t c { type filter hook prerouting priority -150; }",
        ],
    );
    ns_sh(
        &t.kernel,
        &[
            "nft",
            "add rule inet t c tcp flags syn reset tcp option mptcp",
        ],
    );
    let up = t.data_file("up.bin", 1_000_000, 22);
    let down = t.data_file("down.bin", 500_000, 23);
    let (srv_out, cli_out) = (t.dir.join("srv.out"), t.dir.join("cli.out"));
    let mut server = t.spawn(
        &t.kernel,
        &args(&["--kernel", "cat", "listen", "5000"]),
        &down,
        &srv_out,
    );
    t.wait_kernel_listen(&t.kernel, 5000);
    let mut cargs = Topology::stack_args(1);
    cargs.extend(args(&["cat", "connect", "10.7.1.2:5000"]));
    let mut client = t.spawn(&t.us, &cargs, &up, &cli_out);
    let (cs, cerr) = client.wait();
    let (ss, serr) = server.wait();
    assert!(cs.success(), "client failed: {cerr}");
    assert!(ss.success(), "server failed: {serr}");
    assert!(
        cerr.contains("fell back to TCP"),
        "no fallback notice: {cerr}"
    );
    assert_eq!(sha256(&srv_out), sha256(&up), "upload corrupted");
    assert_eq!(sha256(&cli_out), sha256(&down), "download corrupted");
    let k = t.nstat(&t.kernel);
    assert_eq!(ctr(&k, "MPTcpExtMPCapableSYNRX"), 0, "{k:?}");
    t.teardown();
}

/// Our client is interrupted mid-connection (SIGINT): the kernel should learn that the
/// connection is gone (MP_FASTCLOSE, or at least a reset).
#[test]
fn our_abort_reaches_kernel() {
    skip_unless_able!();
    let t = Topology::new(1);
    let down = t.data_file("down.bin", 100_000, 24);
    let (srv_out, cli_out) = (t.dir.join("srv.out"), t.dir.join("cli.out"));
    let (fifo, _writer) = t.endless_input("stdin.fifo");
    let mut server = t.spawn(
        &t.kernel,
        &args(&["--kernel", "cat", "listen", "5000"]),
        &down,
        &srv_out,
    );
    t.wait_kernel_listen(&t.kernel, 5000);
    let mut cargs = Topology::stack_args(1);
    cargs.extend(args(&["cat", "connect", "10.7.1.2:5000"]));
    let mut client = t.spawn(&t.us, &cargs, &fifo, &cli_out);
    wait_until(Duration::from_secs(20), "the download", || {
        Topology::size(&cli_out) == 100_000
    });
    let pid = client.child.as_ref().expect("running").id().to_string();
    sh(&["kill", "-INT", &pid]);
    let (cs, cerr) = client.wait();
    assert!(!cs.success());
    assert!(cerr.contains("interrupted by SIGINT"), "{cerr}");
    // The kernel learns of the abort within a few RTTs; give it 3 s.
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut k = t.nstat(&t.kernel);
    while ctr(&k, "MPTcpExtMPFastcloseRx") + ctr(&k, "MPTcpExtMPRstRx") == 0
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(50));
        k = t.nstat(&t.kernel);
    }
    assert!(
        ctr(&k, "MPTcpExtMPFastcloseRx") + ctr(&k, "MPTcpExtMPRstRx") >= 1,
        "kernel saw neither MP_FASTCLOSE nor MP_RST: {k:?}"
    );
    // The kernel server ends once its connection is torn down.
    let (ss, serr) = server.wait();
    assert!(!ss.success(), "kernel server did not see the abort: {serr}");
    t.teardown();
}

/// The kernel kills its socket (`ss -K`): our client exits with a one-line error.
#[test]
fn kernel_abort_ends_our_client() {
    skip_unless_able!();
    let t = Topology::new(1);
    let (cli_out, srv_out) = (t.dir.join("cli.out"), t.dir.join("srv.out"));
    let (fifo_c, _wc) = t.endless_input("c.fifo");
    let (fifo_s, _ws) = t.endless_input("s.fifo");
    let server = t.spawn(
        &t.kernel,
        &args(&["--kernel", "cat", "listen", "5000"]),
        &fifo_s,
        &srv_out,
    );
    t.wait_kernel_listen(&t.kernel, 5000);
    let mut cargs = Topology::stack_args(1);
    cargs.extend(args(&["cat", "connect", "10.7.1.2:5000"]));
    let mut client = t.spawn(&t.us, &cargs, &fifo_c, &cli_out);
    wait_until(Duration::from_secs(10), "the connection", || {
        let out = Command::new("ip")
            .args([
                "netns",
                "exec",
                &t.kernel,
                "ss",
                "-Htn",
                "state",
                "established",
            ])
            .output()
            .expect("ss");
        String::from_utf8_lossy(&out.stdout).contains("10.7.0.1")
    });
    std::thread::sleep(Duration::from_millis(300));
    ns_sh(&t.kernel, &["ss", "-K", "dst", "10.7.0.1"]);
    let (cs, cerr) = client.wait();
    assert!(!cs.success(), "client succeeded: {cerr}");
    assert_eq!(cerr.lines().count(), 1, "{cerr}");
    assert!(cerr.contains("reset"), "{cerr}");
    drop(server);
    t.teardown();
}

/// The kernel client adds its second path as a backup subflow: while the first path is
/// up, our server sends (almost) nothing on the backup path.
#[test]
fn kernel_backup_subflow_is_not_used() {
    skip_unless_able!();
    let t = Topology::new(2);
    // The kernel's subflow from 10.7.2.2 leaves through path 2 (v2b).
    ns_sh(
        &t.kernel,
        &["ip", "rule", "add", "from", "10.7.2.2", "table", "202"],
    );
    ns_sh(
        &t.kernel,
        &[
            "ip",
            "route",
            "add",
            "10.7.0.0/24",
            "via",
            "10.7.2.1",
            "table",
            "202",
        ],
    );
    ns_sh(
        &t.kernel,
        &[
            "ip", "mptcp", "endpoint", "add", "10.7.2.2", "dev", "v2b", "subflow", "backup",
        ],
    );
    t.shape(1, "40mbit");
    t.shape(2, "40mbit");
    // The kernel client keeps sending for a while (0.4 s): once it has closed its sending
    // side, Linux opens no more subflows, and a loaded machine can delay the join past a
    // shorter upload.
    let up = t.data_file("up.bin", 2_000_000, 25);
    let down = t.data_file("down.bin", 6_000_000, 26);
    let (srv_out, cli_out) = (t.dir.join("srv.out"), t.dir.join("cli.out"));
    let mut sargs = Topology::stack_args(1);
    sargs.extend(args(&["cat", "listen", "5000"]));
    let mut server = t.spawn(&t.us, &sargs, &down, &srv_out);
    t.wait_stack_up(&t.us);
    let (tx1, tx2) = (tx_bytes(&t.us, "v1a"), tx_bytes(&t.us, "v2a"));
    let mut client = t.spawn(
        &t.kernel,
        &args(&["--kernel", "cat", "connect", "10.7.0.1:5000"]),
        &up,
        &cli_out,
    );
    let (cs, cerr) = client.wait();
    let (ss, serr) = server.wait();
    assert!(cs.success(), "client failed: {cerr}");
    assert!(ss.success(), "server failed: {serr}");
    assert_eq!(sha256(&srv_out), sha256(&up), "upload corrupted");
    assert_eq!(sha256(&cli_out), sha256(&down), "download corrupted");
    let k = t.nstat(&t.kernel);
    assert!(ctr(&k, "MPTcpExtMPJoinSynTx") >= 1, "{k:?}"); // retransmissions may count twice
    assert!(ctr(&k, "MPTcpExtMPJoinSynAckRx") >= 1, "{k:?}"); // retransmissions may count twice
    let (d1, d2) = (tx_bytes(&t.us, "v1a") - tx1, tx_bytes(&t.us, "v2a") - tx2);
    println!("sent on path 1: {d1} bytes, on the backup path 2: {d2} bytes");
    assert!(d1 >= 6_000_000, "path 1 sent {d1} bytes");
    assert!(
        d2 < 300_000,
        "backup path carried {d2} bytes (regular path {d1}); {k:?}"
    );
    t.teardown();
}

/// Path 2's link goes down mid-transfer: the transfer finishes on path 1, intact.
#[test]
fn link_down_mid_transfer() {
    skip_unless_able!();
    link_down_case("v2a");
}

/// Path 1's link (the initial subflow's) goes down mid-transfer: the transfer finishes
/// on the joined subflow, intact.
#[test]
fn initial_path_link_down_mid_transfer() {
    skip_unless_able!();
    link_down_case("v1a");
}

/// Two subflows, 12 MB up and 6 MB down; `dev` (in "us") goes down after 2 MB.
fn link_down_case(dev: &str) {
    let t = Topology::new(2);
    t.shape(1, "20mbit");
    t.shape(2, "20mbit");
    let up = t.data_file("up.bin", 12_000_000, 27);
    let down = t.data_file("down.bin", 6_000_000, 28);
    let (srv_out, cli_out) = (t.dir.join("srv.out"), t.dir.join("cli.out"));
    let mut server = t.spawn(
        &t.kernel,
        &args(&["--kernel", "cat", "listen", "5000"]),
        &down,
        &srv_out,
    );
    t.wait_kernel_listen(&t.kernel, 5000);
    let mut cargs = Topology::stack_args(2);
    cargs.extend(args(&["cat", "connect", "10.7.1.2:5000"]));
    let mut client = t.spawn(&t.us, &cargs, &up, &cli_out);
    wait_until(Duration::from_secs(20), "the join", || {
        ctr(&t.nstat(&t.kernel), "MPTcpExtMPJoinAckRx") >= 1
    });
    wait_until(Duration::from_secs(20), "2 MB uploaded", || {
        Topology::size(&srv_out) >= 2_000_000
    });
    // At least 1 MB of the 12 left (a loaded machine can be slow to report the join).
    assert!(Topology::size(&srv_out) < 11_000_000, "transfer too fast");
    sh(&["ip", "-n", &t.us, "link", "set", dev, "down"]);
    let (cs, cerr) = client.wait();
    let (ss, serr) = server.wait();
    assert!(cs.success(), "client failed: {cerr}");
    assert!(ss.success(), "server failed: {serr}");
    assert_eq!(sha256(&srv_out), sha256(&up), "upload corrupted");
    assert_eq!(sha256(&cli_out), sha256(&down), "download corrupted");
    t.teardown();
}

/// The kernel server announces a second address: our client joins it; the kernel then
/// removes it (REMOVE_ADDR) and the transfer carries on over the first path, intact.
#[test]
fn kernel_announces_then_removes_address() {
    skip_unless_able!();
    let t = Topology::new(2);
    ns_sh(
        &t.kernel,
        &[
            "ip", "mptcp", "endpoint", "add", "10.7.2.2", "dev", "v2b", "id", "5", "signal",
        ],
    );
    t.shape(1, "20mbit");
    t.shape(2, "20mbit");
    let up = t.data_file("up.bin", 12_000_000, 29);
    let down = t.data_file("down.bin", 6_000_000, 30);
    let (srv_out, cli_out) = (t.dir.join("srv.out"), t.dir.join("cli.out"));
    let mut server = t.spawn(
        &t.kernel,
        &args(&["--kernel", "cat", "listen", "5000"]),
        &down,
        &srv_out,
    );
    t.wait_kernel_listen(&t.kernel, 5000);
    let pcap = t.dir.join("cli.pcap");
    let mut cargs = with_pcap(Topology::stack_args(1), &pcap);
    cargs.extend(args(&["cat", "connect", "10.7.1.2:5000"]));
    let mut client = t.spawn(&t.us, &cargs, &up, &cli_out);
    wait_until(Duration::from_secs(20), "our join to 10.7.2.2", || {
        ctr(&t.nstat(&t.kernel), "MPTcpExtMPJoinAckRx") >= 1
    });
    // At least 1 MB of the 12 left (a loaded machine can be slow to report the join).
    assert!(Topology::size(&srv_out) < 11_000_000, "transfer too fast");
    ns_sh(&t.kernel, &["ip", "mptcp", "endpoint", "del", "id", "5"]);
    let (cs, cerr) = client.wait();
    let (ss, serr) = server.wait();
    assert!(cs.success(), "client failed: {cerr}");
    assert!(ss.success(), "server failed: {serr}");
    assert_eq!(sha256(&srv_out), sha256(&up), "upload corrupted");
    assert_eq!(sha256(&cli_out), sha256(&down), "download corrupted");
    let k = t.nstat(&t.kernel);
    assert!(ctr(&k, "MPTcpExtAddAddrTx") >= 1, "{k:?}"); // retransmissions may count twice
    assert!(ctr(&k, "MPTcpExtMPJoinSynRx") >= 1, "{k:?}"); // retransmissions may count twice
    assert!(ctr(&k, "MPTcpExtRmAddrTx") >= 1, "{k:?}"); // retransmissions may count twice
                                                        // The capture: REMOVE_ADDR (subtype 4) reached us, and afterwards our side closed the
                                                        // subflow to 10.7.2.2 (FIN or RST).
    let segs = pcap_segments(&pcap);
    let (us, gone) = ([10, 7, 0, 1], [10, 7, 2, 2]);
    let rm = segs
        .iter()
        .position(|s| s.dst == us && s.mptcp.contains(&4))
        .expect("no REMOVE_ADDR in our capture");
    let closed = segs[rm..]
        .iter()
        .any(|s| s.src == us && s.dst == gone && s.flags & 0x05 != 0);
    assert!(closed, "our client never closed the subflow to 10.7.2.2");
    let first = |from: [u8; 4], to: [u8; 4]| {
        segs.iter()
            .position(|s| s.src == from && s.dst == to && s.flags & 0x05 != 0)
    };
    println!(
        "REMOVE_ADDR at packet {rm}; first FIN/RST: ours {:?}, the kernel's {:?}",
        first(us, gone),
        first(gone, us)
    );
    t.teardown();
}

/// The kernel client turns its second, regular subflow into a backup mid-transfer
/// (MP_PRIO): from then on our server sends (almost) nothing on that path.
#[test]
fn kernel_marks_subflow_backup_mid_transfer() {
    skip_unless_able!();
    let t = Topology::new(2);
    ns_sh(
        &t.kernel,
        &["ip", "rule", "add", "from", "10.7.2.2", "table", "202"],
    );
    ns_sh(
        &t.kernel,
        &[
            "ip",
            "route",
            "add",
            "10.7.0.0/24",
            "via",
            "10.7.2.1",
            "table",
            "202",
        ],
    );
    ns_sh(
        &t.kernel,
        &[
            "ip", "mptcp", "endpoint", "add", "10.7.2.2", "dev", "v2b", "id", "2", "subflow",
        ],
    );
    t.shape(1, "20mbit");
    t.shape(2, "20mbit");
    // The kernel client keeps sending for a while (0.2 s or more): once it has closed its
    // sending side, Linux opens no more subflows.
    let up = t.data_file("up.bin", 1_000_000, 31);
    let down = t.data_file("down.bin", 16_000_000, 32);
    let (srv_out, cli_out) = (t.dir.join("srv.out"), t.dir.join("cli.out"));
    let mut sargs = Topology::stack_args(1);
    sargs.extend(args(&["cat", "listen", "5000"]));
    let mut server = t.spawn(&t.us, &sargs, &down, &srv_out);
    t.wait_stack_up(&t.us);
    let before2 = tx_bytes(&t.us, "v2a");
    let mut client = t.spawn(
        &t.kernel,
        &args(&["--kernel", "cat", "connect", "10.7.0.1:5000"]),
        &up,
        &cli_out,
    );
    wait_until(Duration::from_secs(20), "the kernel's join", || {
        ctr(&t.nstat(&t.kernel), "MPTcpExtMPJoinSynAckRx") >= 1
    });
    wait_until(Duration::from_secs(20), "2 MB downloaded", || {
        Topology::size(&cli_out) >= 2_000_000
    });
    let before_change = tx_bytes(&t.us, "v2a") - before2;
    assert!(Topology::size(&cli_out) < 10_000_000, "transfer too fast");
    ns_sh(
        &t.kernel,
        &["ip", "mptcp", "endpoint", "change", "id", "2", "backup"],
    );
    wait_until(Duration::from_secs(10), "the kernel's MP_PRIO", || {
        ctr(&t.nstat(&t.kernel), "MPTcpExtMPPrioTx") >= 1
    });
    // In-flight data and the MP_PRIO's trip.
    std::thread::sleep(Duration::from_millis(300));
    let (tx1, tx2) = (tx_bytes(&t.us, "v1a"), tx_bytes(&t.us, "v2a"));
    assert!(
        Topology::size(&cli_out) < 13_000_000,
        "the download is almost over before the measurement (machine too loaded?)"
    );
    let (cs, cerr) = client.wait();
    let (ss, serr) = server.wait();
    assert!(cs.success(), "client failed: {cerr}");
    assert!(ss.success(), "server failed: {serr}");
    assert_eq!(sha256(&srv_out), sha256(&up), "upload corrupted");
    assert_eq!(sha256(&cli_out), sha256(&down), "download corrupted");
    let k = t.nstat(&t.kernel);
    assert!(ctr(&k, "MPTcpExtMPPrioTx") >= 1, "{k:?}");
    let (d1, d2) = (tx_bytes(&t.us, "v1a") - tx1, tx_bytes(&t.us, "v2a") - tx2);
    println!("path 2 before the change: {before_change} bytes; after: path 1 {d1}, path 2 {d2}");
    assert!(before_change > 500_000, "path 2 unused before the change");
    assert!(d1 >= 2_000_000, "path 1 sent {d1} bytes after the change");
    assert!(
        d2 < 100_000,
        "backup path carried {d2} bytes after MP_PRIO (regular path {d1}); {k:?}"
    );
    t.teardown();
}

/// Whether `iperf3` runs here; as root, tries to install it with apt-get first.
fn iperf3_available() -> bool {
    let ok = || {
        Command::new("iperf3")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !ok() {
        let _ = Command::new("apt-get")
            .args(["install", "-y", "-qq", "iperf3"])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
    ok()
}

/// The bitrate (bits/s) of the summary line ending with `which` ("sender"/"receiver").
fn summary_rate(out: &str, which: &str) -> Option<f64> {
    let line = out
        .lines()
        .find(|l| l.trim_end().ends_with(which) && l.contains("bits/sec"))?;
    let words: Vec<&str> = line.split_whitespace().collect();
    let i = words.iter().position(|w| w.ends_with("bits/sec"))?;
    let v: f64 = words.get(i.checked_sub(1)?)?.parse().ok()?;
    let mult = match words[i].chars().next()? {
        'K' => 1e3,
        'M' => 1e6,
        'G' => 1e9,
        _ => 1.0,
    };
    Some(v * mult)
}

/// `mptcp perf client` on the user-space stack against `iperf3 -s -1` on the kernel.
#[test]
fn our_perf_client_to_iperf3_server() {
    skip_unless_able!();
    if !iperf3_available() {
        println!("skipped: iperf3 is missing");
        return;
    }
    // With mptcpize (package mptcpd) iperf3 runs on the kernel's MPTCP; without, on TCP
    // (our client then falls back).
    let mptcpize = Command::new("mptcpize")
        .arg("--help")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    let t = Topology::new(1);
    let srv_err = t.dir.join("iperf3.err");
    let mut cmd = vec!["netns", "exec", &t.kernel];
    if mptcpize {
        cmd.extend(["mptcpize", "run"]);
    }
    cmd.extend(["iperf3", "-s", "-1", "-p", "5201"]);
    let mut server = Proc {
        child: Some(
            Command::new("ip")
                .args(&cmd)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&srv_err).expect("stderr"))
                .spawn()
                .expect("spawn iperf3"),
        ),
        stderr: srv_err,
    };
    t.wait_kernel_listen(&t.kernel, 5201);
    let mut cargs = Topology::stack_args(1);
    cargs.extend(args(&[
        "perf", "client", "10.7.1.2", "-p", "5201", "-t", "2",
    ]));
    let empty = t.data_file("empty.bin", 0, 1);
    let out = t.dir.join("perf.out");
    let mut client = t.spawn(&t.us, &cargs, &empty, &out);
    let (cs, cerr) = client.wait();
    let (ss, serr) = server.wait();
    let text = std::fs::read_to_string(&out).unwrap_or_default();
    assert!(cs.success(), "perf client failed: {cerr}\n{text}");
    assert!(ss.success(), "iperf3 server failed: {serr}");
    assert!(text.contains("iperf Done."), "no completion in:\n{text}");
    assert!(
        text.contains("subflow 10.7.0.1:"),
        "no subflow line in:\n{text}"
    );
    for which in ["sender", "receiver"] {
        let r = summary_rate(&text, which).unwrap_or(0.0);
        // A veth pair carries far more; a stalled or broken transfer shows much less.
        assert!(
            r > 1e6 && r < 1e11,
            "implausible {which} bitrate {r} in:\n{text}"
        );
    }
    if mptcpize {
        let k = t.nstat(&t.kernel);
        assert!(
            k.get("MPTcpExtMPCapableSYNRX").copied().unwrap_or(0) >= 1,
            "iperf3 ran without MPTCP: {k:?}"
        );
    }
    t.teardown();
}

/// Bytes sent by v{p}a in "us" for each path `1..=paths`.
fn path_tx(ns: &str, side: char, paths: usize) -> Vec<u64> {
    (1..=paths)
        .map(|p| tx_bytes(ns, &format!("v{p}{side}")))
        .collect()
}

/// `after - before`, element by element.
fn diff(after: &[u64], before: &[u64]) -> Vec<u64> {
    after.iter().zip(before).map(|(a, b)| a - b).collect()
}

impl Topology {
    /// The largest subflow count among the kernel's MPTCP sockets in `ns` (`ss -Mi`
    /// reports the extra subflows as "subflows:N"; the initial one is not counted there).
    fn kernel_subflows(&self, ns: &str) -> usize {
        let out = Command::new("ip")
            .args(["netns", "exec", ns, "ss", "-HMi"])
            .output()
            .expect("ss -Mi");
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .filter_map(|w| w.strip_prefix("subflows:")?.parse::<usize>().ok())
            .map(|n| n + 1)
            .max()
            .unwrap_or(0)
    }

    /// Waits (up to 20 s) until a kernel MPTCP socket has `n` subflows at once; on timeout
    /// the panic shows the most seen and the kernel's join and ADD_ADDR counters.
    fn wait_kernel_subflows(&self, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut most = 0;
        while Instant::now() < deadline {
            let now = self.kernel_subflows(&self.kernel);
            most = most.max(now);
            if now >= n {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let k = self.nstat(&self.kernel);
        let mut seen: Vec<_> = k
            .iter()
            .filter(|(name, v)| **v > 0 && (name.contains("Join") || name.contains("AddAddr")))
            .collect();
        seen.sort();
        panic!("the kernel never had {n} subflows at once (at most {most}); {seen:?}");
    }
}

/// Our client with four addresses: the three others join the kernel server's connection
/// (MP_JOIN), the kernel holds four subflows at once, and each path carries a good share
/// of the upload.
#[test]
fn our_client_joins_four_subflows() {
    skip_unless_able!();
    let t = Topology::new(4);
    // 4 x 20 Mbit/s: no single path can carry the upload alone.
    for p in 1..=4 {
        t.shape(p, "20mbit");
    }
    let up = t.data_file("up.bin", 8_000_000, 40);
    // The server keeps sending while the joins happen (Linux refuses joins once it has
    // closed its own sending side).
    let down = t.data_file("down.bin", 4_000_000, 41);
    let (srv_out, cli_out) = (t.dir.join("srv.out"), t.dir.join("cli.out"));
    let mut server = t.spawn(
        &t.kernel,
        &args(&["--kernel", "cat", "listen", "5000"]),
        &down,
        &srv_out,
    );
    t.wait_kernel_listen(&t.kernel, 5000);
    let before = path_tx(&t.us, 'a', 4);
    let mut cargs = Topology::stack_args(4);
    cargs.extend(args(&["cat", "connect", "10.7.1.2:5000"]));
    let mut client = t.spawn(&t.us, &cargs, &up, &cli_out);
    t.wait_kernel_subflows(4);
    let (cs, cerr) = client.wait();
    let (ss, serr) = server.wait();
    assert!(cs.success(), "client failed: {cerr}");
    assert!(ss.success(), "server failed: {serr}");
    assert!(!cerr.contains("fell back"), "unexpected fallback: {cerr}");
    assert_eq!(sha256(&srv_out), sha256(&up), "upload corrupted");
    assert_eq!(sha256(&cli_out), sha256(&down), "download corrupted");
    let k = t.nstat(&t.kernel);
    assert_eq!(ctr(&k, "MPTcpExtMPCapableSYNRX"), 1, "{k:?}");
    assert!(ctr(&k, "MPTcpExtMPJoinSynRx") >= 3, "{k:?}"); // retransmissions may count twice
    assert!(ctr(&k, "MPTcpExtMPJoinAckRx") >= 3, "{k:?}"); // retransmissions may count twice
    assert_eq!(ctr(&k, "MPTcpExtMPJoinRejected"), 0, "{k:?}");
    let sent = diff(&path_tx(&t.us, 'a', 4), &before);
    println!("our client sent per path: {sent:?}");
    for (i, d) in sent.iter().enumerate() {
        assert!(
            *d >= 800_000,
            "path {} carried only {d} bytes: {sent:?}",
            i + 1
        );
    }
    t.teardown();
}

/// Our server with four addresses announces the three others (ADD_ADDR); the kernel
/// client joins each of them (MP_JOIN towards our stack) and the data in both directions
/// flows over all four paths.
#[test]
fn kernel_client_joins_three_announced_addresses() {
    skip_unless_able!();
    let t = Topology::new(4);
    for p in 1..=4 {
        t.shape(p, "20mbit");
    }
    let up = t.data_file("up.bin", 6_000_000, 42);
    let down = t.data_file("down.bin", 8_000_000, 43);
    let (srv_out, cli_out) = (t.dir.join("srv.out"), t.dir.join("cli.out"));
    let mut sargs = Topology::stack_args(4);
    sargs.extend(args(&["cat", "listen", "5000"]));
    let mut server = t.spawn(&t.us, &sargs, &down, &srv_out);
    t.wait_stack_up(&t.us);
    let (ours, theirs) = (path_tx(&t.us, 'a', 4), path_tx(&t.kernel, 'b', 4));
    let mut client = t.spawn(
        &t.kernel,
        &args(&["--kernel", "cat", "connect", "10.7.0.1:5000"]),
        &up,
        &cli_out,
    );
    t.wait_kernel_subflows(4);
    let (cs, cerr) = client.wait();
    let (ss, serr) = server.wait();
    assert!(cs.success(), "client failed: {cerr}");
    assert!(ss.success(), "server failed: {serr}");
    assert_eq!(sha256(&srv_out), sha256(&up), "upload corrupted");
    assert_eq!(sha256(&cli_out), sha256(&down), "download corrupted");
    let k = t.nstat(&t.kernel);
    println!(
        "kernel: AddAddr {} AddAddrDrop {} MPJoinSynTx {} MPJoinSynAckRx {}",
        ctr(&k, "MPTcpExtAddAddr"),
        ctr(&k, "MPTcpExtAddAddrDrop"),
        ctr(&k, "MPTcpExtMPJoinSynTx"),
        ctr(&k, "MPTcpExtMPJoinSynAckRx")
    );
    assert_eq!(ctr(&k, "MPTcpExtMPCapableSYNTX"), 1, "{k:?}");
    assert!(ctr(&k, "MPTcpExtAddAddr") >= 3, "{k:?}"); // retransmissions may count twice
    assert!(ctr(&k, "MPTcpExtMPJoinSynTx") >= 3, "{k:?}"); // retransmissions may count twice
    assert!(ctr(&k, "MPTcpExtMPJoinSynAckRx") >= 3, "{k:?}"); // retransmissions may count twice
    let ours = diff(&path_tx(&t.us, 'a', 4), &ours);
    let theirs = diff(&path_tx(&t.kernel, 'b', 4), &theirs);
    println!("sent per path: our server {ours:?}, the kernel client {theirs:?}");
    for (i, d) in ours.iter().enumerate() {
        assert!(
            *d >= 800_000,
            "our path {} carried only {d} bytes: {ours:?}",
            i + 1
        );
    }
    for (i, d) in theirs.iter().enumerate() {
        assert!(
            *d >= 300_000,
            "kernel path {} carried only {d} bytes: {theirs:?}",
            i + 1
        );
    }
    t.teardown();
}

/// `--tun mtun0 --addr fd07::1` (the stack's IPv6 address).
fn stack_args_v6() -> Vec<String> {
    Topology::stack_args_for(&args(&["fd07::1"]))
}

/// IPv6: our client sends 4 MB to a kernel server, which sends 2 MB back; tshark (when
/// present) accepts the capture.
#[test]
fn ipv6_our_client_to_kernel_server() {
    skip_unless_able!();
    let t = Topology::new_v6();
    let up = t.data_file("up.bin", 4_000_000, 50);
    let down = t.data_file("down.bin", 2_000_000, 51);
    let (srv_out, cli_out) = (t.dir.join("srv.out"), t.dir.join("cli.out"));
    let mut server = t.spawn(
        &t.kernel,
        &args(&["--kernel", "cat", "listen", "5000"]),
        &down,
        &srv_out,
    );
    t.wait_kernel_listen(&t.kernel, 5000);
    let pcap = t.dir.join("cli.pcap");
    let cargs = args(&[
        "--tun",
        "mtun0",
        "--addr",
        "fd07::1",
        "--pcap",
        pcap.to_str().expect("utf-8 path"),
        "cat",
        "connect",
        "[fd07:1::2]:5000",
    ]);
    let mut client = t.spawn(&t.us, &cargs, &up, &cli_out);
    let (cs, cerr) = client.wait();
    let (ss, serr) = server.wait();
    assert!(cs.success(), "client failed: {cerr}");
    assert!(ss.success(), "server failed: {serr}");
    assert!(!cerr.contains("fell back"), "unexpected fallback: {cerr}");
    assert_eq!(sha256(&srv_out), sha256(&up), "upload corrupted");
    assert_eq!(sha256(&cli_out), sha256(&down), "download corrupted");
    let k = t.nstat(&t.kernel);
    assert_eq!(ctr(&k, "MPTcpExtMPCapableSYNRX"), 1, "{k:?}");
    assert_eq!(ctr(&k, "MPTcpExtMPCapableACKRX"), 1, "{k:?}");
    // The IPv6 capture passes the dissector's checks too (TCP checksums over IPv6).
    if tshark_available() {
        check_capture_with_tshark(&pcap, &["fd07::1"], 0, false);
    } else {
        println!("tshark is missing: the capture is not checked");
    }
    t.teardown();
}

/// IPv6, the kernel server announcing MSS 1460 (route `advmss 1460`, as a host on a
/// larger-MTU link would): our client must still size its segments for its own 1500-byte
/// device (MSS 1440), or every full segment is a 1520-byte packet the 1500-byte link
/// refuses with ICMPv6 "packet too big" (which the stack ignores) and the upload stalls.
#[test]
fn ipv6_peer_announces_mss_above_our_mtu() {
    skip_unless_able!();
    let t = Topology::new_v6();
    ns_sh(
        &t.kernel,
        &[
            "ip",
            "-6",
            "route",
            "change",
            "fd07::1/128",
            "via",
            "fd07:1::1",
            "advmss",
            "1460",
        ],
    );
    let up = t.data_file("up.bin", 2_000_000, 54);
    let down = t.data_file("down.bin", 1_000_000, 55);
    let (srv_out, cli_out) = (t.dir.join("srv.out"), t.dir.join("cli.out"));
    let mut server = t.spawn(
        &t.kernel,
        &args(&["--kernel", "cat", "listen", "5000"]),
        &down,
        &srv_out,
    );
    t.wait_kernel_listen(&t.kernel, 5000);
    let mut cargs = stack_args_v6();
    cargs.extend(args(&["cat", "connect", "[fd07:1::2]:5000"]));
    let started = Instant::now();
    let mut client = t.spawn(&t.us, &cargs, &up, &cli_out);
    let (cs, cerr) = client.wait();
    let (ss, serr) = server.wait();
    assert!(cs.success(), "client failed: {cerr}");
    assert!(ss.success(), "server failed: {serr}");
    assert_eq!(sha256(&srv_out), sha256(&up), "upload corrupted");
    assert_eq!(sha256(&cli_out), sha256(&down), "download corrupted");
    // No packet of ours was too big for the link.
    let too_big = snmp6_counter(&t.us, "Icmp6OutPktTooBigs");
    assert_eq!(too_big, 0, "packets too big for the link");
    assert!(started.elapsed() < Duration::from_secs(10), "slow transfer");
    t.teardown();
}

/// IPv6: a kernel client sends 4 MB to our server, which sends 2 MB back.
#[test]
fn ipv6_kernel_client_to_our_server() {
    skip_unless_able!();
    let t = Topology::new_v6();
    let up = t.data_file("up.bin", 4_000_000, 52);
    let down = t.data_file("down.bin", 2_000_000, 53);
    let (srv_out, cli_out) = (t.dir.join("srv.out"), t.dir.join("cli.out"));
    let mut sargs = stack_args_v6();
    sargs.extend(args(&["cat", "listen", "5000"]));
    let mut server = t.spawn(&t.us, &sargs, &down, &srv_out);
    t.wait_stack_up(&t.us);
    let mut client = t.spawn(
        &t.kernel,
        &args(&["--kernel", "cat", "connect", "[fd07::1]:5000"]),
        &up,
        &cli_out,
    );
    let (cs, cerr) = client.wait();
    let (ss, serr) = server.wait();
    assert!(cs.success(), "client failed: {cerr}");
    assert!(ss.success(), "server failed: {serr}");
    assert_eq!(sha256(&srv_out), sha256(&up), "upload corrupted");
    assert_eq!(sha256(&cli_out), sha256(&down), "download corrupted");
    let k = t.nstat(&t.kernel);
    assert_eq!(ctr(&k, "MPTcpExtMPCapableSYNTX"), 1, "{k:?}");
    assert_eq!(ctr(&k, "MPTcpExtMPCapableSYNACKRX"), 1, "{k:?}");
    t.teardown();
}

/// Whether `tshark` runs here (scripts/test.sh installs it when running as root).
fn tshark_available() -> bool {
    Command::new("tshark")
        .arg("-v")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Runs tshark on `pcap` with the TCP and MPTCP analyses and checksum verification on;
/// returns its standard output. The payload (pseudo-random bytes on port 5000) is decoded
/// as plain data: Wireshark's heuristic dissectors otherwise take it for GSM over IP and
/// report the "malformed" GSM messages they imagine in it.
fn tshark(pcap: &Path, extra: &[&str]) -> String {
    let out = Command::new("tshark")
        .arg("-r")
        .arg(pcap)
        .args([
            "-o",
            "tcp.analyze_sequence_numbers:TRUE",
            "-o",
            "mptcp.analyze_mptcp:TRUE",
            "-o",
            "mptcp.analyze_mappings:TRUE",
            "-o",
            "tcp.check_checksum:TRUE",
            "-o",
            "ip.check_checksum:TRUE",
            "-d",
            "tcp.port==5000,data",
        ])
        .args(extra)
        .output()
        .expect("run tshark");
    assert!(
        out.status.success(),
        "tshark {extra:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The non-empty values of an aggregated tshark field.
fn list(s: &str) -> Vec<&str> {
    s.split(',').filter(|v| !v.is_empty()).collect()
}

/// One TCP packet as tshark's MPTCP dissector sees it.
#[derive(Debug)]
struct Dissected {
    frame: u64,
    tcp_stream: u32,
    /// The MPTCP connection the dissector attached the subflow to (packets with an MPTCP
    /// option only: Wireshark 4.0 runs its MPTCP analysis on those alone).
    mptcp_stream: Option<u32>,
    len: u32,
    syn: bool,
    ack: bool,
    /// MPTCP option subtypes.
    subtypes: Vec<u8>,
    /// The data sequence number the dissector mapped the payload to.
    dsn: bool,
    /// The DSS option: whether it carries a mapping (flag M), its length, and the length
    /// its flags give without a checksum.
    dss: Option<(bool, u32, u32)>,
    /// MP_CAPABLE's "checksum required" flag.
    csum_required: bool,
    /// Sent by our stack.
    ours: bool,
}

/// The DSS option of a packet from tshark's fields: option kinds and lengths (NOPs have
/// no length), MPTCP subtypes, and the DSS flags A, a, M, m (RFC 8684 §3.3).
fn dss_shape(
    kinds: &str,
    lens: &str,
    subtypes: &[u8],
    flags: [&str; 4],
) -> Option<(bool, u32, u32)> {
    let i = subtypes.iter().position(|s| *s == 2)?;
    let kinds: Vec<&str> = list(kinds)
        .into_iter()
        .filter(|k| *k != "0" && *k != "1")
        .collect();
    let lens = list(lens);
    let at = kinds
        .iter()
        .enumerate()
        .filter(|(_, k)| **k == "30")
        .nth(i)?
        .0;
    let len: u32 = lens.get(at)?.parse().ok()?;
    let [a, a8, m, m8] = flags.map(|f| f.split(',').next() == Some("1"));
    let mut plain = 4;
    if a {
        plain += if a8 { 8 } else { 4 };
    }
    if m {
        plain += if m8 { 8 } else { 4 } + 4 + 2;
    }
    Some((m, len, plain))
}

/// Checks a capture of our stack (addresses `ours`) with tshark's MPTCP dissector:
/// nothing malformed, no expert error, no bad IP or TCP checksum, no MPTCP analysis
/// warning about keys, algorithms or infinite mappings; the dissector recognises
/// MP_CAPABLE and `joins` MP_JOIN handshakes, attaches every subflow to one MPTCP
/// connection, maps the payload of every segment of ours that carries an MPTCP option to
/// a data sequence number, and finds a DSS checksum on every mapping (both sides)
/// exactly when `checksum` is on.
fn check_capture_with_tshark(pcap: &Path, ours: &[&str], joins: usize, checksum: bool) {
    // Debugging aid: with MPTCP_INTEROP_PCAP=DIR the capture outlives the test.
    if let Ok(dir) = std::env::var("MPTCP_INTEROP_PCAP") {
        let name = format!(
            "{}-{}",
            std::process::id(),
            pcap.file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("capture.pcap")
        );
        let _ = std::fs::copy(pcap, Path::new(&dir).join(name));
    }
    // Data mapping checks apply to the packets our stack sent, all of which the capture
    // holds. Of the peer's, the capture misses those lost before they reached the stack;
    // Wireshark 4.0 then fails to map the retransmissions that follow even though they
    // carry their DSS mapping. "No mapping available" on a segment without payload is
    // another quirk: the dissector looks a mapping up for the sequence number of every
    // segment with an MPTCP option, pure ACKs (DATA_ACK only) and FINs included (Linux's
    // get it too).
    let from_us = ours
        .iter()
        .map(|a| {
            let field = if a.contains(':') {
                "ipv6.src"
            } else {
                "ip.src"
            };
            format!("{field} == {a}")
        })
        .collect::<Vec<_>>()
        .join(" || ");
    let filter = format!(
        "_ws.malformed || _ws.expert.severity == error || tcp.checksum.status == 2 \
         || ip.checksum.status == 2 || mptcp.connection.echoed_key_mismatch \
         || mptcp.connection.missing_algorithm || mptcp.connection.unsupported_algorithm \
         || mptcp.dss.infinite_mapping \
         || (mptcp.dss.missing_mapping && tcp.len > 0 && ({from_us}))"
    );
    let bad = tshark(pcap, &["-Y", &filter]);
    assert!(bad.trim().is_empty(), "tshark reports problems:\n{bad}");
    let fields = tshark(
        pcap,
        &[
            "-Y",
            "tcp",
            "-T",
            "fields",
            "-E",
            "occurrence=a",
            "-E",
            "aggregator=,",
            "-e",
            "frame.number",
            "-e",
            "tcp.stream",
            "-e",
            "mptcp.stream",
            "-e",
            "tcp.len",
            "-e",
            "tcp.flags.syn",
            "-e",
            "tcp.flags.ack",
            "-e",
            "tcp.options.mptcp.subtype",
            "-e",
            "mptcp.dsn",
            "-e",
            "tcp.options.mptcp.checksumreq.flags",
            "-e",
            "tcp.option_kind",
            "-e",
            "tcp.option_len",
            "-e",
            "tcp.options.mptcp.dataackpresent.flag",
            "-e",
            "tcp.options.mptcp.dataack8.flag",
            "-e",
            "tcp.options.mptcp.dseqnpresent.flag",
            "-e",
            "tcp.options.mptcp.dseqn8.flag",
            "-e",
            "ip.src",
            "-e",
            "ipv6.src",
        ],
    );
    let flag = |s: &str| s.split(',').any(|v| v == "1" || v == "True");
    let packets: Vec<Dissected> = fields
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            assert_eq!(f.len(), 17, "unexpected tshark line {l:?}");
            let subtypes: Vec<u8> = list(f[6]).iter().filter_map(|v| v.parse().ok()).collect();
            let dss = dss_shape(f[9], f[10], &subtypes, [f[11], f[12], f[13], f[14]]);
            Dissected {
                frame: f[0].parse().expect("frame number"),
                tcp_stream: f[1].parse().expect("tcp.stream"),
                mptcp_stream: list(f[2]).first().and_then(|v| v.parse().ok()),
                len: f[3].parse().expect("tcp.len"),
                syn: flag(f[4]),
                ack: flag(f[5]),
                subtypes,
                dsn: !f[7].is_empty(),
                dss,
                csum_required: flag(f[8]),
                ours: ours.iter().any(|a| f[15] == *a || f[16] == *a),
            }
        })
        .collect();
    let count = |p: &dyn Fn(&Dissected) -> bool| packets.iter().filter(|d| p(d)).count();
    let with = |d: &Dissected, s: u8| d.subtypes.contains(&s);
    let (mpc, join, dss) = (0, 1, 2);
    println!(
        "tshark: {} TCP packets, {} with DSS, {} MP_JOIN, {} data segments mapped to a DSN \
         ({} of ours)",
        packets.len(),
        count(&|d| with(d, dss)),
        count(&|d| with(d, join)),
        count(&|d| d.len > 0 && d.dsn),
        count(&|d| d.ours && d.len > 0 && d.dsn)
    );
    // The handshakes.
    assert_eq!(
        count(&|d| d.syn && !d.ack && with(d, mpc)),
        1,
        "MP_CAPABLE SYN"
    );
    assert_eq!(
        count(&|d| d.syn && d.ack && with(d, mpc)),
        1,
        "MP_CAPABLE SYN/ACK"
    );
    assert!(
        count(&|d| !d.syn && with(d, mpc)) >= 1,
        "MP_CAPABLE third ACK"
    );
    assert!(
        count(&|d| d.syn && !d.ack && with(d, join)) >= joins,
        "MP_JOIN SYN"
    );
    assert!(
        count(&|d| d.syn && d.ack && with(d, join)) >= joins,
        "MP_JOIN SYN/ACK"
    );
    assert!(
        count(&|d| !d.syn && with(d, join)) >= joins,
        "MP_JOIN third ACK"
    );
    // Every subflow belongs to the one MPTCP connection (the MP_JOINs' tokens match the
    // keys the dissector saw). The dissector attaches no connection to the MP_CAPABLE SYN
    // itself (its analysis starts from the SYN/ACK).
    let mut subflows: Vec<(u32, Option<u32>)> = packets
        .iter()
        .filter(|d| {
            let initial_syn = d.syn && !d.ack && with(d, mpc);
            !d.subtypes.is_empty() && !initial_syn
        })
        .map(|d| (d.tcp_stream, d.mptcp_stream))
        .collect();
    subflows.sort_unstable();
    subflows.dedup();
    let expected: Vec<(u32, Option<u32>)> = (0..=joins as u32).map(|s| (s, Some(0))).collect();
    assert_eq!(subflows, expected, "subflows and their MPTCP connection");
    // Data: DSS options, and every segment of ours with payload and an MPTCP option
    // mapped.
    assert!(
        count(&|d| d.len > 0 && with(d, dss)) > 100,
        "few DSS data segments"
    );
    assert!(
        count(&|d| d.ours && d.len > 0 && d.dsn) > 10,
        "few data segments of ours mapped"
    );
    let unmapped: Vec<u64> = packets
        .iter()
        .filter(|d| d.ours && d.len > 0 && !d.subtypes.is_empty() && !d.dsn)
        .map(|d| d.frame)
        .collect();
    assert!(
        unmapped.is_empty(),
        "payload without a DSN in frames {unmapped:?}"
    );
    // DSS checksums: on every mapping exactly when negotiated. Wireshark 4.0 shows the
    // checksum field only when 4 more bytes follow the data-level length (it wants 2), so
    // it hides it in most DSS options: the option's length tells instead.
    assert_eq!(
        count(&|d| d.syn && d.csum_required),
        if checksum { 2 } else { 0 },
        "MP_CAPABLE SYN and SYN/ACK with the checksum flag"
    );
    let mut mappings = 0;
    for d in &packets {
        let Some((mapping, len, plain)) = d.dss else {
            continue;
        };
        let want = if mapping && checksum {
            plain + 2
        } else {
            plain
        };
        assert_eq!(len, want, "DSS length in frame {} ({d:?})", d.frame);
        mappings += usize::from(mapping);
    }
    assert!(mappings > 0, "no DSS mapping");
}

/// `--pcap` with DSS checksums: our client joins a kernel server (which requires
/// checksums) from a second address; tshark's MPTCP dissector accepts the capture.
#[test]
fn pcap_checked_by_tshark_with_checksums() {
    skip_unless_able!();
    if !tshark_available() {
        println!("skipped: tshark is missing (scripts/test.sh installs it as root)");
        return;
    }
    let t = Topology::new(2);
    ns_sh(
        &t.kernel,
        &["sysctl", "-qw", "net.mptcp.checksum_enabled=1"],
    );
    // 2 x 20 Mbit/s: the transfer lasts long enough for the join even on a loaded machine
    // (Linux refuses joins once it has closed its sending side).
    t.shape(1, "20mbit");
    t.shape(2, "20mbit");
    let up = t.data_file("up.bin", 3_000_000, 60);
    let down = t.data_file("down.bin", 2_000_000, 61);
    let (srv_out, cli_out) = (t.dir.join("srv.out"), t.dir.join("cli.out"));
    let mut server = t.spawn(
        &t.kernel,
        &args(&["--kernel", "cat", "listen", "5000"]),
        &down,
        &srv_out,
    );
    t.wait_kernel_listen(&t.kernel, 5000);
    let pcap = t.dir.join("cli.pcap");
    let pcap_arg = pcap.to_str().expect("utf-8 path");
    let cargs = args(&[
        "--tun",
        "mtun0",
        "--addr",
        "10.7.0.1",
        "--addr",
        "10.7.0.2",
        "--checksum",
        "--pcap",
        pcap_arg,
        "cat",
        "connect",
        "10.7.1.2:5000",
    ]);
    let mut client = t.spawn(&t.us, &cargs, &up, &cli_out);
    let (cs, cerr) = client.wait();
    let (ss, serr) = server.wait();
    assert!(cs.success(), "client failed: {cerr}");
    assert!(ss.success(), "server failed: {serr}");
    assert_eq!(sha256(&srv_out), sha256(&up), "upload corrupted");
    assert_eq!(sha256(&cli_out), sha256(&down), "download corrupted");
    let k = t.nstat(&t.kernel);
    assert!(ctr(&k, "MPTcpExtMPJoinAckRx") >= 1, "{k:?}");
    assert_eq!(ctr(&k, "MPTcpExtDataCsumErr"), 0, "{k:?}");
    check_capture_with_tshark(&pcap, &["10.7.0.1", "10.7.0.2"], 1, true);
    t.teardown();
}

/// `--pcap` without checksums: the kernel client joins the address our server announced
/// (ADD_ADDR); tshark's MPTCP dissector accepts the capture.
#[test]
fn pcap_checked_by_tshark_without_checksums() {
    skip_unless_able!();
    if !tshark_available() {
        println!("skipped: tshark is missing (scripts/test.sh installs it as root)");
        return;
    }
    let t = Topology::new(2);
    // 2 x 20 Mbit/s: the transfer lasts long enough for the join even on a loaded machine
    // (Linux opens no subflow once it has closed its sending side).
    t.shape(1, "20mbit");
    t.shape(2, "20mbit");
    let up = t.data_file("up.bin", 3_000_000, 62);
    let down = t.data_file("down.bin", 3_000_000, 63);
    let (srv_out, cli_out) = (t.dir.join("srv.out"), t.dir.join("cli.out"));
    let pcap = t.dir.join("srv.pcap");
    let pcap_arg = pcap.to_str().expect("utf-8 path");
    let sargs = args(&[
        "--tun", "mtun0", "--addr", "10.7.0.1", "--addr", "10.7.0.2", "--pcap", pcap_arg, "cat",
        "listen", "5000",
    ]);
    let mut server = t.spawn(&t.us, &sargs, &down, &srv_out);
    t.wait_stack_up(&t.us);
    let mut client = t.spawn(
        &t.kernel,
        &args(&["--kernel", "cat", "connect", "10.7.0.1:5000"]),
        &up,
        &cli_out,
    );
    let (cs, cerr) = client.wait();
    let (ss, serr) = server.wait();
    assert!(cs.success(), "client failed: {cerr}");
    assert!(ss.success(), "server failed: {serr}");
    assert_eq!(sha256(&srv_out), sha256(&up), "upload corrupted");
    assert_eq!(sha256(&cli_out), sha256(&down), "download corrupted");
    let k = t.nstat(&t.kernel);
    assert!(ctr(&k, "MPTcpExtMPJoinSynAckRx") >= 1, "{k:?}");
    check_capture_with_tshark(&pcap, &["10.7.0.1", "10.7.0.2"], 1, false);
    // The ADD_ADDR (subtype 3) is in the capture and the dissector reads its address.
    let add = tshark(
        &pcap,
        &[
            "-Y",
            "tcp.options.mptcp.subtype == 3",
            "-T",
            "fields",
            "-e",
            "tcp.options.mptcp.ipv4",
        ],
    );
    assert!(
        add.lines().any(|l| l.split(',').any(|a| a == "10.7.0.2")),
        "no ADD_ADDR 10.7.0.2 in:\n{add}"
    );
    t.teardown();
}

// ---- Middleboxes and path faults between us and the kernel (nftables in "kernel") ----

/// Whether `nft` runs; prints the skip reason when it does not.
fn nft_available() -> bool {
    if Command::new("nft").arg("-v").output().is_err() {
        println!("skipped: `nft` is missing");
        return false;
    }
    true
}

/// An nftables table `t` in `ns` with filter chains on prerouting (what reaches the
/// kernel) and output (what the kernel sends), each with `rules`.
fn nft_both_ways(ns: &str, rules: &[&str]) {
    ns_sh(ns, &["nft", "add", "table", "inet", "t"]);
    for (chain, hook) in [("pre", "prerouting"), ("out", "output")] {
        ns_sh(
            ns,
            &[
                "nft",
                &format!("add chain inet t {chain} {{ type filter hook {hook} priority -150; }}"),
            ],
        );
        for r in rules {
            ns_sh(ns, &["nft", &format!("add rule inet t {chain} {r}")]);
        }
    }
}

/// Our client uploads `up_len` bytes to a kernel `cat` server that answers with
/// `down_len`; `during` runs once the transfer is under way. Checks integrity both ways
/// and returns our client's stderr.
fn transfer_through(
    t: &Topology,
    paths: usize,
    up_len: usize,
    down_len: usize,
    during: impl FnOnce(&Topology, &Path),
) -> String {
    let up = t.data_file("up.bin", up_len, 41);
    let down = t.data_file("down.bin", down_len, 42);
    let (srv_out, cli_out) = (t.dir.join("srv.out"), t.dir.join("cli.out"));
    let mut server = t.spawn(
        &t.kernel,
        &args(&["--kernel", "cat", "listen", "5000"]),
        &down,
        &srv_out,
    );
    t.wait_kernel_listen(&t.kernel, 5000);
    let mut cargs = Topology::stack_args(paths);
    cargs.extend(args(&["cat", "connect", "10.7.1.2:5000"]));
    let mut client = t.spawn(&t.us, &cargs, &up, &cli_out);
    during(t, &srv_out);
    let (cs, cerr) = client.wait();
    let (ss, serr) = server.wait();
    assert!(cs.success(), "client failed: {cerr}");
    assert!(ss.success(), "server failed: {serr}");
    assert_eq!(sha256(&srv_out), sha256(&up), "upload corrupted");
    assert_eq!(sha256(&cli_out), sha256(&down), "download corrupted");
    cerr
}

/// A middlebox strips MPTCP options from every segment that carries data, both ways
/// (the handshake passes): the initial subflow falls back to TCP (RFC 8684 §3.7) and the
/// data is intact.
#[test]
fn mptcp_option_stripped_from_data() {
    skip_unless_able!();
    if !nft_available() {
        return;
    }
    let t = Topology::new(1);
    nft_both_ways(
        &t.kernel,
        &["tcp flags & (syn | rst) == 0 ip length > 120 reset tcp option mptcp"],
    );
    let cerr = transfer_through(&t, 1, 2_000_000, 1_000_000, |_, _| {});
    let k = t.nstat(&t.kernel);
    let rules = Command::new("ip")
        .args(["netns", "exec", &t.kernel, "nft", "list", "ruleset"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    assert!(
        cerr.contains("fell back to TCP mid-connection"),
        "no fallback notice: {cerr} {k:?} {rules}"
    );
    assert!(
        ctr(&k, "MPTcpExtMPCapableACKRX") >= 1,
        "MPTCP was negotiated first: {k:?}"
    );
    t.teardown();
}

/// 5 % random loss both ways on both paths of a two-subflow connection (nftables
/// `numgen random`): recovered, intact.
#[test]
fn random_loss_five_percent_on_two_paths() {
    skip_unless_able!();
    if !nft_available() {
        return;
    }
    let t = Topology::new(2);
    t.shape(1, "20mbit");
    t.shape(2, "20mbit");
    nft_both_ways(
        &t.kernel,
        &["meta l4proto tcp numgen random mod 100 < 5 drop"],
    );
    transfer_through(&t, 2, 4_000_000, 2_000_000, |_, _| {});
    // Whether the join got in depends on which handshake packets were lost (Linux refuses
    // joins while the connection is not fully established): reported, not required.
    let k = t.nstat(&t.kernel);
    println!(
        "joins accepted {}, rejected {}",
        ctr(&k, "MPTcpExtMPJoinAckRx"),
        ctr(&k, "MPTcpExtMPJoinRejected")
    );
    t.teardown();
}

/// Path `p` of two silently drops everything (no link event) once 2 MB went through:
/// the stack detects it by timeouts, reinjects and finishes on the other path, intact.
fn blackhole_case(p: usize) {
    let t = Topology::new(2);
    t.shape(1, "20mbit");
    t.shape(2, "20mbit");
    transfer_through(&t, 2, 10_000_000, 4_000_000, |t, srv_out| {
        wait_until(Duration::from_secs(20), "the join", || {
            ctr(&t.nstat(&t.kernel), "MPTcpExtMPJoinAckRx") >= 1
        });
        wait_until(Duration::from_secs(20), "2 MB uploaded", || {
            Topology::size(srv_out) >= 2_000_000
        });
        assert!(Topology::size(srv_out) < 9_000_000, "transfer too fast");
        let dev = format!("v{p}b");
        nft_both_ways(
            &t.kernel,
            &[
                &format!("iifname \"{dev}\" drop"),
                &format!("oifname \"{dev}\" drop"),
            ],
        );
    });
    t.teardown();
}

#[test]
fn joined_path_blackholed_mid_transfer() {
    skip_unless_able!();
    if !nft_available() {
        return;
    }
    blackhole_case(2);
}

#[test]
fn initial_path_blackholed_mid_transfer() {
    skip_unless_able!();
    if !nft_available() {
        return;
    }
    blackhole_case(1);
}

/// Our server answers every SYN with a SYN cookie (`--syn-cookies always`): the kernel
/// client accepts the stateless SYN/ACK, our server rebuilds the MPTCP connection from
/// the third ACK (both keys in MP_CAPABLE), announces its second address, and the kernel
/// joins it; data intact both ways.
#[test]
fn kernel_client_to_our_server_with_syn_cookies() {
    skip_unless_able!();
    let t = Topology::new(2);
    t.shape(1, "40mbit");
    t.shape(2, "40mbit");
    let up = t.data_file("up.bin", 5_000_000, 61);
    let down = t.data_file("down.bin", 3_000_000, 62);
    let (srv_out, cli_out) = (t.dir.join("srv.out"), t.dir.join("cli.out"));
    let mut sargs = Topology::stack_args(2);
    sargs.extend(args(&["--syn-cookies", "always", "cat", "listen", "5000"]));
    let mut server = t.spawn(&t.us, &sargs, &down, &srv_out);
    t.wait_stack_up(&t.us);
    let mut client = t.spawn(
        &t.kernel,
        &args(&["--kernel", "cat", "connect", "10.7.0.1:5000"]),
        &up,
        &cli_out,
    );
    let (cs, cerr) = client.wait();
    let (ss, serr) = server.wait();
    assert!(cs.success(), "client failed: {cerr}");
    assert!(ss.success(), "server failed: {serr}");
    assert!(!serr.contains("fell back"), "unexpected fallback: {serr}");
    assert_eq!(sha256(&srv_out), sha256(&up), "upload corrupted");
    assert_eq!(sha256(&cli_out), sha256(&down), "download corrupted");
    let k = t.nstat(&t.kernel);
    assert_eq!(k.get("MPTcpExtMPCapableSYNACKRX"), Some(&1), "{k:?}");
    assert_eq!(k.get("MPTcpExtMPJoinSynAckRx"), Some(&1), "{k:?}");
    t.teardown();
}
