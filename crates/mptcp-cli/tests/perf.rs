//! `mptcp perf` end to end on loopback: our server with our client, and each against the
//! real iperf3 (skipped with a message when iperf3 is missing and cannot be installed), and
//! an unmodified iperf3 on kernel MPTCP through `mptcpize`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_mptcp");

/// A child process killed when dropped, its stdout collected by a thread.
struct Proc {
    child: Child,
    out: Arc<Mutex<String>>,
    err: Arc<Mutex<String>>,
    name: String,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn collect<R: Read + Send + 'static>(r: R) -> Arc<Mutex<String>> {
    let buf = Arc::new(Mutex::new(String::new()));
    let b = buf.clone();
    thread::spawn(move || {
        for line in BufReader::new(r).lines().map_while(Result::ok) {
            let mut g = b.lock().unwrap();
            g.push_str(&line);
            g.push('\n');
        }
    });
    buf
}

fn spawn(prog: &str, args: &[&str]) -> Proc {
    let mut child = Command::new(prog)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {prog}: {e}"));
    let out = collect(child.stdout.take().unwrap());
    let err = collect(child.stderr.take().unwrap());
    Proc {
        child,
        out,
        err,
        name: format!("{prog} {}", args.join(" ")),
    }
}

impl Proc {
    fn stdout(&self) -> String {
        self.out.lock().unwrap().clone()
    }
    fn stderr(&self) -> String {
        self.err.lock().unwrap().clone()
    }
    /// Waits for the exit (bounded); returns the status code and the output.
    fn finish(mut self, limit: Duration) -> (i32, String, String) {
        let t0 = Instant::now();
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                // Let the reader threads drain the pipes.
                thread::sleep(Duration::from_millis(100));
                return (st.code().unwrap_or(-1), self.stdout(), self.stderr());
            }
            if t0.elapsed() > limit {
                panic!(
                    "{} did not finish in {limit:?}\nstdout:\n{}\nstderr:\n{}",
                    self.name,
                    self.stdout(),
                    self.stderr()
                );
            }
            thread::sleep(Duration::from_millis(50));
        }
    }
    /// Waits until stdout contains `what`.
    fn wait_for(&self, what: &str) {
        let t0 = Instant::now();
        while !self.stdout().contains(what) {
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "{} never printed {what:?}; stderr: {}",
                self.name,
                self.stderr()
            );
            thread::sleep(Duration::from_millis(20));
        }
    }
}

/// A port nobody listens on right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits until something listens on the port (for servers that print nothing, -J).
fn wait_listening(port: u16) {
    let t0 = Instant::now();
    loop {
        let ss = Command::new("ss")
            .args(["-Hltn", &format!("sport = :{port}")])
            .output();
        match ss {
            Ok(o) if !o.stdout.is_empty() => return,
            Ok(_) => {}
            Err(_) => {
                thread::sleep(Duration::from_millis(500));
                return;
            }
        }
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "nothing listens on {port}"
        );
        thread::sleep(Duration::from_millis(20));
    }
}

fn tool_available(tool: &str, package: &str) -> bool {
    let ok = |t: &str| {
        Command::new("sh")
            .args(["-c", &format!("command -v {t}")])
            .stdout(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    };
    if ok(tool) {
        return true;
    }
    // Root may install it (Debian's package); one attempt per process.
    static TRIED: OnceLock<Mutex<()>> = OnceLock::new();
    let _g = TRIED.get_or_init(|| Mutex::new(())).lock().unwrap();
    if ok(tool) {
        return true;
    }
    let root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false);
    if root {
        let _ = Command::new("sh")
            .args([
                "-c",
                &format!(
                    "(apt-get install -y -qq {package} || (apt-get update -qq && apt-get install -y -qq {package})) >/dev/null 2>&1"
                ),
            ])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status();
    }
    ok(tool)
}

fn iperf3() -> bool {
    let ok = tool_available("iperf3", "iperf3");
    if !ok {
        println!("skipped: iperf3 not available");
    }
    ok
}

/// The bitrate of the summary line ending with `which` ("sender"/"receiver"), in bits/s.
fn summary_rate(out: &str, which: &str) -> f64 {
    let line = out
        .lines()
        .find(|l| l.trim_end().ends_with(which) && l.contains("bits/sec"))
        .unwrap_or_else(|| panic!("no {which} line in:\n{out}"));
    let words: Vec<&str> = line.split_whitespace().collect();
    let i = words.iter().position(|w| w.ends_with("bits/sec")).unwrap();
    let v: f64 = words[i - 1].parse().unwrap();
    let mult = match &words[i][..1] {
        "K" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        _ => 1.0,
    };
    v * mult
}

fn assert_rate(out: &str, which: &str) {
    let r = summary_rate(out, which);
    assert!(r > 0.0, "{which} bitrate {r} in:\n{out}");
}

fn our_server(port: u16, extra: &[&str]) -> Proc {
    let p = port.to_string();
    let mut args = vec!["perf", "server", "-p", &p, "-1"];
    args.extend_from_slice(extra);
    let s = spawn(BIN, &args);
    if extra.contains(&"-J") {
        wait_listening(port);
    } else {
        s.wait_for("Server listening");
    }
    s
}

fn iperf3_server(port: u16, extra: &[&str]) -> Proc {
    let p = port.to_string();
    let mut args = vec!["-s", "-p", &p, "-1"];
    args.extend_from_slice(extra);
    let s = spawn("iperf3", &args);
    // iperf3's stdout is block-buffered into a pipe: look at the socket instead.
    wait_listening(port);
    s
}

const LIMIT: Duration = Duration::from_secs(30);

fn check_json(text: &str, reverse: bool) -> serde_json::Value {
    let v: serde_json::Value =
        serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}):\n{text}"));
    for k in ["start", "intervals", "end"] {
        assert!(v.get(k).is_some(), "no {k} in {v}");
    }
    for k in ["connected", "version", "timestamp", "cookie", "test_start"] {
        assert!(v["start"].get(k).is_some(), "no start.{k} in {v}");
    }
    assert_eq!(
        v["start"]["test_start"]["reverse"],
        serde_json::json!(reverse as u8)
    );
    assert!(!v["intervals"].as_array().unwrap().is_empty());
    for k in [
        "streams",
        "sum_sent",
        "sum_received",
        "cpu_utilization_percent",
    ] {
        assert!(v["end"].get(k).is_some(), "no end.{k} in {v}");
    }
    assert!(
        v["end"]["sum_received"]["bits_per_second"]
            .as_f64()
            .unwrap()
            > 0.0
    );
    assert!(v["end"]["sum_sent"]["bits_per_second"].as_f64().unwrap() > 0.0);
    v
}

#[test]
fn ours_with_ours() {
    for reverse in [false, true] {
        let port = free_port();
        let server = our_server(port, &[]);
        let p = port.to_string();
        let mut args = vec!["perf", "client", "127.0.0.1", "-p", &p, "-t", "2"];
        if reverse {
            args.push("-R");
        }
        let (code, out, err) = spawn(BIN, &args).finish(LIMIT);
        assert_eq!(code, 0, "client failed: {err}\n{out}");
        assert_rate(&out, "sender");
        assert_rate(&out, "receiver");
        assert!(out.contains("0.00-1.00"), "{out}");
        assert!(out.contains("iperf Done."), "{out}");
        let (scode, sout, serr) = server.finish(LIMIT);
        assert_eq!(scode, 0, "server failed: {serr}\n{sout}");
        assert_rate(&sout, if reverse { "sender" } else { "receiver" });
        // Kernel MPTCP on both ends: one subflow line per interval.
        if out.contains("(MPTCP)") {
            assert!(out.contains("subflow 127.0.0.1:"), "{out}");
        }
    }
}

#[test]
fn ours_with_ours_json_and_bytes() {
    let port = free_port();
    let server = our_server(port, &["-J"]);
    let p = port.to_string();
    let (code, out, err) = spawn(
        BIN,
        &["perf", "client", "127.0.0.1", "-p", &p, "-n", "20M", "-J"],
    )
    .finish(LIMIT);
    assert_eq!(code, 0, "client failed: {err}");
    let v = check_json(&out, false);
    assert_eq!(
        v["end"]["sum_sent"]["bytes"],
        serde_json::json!(20u64 << 20)
    );
    let (scode, sout, serr) = server.finish(LIMIT);
    assert_eq!(scode, 0, "server failed: {serr}");
    let sv = check_json(&sout, false);
    if v["start"]["connected"][0]["mptcp"] == serde_json::json!(true) {
        assert!(v["end"]["streams"][0]["mptcp_subflows"].is_array(), "{v}");
        assert!(sv["intervals"][0]["streams"][0]["mptcp_subflows"].is_array());
    }
}

#[test]
fn iperf3_client_with_our_server() {
    if !iperf3() {
        return;
    }
    for reverse in [false, true] {
        let port = free_port();
        let server = our_server(port, &[]);
        let p = port.to_string();
        let mut args = vec!["-c", "127.0.0.1", "-p", &p, "-t", "2"];
        if reverse {
            args.push("-R");
        }
        let (code, out, err) = spawn("iperf3", &args).finish(LIMIT);
        assert_eq!(code, 0, "iperf3 failed: {err}\n{out}");
        assert_rate(&out, "sender");
        assert_rate(&out, "receiver");
        let (scode, sout, serr) = server.finish(LIMIT);
        assert_eq!(scode, 0, "server failed: {serr}\n{sout}");
        assert_rate(&sout, if reverse { "sender" } else { "receiver" });
    }
}

#[test]
fn iperf3_json_client_with_our_json_server() {
    if !iperf3() {
        return;
    }
    let port = free_port();
    let server = our_server(port, &["-J"]);
    let p = port.to_string();
    let (code, out, err) = spawn(
        "iperf3",
        &["-c", "127.0.0.1", "-p", &p, "-t", "1", "-J", "-R"],
    )
    .finish(LIMIT);
    assert_eq!(code, 0, "iperf3 failed: {err}\n{out}");
    check_json(&out, true);
    let (scode, sout, serr) = server.finish(LIMIT);
    assert_eq!(scode, 0, "server failed: {serr}");
    check_json(&sout, true);
}

#[test]
fn our_client_with_iperf3_server() {
    if !iperf3() {
        return;
    }
    for reverse in [false, true] {
        let port = free_port();
        let server = iperf3_server(port, &[]);
        let p = port.to_string();
        let mut args = vec!["perf", "client", "127.0.0.1", "-p", &p, "-t", "2"];
        if reverse {
            args.push("-R");
        }
        let (code, out, err) = spawn(BIN, &args).finish(LIMIT);
        assert_eq!(code, 0, "client failed: {err}\n{out}");
        assert_rate(&out, "sender");
        assert_rate(&out, "receiver");
        let (scode, sout, serr) = server.finish(LIMIT);
        assert_eq!(scode, 0, "iperf3 server failed: {serr}\n{sout}");
        assert_rate(&sout, if reverse { "sender" } else { "receiver" });
    }
}

#[test]
fn our_json_client_with_iperf3_server() {
    if !iperf3() {
        return;
    }
    for reverse in [false, true] {
        let port = free_port();
        let server = iperf3_server(port, &[]);
        let p = port.to_string();
        let mut args = vec!["perf", "client", "127.0.0.1", "-p", &p, "-t", "1", "-J"];
        if reverse {
            args.push("-R");
        }
        let (code, out, err) = spawn(BIN, &args).finish(LIMIT);
        assert_eq!(code, 0, "client failed: {err}\n{out}");
        check_json(&out, reverse);
        let (scode, _, serr) = server.finish(LIMIT);
        assert_eq!(scode, 0, "iperf3 server failed: {serr}");
    }
}

#[test]
fn our_client_bytes_with_iperf3_server() {
    if !iperf3() {
        return;
    }
    let port = free_port();
    let server = iperf3_server(port, &[]);
    let p = port.to_string();
    let (code, out, err) =
        spawn(BIN, &["perf", "client", "127.0.0.1", "-p", &p, "-n", "10M"]).finish(LIMIT);
    assert_eq!(code, 0, "client failed: {err}\n{out}");
    assert!(out.contains("10.0 MBytes"), "{out}");
    assert_rate(&out, "receiver");
    let (scode, _, serr) = server.finish(LIMIT);
    assert_eq!(scode, 0, "iperf3 server failed: {serr}");
}

/// Hostile or broken peers get a one-line error and a non-zero exit, never a panic.
#[test]
fn server_rejects_hostile_control_messages() {
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("truncated cookie", b"abc".to_vec()),
        ("cookie without NUL", vec![b'a'; 37]),
        ("oversized JSON", {
            let mut v = b"abcdefghijklmnopqrstuvwxyz2345672345\0".to_vec();
            v.extend_from_slice(&u32::MAX.to_be_bytes());
            v
        }),
        ("truncated JSON", {
            let mut v = b"abcdefghijklmnopqrstuvwxyz2345672345\0".to_vec();
            v.extend_from_slice(&100u32.to_be_bytes());
            v.extend_from_slice(b"{\"tcp\":");
            v
        }),
        ("hostile parameters", {
            let mut v = b"abcdefghijklmnopqrstuvwxyz2345672345\0".to_vec();
            let j = br#"{"tcp":true,"time":-5,"parallel":1e9,"len":"x"}"#;
            v.extend_from_slice(&(j.len() as u32).to_be_bytes());
            v.extend_from_slice(j);
            v
        }),
        ("UDP", {
            let mut v = b"abcdefghijklmnopqrstuvwxyz2345672345\0".to_vec();
            let j = br#"{"udp":true,"time":1,"parallel":1,"len":1400}"#;
            v.extend_from_slice(&(j.len() as u32).to_be_bytes());
            v.extend_from_slice(j);
            v
        }),
    ];
    for (what, bytes) in cases {
        let port = free_port();
        let server = our_server(port, &[]);
        let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
        c.write_all(&bytes).unwrap();
        c.shutdown(std::net::Shutdown::Write).unwrap();
        let mut sink = Vec::new();
        let _ = c.read_to_end(&mut sink);
        let (code, out, err) = server.finish(LIMIT);
        assert_eq!(code, 1, "{what}: server exit {code}\n{out}\n{err}");
        assert_eq!(err.lines().count(), 1, "{what}: {err}");
        assert!(!err.contains("panicked"), "{what}: {err}");
    }
}

#[test]
fn client_reports_refused_connection_in_one_line() {
    let port = free_port();
    let p = port.to_string();
    let (code, _, err) =
        spawn(BIN, &["perf", "client", "127.0.0.1", "-p", &p, "-t", "1"]).finish(LIMIT);
    assert_eq!(code, 1);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("unable to connect"), "{err}");
}

fn nstat(counter: &str) -> Option<u64> {
    let o = Command::new("nstat").args(["-az", counter]).output().ok()?;
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .find(|l| l.starts_with(counter))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

/// An unmodified iperf3 on the kernel's MPTCP (Debian's `mptcpize`, package mptcpd) against
/// our server: the server sees MP_CAPABLE SYNs and MPTCP streams.
#[test]
fn mptcpize_iperf3_with_our_server() {
    if !iperf3() {
        return;
    }
    if !tool_available("mptcpize", "mptcpd") {
        println!("skipped: mptcpize not available (package mptcpd)");
        return;
    }
    let Some(before) = nstat("MPTcpExtMPCapableSYNRX") else {
        println!("skipped: nstat cannot read MPTcpExtMPCapableSYNRX");
        return;
    };
    let port = free_port();
    let server = our_server(port, &["-J"]);
    let p = port.to_string();
    let (code, out, err) = spawn(
        "mptcpize",
        &["run", "iperf3", "-c", "127.0.0.1", "-p", &p, "-t", "1"],
    )
    .finish(LIMIT);
    assert_eq!(code, 0, "mptcpize iperf3 failed: {err}\n{out}");
    assert_rate(&out, "receiver");
    let (scode, sout, serr) = server.finish(LIMIT);
    assert_eq!(scode, 0, "server failed: {serr}");
    let v = check_json(&sout, false);
    let after = nstat("MPTcpExtMPCapableSYNRX").unwrap();
    assert!(after >= before + 2, "MPCapableSYNRX {before} -> {after}");
    assert_eq!(
        v["start"]["connected"][0]["mptcp"],
        serde_json::json!(true),
        "{sout}"
    );
}
