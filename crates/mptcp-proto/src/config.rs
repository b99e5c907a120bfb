//! Endpoint and connection configuration: every limit the engine enforces lives here.

use crate::congestion::CcAlgorithm;
use crate::path_manager::{PathManagerKind, PmEndpoint, PmLimits, RejoinPolicy};
use crate::scheduler::SchedulerKind;
use crate::time::Duration;

/// When a listener answers SYNs with SYN cookies (Linux `net.ipv4.tcp_syncookies`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SynCookies {
    /// Never: SYNs beyond `max_half_open` are dropped.
    Off,
    /// Once `max_half_open` half-open connections exist (Linux's default, 1).
    #[default]
    OnOverflow,
    /// For every SYN (Linux 2): no half-open state at all.
    Always,
}

/// Settings shared by every connection of an endpoint.
#[derive(Debug, Clone)]
pub struct EndpointConfig {
    /// Most connections (of any state) at once; further SYNs are refused with RST.
    pub max_connections: usize,
    /// Most subflows per connection (initial one included).
    pub max_subflows: usize,
    /// Most half-open (SYN received) connections; further SYNs get a SYN cookie or are
    /// dropped, as `syn_cookies` says.
    pub max_half_open: usize,
    /// When a listener answers with SYN cookies instead of keeping half-open state.
    pub syn_cookies: SynCookies,
    /// Send buffer per connection, bytes.
    pub send_buffer: usize,
    /// Receive buffer per connection, bytes (also bounds out-of-order data). With
    /// `recv_buffer_autotune` this is the largest the advertised buffer grows to.
    pub recv_buffer: usize,
    /// Receive-buffer autotuning (dynamic right-sizing, as Linux's `tcp_moderate_rcvbuf`),
    /// on by default: the connection starts with a 128 KiB buffer (at least 64 KiB per
    /// subflow) and grows it, once per largest subflow RTT, to twice the bytes the
    /// application read in that RTT (2 × Σ bandwidth × RTT_max) plus room for a sender in
    /// slow start; never above `recv_buffer`, never shrinking the advertised window. Off:
    /// `recv_buffer` is advertised from the start.
    pub recv_buffer_autotune: bool,
    /// Most out-of-order ranges tracked per subflow and per connection.
    pub max_ooo_ranges: usize,
    /// Most packets queued for transmission by the endpoint itself (RSTs, challenge ACKs).
    pub max_pending_control: usize,
    /// Maximum segment size announced and used (without options), bytes.
    pub mss: u16,
    /// Initial congestion window, in segments (RFC 6928).
    pub initial_window_segments: u32,
    /// Congestion control for new connections.
    pub congestion: CcAlgorithm,
    /// Time from the connection becoming fully established to opening the path manager's
    /// additional subflows. Short flows finish sooner over one subflow (seed 001: below
    /// about 10 segments), so delaying the join by about two RTTs spares them its cost.
    /// Zero: at once.
    pub join_delay: Duration,
    /// Packet scheduler of new connections.
    pub scheduler: SchedulerKind,
    /// Path manager of new connections.
    pub path_manager: PathManagerKind,
    /// Offer MPTCP on outgoing connections and accept it on incoming ones.
    pub mptcp: bool,
    /// Ask for DSS checksums (flag A).
    pub checksum: bool,
    /// Set flag C: refuse MP_JOINs to the initial address and port.
    pub deny_join_initial_addr: bool,
    /// Nagle's algorithm (RFC 9293 §3.7.4) on new connections.
    pub nagle: bool,
    /// Delayed ACK timeout (RFC 9293 §3.8.6.3: at most 500 ms); ACK every second full segment.
    pub delayed_ack: Duration,
    /// Initial retransmission timeout (RFC 6298: 1 s).
    pub initial_rto: Duration,
    /// Lower bound on the RTO (Linux uses 200 ms; RFC 6298 says 1 s).
    pub min_rto: Duration,
    /// Upper bound on the RTO.
    pub max_rto: Duration,
    /// SYN retransmissions before giving up on connecting.
    pub syn_retries: u32,
    /// MP_CAPABLE SYN retransmissions before retrying without MPTCP (Linux: 2).
    pub syn_retries_before_fallback: u32,
    /// Data retransmissions of one segment before the subflow is declared dead.
    pub max_retransmissions: u32,
    /// Keepalive idle time; `None` disables keepalives.
    pub keepalive: Option<Duration>,
    /// TIME_WAIT duration (2 MSL).
    pub time_wait: Duration,
    /// Extra local addresses the server announces with ADD_ADDR (address ID = index + 1),
    /// with the `default`, `fullmesh` and `lb-server` path managers.
    pub announce_addrs: Vec<std::net::IpAddr>,
    /// The endpoint table of the `endpoints` path manager (`ip mptcp endpoint`).
    pub pm_endpoints: Vec<PmEndpoint>,
    /// The limits of the `endpoints` path manager (`ip mptcp limits`; the kernel's defaults,
    /// 2 subflows and no announcement accepted).
    pub pm_limits: PmLimits,
    /// Re-opening of subflows lost to timeouts or resets (`None`: never, as Linux's
    /// in-kernel path manager).
    pub rejoin: Option<RejoinPolicy>,
    /// ADD_ADDR retransmissions until echoed (Linux: one per `add_addr_timeout`).
    pub add_addr_retries: u32,
    /// Interval between ADD_ADDR retransmissions.
    pub add_addr_timeout: Duration,
    /// Most addresses remembered from the peer's ADD_ADDRs per connection.
    pub max_remote_addrs: usize,
    /// Local addresses whose subflows are trusted: only they carry data written with
    /// `SendFlags::trusted_only` (see also `Endpoint::set_subflow_trusted`).
    pub trusted_addrs: Vec<std::net::IpAddr>,
    /// Local addresses whose subflows start as backup (MP_JOIN flag B; MP_PRIO for an
    /// initial subflow); see also `Endpoint::set_subflow_backup`.
    pub backup_addrs: Vec<std::net::IpAddr>,
}

impl Default for EndpointConfig {
    fn default() -> Self {
        EndpointConfig {
            max_connections: 4096,
            max_subflows: 8,
            max_half_open: 1024,
            syn_cookies: SynCookies::OnOverflow,
            send_buffer: 4 << 20,
            recv_buffer: 4 << 20,
            recv_buffer_autotune: true,
            max_ooo_ranges: 1024,
            max_pending_control: 1024,
            mss: 1460,
            initial_window_segments: 10,
            congestion: CcAlgorithm::Reno,
            join_delay: Duration::ZERO,
            scheduler: SchedulerKind::MinRtt,
            path_manager: PathManagerKind::Default,
            mptcp: true,
            checksum: false,
            deny_join_initial_addr: false,
            nagle: true,
            delayed_ack: Duration::from_millis(40),
            initial_rto: Duration::from_secs(1),
            min_rto: Duration::from_millis(200),
            max_rto: Duration::from_secs(120),
            syn_retries: 6,
            syn_retries_before_fallback: 2,
            max_retransmissions: 15,
            keepalive: None,
            time_wait: Duration::from_secs(60),
            announce_addrs: Vec::new(),
            pm_endpoints: Vec::new(),
            pm_limits: PmLimits::default(),
            rejoin: Some(RejoinPolicy::default()),
            add_addr_retries: 4,
            add_addr_timeout: Duration::from_secs(2),
            max_remote_addrs: 8,
            trusted_addrs: Vec::new(),
            backup_addrs: Vec::new(),
        }
    }
}
