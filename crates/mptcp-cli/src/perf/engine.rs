//! The client and the server: iperf3's state machine over any [`PerfTransport`].

use super::json::{self, Connected, Cpu, EndInfo, StartInfo};
use super::protocol::{
    self, check_cookie, cookie_str, make_cookie, read_cookie, read_json, read_state, stream_id,
    write_json, write_server_error, write_state, Params, ProtoError, Results, State, StreamResult,
    COOKIE_SIZE,
};
use super::report::{self, SideSummary, StreamInterval, StreamSummary, SubflowInterval};
use super::transport::{PerfListener, PerfTransport, StatsProbe, StreamSample, SubflowSample};
use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;
use tokio::time::{sleep_until, timeout, Duration, Instant};

/// Errors are one line of text.
pub type Res<T> = Result<T, String>;

/// How long a protocol step may take (cookie, parameters, stream set-up, results).
const PHASE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the server waits past the test's announced end for `TEST_END`.
const END_GRACE: Duration = Duration::from_secs(10);
/// How long a byte-bounded test may go without any byte moving.
const IDLE_LIMIT: Duration = Duration::from_secs(30);
/// iperf3's error number for "not implemented" (IEUNIMP).
const IEUNIMP: i32 = 13;

fn perr(e: ProtoError) -> String {
    e.to_string()
}

async fn step<T, F: Future<Output = Result<T, ProtoError>>>(what: &'static str, f: F) -> Res<T> {
    match timeout(PHASE_TIMEOUT, f).await {
        Ok(r) => r.map_err(perr),
        Err(_) => Err(ProtoError::Timeout(what).to_string()),
    }
}

/// Text output (suppressed under `-J`).
pub struct Out {
    pub json: bool,
}

impl Out {
    fn line(&self, s: impl AsRef<str>) {
        if !self.json {
            println!("{}", s.as_ref());
        }
    }
}

/// CPU time of this process against the wall clock, for iperf3's cpu_util numbers.
struct CpuClock {
    wall: std::time::Instant,
    user: f64,
    sys: f64,
}

fn rusage() -> (f64, f64) {
    // SAFETY: getrusage fills the zeroed structure.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } != 0 {
        return (0.0, 0.0);
    }
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    (t(ru.ru_utime), t(ru.ru_stime))
}

impl CpuClock {
    fn start() -> Self {
        let (user, sys) = rusage();
        CpuClock {
            wall: std::time::Instant::now(),
            user,
            sys,
        }
    }
    /// (total, user, system) in percent.
    fn util(&self) -> (f64, f64, f64) {
        let wall = self.wall.elapsed().as_secs_f64();
        if wall <= 0.0 {
            return (0.0, 0.0, 0.0);
        }
        let (u, s) = rusage();
        let u = (u - self.user) / wall * 100.0;
        let s = (s - self.sys) / wall * 100.0;
        (u + s, u, s)
    }
}

/// One data stream's bookkeeping.
struct Track<P> {
    id: i64,
    socket: i32,
    sender: bool,
    counter: Arc<AtomicU64>,
    probe: P,
    mptcp: bool,
    last_bytes: u64,
    last_time: f64,
    base_retr: Option<u64>,
    last_retr: Option<u64>,
    last_sf: HashMap<String, SubflowSample>,
    max_cwnd: Option<u64>,
    max_wnd: Option<u64>,
    rtts: Vec<u32>,
    end_bytes: u64,
    end_time: f64,
    last_sample: StreamSample,
}

impl<P: StatsProbe> Track<P> {
    fn new(index: usize, socket: i32, sender: bool, probe: P) -> Self {
        let first = probe.sample();
        Track {
            id: stream_id(index),
            socket,
            sender,
            counter: Arc::new(AtomicU64::new(0)),
            mptcp: first.mptcp,
            base_retr: first.retransmits,
            last_retr: first.retransmits,
            last_sf: first
                .subflows
                .iter()
                .flatten()
                .enumerate()
                .map(|(i, f)| (sf_key(i, f), f.clone()))
                .collect(),
            probe,
            last_bytes: 0,
            last_time: 0.0,
            max_cwnd: None,
            max_wnd: None,
            rtts: Vec::new(),
            end_bytes: 0,
            end_time: 0.0,
            last_sample: first,
        }
    }

    /// Closes the current interval at `now` seconds.
    fn interval(&mut self, now: f64) -> StreamInterval {
        let bytes = self.counter.load(Ordering::Relaxed);
        let smp = self.probe.sample();
        let retr = match (smp.retransmits, self.last_retr) {
            (Some(r), Some(l)) => Some(r.saturating_sub(l)),
            (Some(_), None) => Some(0),
            _ => None,
        };
        if smp.retransmits.is_some() {
            self.last_retr = smp.retransmits;
        }
        if self.sender {
            if let Some(c) = smp.snd_cwnd {
                self.max_cwnd = Some(self.max_cwnd.unwrap_or(0).max(c));
            }
            if let Some(w) = smp.snd_wnd {
                self.max_wnd = Some(self.max_wnd.unwrap_or(0).max(w));
            }
            if let Some(r) = smp.rtt_us {
                self.rtts.push(r);
            }
        }
        self.mptcp |= smp.mptcp;
        let subflows = smp.subflows.as_ref().map(|sfs| {
            let mut next = HashMap::new();
            let out = sfs
                .iter()
                .enumerate()
                .map(|(i, f)| {
                    let k = sf_key(i, f);
                    let prev = self.last_sf.get(&k).cloned().unwrap_or_default();
                    next.insert(k, f.clone());
                    SubflowInterval {
                        local: f.local,
                        remote: f.remote,
                        bytes_sent: f.bytes_sent.saturating_sub(prev.bytes_sent),
                        bytes_received: f.bytes_received.saturating_sub(prev.bytes_received),
                        srtt_us: f.srtt_us,
                        cwnd_bytes: f.cwnd_bytes,
                        retransmits: f.retransmits.saturating_sub(prev.retransmits),
                    }
                })
                .collect();
            self.last_sf = next;
            out
        });
        let iv = StreamInterval {
            socket: self.socket,
            start: self.last_time,
            end: now,
            bytes: bytes - self.last_bytes,
            sender: self.sender,
            retransmits: if self.sender { retr } else { None },
            snd_cwnd: smp.snd_cwnd,
            snd_wnd: smp.snd_wnd,
            rtt_us: smp.rtt_us,
            rttvar_us: smp.rttvar_us,
            pmtu: smp.pmtu,
            subflows,
        };
        self.last_bytes = bytes;
        self.last_time = now;
        self.last_sample = smp;
        iv
    }

    fn total_retr(&self) -> Option<u64> {
        match (self.last_retr, self.base_retr) {
            (Some(l), Some(b)) => Some(l.saturating_sub(b)),
            (Some(l), None) => Some(l),
            _ => None,
        }
    }

    /// This side's totals.
    fn local_summary(&self) -> SideSummary {
        let n = self.rtts.len() as u64;
        SideSummary {
            socket: self.socket,
            seconds: self.end_time,
            bytes: self.end_bytes,
            sender: self.sender,
            retransmits: if self.sender {
                self.total_retr().map(|r| r as i64)
            } else {
                None
            },
            max_snd_cwnd: self.max_cwnd,
            max_snd_wnd: self.max_wnd,
            max_rtt: self.rtts.iter().copied().max(),
            min_rtt: self.rtts.iter().copied().min(),
            mean_rtt: (n > 0)
                .then(|| (self.rtts.iter().map(|&r| r as u64).sum::<u64>() / n) as u32),
        }
    }

    /// The peer's totals from its results.
    fn peer_summary(&self, r: Option<&StreamResult>) -> SideSummary {
        let (bytes, secs, retr) = match r {
            Some(r) => {
                let secs = r.end_time - r.start_time;
                let secs = if secs > 0.0 { secs } else { self.end_time };
                (r.bytes, secs, (r.retransmits >= 0).then_some(r.retransmits))
            }
            None => (0, self.end_time, None),
        };
        SideSummary {
            socket: self.socket,
            seconds: secs,
            bytes,
            sender: self.sender,
            retransmits: retr,
            ..SideSummary::default()
        }
    }

    fn result(&self) -> StreamResult {
        StreamResult {
            id: self.id,
            bytes: self.end_bytes,
            retransmits: if self.sender {
                self.total_retr().map(|r| r as i64).unwrap_or(-1)
            } else {
                -1
            },
            jitter: 0.0,
            errors: 0,
            packets: 0,
            start_time: 0.0,
            end_time: self.end_time,
        }
    }
}

fn sf_key(i: usize, f: &SubflowSample) -> String {
    let k = f.key();
    if k.is_empty() {
        format!("#{i}")
    } else {
        k
    }
}

/// Everything recorded about a test, for the summary and the JSON.
struct Record {
    start: StartInfo,
    intervals: Vec<Vec<StreamInterval>>,
    header_printed: bool,
}

impl Record {
    fn print_interval(&mut self, out: &Out, iv: &[StreamInterval]) {
        if !self.header_printed {
            self.header_printed = true;
            let s = iv.first();
            let sender = s.map(|s| s.sender).unwrap_or(false);
            let retr = s.map(|s| s.retransmits.is_some()).unwrap_or(false);
            let cwnd = s.map(|s| s.snd_cwnd.is_some()).unwrap_or(false);
            out.line(report::interval_header(sender, retr, cwnd));
        }
        for s in iv {
            out.line(report::interval_line(s));
            for l in report::subflow_lines(s) {
                out.line(l);
            }
        }
        if iv.len() > 1 {
            let bytes: u64 = iv.iter().map(|s| s.bytes).sum();
            let s = &iv[0];
            let retr = if s.sender && s.retransmits.is_some() {
                Some(iv.iter().filter_map(|s| s.retransmits).sum::<u64>() as i64)
            } else {
                None
            };
            out.line(report::line(
                None,
                s.start,
                s.end,
                bytes,
                s.seconds(),
                retr,
                None,
                "",
            ));
            out.line(report::SEPARATOR);
        }
    }
}

async fn send_loop<S: AsyncWrite + Unpin>(
    mut s: S,
    len: usize,
    counter: Arc<AtomicU64>,
    budget: Option<Arc<AtomicU64>>,
    mut stop: watch::Receiver<bool>,
) -> (S, io::Result<()>) {
    let buf: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
    loop {
        if *stop.borrow() {
            return (s, Ok(()));
        }
        let n = match &budget {
            Some(b) => {
                match b.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |r| {
                    Some(r.saturating_sub(len as u64))
                }) {
                    Ok(prev) => prev.min(len as u64) as usize,
                    Err(_) => 0,
                }
            }
            None => len,
        };
        if n == 0 {
            let _ = s.flush().await;
            return (s, Ok(()));
        }
        let mut off = 0;
        while off < n {
            tokio::select! {
                _ = stop.changed() => return (s, Ok(())),
                r = s.write(&buf[off..n]) => match r {
                    Ok(0) => return (s, Err(io::ErrorKind::WriteZero.into())),
                    Ok(w) => {
                        off += w;
                        counter.fetch_add(w as u64, Ordering::Relaxed);
                    }
                    // After the stop (the test ended), the peer may reset its data
                    // connections (iperf3 closes them with unread data): not a failure.
                    Err(_) if *stop.borrow() => return (s, Ok(())),
                    Err(e) => return (s, Err(e)),
                },
            }
        }
    }
}

async fn recv_loop<S: tokio::io::AsyncRead + Unpin>(
    mut s: S,
    len: usize,
    counter: Arc<AtomicU64>,
    mut stop: watch::Receiver<bool>,
) -> (S, io::Result<()>) {
    let mut buf = vec![0u8; len.clamp(4096, 1 << 20)];
    loop {
        if *stop.borrow() {
            return (s, Ok(()));
        }
        tokio::select! {
            _ = stop.changed() => return (s, Ok(())),
            r = s.read(&mut buf) => match r {
                Ok(0) => return (s, Ok(())),
                Ok(n) => { counter.fetch_add(n as u64, Ordering::Relaxed); }
                Err(_) if *stop.borrow() => return (s, Ok(())),
                Err(e) => return (s, Err(e)),
            },
        }
    }
}

async fn sleep_opt(t: Option<Instant>) {
    match t {
        Some(t) => sleep_until(t).await,
        None => std::future::pending().await,
    }
}

async fn accept_opt<L: PerfListener>(
    l: &mut Option<&mut L>,
) -> io::Result<(L::Stream, SocketAddr)> {
    match l {
        Some(l) => l.accept().await,
        None => std::future::pending().await,
    }
}

/// Sends ACCESS_DENIED on a connection we will not serve and drops it.
async fn deny<S: AsyncWrite + Unpin>(mut s: S) {
    let _ = timeout(
        Duration::from_secs(1),
        s.write_all(&[State::AccessDenied.to_byte()]),
    )
    .await;
}

/// The running test: from TEST_RUNNING until TEST_END (server), or until EXCHANGE_RESULTS
/// after our TEST_END (client). Returns the streams and the test's length in seconds.
#[allow(clippy::too_many_arguments)]
async fn data_phase<T: PerfTransport>(
    ctrl: &mut T::Stream,
    mut listener: Option<&mut T::Listener>,
    client: bool,
    params: &Params,
    streams: Vec<T::Stream>,
    tracks: &mut [Track<T::Probe>],
    rec: &mut Record,
    out: &Out,
) -> Res<(Vec<T::Stream>, f64)> {
    let sender = tracks.first().map(|t| t.sender).unwrap_or(false);
    let target = if params.num > 0 {
        params.num
    } else {
        params.blockcount.saturating_mul(params.len as u64)
    };
    let (stop_tx, stop_rx) = watch::channel(false);
    let budget = (sender && target > 0).then(|| Arc::new(AtomicU64::new(target)));
    let mut handles = Vec::new();
    for (s, t) in streams.into_iter().zip(tracks.iter()) {
        let (c, rx, b, len) = (
            t.counter.clone(),
            stop_rx.clone(),
            budget.clone(),
            params.len,
        );
        handles.push(tokio::spawn(async move {
            if sender {
                send_loop(s, len, c, b, rx).await
            } else {
                recv_loop(s, len, c, rx).await
            }
        }));
    }
    let start = Instant::now();
    let secs = |i: Instant| i.duration_since(start).as_secs_f64();
    let test_len = Duration::from_secs(params.time + params.omit);
    let deadline = (client && params.time > 0).then(|| start + test_len);
    let hard = (!client && params.time > 0).then(|| start + test_len + END_GRACE);
    let mut ticker =
        tokio::time::interval_at(start + Duration::from_secs(1), Duration::from_secs(1));
    let mut check = tokio::time::interval(Duration::from_millis(if target > 0 { 10 } else { 100 }));
    let mut ended: Option<f64> = None;
    let mut last_total = 0u64;
    let mut last_progress = Instant::now();
    let result: Res<()> = loop {
        let mut end_now = false;
        tokio::select! {
            biased;
            _ = sleep_opt(deadline), if ended.is_none() => end_now = true,
            _ = sleep_opt(hard) => break Err("no TEST_END from the client in time".into()),
            b = ctrl.read_u8() => {
                let b = match b {
                    Ok(b) => b,
                    Err(e) => break Err(perr(e.into())),
                };
                let st = match protocol::finish_state(ctrl, b).await {
                    Ok(s) => s,
                    Err(e) => break Err(perr(e)),
                };
                match (client, st) {
                    (false, State::TestEnd) => {
                        let now = secs(Instant::now());
                        finish_intervals(tracks, now, rec, out);
                        break Ok(());
                    }
                    (true, State::ExchangeResults) if ended.is_some() => break Ok(()),
                    (_, st) => break Err(perr(ProtoError::Unexpected(st))),
                }
            }
            _ = ticker.tick(), if ended.is_none() => {
                let now = secs(Instant::now());
                let iv: Vec<StreamInterval> = tracks.iter_mut().map(|t| t.interval(now)).collect();
                rec.print_interval(out, &iv);
                rec.intervals.push(iv);
            }
            _ = check.tick() => {
                let total: u64 = tracks.iter().map(|t| t.counter.load(Ordering::Relaxed)).sum();
                if total != last_total {
                    last_total = total;
                    last_progress = Instant::now();
                } else if params.time == 0 && last_progress.elapsed() > IDLE_LIMIT {
                    break Err("no data moved for 30 seconds".into());
                }
                if ended.is_none()
                    && client
                    && ((target > 0 && total >= target)
                        || (sender && handles.iter().all(|h| h.is_finished())))
                {
                    end_now = true;
                }
                if ended.is_none() && client && budget.is_none() && handles.iter().any(|h| h.is_finished()) {
                    // A stream stopped before the test's end: the peer left, or an error.
                    end_now = true;
                }
            }
            r = accept_opt(&mut listener) => {
                if let Ok((s, _)) = r {
                    deny(s).await;
                }
            }
        }
        if end_now && ended.is_none() {
            let now = secs(Instant::now());
            finish_intervals(tracks, now, rec, out);
            ended = Some(now);
            if sender {
                let _ = stop_tx.send(true);
            }
            if let Err(e) = write_state(ctrl, State::TestEnd).await {
                break Err(perr(e));
            }
        }
    };
    let _ = stop_tx.send(true);
    let mut back = Vec::new();
    let mut first_err = None;
    for h in handles {
        match h.await {
            Ok((s, r)) => {
                if let Err(e) = r {
                    first_err.get_or_insert(e);
                }
                back.push(s);
            }
            Err(e) => return Err(format!("a data stream task failed: {e}")),
        }
    }
    result?;
    if let Some(e) = first_err {
        return Err(format!("data stream: {e}"));
    }
    let end = tracks.first().map(|t| t.end_time).unwrap_or(0.0);
    Ok((back, end))
}

/// The last interval at the end of the test (kept as iperf3 keeps it: if it lasted 10% of
/// an interval or moved bytes), and the totals.
fn finish_intervals<P: StatsProbe>(tracks: &mut [Track<P>], now: f64, rec: &mut Record, out: &Out) {
    let iv: Vec<StreamInterval> = tracks.iter_mut().map(|t| t.interval(now)).collect();
    for t in tracks.iter_mut() {
        t.end_bytes = t.counter.load(Ordering::Relaxed);
        t.end_time = now;
    }
    let keep = iv.iter().any(|s| s.bytes > 0 || s.seconds() >= 0.1);
    if keep && !iv.is_empty() {
        rec.print_interval(out, &iv);
        rec.intervals.push(iv);
    }
}

fn my_results<P: StatsProbe>(tracks: &[Track<P>], cpu: (f64, f64, f64)) -> Results {
    let sender = tracks.first().map(|t| t.sender).unwrap_or(false);
    let has_retr = tracks.iter().any(|t| t.last_sample.retransmits.is_some());
    Results {
        cpu_util_total: cpu.0,
        cpu_util_user: cpu.1,
        cpu_util_system: cpu.2,
        sender_has_retransmits: if sender { has_retr as i64 } else { -1 },
        congestion_used: tracks
            .first()
            .and_then(|t| t.last_sample.congestion.clone()),
        streams: tracks.iter().map(|t| t.result()).collect(),
    }
}

/// The end summary: text lines and the JSON "end" section. `peer` is the other side's
/// results when known (always on the client; on the server iperf3 prints only its side).
fn summarize<P: StatsProbe>(
    tracks: &[Track<P>],
    peer: Option<&Results>,
    cpu: (f64, f64, f64),
    print_peer: bool,
    out: &Out,
) -> EndInfo {
    let sender = tracks.first().map(|t| t.sender).unwrap_or(false);
    let local_retr = tracks.iter().any(|t| t.total_retr().is_some());
    let show_retr = if sender {
        local_retr
    } else {
        peer.map(|p| p.sender_has_retransmits == 1).unwrap_or(false)
    };
    let by_id = |i: usize, id: i64| -> Option<&StreamResult> {
        let p = peer?;
        p.streams
            .iter()
            .find(|r| r.id == id)
            .or_else(|| (p.streams.len() == tracks.len()).then(|| &p.streams[i]))
    };
    out.line(report::SEPARATOR);
    out.line(report::summary_header(show_retr && (sender || print_peer)));
    let mut streams = Vec::new();
    for (i, t) in tracks.iter().enumerate() {
        let local = t.local_summary();
        let remote = t.peer_summary(by_id(i, t.id));
        let (snd, rcv) = if sender {
            (local, remote)
        } else {
            (remote, local)
        };
        if sender || print_peer {
            out.line(report::summary_line(&snd, true, show_retr));
        }
        if !sender || print_peer {
            out.line(report::summary_line(&rcv, false, show_retr));
        }
        streams.push(StreamSummary {
            sender: snd,
            receiver: rcv,
            subflows: t.last_sample.subflows.clone(),
        });
    }
    if tracks.len() > 1 {
        let sum = |f: &dyn Fn(&StreamSummary) -> &SideSummary| {
            let secs = streams.iter().map(|s| f(s).seconds).fold(0.0, f64::max);
            let bytes = streams.iter().map(|s| f(s).bytes).sum::<u64>();
            let retr = streams.iter().filter_map(|s| f(s).retransmits).sum::<i64>();
            (secs, bytes, retr)
        };
        let (s, b, r) = sum(&|s| &s.sender);
        if sender || print_peer {
            out.line(report::line(
                None,
                0.0,
                s,
                b,
                s,
                show_retr.then_some(r),
                None,
                "sender",
            ));
        }
        let (s, b, _) = sum(&|s| &s.receiver);
        if !sender || print_peer {
            out.line(report::line(None, 0.0, s, b, s, None, None, "receiver"));
        }
    }
    let local_cc = tracks
        .first()
        .and_then(|t| t.last_sample.congestion.clone());
    let remote_cc = peer.and_then(|p| p.congestion_used.clone());
    let (sender_cc, receiver_cc) = if sender {
        (local_cc, remote_cc)
    } else {
        (remote_cc, local_cc)
    };
    EndInfo {
        streams,
        cpu: Cpu {
            host_total: cpu.0,
            host_user: cpu.1,
            host_system: cpu.2,
            remote_total: peer.map(|p| p.cpu_util_total).unwrap_or(0.0),
            remote_user: peer.map(|p| p.cpu_util_user).unwrap_or(0.0),
            remote_system: peer.map(|p| p.cpu_util_system).unwrap_or(0.0),
        },
        sender_congestion: sender_cc,
        receiver_congestion: receiver_cc,
    }
}

fn connected_line(
    socket: i32,
    local: Option<SocketAddr>,
    remote: Option<SocketAddr>,
    mptcp: bool,
) -> String {
    let ip = |a: Option<SocketAddr>| a.map(|a| a.ip().to_string()).unwrap_or_else(|| "?".into());
    let port = |a: Option<SocketAddr>| a.map(|a| a.port()).unwrap_or(0);
    format!(
        "[{socket:3}] local {} port {} connected to {} port {}{}",
        ip(local),
        port(local),
        ip(remote),
        port(remote),
        if mptcp { " (MPTCP)" } else { "" }
    )
}

/// What the client was asked to do.
#[derive(Debug, Clone)]
pub struct ClientOpts {
    pub host: String,
    pub port: u16,
    pub params: Params,
    pub json: bool,
}

/// Runs one test as the client. Returns the JSON document (printed by the caller under -J).
pub async fn run_client<T: PerfTransport>(t: &T, o: &ClientOpts) -> (Res<()>, serde_json::Value) {
    let out = Out { json: o.json };
    let mut rec = Record {
        start: StartInfo {
            transport: t.name().into(),
            connecting_to: Some((o.host.clone(), o.port)),
            params: o.params.clone(),
            timesecs: json::now_secs(),
            ..StartInfo::default()
        },
        intervals: Vec::new(),
        header_printed: false,
    };
    let mut end = None;
    let r = client_inner(t, o, &out, &mut rec, &mut end).await;
    let doc = json::document(
        &rec.start,
        &rec.intervals,
        end.as_ref(),
        r.as_ref().err().map(|s| s.as_str()),
    );
    (r, doc)
}

async fn resolve(host: &str, port: u16) -> Res<SocketAddr> {
    let mut addrs = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| format!("unable to resolve {host}: {e}"))?;
    addrs
        .next()
        .ok_or_else(|| format!("unable to resolve {host}: no address"))
}

async fn client_inner<T: PerfTransport>(
    t: &T,
    o: &ClientOpts,
    out: &Out,
    rec: &mut Record,
    end: &mut Option<EndInfo>,
) -> Res<()> {
    let addr = resolve(&o.host, o.port).await?;
    out.line(format!("Connecting to host {}, port {}", o.host, o.port));
    if o.params.reverse {
        out.line(format!("Reverse mode, remote host {} is sending", o.host));
    }
    let connect = |what: &'static str| async move {
        match timeout(PHASE_TIMEOUT, t.connect(addr)).await {
            Ok(Ok(s)) => Ok(s),
            Ok(Err(e)) => Err(format!("unable to connect {what}: {e}")),
            Err(_) => Err(format!("unable to connect {what}: timed out")),
        }
    };
    let mut ctrl = connect("to server").await?;
    let cookie = make_cookie();
    rec.start.cookie = cookie_str(&cookie);
    step("the server", async {
        ctrl.write_all(&cookie).await?;
        Ok(())
    })
    .await?;
    let cpu = CpuClock::start();
    let mut streams = Vec::new();
    let mut tracks: Vec<Track<T::Probe>> = Vec::new();
    loop {
        let st = match timeout(PHASE_TIMEOUT, read_state(&mut ctrl)).await {
            Ok(r) => r.map_err(perr)?,
            Err(_) => return Err(ProtoError::Timeout("the server").to_string()),
        };
        match st {
            State::ParamExchange => {
                step("the server", write_json(&mut ctrl, &o.params.to_json())).await?;
            }
            State::CreateStreams => {
                for i in 0..o.params.parallel {
                    let mut s = connect("a data stream").await?;
                    step("the server", async {
                        s.write_all(&cookie).await?;
                        Ok(())
                    })
                    .await?;
                    let (l, r) = T::addrs(&s);
                    let socket = T::socket_id(&s);
                    let track = Track::new(i, socket, !o.params.reverse, T::probe(&s));
                    out.line(connected_line(socket, l, r, track.mptcp));
                    rec.start.connected.push(Connected {
                        socket,
                        local: l,
                        remote: r,
                        mptcp: track.mptcp,
                    });
                    tracks.push(track);
                    streams.push(s);
                }
            }
            State::TestStart => {}
            State::TestRunning => break,
            st => return Err(perr(ProtoError::Unexpected(st))),
        }
    }
    if streams.is_empty() {
        return Err("the server started the test before any stream was created".into());
    }
    let (streams, _) = data_phase::<T>(
        &mut ctrl,
        None,
        true,
        &o.params,
        streams,
        &mut tracks,
        rec,
        out,
    )
    .await?;
    // EXCHANGE_RESULTS: ours first, then the server's.
    let util = cpu.util();
    step(
        "the server",
        write_json(&mut ctrl, &my_results(&tracks, util).to_json()),
    )
    .await?;
    let peer_json = timeout(PHASE_TIMEOUT * 3, read_json(&mut ctrl))
        .await
        .map_err(|_| ProtoError::Timeout("the server's results").to_string())?
        .map_err(perr)?;
    let peer = Results::from_json(&peer_json).map_err(perr)?;
    match step("the server", read_state(&mut ctrl)).await? {
        State::DisplayResults => {}
        st => return Err(perr(ProtoError::Unexpected(st))),
    }
    drop(streams);
    for c in rec.start.connected.iter_mut().zip(tracks.iter()) {
        c.0.mptcp = c.1.mptcp;
    }
    *end = Some(summarize(&tracks, Some(&peer), util, true, out));
    let _ = write_state(&mut ctrl, State::IperfDone).await;
    out.line("");
    out.line("iperf Done.");
    Ok(())
}

/// What the server was asked to do.
#[derive(Debug, Clone)]
pub struct ServerOpts {
    pub port: u16,
    pub one_off: bool,
    pub json: bool,
}

/// Serves tests until `-1`'s one test is over (or forever).
pub async fn run_server<T: PerfTransport>(t: &T, o: &ServerOpts) -> Res<()> {
    let out = Out { json: o.json };
    let mut listener = t
        .listen(o.port)
        .await
        .map_err(|e| format!("unable to start listener for connections: {e}"))?;
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(o.port);
    let mut n = 0u64;
    loop {
        n += 1;
        out.line("-----------------------------------------------------------");
        out.line(format!("Server listening on {port} (test #{n})"));
        out.line("-----------------------------------------------------------");
        let (ctrl, peer) = listener
            .accept()
            .await
            .map_err(|e| format!("unable to accept a connection: {e}"))?;
        let mut rec = Record {
            start: StartInfo {
                transport: t.name().into(),
                accepted_connection: Some(peer),
                timesecs: json::now_secs(),
                ..StartInfo::default()
            },
            intervals: Vec::new(),
            header_printed: false,
        };
        let mut end = None;
        let r = serve_one(t, &mut listener, ctrl, peer, &out, &mut rec, &mut end).await;
        if o.json {
            let doc = json::document(
                &rec.start,
                &rec.intervals,
                end.as_ref(),
                r.as_ref().err().map(|s| s.as_str()),
            );
            println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        }
        match r {
            Ok(()) if o.one_off => return Ok(()),
            Err(e) if o.one_off => return Err(e),
            Err(e) => eprintln!("mptcp perf server: {e}"),
            Ok(()) => {}
        }
    }
}

async fn serve_one<T: PerfTransport>(
    _t: &T,
    listener: &mut T::Listener,
    mut ctrl: T::Stream,
    peer: SocketAddr,
    out: &Out,
    rec: &mut Record,
    end: &mut Option<EndInfo>,
) -> Res<()> {
    let cookie: [u8; COOKIE_SIZE] = step("the client's cookie", read_cookie(&mut ctrl)).await?;
    check_cookie(&cookie).map_err(perr)?;
    rec.start.cookie = cookie_str(&cookie);
    let cpu = CpuClock::start();
    step("the client", write_state(&mut ctrl, State::ParamExchange)).await?;
    let pj = step("the client's parameters", read_json(&mut ctrl)).await?;
    let params = match Params::from_json(&pj) {
        Ok(p) => p,
        Err(e) => {
            let _ = write_server_error(&mut ctrl, IEUNIMP, 0).await;
            return Err(perr(e));
        }
    };
    rec.start.params = params.clone();
    out.line(format!(
        "Accepted connection from {}, port {}",
        peer.ip(),
        peer.port()
    ));
    step("the client", write_state(&mut ctrl, State::CreateStreams)).await?;
    let mut streams = Vec::new();
    let mut tracks: Vec<Track<T::Probe>> = Vec::new();
    let deadline = Instant::now() + PHASE_TIMEOUT;
    while streams.len() < params.parallel {
        let accepted = tokio::select! {
            r = timeout(deadline.saturating_duration_since(Instant::now()), listener.accept()) => r,
            b = ctrl.read_u8() => {
                // Nothing is expected from the client now but an abort or a close.
                let e = match b {
                    Ok(b) => match protocol::finish_state(&mut ctrl, b).await {
                        Ok(s) => ProtoError::Unexpected(s),
                        Err(e) => e,
                    },
                    Err(e) => e.into(),
                };
                return Err(perr(e));
            }
        };
        let (mut s, _) = match accepted {
            Ok(Ok(x)) => x,
            Ok(Err(e)) => return Err(format!("unable to accept a data stream: {e}")),
            Err(_) => return Err(ProtoError::Timeout("the client's data streams").to_string()),
        };
        match timeout(PHASE_TIMEOUT, read_cookie(&mut s)).await {
            Ok(Ok(c)) if c == cookie => {}
            _ => {
                // Wrong cookie (or none): refuse this one, as iperf3 does, and go on.
                deny(s).await;
                continue;
            }
        }
        let (l, r) = T::addrs(&s);
        let socket = T::socket_id(&s);
        let track = Track::new(streams.len(), socket, params.reverse, T::probe(&s));
        out.line(connected_line(socket, l, r, track.mptcp));
        rec.start.connected.push(Connected {
            socket,
            local: l,
            remote: r,
            mptcp: track.mptcp,
        });
        tracks.push(track);
        streams.push(s);
    }
    step("the client", write_state(&mut ctrl, State::TestStart)).await?;
    step("the client", write_state(&mut ctrl, State::TestRunning)).await?;
    let (streams, _) = data_phase::<T>(
        &mut ctrl,
        Some(listener),
        false,
        &params,
        streams,
        &mut tracks,
        rec,
        out,
    )
    .await?;
    drop(streams);
    let util = cpu.util();
    step("the client", write_state(&mut ctrl, State::ExchangeResults)).await?;
    let cj = timeout(PHASE_TIMEOUT * 3, read_json(&mut ctrl))
        .await
        .map_err(|_| ProtoError::Timeout("the client's results").to_string())?
        .map_err(perr)?;
    let client_results = Results::from_json(&cj).map_err(perr)?;
    step(
        "the client",
        write_json(&mut ctrl, &my_results(&tracks, util).to_json()),
    )
    .await?;
    step("the client", write_state(&mut ctrl, State::DisplayResults)).await?;
    for c in rec.start.connected.iter_mut().zip(tracks.iter()) {
        c.0.mptcp = c.1.mptcp;
    }
    *end = Some(summarize(&tracks, Some(&client_results), util, false, out));
    // IPERF_DONE (a client that just closes is fine too).
    match timeout(PHASE_TIMEOUT, read_state(&mut ctrl)).await {
        Ok(Ok(State::IperfDone)) | Ok(Err(ProtoError::Closed)) => Ok(()),
        Ok(Ok(st)) => Err(perr(ProtoError::Unexpected(st))),
        Ok(Err(e)) => Err(perr(e)),
        Err(_) => Err(ProtoError::Timeout("IPERF_DONE").to_string()),
    }
}
