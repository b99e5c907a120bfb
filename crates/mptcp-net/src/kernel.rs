//! The kernel backend: the host's own MPTCP (`IPPROTO_MPTCP` sockets), with the same shape
//! as the user-space stack. When the kernel refuses MPTCP sockets the backend uses plain TCP.

use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::io;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::os::fd::AsRawFd;
use tokio::net::{TcpListener, TcpSocket, TcpStream};

/// `IPPROTO_MPTCP` (Linux 5.6+).
pub const IPPROTO_MPTCP: i32 = 262;
/// `TCP_IS_MPTCP` socket option (Linux 5.16+): 1 while the socket runs MPTCP.
const TCP_IS_MPTCP: libc::c_int = 43;
/// Backlog of kernel listeners.
const BACKLOG: i32 = 128;

/// A stream socket of `domain`, MPTCP when the kernel allows it. The flag says whether it is.
fn stream_socket(domain: Domain) -> io::Result<(Socket, bool)> {
    match Socket::new(domain, Type::STREAM, Some(Protocol::from(IPPROTO_MPTCP))) {
        Ok(s) => Ok((s, true)),
        Err(e)
            if matches!(
                e.raw_os_error(),
                Some(libc::EPROTONOSUPPORT | libc::ENOPROTOOPT | libc::EINVAL)
            ) =>
        {
            Ok((
                Socket::new(domain, Type::STREAM, Some(Protocol::TCP))?,
                false,
            ))
        }
        Err(e) => Err(e),
    }
}

/// Whether a connected socket still runs MPTCP (false: plain TCP or fallen back).
pub fn is_mptcp(stream: &TcpStream) -> bool {
    let mut val: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: a valid socket descriptor, a c_int-sized output buffer and its length.
    let rc = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::SOL_TCP,
            TCP_IS_MPTCP,
            (&mut val as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    rc == 0 && val == 1
}

/// Checks a congestion-control name on a plain TCP socket: an MPTCP socket without a
/// subflow yet accepts any name and drops it silently.
fn probe_cc(name: &str) -> io::Result<()> {
    let probe = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
    probe.set_tcp_congestion(name.as_bytes())
}

/// Sets the socket's congestion control (a Linux name such as "cubic" or "reno").
fn set_cc(sock: &Socket, cc: Option<&str>) -> io::Result<()> {
    match cc {
        Some(name) => probe_cc(name)
            .and_then(|()| sock.set_tcp_congestion(name.as_bytes()))
            .map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("the kernel refuses congestion control {name:?}: {e}"),
                )
            }),
        None => Ok(()),
    }
}

/// Connects to `remote` over the kernel's MPTCP, from `local` when given, with congestion
/// control `cc` when given.
pub async fn connect(
    remote: SocketAddr,
    local: Option<IpAddr>,
    cc: Option<&str>,
) -> io::Result<TcpStream> {
    let (sock, _) = stream_socket(Domain::for_address(remote))?;
    set_cc(&sock, cc)?;
    if let Some(ip) = local {
        sock.bind(&SockAddr::from(SocketAddr::new(ip, 0)))
            .map_err(|e| io::Error::new(e.kind(), format!("cannot bind {ip}: {e}")))?;
    }
    sock.set_nonblocking(true)?;
    let std_stream: std::net::TcpStream = sock.into();
    let sock = TcpSocket::from_std_stream(std_stream);
    sock.connect(remote).await
}

/// Listens on `port` of every address (IPv6 and IPv4 when possible, else IPv4); accepted
/// connections use congestion control `cc` when given.
pub fn listen(port: u16, cc: Option<&str>) -> io::Result<TcpListener> {
    let sock = match stream_socket(Domain::IPV6) {
        Ok((s, _)) => {
            s.set_only_v6(false)?;
            s.set_reuse_address(true)?;
            match s.bind(&SockAddr::from(SocketAddr::new(
                IpAddr::V6(Ipv6Addr::UNSPECIFIED),
                port,
            ))) {
                Ok(()) => s,
                Err(e) if e.kind() == io::ErrorKind::AddrInUse => return Err(e),
                Err(_) => bind_v4(port)?,
            }
        }
        Err(_) => bind_v4(port)?,
    };
    set_cc(&sock, cc)?;
    sock.listen(BACKLOG)?;
    sock.set_nonblocking(true)?;
    TcpListener::from_std(sock.into())
}

fn bind_v4(port: u16) -> io::Result<Socket> {
    let (s, _) = stream_socket(Domain::IPV4)?;
    s.set_reuse_address(true)?;
    s.bind(&SockAddr::from(SocketAddr::from(([0, 0, 0, 0], port))))?;
    Ok(s)
}
