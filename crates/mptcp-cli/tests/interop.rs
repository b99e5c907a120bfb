//! Interoperability with the Linux kernel's MPTCP, over network namespaces the tests build
//! themselves. Needs root, `ip`, `nstat` and /dev/net/tun; otherwise each test prints
//! "skipped: <reason>" and passes.
//!
//! Topology (names carry the process id and a counter, so tests run in parallel):
//! ```text
//!  ns "us": mptcp --tun mtun0 --addr 10.7.0.1 [--addr 10.7.0.2]
//!      va 10.7.1.1/24  <--veth-->  vb 10.7.1.2/24   ns "kernel": mptcp --kernel ...
//!      vc 10.7.2.1/24  <--veth-->  vd 10.7.2.2/24   (second path, optional)
//! ```
//! The kernel namespace routes 10.7.0.1 via 10.7.1.1 and 10.7.0.2 via 10.7.2.1; the "us"
//! namespace sends traffic from 10.7.0.2 out of vc (policy routing). Every case checks the
//! SHA-256 of what arrived and the kernel's own MPTcpExt counters.

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
    for tool in ["ip", "nstat"] {
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
    fn new(paths: usize) -> Topology {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let id = format!("{}x{n}", std::process::id());
        let dir = std::env::temp_dir().join(format!("mptcp-interop-{id}"));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let topo = Topology {
            us: format!("mus{id}"),
            kernel: format!("mkern{id}"),
            dir,
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
        for p in 1..=paths {
            let (a, b) = (format!("v{p}a"), format!("v{p}b"));
            sh(&[
                "ip", "link", "add", &a, "netns", us, "type", "veth", "peer", "name", &b, "netns",
                k,
            ]);
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
            sh(&["ip", "-n", us, "link", "set", &a, "up"]);
            sh(&["ip", "-n", k, "link", "set", &b, "up"]);
            let stack = format!("10.7.0.{p}/32");
            let via = format!("10.7.{p}.1");
            sh(&["ip", "-n", k, "route", "add", &stack, "via", &via]);
            if p > 1 {
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

    /// `--addr` arguments for `paths` stack addresses.
    fn stack_args(paths: usize) -> Vec<String> {
        let mut v = vec!["--tun".to_string(), "mtun0".to_string()];
        for p in 1..=paths {
            v.push("--addr".into());
            v.push(format!("10.7.0.{p}"));
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
        let out = Command::new("ip")
            .args(["netns", "exec", ns, "nstat", "-az"])
            .output()
            .expect("nstat");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| {
                let mut it = l.split_whitespace();
                let name = it.next()?;
                let value = it.next()?.parse().ok()?;
                name.starts_with("MPTcpExt")
                    .then(|| (name.to_string(), value))
            })
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
                .args(["-n", ns, "route", "show", "10.7.0.1"])
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
}

/// Our client with two addresses: the second joins the kernel server's connection
/// (MP_JOIN), and data flows over both paths.
#[test]
fn our_client_joins_second_subflow() {
    skip_unless_able!();
    let t = Topology::new(2);
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
}

/// Our server with two addresses announces the second (ADD_ADDR); the kernel client
/// joins it (MP_JOIN towards our stack).
#[test]
fn kernel_client_joins_announced_address() {
    skip_unless_able!();
    let t = Topology::new(2);
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
}
