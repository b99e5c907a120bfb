//! [`PerfTransport`] for the user-space stack (crate `mptcp-net`, `--tun`): its
//! `MptcpStream` carries the data, `MptcpStream::stats()` (through a `StatsHandle`) feeds the
//! per-subflow counters.

use super::transport::{PerfListener, PerfTransport, StatsProbe, StreamSample, SubflowSample};
use mptcp_net::{MptcpListener, MptcpStream, Runtime, StatsHandle};
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicI32, Ordering};
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The number shown in the `[  5]` column: iperf3 shows descriptors, which start near 5.
static NEXT_ID: AtomicI32 = AtomicI32::new(5);

/// How long, at the end, to wait for the connections to finish closing.
const CLOSE_LINGER: std::time::Duration = std::time::Duration::from_secs(3);

/// The user-space stack on a TUN device.
pub struct TunTransport {
    rt: Runtime,
    congestion: Option<String>,
}

impl TunTransport {
    /// Wraps a started runtime; `congestion` is the name shown in the output.
    pub fn new(rt: Runtime, congestion: Option<String>) -> Self {
        TunTransport { rt, congestion }
    }

    /// Stops the stack cleanly (undoes the host configuration), after giving the closing
    /// connections time to deliver their last bytes and DATA_FIN: the streams are dropped
    /// right after the last control message, and stopping the loop at once would leave
    /// the peer waiting for it.
    pub async fn shutdown(self) {
        let deadline = tokio::time::Instant::now() + CLOSE_LINGER;
        while self.rt.handle().connection_count() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        self.rt.shutdown().await;
    }

    fn first_addr(&self, v4: bool) -> IpAddr {
        let addrs = self.rt.handle().addrs();
        addrs
            .iter()
            .find(|a| a.is_ipv4() == v4)
            .or(addrs.first())
            .copied()
            .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
    }
}

/// A connection of the user-space stack, with the id perf shows for it.
pub struct TunStream {
    inner: MptcpStream,
    id: i32,
    congestion: Option<String>,
}

impl AsyncRead for TunStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for TunStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

fn wrap(inner: MptcpStream, congestion: &Option<String>) -> TunStream {
    TunStream {
        inner,
        id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
        congestion: congestion.clone(),
    }
}

/// A listening port of the user-space stack.
pub struct TunListener {
    inner: MptcpListener,
    local: IpAddr,
    congestion: Option<String>,
}

impl PerfListener for TunListener {
    type Stream = TunStream;

    async fn accept(&mut self) -> io::Result<(TunStream, SocketAddr)> {
        let (s, a) = self.inner.accept().await?;
        Ok((wrap(s, &self.congestion), a))
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(SocketAddr::new(self.local, self.inner.port()))
    }
}

/// Reads the counters of a user-space connection.
pub struct TunProbe {
    handle: StatsHandle,
    congestion: Option<String>,
}

impl StatsProbe for TunProbe {
    fn sample(&self) -> StreamSample {
        let Some(s) = self.handle.stats() else {
            return StreamSample::default();
        };
        let subflows: Vec<SubflowSample> = s
            .subflows
            .iter()
            .map(|f| SubflowSample {
                local: Some(f.local),
                remote: Some(f.remote),
                bytes_sent: f.bytes_sent,
                bytes_acked: f.bytes_acked,
                bytes_received: f.bytes_received,
                srtt_us: f
                    .srtt
                    .map(|d| d.as_micros().min(u32::MAX as u128) as u32)
                    .unwrap_or(0),
                cwnd_bytes: f.cwnd,
                retransmits: f.retransmits,
            })
            .collect();
        let live: Vec<&mptcp_proto::SubflowStats> =
            s.subflows.iter().filter(|f| f.established).collect();
        StreamSample {
            mptcp: s.mptcp && !s.fallback,
            retransmits: Some(subflows.iter().map(|f| f.retransmits).sum()),
            snd_cwnd: Some(live.iter().map(|f| f.cwnd).sum()),
            snd_wnd: None,
            rtt_us: subflows.iter().map(|f| f.srtt_us).max(),
            rttvar_us: None,
            pmtu: s.subflows.first().map(|f| f.mss + 40),
            congestion: self.congestion.clone(),
            subflows: Some(subflows),
        }
    }
}

impl PerfTransport for TunTransport {
    type Stream = TunStream;
    type Listener = TunListener;
    type Probe = TunProbe;

    fn name(&self) -> &'static str {
        "tun"
    }

    async fn connect(&self, addr: SocketAddr) -> io::Result<TunStream> {
        let s = MptcpStream::connect(self.rt.handle(), addr).await?;
        Ok(wrap(s, &self.congestion))
    }

    async fn listen(&self, port: u16) -> io::Result<TunListener> {
        Ok(TunListener {
            inner: MptcpListener::bind(self.rt.handle(), port)?,
            local: self.first_addr(true),
            congestion: self.congestion.clone(),
        })
    }

    fn probe(stream: &TunStream) -> TunProbe {
        TunProbe {
            handle: stream.inner.stats_handle(),
            congestion: stream.congestion.clone(),
        }
    }

    fn addrs(stream: &TunStream) -> (Option<SocketAddr>, Option<SocketAddr>) {
        (stream.inner.local_addr(), stream.inner.peer_addr())
    }

    fn socket_id(stream: &TunStream) -> i32 {
        stream.id
    }
}
