//! Counters per connection and per subflow. Names follow the kernel's MPTcpExt MIBs where
//! one exists.

use crate::endpoint::SubflowId;
use crate::time::Duration;
use std::net::SocketAddr;

/// Counters of one subflow.
#[derive(Debug, Clone, PartialEq)]
pub struct SubflowStats {
    /// Subflow identifier within its connection.
    pub id: SubflowId,
    /// Local address and port.
    pub local: SocketAddr,
    /// Remote address and port.
    pub remote: SocketAddr,
    /// Whether the TCP handshake completed and the subflow is not closed.
    pub established: bool,
    /// Backup priority (ours or the peer's MP_PRIO).
    pub backup: bool,
    /// May carry data written `trusted_only`.
    pub trusted: bool,
    /// Payload bytes sent, retransmissions included.
    pub bytes_sent: u64,
    /// Payload bytes cumulatively acknowledged at subflow level.
    pub bytes_acked: u64,
    /// Payload bytes received in order at subflow level.
    pub bytes_received: u64,
    /// Segments sent.
    pub segments_sent: u64,
    /// Segments received.
    pub segments_received: u64,
    /// Segments retransmitted (fast retransmit, SACK recovery and RTO).
    pub retransmits: u64,
    /// Retransmission timeouts.
    pub rto_count: u64,
    /// Fast-recovery episodes.
    pub fast_recoveries: u64,
    /// Challenge ACKs sent for a RST, SYN or ACK out of place (RFC 5961; TcpExt
    /// TCPChallengeACK).
    pub challenge_acks: u64,
    /// Challenge ACKs held back by the per-subflow rate limit (RFC 5961 §7).
    pub challenge_acks_limited: u64,
    /// RSTs ignored for a sequence number outside the window (RFC 5961 §3.2).
    pub rst_ignored: u64,
    /// Smoothed RTT.
    pub srtt: Option<Duration>,
    /// Minimum RTT seen.
    pub min_rtt: Option<Duration>,
    /// Congestion window, bytes.
    pub cwnd: u64,
    /// Slow-start threshold, bytes.
    pub ssthresh: u64,
    /// Sender MSS.
    pub mss: u32,
}

/// Counters of one connection (MPTCP level), plus its subflows.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ConnectionStats {
    /// MPTCP was negotiated (possibly fallen back since).
    pub mptcp: bool,
    /// The connection fell back to plain TCP.
    pub fallback: bool,
    /// DSS checksums in use.
    pub checksum: bool,
    /// Application bytes accepted by `send`.
    pub bytes_written: u64,
    /// Application bytes acknowledged at data level (DATA_ACK).
    pub bytes_acked: u64,
    /// Application bytes delivered to `recv`.
    pub bytes_read: u64,
    /// Receive buffer the window is currently advertised from, bytes (grown by
    /// autotuning up to `EndpointConfig::recv_buffer`).
    pub recv_buffer: u64,
    /// Bytes received at data level that were already there (reinjections, duplicates).
    pub duplicate_bytes: u64,
    /// Bytes sent again on another subflow (MPTcpExt Reinjections equivalent, in bytes).
    pub reinjected_bytes: u64,
    /// Bytes mapped onto a subflow while already mapped onto another by the redundant
    /// scheduler (its extra copies; reinjections are not counted here).
    pub redundant_bytes: u64,
    /// Opportunistic retransmissions (the peer's window blocked on data stuck on a slower
    /// subflow; its first segment was sent again on a faster one).
    pub opportunistic_retransmissions: u64,
    /// MP_JOIN SYNs received (MPTcpExt MPJoinSynRx).
    pub mp_join_syn_rx: u64,
    /// MP_JOINs refused for an unknown token (MPTcpExt MPJoinNoTokenFound, endpoint-wide).
    pub mp_join_no_token: u64,
    /// MP_JOINs refused for a wrong HMAC (MPTcpExt MPJoinSynAckHMacFailure / MPJoinAckHMacFailure).
    pub mp_join_hmac_failure: u64,
    /// DSS checksum failures (MPTcpExt DataCsumErr).
    pub dss_checksum_errors: u64,
    /// Receive mappings that contradicted earlier ones, overlapped inconsistently or lay
    /// outside the receive window; each reset its subflow (MPTcpExt DSSNotMatching).
    pub dss_mapping_errors: u64,
    /// ADD_ADDRs received (MPTcpExt AddAddr).
    pub add_addr_rx: u64,
    /// ADD_ADDRs ignored for a bad HMAC.
    pub add_addr_bad_hmac: u64,
    /// Valid ADD_ADDRs not kept: `max_remote_addrs` reached, or the ID or address already
    /// stands for another announcement (MPTcpExt AddAddrDrop).
    pub add_addr_dropped: u64,
    /// ADD_ADDR echoes received (MPTcpExt EchoAdd).
    pub add_addr_echo_rx: u64,
    /// REMOVE_ADDRs received (MPTcpExt RmAddr).
    pub remove_addr_rx: u64,
    /// MP_PRIO received (MPTcpExt MPPrioRx).
    pub mp_prio_rx: u64,
    /// MP_FAIL received (MPTcpExt MPFailRx).
    pub mp_fail_rx: u64,
    /// MP_FAIL sent (MPTcpExt MPFailTx).
    pub mp_fail_tx: u64,
    /// Infinite mappings sent (MPTcpExt InfiniteMapTx).
    pub infinite_map_tx: u64,
    /// Infinite mappings received (MPTcpExt InfiniteMapRx).
    pub infinite_map_rx: u64,
    /// MP_FASTCLOSE received (MPTcpExt MPFastcloseRx).
    pub mp_fastclose_rx: u64,
    /// MP_FASTCLOSE ignored for a wrong key.
    pub mp_fastclose_bad_key: u64,
    /// MP_FASTCLOSE sent (MPTcpExt MPFastcloseTx).
    pub mp_fastclose_tx: u64,
    /// MP_TCPRST received (MPTcpExt MPRstRx).
    pub mp_rst_rx: u64,
    /// Subflows.
    pub subflows: Vec<SubflowStats>,
}
