//! What `mptcp perf` needs from a network stack, and the kernel's implementation.
//!
//! The perf code is generic over [`PerfTransport`]. [`KernelTransport`] uses the host's
//! kernel MPTCP (sockets with `IPPROTO_MPTCP`, falling back to plain TCP when the kernel
//! refuses them) and reads per-subflow counters with `getsockopt(SOL_MPTCP, ...)`.
//!
//! The user-space runtime (crate `mptcp-net`, `--tun`) implements the same trait in
//! `perf::tun`: its `MptcpStream` is the `Stream`, `MptcpListener` the `Listener`, and its
//! `stats()` feeds a [`StatsProbe`].

use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, RawFd};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};

/// A sample of one connection's transport state. Counters are cumulative since the
/// connection started; every field is optional because not every stack has them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StreamSample {
    /// Whether the connection runs MPTCP (false after a fallback to TCP).
    pub mptcp: bool,
    /// Retransmitted segments (all subflows).
    pub retransmits: Option<u64>,
    /// Congestion window in bytes (the sum over subflows for MPTCP).
    pub snd_cwnd: Option<u64>,
    /// Peer's receive window in bytes.
    pub snd_wnd: Option<u64>,
    /// Smoothed RTT in microseconds (the largest over subflows for MPTCP).
    pub rtt_us: Option<u32>,
    /// RTT variance in microseconds.
    pub rttvar_us: Option<u32>,
    /// Path MTU.
    pub pmtu: Option<u32>,
    /// Congestion control in use.
    pub congestion: Option<String>,
    /// One entry per subflow, when the stack can tell.
    pub subflows: Option<Vec<SubflowSample>>,
}

/// Cumulative counters of one subflow.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SubflowSample {
    pub local: Option<SocketAddr>,
    pub remote: Option<SocketAddr>,
    /// Bytes sent, including retransmissions.
    pub bytes_sent: u64,
    /// Bytes acknowledged by the peer.
    pub bytes_acked: u64,
    /// Bytes received.
    pub bytes_received: u64,
    /// Smoothed RTT in microseconds.
    pub srtt_us: u32,
    /// Congestion window in bytes.
    pub cwnd_bytes: u64,
    /// Retransmitted segments.
    pub retransmits: u64,
}

impl SubflowSample {
    /// A key that identifies the subflow between two samples.
    pub fn key(&self) -> String {
        match (self.local, self.remote) {
            (Some(l), Some(r)) => format!("{l}-{r}"),
            _ => String::new(),
        }
    }
}

/// Reads a connection's transport state while another task owns the connection.
pub trait StatsProbe: Send + Sync + 'static {
    fn sample(&self) -> StreamSample;
}

/// A listening socket of a [`PerfTransport`].
pub trait PerfListener: Send {
    type Stream;
    fn accept(&mut self) -> impl Future<Output = io::Result<(Self::Stream, SocketAddr)>> + Send;
    fn local_addr(&self) -> io::Result<SocketAddr>;
}

/// A network stack `mptcp perf` can measure.
pub trait PerfTransport: Send + Sync {
    type Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    type Listener: PerfListener<Stream = Self::Stream>;
    type Probe: StatsProbe;

    /// A short name for the output ("kernel", "tun").
    fn name(&self) -> &'static str;
    fn connect(&self, addr: SocketAddr) -> impl Future<Output = io::Result<Self::Stream>> + Send;
    /// Listens on every address of the stack, on `port`.
    fn listen(&self, port: u16) -> impl Future<Output = io::Result<Self::Listener>> + Send;
    /// A probe of the stream's counters, usable while a task owns the stream.
    fn probe(stream: &Self::Stream) -> Self::Probe;
    /// Local and remote addresses.
    fn addrs(stream: &Self::Stream) -> (Option<SocketAddr>, Option<SocketAddr>);
    /// The number shown in iperf3's `[  5]` column (the socket's descriptor for iperf3).
    fn socket_id(stream: &Self::Stream) -> i32;
}

// ---------------------------------------------------------------------------------------
// The kernel.

/// `IPPROTO_MPTCP` (linux/in.h).
pub const IPPROTO_MPTCP: i32 = 262;
/// `SOL_MPTCP` (linux/socket.h).
pub const SOL_MPTCP: i32 = 284;
const MPTCP_INFO: i32 = 1;
const MPTCP_TCPINFO: i32 = 2;
const MPTCP_SUBFLOW_ADDRS: i32 = 3;

/// The host's kernel: MPTCP sockets, or TCP when MPTCP is refused.
#[derive(Debug, Default, Clone)]
pub struct KernelTransport;

/// A socket of the kernel's, MPTCP if it could be.
fn kernel_socket(addr: &SocketAddr) -> io::Result<(socket2::Socket, bool)> {
    use socket2::{Domain, Protocol, Socket, Type};
    let domain = Domain::for_address(*addr);
    match Socket::new(domain, Type::STREAM, Some(Protocol::from(IPPROTO_MPTCP))) {
        Ok(s) => Ok((s, true)),
        // EPROTONOSUPPORT / EINVAL / ENOPROTOOPT: no MPTCP here (disabled or too old).
        Err(_) => Ok((
            Socket::new(domain, Type::STREAM, Some(Protocol::TCP))?,
            false,
        )),
    }
}

impl PerfTransport for KernelTransport {
    type Stream = TcpStream;
    type Listener = KernelListener;
    type Probe = KernelProbe;

    fn name(&self) -> &'static str {
        "kernel"
    }

    async fn connect(&self, addr: SocketAddr) -> io::Result<TcpStream> {
        let (sock, _) = kernel_socket(&addr)?;
        sock.set_nonblocking(true)?;
        let sock = tokio::net::TcpSocket::from_std_stream(sock.into());
        let s = sock.connect(addr).await?;
        s.set_nodelay(true).ok();
        Ok(s)
    }

    async fn listen(&self, port: u16) -> io::Result<KernelListener> {
        // A dual-stack socket on [::] when the host has IPv6, else 0.0.0.0.
        let v6 = SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port);
        let v4 = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port);
        let bind = |addr: SocketAddr| -> io::Result<TcpListener> {
            let (sock, _) = kernel_socket(&addr)?;
            if addr.is_ipv6() {
                sock.set_only_v6(false)?;
            }
            sock.set_reuse_address(true)?;
            sock.bind(&addr.into())?;
            sock.listen(128)?;
            sock.set_nonblocking(true)?;
            TcpListener::from_std(sock.into())
        };
        let inner = match bind(v6) {
            Ok(l) => l,
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => return Err(e),
            Err(_) => bind(v4)?,
        };
        Ok(KernelListener { inner })
    }

    fn probe(stream: &TcpStream) -> KernelProbe {
        KernelProbe {
            fd: stream.as_raw_fd(),
        }
    }

    fn addrs(stream: &TcpStream) -> (Option<SocketAddr>, Option<SocketAddr>) {
        (
            stream.local_addr().ok().map(unmap),
            stream.peer_addr().ok().map(unmap),
        )
    }

    fn socket_id(stream: &TcpStream) -> i32 {
        stream.as_raw_fd()
    }
}

/// `::ffff:a.b.c.d` shown as `a.b.c.d`, as iperf3 does.
pub fn unmap(a: SocketAddr) -> SocketAddr {
    match a {
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::V4(SocketAddrV4::new(v4, v6.port())),
            None => a,
        },
        a => a,
    }
}

/// The kernel's listening socket.
pub struct KernelListener {
    inner: TcpListener,
}

impl PerfListener for KernelListener {
    type Stream = TcpStream;

    async fn accept(&mut self) -> io::Result<(TcpStream, SocketAddr)> {
        let (s, a) = self.inner.accept().await?;
        s.set_nodelay(true).ok();
        Ok((s, unmap(a)))
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

/// Reads `TCP_INFO` and `SOL_MPTCP` options of a kernel socket by its descriptor. The
/// descriptor must stay open while the probe is used: perf drops the stream only after its
/// last sample.
#[derive(Debug, Clone, Copy)]
pub struct KernelProbe {
    fd: RawFd,
}

/// `getsockopt` into a byte buffer; returns the length the kernel wrote.
fn getsockopt_bytes(fd: RawFd, level: i32, name: i32, buf: &mut [u8]) -> io::Result<usize> {
    let mut len = buf.len() as libc::socklen_t;
    // SAFETY: `buf` is valid for `len` bytes and the kernel writes at most `len` bytes.
    let r = unsafe { libc::getsockopt(fd, level, name, buf.as_mut_ptr().cast(), &mut len) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((len as usize).min(buf.len()))
}

fn u8_at(b: &[u8], off: usize) -> Option<u8> {
    b.get(off).copied()
}
fn u16_at(b: &[u8], off: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(off..off + 2)?.try_into().ok()?))
}
fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(off..off + 4)?.try_into().ok()?))
}
fn u64_at(b: &[u8], off: usize) -> Option<u64> {
    Some(u64::from_ne_bytes(b.get(off..off + 8)?.try_into().ok()?))
}

/// Offsets in Linux's `struct tcp_info` (linux/tcp.h).
mod tcpi {
    pub const SND_MSS: usize = 16;
    pub const PMTU: usize = 60;
    pub const RTT: usize = 68;
    pub const RTTVAR: usize = 72;
    pub const SND_CWND: usize = 80;
    pub const TOTAL_RETRANS: usize = 100;
    pub const BYTES_ACKED: usize = 120;
    pub const BYTES_RECEIVED: usize = 128;
    pub const BYTES_SENT: usize = 200;
    pub const SND_WND: usize = 228;
    /// What we ask for: up to and including `tcpi_snd_wnd`.
    pub const SIZE: usize = 232;
}

/// A parsed `struct tcp_info` (only what perf shows).
#[derive(Debug, Clone, Default)]
struct TcpInfo {
    snd_mss: u32,
    pmtu: u32,
    rtt: u32,
    rttvar: u32,
    snd_cwnd: u32,
    total_retrans: u32,
    bytes_acked: u64,
    bytes_received: u64,
    bytes_sent: Option<u64>,
    snd_wnd: Option<u32>,
}

fn parse_tcp_info(b: &[u8]) -> Option<TcpInfo> {
    Some(TcpInfo {
        snd_mss: u32_at(b, tcpi::SND_MSS)?,
        pmtu: u32_at(b, tcpi::PMTU)?,
        rtt: u32_at(b, tcpi::RTT)?,
        rttvar: u32_at(b, tcpi::RTTVAR)?,
        snd_cwnd: u32_at(b, tcpi::SND_CWND)?,
        total_retrans: u32_at(b, tcpi::TOTAL_RETRANS)?,
        bytes_acked: u64_at(b, tcpi::BYTES_ACKED).unwrap_or(0),
        bytes_received: u64_at(b, tcpi::BYTES_RECEIVED).unwrap_or(0),
        bytes_sent: u64_at(b, tcpi::BYTES_SENT),
        snd_wnd: u32_at(b, tcpi::SND_WND),
    })
}

fn parse_sockaddr(b: &[u8]) -> Option<SocketAddr> {
    let family = u16_at(b, 0)? as i32;
    let port = u16::from_be_bytes(b.get(2..4)?.try_into().ok()?);
    match family {
        libc::AF_INET => {
            let ip: [u8; 4] = b.get(4..8)?.try_into().ok()?;
            Some(SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::from(ip), port)))
        }
        libc::AF_INET6 => {
            let ip: [u8; 16] = b.get(8..24)?.try_into().ok()?;
            Some(unmap(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(ip),
                port,
                0,
                0,
            ))))
        }
        _ => None,
    }
}

/// `struct mptcp_subflow_data` header, then `n` elements of `elem` bytes; returns the elements.
fn mptcp_subflow_array(fd: RawFd, name: i32, elem: usize, max: usize) -> Option<Vec<Vec<u8>>> {
    const HDR: usize = 16;
    let mut buf = vec![0u8; HDR + elem * max];
    buf[0..4].copy_from_slice(&(HDR as u32).to_ne_bytes());
    buf[12..16].copy_from_slice(&(elem as u32).to_ne_bytes());
    let len = getsockopt_bytes(fd, SOL_MPTCP, name, &mut buf).ok()?;
    let num = u32_at(&buf, 4)? as usize;
    let size_kernel = u32_at(&buf, 8)? as usize;
    let size_user = (u32_at(&buf, 12)? as usize).min(elem);
    let step = size_user.max(1);
    let avail = len.saturating_sub(HDR) / step;
    let n = num.min(avail).min(max);
    let _ = size_kernel;
    Some(
        (0..n)
            .map(|i| buf[HDR + i * step..HDR + i * step + size_user].to_vec())
            .collect(),
    )
}

impl KernelProbe {
    fn protocol(&self) -> Option<i32> {
        let mut b = [0u8; 4];
        getsockopt_bytes(self.fd, libc::SOL_SOCKET, libc::SO_PROTOCOL, &mut b).ok()?;
        Some(i32::from_ne_bytes(b))
    }

    fn tcp_info(&self) -> Option<TcpInfo> {
        let mut b = vec![0u8; tcpi::SIZE];
        let n = getsockopt_bytes(self.fd, libc::IPPROTO_TCP, libc::TCP_INFO, &mut b).ok()?;
        parse_tcp_info(&b[..n])
    }

    fn congestion(&self) -> Option<String> {
        let mut b = [0u8; 16];
        let n = getsockopt_bytes(self.fd, libc::IPPROTO_TCP, libc::TCP_CONGESTION, &mut b).ok()?;
        let s: Vec<u8> = b[..n].iter().copied().take_while(|&c| c != 0).collect();
        String::from_utf8(s).ok().filter(|s| !s.is_empty())
    }

    /// `MPTCP_INFO` succeeds only on an MPTCP socket that did not fall back to TCP.
    fn mptcp_active(&self) -> bool {
        let mut b = [0u8; 128];
        match getsockopt_bytes(self.fd, SOL_MPTCP, MPTCP_INFO, &mut b) {
            // A fallen-back socket reports a zeroed structure (no subflows, no token).
            Ok(n) => n > 0 && (u8_at(&b, 0).unwrap_or(0) > 0 || u32_at(&b, 12).unwrap_or(0) != 0),
            Err(_) => false,
        }
    }

    fn subflows(&self) -> Option<Vec<SubflowSample>> {
        const MAX: usize = 64;
        let infos = mptcp_subflow_array(self.fd, MPTCP_TCPINFO, tcpi::SIZE, MAX)?;
        let addrs = mptcp_subflow_array(self.fd, MPTCP_SUBFLOW_ADDRS, 256, MAX).unwrap_or_default();
        let same = addrs.len() == infos.len();
        Some(
            infos
                .iter()
                .enumerate()
                .filter_map(|(i, b)| {
                    let t = parse_tcp_info(b)?;
                    let (local, remote) = if same {
                        (
                            parse_sockaddr(&addrs[i][..128]),
                            parse_sockaddr(&addrs[i][128..]),
                        )
                    } else {
                        (None, None)
                    };
                    Some(SubflowSample {
                        local,
                        remote,
                        bytes_sent: t.bytes_sent.unwrap_or(t.bytes_acked),
                        bytes_acked: t.bytes_acked,
                        bytes_received: t.bytes_received,
                        srtt_us: t.rtt,
                        cwnd_bytes: t.snd_cwnd as u64 * t.snd_mss as u64,
                        retransmits: t.total_retrans as u64,
                    })
                })
                .collect(),
        )
    }
}

impl StatsProbe for KernelProbe {
    fn sample(&self) -> StreamSample {
        let is_mptcp_socket = self.protocol() == Some(IPPROTO_MPTCP);
        let mptcp = is_mptcp_socket && self.mptcp_active();
        let subflows = if mptcp { self.subflows() } else { None };
        let mut s = StreamSample {
            mptcp,
            congestion: self.congestion(),
            ..StreamSample::default()
        };
        // On an MPTCP socket, TCP_INFO describes one subflow: the totals come from all.
        match (&subflows, self.tcp_info()) {
            (Some(sf), t) if !sf.is_empty() => {
                s.retransmits = Some(sf.iter().map(|f| f.retransmits).sum());
                s.snd_cwnd = Some(sf.iter().map(|f| f.cwnd_bytes).sum());
                s.rtt_us = sf.iter().map(|f| f.srtt_us).max();
                if let Some(t) = t {
                    s.rttvar_us = Some(t.rttvar);
                    s.pmtu = Some(t.pmtu);
                    s.snd_wnd = t.snd_wnd.map(u64::from);
                }
            }
            (_, Some(t)) => {
                s.retransmits = Some(t.total_retrans as u64);
                s.snd_cwnd = Some(t.snd_cwnd as u64 * t.snd_mss as u64);
                s.rtt_us = Some(t.rtt);
                s.rttvar_us = Some(t.rttvar);
                s.pmtu = Some(t.pmtu);
                s.snd_wnd = t.snd_wnd.map(u64::from);
            }
            _ => {}
        }
        s.subflows = subflows;
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn kernel_loopback_connection_reports_counters() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let t = KernelTransport;
            let mut l = t.listen(0).await.unwrap();
            let port = l.local_addr().unwrap().port();
            let addr: SocketAddr = ([127, 0, 0, 1], port).into();
            let (c, s) = tokio::join!(t.connect(addr), l.accept());
            let (mut c, (mut s, _)) = (c.unwrap(), s.unwrap());
            c.write_all(&[7u8; 100_000]).await.unwrap();
            let mut buf = vec![0u8; 100_000];
            s.read_exact(&mut buf).await.unwrap();
            let sample = KernelTransport::probe(&c).sample();
            assert!(sample.rtt_us.is_some());
            assert!(sample.snd_cwnd.unwrap_or(0) > 0);
            if let Some(sf) = &sample.subflows {
                assert!(!sf.is_empty());
                assert!(sf[0].bytes_acked > 0 || sf[0].bytes_sent > 0);
                assert_eq!(sf[0].remote.map(|a| a.port()), Some(port));
            }
        });
    }
}
