//! Per-subflow TCP bookkeeping: sequence space, windows, SACK scoreboard, loss recovery
//! (RFC 6675), RTT and RTO (RFC 6298), timers. Payload bytes are not stored here: the
//! connection's send buffer holds them and [`TxMap`]s say which data each subflow byte carries.

use super::rtt::RttEstimator;
use super::state::TcpState;
use crate::congestion::{CcView, Controller};
use crate::endpoint::SubflowId;
use crate::range_set::RangeSet;
use crate::seq::{Dsn, SeqNum};
use crate::time::{Duration, Instant};
use std::collections::VecDeque;
use std::net::SocketAddr;

/// RFC 6675 DupThresh.
pub const DUP_THRESH: u32 = 3;

/// A send-side mapping: subflow bytes `[ssn, ssn + len)` carry data bytes `[dsn, dsn + len)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxMap {
    /// First subflow offset (relative to the ISN, so also the wire "relative SSN").
    pub ssn: u64,
    /// First data offset (relative to the local IDSN + 1).
    pub data: u64,
    /// Length in bytes.
    pub len: u32,
    /// DSS checksum, computed when the mapping is first transmitted.
    pub checksum: Option<u16>,
    /// The mapping's bytes, kept here once the connection released them from its send
    /// buffer (DATA_ACKed via another subflow) while this subflow may still resend them.
    pub retained: Option<Box<[u8]>>,
}

impl TxMap {
    /// A mapping whose bytes are still in the connection's send buffer.
    pub fn new(ssn: u64, data: u64, len: u32) -> Self {
        TxMap {
            ssn,
            data,
            len,
            checksum: None,
            retained: None,
        }
    }
}

impl TxMap {
    /// One past the last subflow offset.
    pub fn ssn_end(&self) -> u64 {
        self.ssn + u64::from(self.len)
    }
}

/// A receive-side mapping announced by the peer (subflow offsets relative to the IRS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RxMap {
    /// First subflow offset.
    pub ssn: u64,
    /// First data sequence number.
    pub dsn: Dsn,
    /// Length in bytes.
    pub len: u32,
    /// Announced checksum (checksums negotiated): data is held until the mapping is complete.
    pub checksum: Option<u16>,
    /// The mapping also carries the DATA_FIN: the checksum's pseudo-header counts it in the
    /// data-level length (RFC 8684 §3.3.1), though no payload byte stands for it.
    pub data_fin: bool,
    /// Bytes collected so far while a checksum is pending (`len` bytes, filled by offset).
    pub pending: Option<(Vec<u8>, RangeSet)>,
}

impl RxMap {
    /// One past the last subflow offset.
    pub fn ssn_end(&self) -> u64 {
        self.ssn + u64::from(self.len)
    }
}

/// Loss-recovery state (RFC 6675 fast recovery, or after an RTO).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recovery {
    /// RecoveryPoint: recovery ends when everything below it is acknowledged.
    pub point: u64,
    /// HighRxt: everything below it that was lost has been retransmitted.
    pub high_rxt: u64,
    /// Entered by timeout: every unacknowledged, un-SACKed byte counts as lost.
    pub after_rto: bool,
    /// RFC 6675 §5 step 4.3: the first retransmission goes out whatever the window says.
    pub first_sent: bool,
}

/// Timers of a subflow, indexing [`Subflow::timers`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timer {
    /// Retransmission (also SYN, FIN, MP_JOIN third-ACK and window-probe retransmission).
    Rto = 0,
    /// Delayed ACK.
    DelayedAck = 1,
    /// Keepalive.
    Keepalive = 2,
    /// TIME_WAIT expiry.
    TimeWait = 3,
}

/// Number of [`Timer`]s.
pub const TIMER_COUNT: usize = 4;

/// MP_JOIN handshake material for a joined subflow (RFC 8684 §3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JoinState {
    /// Our random number.
    pub local_nonce: u32,
    /// The peer's random number (once known).
    pub remote_nonce: u32,
    /// Our address ID for the subflow's local address.
    pub local_addr_id: u8,
    /// The peer's address ID.
    pub remote_addr_id: u8,
    /// Client side: the peer acknowledged our third ACK (the "fourth ACK"); data may flow.
    pub fully_established: bool,
}

/// One TCP subflow.
#[derive(Debug)]
pub struct Subflow {
    /// Identifier within the connection.
    pub id: SubflowId,
    /// Local address.
    pub local: SocketAddr,
    /// Remote address.
    pub remote: SocketAddr,
    /// TCP state.
    pub state: TcpState,
    /// We opened it (sent the SYN).
    pub active_open: bool,
    /// Initial send sequence number.
    pub iss: SeqNum,
    /// Initial receive sequence number.
    pub irs: SeqNum,
    /// Oldest unacknowledged offset.
    pub snd_una: u64,
    /// Next offset to send new data from.
    pub snd_nxt: u64,
    /// Highest offset sent + 1.
    pub snd_max: u64,
    /// Peer's window in bytes (already scaled).
    pub snd_wnd: u64,
    /// Largest window the peer ever offered (RFC 5961 ACK check).
    pub max_snd_wnd: u64,
    /// Offset of the segment behind the last window update (RFC 9293 SND.WL1).
    pub snd_wl1: u64,
    /// Ack offset of the last window update (SND.WL2).
    pub snd_wl2: u64,
    /// Peer's window shift.
    pub snd_wscale: u8,
    /// Our window shift.
    pub rcv_wscale: u8,
    /// Window scaling negotiated (both SYNs carried the option).
    pub wscale_ok: bool,
    /// Timestamps negotiated.
    pub ts_ok: bool,
    /// Latest TSval to echo (TS.Recent).
    pub ts_recent: u32,
    /// TSecr of the segment being processed (RFC 7323 RTTM), if it carried timestamps.
    pub ts_echo: Option<u32>,
    /// Per-subflow random offset added to our TSval.
    pub ts_offset: u32,
    /// SACK negotiated.
    pub sack_ok: bool,
    /// Largest payload + options the peer accepts (its MSS option).
    pub mss: u32,
    /// Next expected receive offset.
    pub rcv_nxt: u64,
    /// Out-of-order offsets received above `rcv_nxt`.
    pub rcv_ooo: RangeSet,
    /// Window size we last advertised (bytes, unscaled).
    pub rcv_wnd_adv: u64,
    /// Offset of the peer's FIN, once received.
    pub fin_rcvd: Option<u64>,
    /// Offset of our FIN once queued (it follows all mapped data).
    pub fin_off: Option<u64>,
    /// End of the data assigned to this subflow (one past the last mapped offset).
    pub map_end: u64,
    /// Send mappings not yet fully acknowledged, ascending.
    pub tx_maps: VecDeque<TxMap>,
    /// Bytes held in the mappings' retained copies.
    pub retained_bytes: usize,
    /// Data offsets of `tx_maps` ascend too (no reinjected mapping among them).
    pub maps_ascending: bool,
    /// Receive mappings, ascending by `ssn`.
    pub rx_maps: VecDeque<RxMap>,
    /// Out-of-order payload whose mapping has not arrived yet (a mapping may span many
    /// segments and only the first needs to carry it, RFC 8684 §3.3.1): subflow offset ->
    /// bytes, placed once the mapping comes. Bounded by the receive buffer.
    pub rx_unmapped: std::collections::BTreeMap<u64, Vec<u8>>,
    /// Bytes held in `rx_unmapped`.
    pub rx_unmapped_bytes: usize,
    /// RTT estimator.
    pub rtt: RttEstimator,
    /// Receiver-side RTT estimate from the timestamps echoed on data (RFC 7323 §4; Linux's
    /// `rcv_rtt_est`), for receive-buffer autotuning.
    pub rcv_rtt: Option<Duration>,
    /// TSecr of the last segment that gave a receiver-side RTT sample.
    pub rcv_rtt_last_tsecr: u32,
    /// Consecutive timeouts without progress.
    pub rto_backoff: u32,
    /// When the first of those timeouts (data or handshake) fired: how long the subflow has
    /// gone unanswered, for giving up by time when its timeouts are capped.
    pub rto_since: Option<Instant>,
    /// Its unacknowledged data was queued for reinjection since its last progress.
    pub reinjected: bool,
    /// Congestion controller.
    pub cc: Box<dyn Controller>,
    /// SACKed offsets above `snd_una`.
    pub sacked: RangeSet,
    /// Loss recovery, when in it.
    pub recovery: Option<Recovery>,
    /// Duplicate ACKs counted outside recovery.
    pub dupacks: u32,
    /// Send time of each new-data segment in flight: (end offset, time, retransmitted).
    pub sent_times: VecDeque<(u64, Instant, bool)>,
    /// Armed timers.
    pub timers: [Option<Instant>; TIMER_COUNT],
    /// An ACK should go out now.
    pub ack_now: bool,
    /// Full segments received since our last ACK.
    pub unacked_segments: u32,
    /// Time the last segment arrived (keepalive idleness).
    pub last_rx: Instant,
    /// Time the last segment with new data was sent (idle restart).
    pub last_tx: Instant,
    /// Keepalive probes sent without an answer.
    pub keepalive_probes: u32,
    /// A window probe / keepalive probe is due.
    pub probe_now: bool,
    /// Handshake retransmissions so far.
    pub syn_retries: u32,
    /// The SYN (or SYN/ACK) must be (re)sent.
    pub syn_pending: bool,
    /// The handshake's third ACK (carrying MP_CAPABLE keys or the MP_JOIN HMAC) must be (re)sent.
    pub handshake_ack_pending: bool,
    /// MP_JOIN material, for joined subflows.
    pub join: Option<JoinState>,
    /// Our address ID for the local address (0 for the initial subflow).
    pub local_addr_id: u8,
    /// The peer's address ID for the remote address (0 for the initial subflow).
    pub remote_addr_id: u8,
    /// We asked for backup priority.
    pub backup_local: bool,
    /// The peer asked for backup priority (MP_JOIN B flag or MP_PRIO).
    pub backup_remote: bool,
    /// An MP_PRIO should be sent on this subflow.
    pub send_mp_prio: bool,
    /// The second (since the clock's origin) `challenge_count` is about.
    pub challenge_second: u64,
    /// Challenge ACKs sent in that second (RFC 5961 §7 throttle).
    pub challenge_count: u32,
    /// An MP_FAIL with this DSN goes on the next ACK (or the RST) of this subflow.
    pub mp_fail: Option<u64>,
    /// That MP_FAIL has not gone out yet: send a pure ACK for it.
    pub mp_fail_due: bool,
    /// May carry data written `trusted_only` (local address in `trusted_addrs`, or set by
    /// the application).
    pub trusted: bool,
    /// Redundant scheduling: the next data offset this subflow has not carried.
    pub redundant_next: u64,
    /// Timed out at least once since its last progress: the scheduler avoids it.
    pub stale: bool,
    /// Data-level ack value last sent here (to omit unchanged DATA_ACKs).
    pub last_data_ack_sent: Option<u64>,
    /// Window field last sent here.
    pub last_window_sent: u16,
    /// A RST (with this MP_TCPRST reason) must be sent, then the subflow closes.
    pub reset_pending: Option<u8>,
    /// What the application is told when that reset closes the subflow.
    pub reset_why: crate::event::CloseReason,
    /// The application was told this subflow is down.
    pub down_reported: bool,
    /// Last time opportunistic retransmission halved this subflow's window.
    pub last_penalty: Option<Instant>,
    /// Payload bytes a full data segment carries after options when it does not start a
    /// mapping (mappings are cut to whole segments of it).
    pub payload_hint: u32,
    /// Payload bytes the DSS mapping takes from the first segment of a mapping.
    pub map_overhead: u32,
    /// HyStart++ (RFC 9406) round tracking.
    pub hystart: HyStart,
    /// Retransmissions of this recovery episode: (start, end, time sent).
    pub retx_log: VecDeque<(u64, u64, Instant)>,
    /// Retransmitted ranges found lost again (RACK-style, RFC 8985 §6.2): resent first.
    pub lost_again: RangeSet,
    /// Counters.
    pub stats: SubflowCounters,
}

/// Per-round minimum RTTs for HyStart++ slow-start exit (RFC 9406 §4.2).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HyStart {
    /// The round ends when this offset is acknowledged.
    pub round_end: u64,
    /// Minimum RTT of the previous round.
    pub last_round_min: Option<Duration>,
    /// Minimum RTT of the current round.
    pub current_round_min: Option<Duration>,
    /// RTT samples in the current round.
    pub samples: u32,
}

impl HyStart {
    /// RFC 9406 N_RTT_SAMPLE.
    const N_RTT_SAMPLE: u32 = 8;

    /// Feeds a sample taken while in slow start; returns true when slow start should end.
    pub fn on_sample(&mut self, ack: u64, snd_max: u64, rtt: Duration) -> bool {
        if ack >= self.round_end {
            self.last_round_min = self.current_round_min;
            self.current_round_min = None;
            self.samples = 0;
            self.round_end = snd_max;
        }
        self.samples += 1;
        self.current_round_min = Some(self.current_round_min.map_or(rtt, |m| m.min(rtt)));
        let (Some(last), Some(cur)) = (self.last_round_min, self.current_round_min) else {
            return false;
        };
        if self.samples < Self::N_RTT_SAMPLE {
            return false;
        }
        let eta = (last / 8).clamp(Duration::from_millis(4), Duration::from_millis(16));
        cur >= last + eta
    }
}

/// Most challenge ACKs a subflow sends per second (RFC 5961 §7).
pub const CHALLENGE_ACKS_PER_SEC: u32 = 100;

/// Raw counters kept by a subflow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SubflowCounters {
    /// Payload bytes sent including retransmissions.
    pub bytes_sent: u64,
    /// Payload bytes received in order.
    pub bytes_received: u64,
    /// Segments sent.
    pub segments_sent: u64,
    /// Segments received.
    pub segments_received: u64,
    /// Segments retransmitted.
    pub retransmits: u64,
    /// Timeouts.
    pub rto_count: u64,
    /// Fast recoveries.
    pub fast_recoveries: u64,
    /// Challenge ACKs sent (RFC 5961; TcpExt TCPChallengeACK).
    pub challenge_acks: u64,
    /// Challenge ACKs not sent because of the rate limit (RFC 5961 §7).
    pub challenge_acks_limited: u64,
    /// RSTs ignored for a sequence number outside the window (RFC 5961 §3.2).
    pub rst_ignored: u64,
}

/// What to put in the next segment of a subflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentPlan {
    /// First offset.
    pub start: u64,
    /// Payload length.
    pub len: u32,
    /// Carry FIN after the payload.
    pub fin: bool,
    /// A retransmission.
    pub retransmit: bool,
}

impl Subflow {
    /// A subflow in `state` with the given endpoints, ISN and controller.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: SubflowId,
        local: SocketAddr,
        remote: SocketAddr,
        state: TcpState,
        iss: SeqNum,
        ts_offset: u32,
        mss: u32,
        cc: Box<dyn Controller>,
        max_ranges: usize,
        now: Instant,
    ) -> Self {
        Subflow {
            id,
            local,
            remote,
            state,
            active_open: state == TcpState::SynSent,
            iss,
            irs: SeqNum(0),
            snd_una: 0,
            snd_nxt: 1,
            snd_max: 1,
            snd_wnd: 65535,
            max_snd_wnd: 65535,
            snd_wl1: 0,
            snd_wl2: 0,
            snd_wscale: 0,
            rcv_wscale: 0,
            wscale_ok: false,
            ts_ok: false,
            ts_recent: 0,
            ts_echo: None,
            ts_offset,
            sack_ok: false,
            mss,
            rcv_nxt: 0,
            rcv_ooo: RangeSet::new(max_ranges),
            rcv_wnd_adv: 65535,
            fin_rcvd: None,
            fin_off: None,
            map_end: 1,
            tx_maps: VecDeque::new(),
            retained_bytes: 0,
            maps_ascending: true,
            rx_maps: VecDeque::new(),
            rx_unmapped: std::collections::BTreeMap::new(),
            rx_unmapped_bytes: 0,
            rtt: RttEstimator::new(),
            rcv_rtt: None,
            rcv_rtt_last_tsecr: 0,
            rto_backoff: 0,
            rto_since: None,
            reinjected: false,
            cc,
            sacked: RangeSet::new(max_ranges),
            recovery: None,
            dupacks: 0,
            sent_times: VecDeque::new(),
            timers: [None; TIMER_COUNT],
            ack_now: false,
            unacked_segments: 0,
            last_rx: now,
            last_tx: now,
            keepalive_probes: 0,
            probe_now: false,
            syn_retries: 0,
            syn_pending: false,
            handshake_ack_pending: false,
            join: None,
            local_addr_id: 0,
            remote_addr_id: 0,
            backup_local: false,
            backup_remote: false,
            send_mp_prio: false,
            challenge_second: 0,
            challenge_count: 0,
            mp_fail: None,
            mp_fail_due: false,
            trusted: false,
            redundant_next: 0,
            stale: false,
            last_data_ack_sent: None,
            last_window_sent: 0,
            reset_pending: None,
            reset_why: crate::event::CloseReason::ProtocolError,
            down_reported: false,
            last_penalty: None,
            payload_hint: mss.saturating_sub(40).max(1),
            map_overhead: 0,
            hystart: HyStart::default(),
            retx_log: VecDeque::new(),
            lost_again: RangeSet::new(16),
            stats: SubflowCounters::default(),
        }
    }

    /// Schedules a RST carrying MP_TCPRST `code`; the subflow then closes for `why`.
    pub fn request_reset(&mut self, code: u8, why: crate::event::CloseReason) {
        self.reset_pending = Some(code);
        self.reset_why = why;
    }

    /// Our current TSval.
    pub fn tsval(&self, now: Instant) -> u32 {
        (now.as_millis() as u32).wrapping_add(self.ts_offset)
    }

    /// A data segment echoed `tsecr`: the time since we sent that TSval is a receiver-side
    /// RTT sample (it includes the time the peer took to send; Linux's
    /// `tcp_rcv_rtt_measure_ts`). Only the first segment echoing a given TSval counts, and
    /// samples below the 1 ms timestamp resolution are skipped. Smoothed with gain 1/8.
    pub fn on_data_timestamp(&mut self, now: Instant, tsecr: u32) {
        if tsecr == 0 || tsecr == self.rcv_rtt_last_tsecr {
            return;
        }
        self.rcv_rtt_last_tsecr = tsecr;
        let ms = self.tsval(now).wrapping_sub(tsecr);
        if ms == 0 || ms >= 60_000 {
            return;
        }
        let sample = Duration::from_millis(u64::from(ms));
        self.rcv_rtt = Some(match self.rcv_rtt {
            None => sample,
            Some(old) => old - old / 8 + sample / 8,
        });
    }

    /// Wire sequence number of a send offset.
    pub fn seq_of(&self, off: u64) -> SeqNum {
        self.iss + off as u32
    }

    /// Wire acknowledgment number (next expected receive offset).
    pub fn ack_seq(&self) -> SeqNum {
        self.irs + self.rcv_nxt as u32
    }

    /// Unsent mapped bytes.
    pub fn unsent(&self) -> u64 {
        self.map_end.saturating_sub(self.snd_nxt)
    }

    /// Bytes sent and not yet cumulatively acknowledged (FIN and SYN included).
    pub fn flight(&self) -> u64 {
        self.snd_max.saturating_sub(self.snd_una)
    }

    /// SACKed bytes in `[a, b)`.
    fn sacked_in(&self, a: u64, b: u64) -> u64 {
        if b <= a {
            return 0;
        }
        let above = |x: u64| {
            if x == 0 {
                self.sacked.total()
            } else {
                self.sacked.bytes_above(x - 1)
            }
        };
        above(a).saturating_sub(above(b))
    }

    /// Everything unSACKed below this offset and at or above `high_rxt` is deemed lost
    /// (RFC 6675 IsLost: more than (DupThresh - 1) * SMSS bytes SACKed above).
    pub fn lost_edge(&self) -> u64 {
        let Some(rec) = self.recovery else {
            return self.snd_una;
        };
        if rec.after_rto {
            return self.snd_max;
        }
        if !self.sack_ok {
            return (self.snd_una + u64::from(self.mss)).min(self.snd_max);
        }
        let threshold = u64::from(DUP_THRESH - 1) * u64::from(self.mss);
        let mut acc = 0u64;
        for (s, e) in self.sacked.iter().rev() {
            acc += e - s;
            if acc > threshold {
                return s;
            }
        }
        self.snd_una
    }

    /// RFC 6675 pipe: bytes believed to be in the network.
    pub fn pipe(&self) -> u64 {
        let outstanding = self
            .flight()
            .saturating_sub(self.sacked_in(self.snd_una, self.snd_max));
        match self.recovery {
            None => outstanding,
            Some(rec) => {
                let lost_from = rec.high_rxt.max(self.snd_una);
                let lost_to = self.lost_edge();
                let lost = if lost_to > lost_from {
                    (lost_to - lost_from) - self.sacked_in(lost_from, lost_to)
                } else {
                    0
                };
                outstanding.saturating_sub(lost)
            }
        }
    }

    /// Free congestion window.
    pub fn cwnd_space(&self) -> u64 {
        self.cc.window().saturating_sub(self.pipe())
    }

    /// The segment to send next, if the windows allow one. `max_payload` is the payload room
    /// left after options; `peer_window_limit` bounds new data (subflow level, plain TCP).
    pub fn plan_segment(&self, max_payload: u32, limit_by_window: bool) -> Option<SegmentPlan> {
        if !self.state.is_synchronized() || max_payload == 0 {
            return None;
        }
        let space = self.cwnd_space();
        // Retransmissions that were lost again go first.
        if self.recovery.is_some() && space > 0 {
            if let Some((s, e)) = self.lost_again.first() {
                let s = s.max(self.snd_una);
                if let Some((gs, ge)) = self.sacked.first_gap(s, e.max(s)) {
                    let data_end = ge.min(self.map_end);
                    let len = data_end.saturating_sub(gs).min(u64::from(max_payload));
                    let len = self.clip_to_mapping(gs, len as u32);
                    if len > 0 {
                        return Some(SegmentPlan {
                            start: gs,
                            len,
                            fin: false,
                            retransmit: true,
                        });
                    }
                }
            }
        }
        // Retransmission of data deemed lost.
        if let Some(rec) = self.recovery {
            let edge = self.lost_edge();
            let from = rec.high_rxt.max(self.snd_una);
            if from < edge && (space > 0 || !rec.first_sent) {
                if let Some((gs, ge)) = self.sacked.first_gap(from, edge) {
                    let fin_in = self
                        .fin_off
                        .filter(|f| *f >= gs && *f < ge && *f < self.snd_max);
                    let data_end = fin_in.unwrap_or(ge).min(self.map_end.max(gs));
                    let len = (data_end.saturating_sub(gs)).min(u64::from(max_payload));
                    let len = self.clip_to_mapping(gs, len as u32);
                    let fin = fin_in.is_some_and(|f| gs + u64::from(len) == f);
                    if len > 0 || fin {
                        return Some(SegmentPlan {
                            start: gs,
                            len,
                            fin,
                            retransmit: true,
                        });
                    }
                }
            }
        }
        // New data.
        if self.snd_nxt < self.map_end && space > 0 {
            let mut len = (self.map_end - self.snd_nxt).min(u64::from(max_payload));
            if limit_by_window {
                let wnd_end = self.snd_una + self.snd_wnd;
                if self.snd_nxt >= wnd_end {
                    return None;
                }
                len = len.min(wnd_end - self.snd_nxt);
            }
            let len = self.clip_to_mapping(self.snd_nxt, len as u32);
            let fin = self.fin_off == Some(self.snd_nxt + u64::from(len));
            if len > 0 {
                return Some(SegmentPlan {
                    start: self.snd_nxt,
                    len,
                    fin,
                    retransmit: false,
                });
            }
        }
        // A FIN after all data.
        if let Some(f) = self.fin_off {
            if self.snd_nxt == f && self.snd_max <= f {
                return Some(SegmentPlan {
                    start: f,
                    len: 0,
                    fin: true,
                    retransmit: false,
                });
            }
        }
        None
    }

    /// Shortens `len` so that `[start, start + len)` stays within one mapping.
    fn clip_to_mapping(&self, start: u64, len: u32) -> u32 {
        match self.mapping_at(start) {
            Some(m) => len.min((m.ssn_end() - start) as u32),
            None => 0,
        }
    }

    /// The send mapping covering subflow offset `off`.
    pub fn mapping_at(&self, off: u64) -> Option<&TxMap> {
        let idx = self.tx_maps.partition_point(|m| m.ssn_end() <= off);
        self.tx_maps.get(idx).filter(|m| m.ssn <= off)
    }

    /// Appends a send mapping.
    pub fn push_mapping(&mut self, map: TxMap) {
        if let Some(last) = self.tx_maps.back() {
            if map.data < last.data + u64::from(last.len) {
                self.maps_ascending = false;
            }
        }
        self.tx_maps.push_back(map);
    }

    /// Drops every send mapping (the subflow is gone).
    pub fn clear_mappings(&mut self) {
        self.tx_maps.clear();
        self.retained_bytes = 0;
        self.maps_ascending = true;
    }

    /// Mutable access to the send mapping covering `off`.
    pub fn mapping_at_mut(&mut self, off: u64) -> Option<&mut TxMap> {
        let idx = self.tx_maps.partition_point(|m| m.ssn_end() <= off);
        self.tx_maps.get_mut(idx).filter(|m| m.ssn <= off)
    }

    /// Applies the restart window (RFC 5681 §4.1) if nothing is in flight and no new data
    /// went out for longer than an RTO. Sending does it anyway; the connection also does it
    /// before scheduling, so that the scheduler never hands an idle subflow a window's worth
    /// of data that it will then only send at the restart window's pace.
    pub fn restart_if_idle(&mut self, now: Instant, bounds: (Duration, Duration, Duration)) {
        if self.snd_nxt == self.snd_una
            && self.sent_times.is_empty()
            && now - self.last_tx > self.current_rto(bounds.0, bounds.1, bounds.2)
        {
            self.cc.on_idle_restart(now);
        }
    }

    /// Records that `[start, start + len)` (plus FIN) went out at `now`.
    pub fn on_sent(
        &mut self,
        now: Instant,
        plan: &SegmentPlan,
        bounds: (Duration, Duration, Duration),
    ) {
        let end = plan.start + u64::from(plan.len) + u64::from(plan.fin);
        self.stats.segments_sent += 1;
        self.stats.bytes_sent += u64::from(plan.len);
        if plan.retransmit {
            self.stats.retransmits += 1;
            let again = self
                .lost_again
                .first()
                .is_some_and(|(s, e)| plan.start >= s && plan.start < e);
            if again {
                self.lost_again.remove_below(end);
            } else if let Some(rec) = self.recovery.as_mut() {
                rec.high_rxt = rec.high_rxt.max(end);
            }
            if let Some(rec) = self.recovery.as_mut() {
                rec.first_sent = true;
            }
            if self.recovery.is_some() && self.retx_log.len() < 4096 {
                self.retx_log.push_back((plan.start, end, now));
            }
            for entry in self.sent_times.iter_mut() {
                if entry.0 > plan.start && entry.0 - 1 < end {
                    entry.2 = true;
                }
            }
        } else {
            self.restart_if_idle(now, bounds);
            self.sent_times.push_back((end, now, false));
            self.snd_nxt = end;
            self.last_tx = now;
        }
        self.snd_max = self.snd_max.max(end);
        if self.timers[Timer::Rto as usize].is_none() {
            self.arm_rto_with(now, bounds.0, bounds.1, bounds.2);
        }
    }

    /// RTO with the current backoff.
    pub fn current_rto(&self, initial: Duration, min: Duration, max: Duration) -> Duration {
        let base = self.rtt.rto(initial, min, max);
        let factor = 1u32 << self.rto_backoff.min(16);
        base.saturating_mul(factor).min(max)
    }

    /// The retransmission timeout with its exponential backoff capped at `cap`: never
    /// below the un-backed-off RTO (a path slower than `cap` keeps its own timeout).
    pub fn capped_rto(
        &self,
        initial: Duration,
        min: Duration,
        max: Duration,
        cap: Duration,
    ) -> Duration {
        let base = self.rtt.rto(initial, min, max);
        self.current_rto(initial, min, max).min(cap.max(base))
    }

    /// Arms the retransmission timer from now, its backoff capped at `cap` (see
    /// [`Subflow::capped_rto`]).
    pub fn arm_rto_capped(
        &mut self,
        now: Instant,
        initial: Duration,
        min: Duration,
        max: Duration,
        cap: Duration,
    ) {
        self.timers[Timer::Rto as usize] = Some(now + self.capped_rto(initial, min, max, cap));
    }

    /// Arms the retransmission timer from now with default bounds (the connection re-arms with
    /// its configured bounds through [`Subflow::arm_rto_with`]).
    pub fn arm_rto(&mut self, now: Instant) {
        self.arm_rto_with(
            now,
            Duration::from_secs(1),
            Duration::from_millis(200),
            Duration::from_secs(120),
        );
    }

    /// Arms the retransmission timer from now.
    pub fn arm_rto_with(&mut self, now: Instant, initial: Duration, min: Duration, max: Duration) {
        self.timers[Timer::Rto as usize] = Some(now + self.current_rto(initial, min, max));
    }

    /// Processes the acknowledgment part of a segment. Returns the number of newly
    /// cumulatively acknowledged offsets.
    pub fn on_ack(
        &mut self,
        now: Instant,
        ack: u64,
        sack: &[(u64, u64)],
        has_data: bool,
        window_changed: bool,
        view: &CcView<'_>,
    ) -> u64 {
        // SACK blocks (RFC 2018), only those inside what we sent.
        let mut sack_news = false;
        for &(s, e) in sack {
            let s = s.max(ack).max(self.snd_una);
            let e = e.min(self.snd_max);
            if s < e && !self.sacked.covers(s, e) {
                self.sacked.insert(s, e);
                sack_news = true;
            }
        }
        if sack_news {
            self.detect_lost_retransmissions();
        }
        let newly = ack.saturating_sub(self.snd_una);
        if newly > 0 {
            self.snd_una = ack;
            self.sacked.remove_below(ack);
            self.dupacks = 0;
            self.rto_backoff = 0;
            self.rto_since = None;
            self.reinjected = false;
            self.stale = false;
            // RTT from the newest fully acknowledged, never retransmitted segment (Karn).
            let mut sample = None;
            while let Some(&(end, t, retx)) = self.sent_times.front() {
                if end > ack {
                    break;
                }
                self.sent_times.pop_front();
                if !retx {
                    sample = Some(now - t);
                }
            }
            // RFC 7323 §4 (RTTM): when the acknowledged data was retransmitted, the echoed
            // timestamp still identifies the transmission it answers.
            if sample.is_none() && self.ts_ok {
                if let Some(ecr) = self.ts_echo.filter(|e| *e != 0) {
                    let ms = self.tsval(now).wrapping_sub(ecr);
                    if ms < 60_000 {
                        sample = Some(Duration::from_millis(u64::from(ms.max(1))));
                    }
                }
            }
            if let Some(s) = sample {
                self.rtt.on_sample(s);
                if self.recovery.is_none()
                    && self.cc.window() < self.cc.ssthresh()
                    && self.hystart.on_sample(ack, self.snd_max, s)
                {
                    self.cc.exit_slow_start();
                }
            }
            while let Some(m) = self.tx_maps.front() {
                if m.ssn_end() <= ack {
                    if let Some(m) = self.tx_maps.pop_front() {
                        self.retained_bytes -= m.retained.map_or(0, |r| r.len());
                    }
                    if self.tx_maps.is_empty() {
                        self.maps_ascending = true;
                    }
                } else {
                    break;
                }
            }
            if self.snd_nxt < ack {
                self.snd_nxt = ack;
            }
            match self.recovery {
                Some(rec) if ack >= rec.point => {
                    self.cc.on_recovery_ack(now, newly);
                    self.recovery = None;
                    self.retx_log.clear();
                    self.lost_again.clear();
                }
                Some(mut rec) => {
                    // Partial ACK (RFC 6582): keep going; without SACK retransmit the next hole.
                    if !self.sack_ok {
                        rec.high_rxt = ack;
                    }
                    rec.high_rxt = rec.high_rxt.max(ack);
                    self.recovery = Some(rec);
                    // After a timeout the window restarts in slow start (RFC 5681 §3.1).
                    if rec.after_rto {
                        self.cc.on_ack(now, newly, view);
                    } else {
                        self.cc.on_recovery_ack(now, newly);
                    }
                }
                None => {
                    let acked_data = newly;
                    self.cc.on_ack(now, acked_data, view);
                }
            }
        } else if !has_data
            && !window_changed
            && self.snd_max > self.snd_una
            && (sack_news || !self.sack_ok)
        {
            self.dupacks += 1;
        }
        // Enter fast recovery (RFC 6675 §5).
        if self.recovery.is_none() && self.snd_max > self.snd_una {
            let threshold = u64::from(DUP_THRESH - 1) * u64::from(self.mss);
            let lost =
                self.dupacks >= DUP_THRESH || (self.sack_ok && self.sacked.total() > threshold);
            if lost {
                self.cc.on_congestion_event(now, self.pipe(), view);
                self.stats.fast_recoveries += 1;
                self.recovery = Some(Recovery {
                    point: self.snd_max,
                    high_rxt: self.snd_una,
                    after_rto: false,
                    first_sent: false,
                });
                self.dupacks = 0;
            }
        }
        // Re-arm or stop the retransmission timer (RFC 6298 §5).
        if self.snd_una >= self.snd_max {
            self.timers[Timer::Rto as usize] = None;
        } else if newly > 0 {
            self.arm_rto(now);
        }
        newly
    }

    /// A retransmission is lost again when data sent after it (by more than a quarter of
    /// the minimum RTT) has been SACKed while it has not (RFC 8985 §6.2, simplified).
    fn detect_lost_retransmissions(&mut self) {
        if self.recovery.is_none() || self.retx_log.is_empty() {
            return;
        }
        let Some((_, high)) = self.sacked.last() else {
            return;
        };
        // Send time of the newest never-retransmitted segment that is SACKed ...
        let idx = self.sent_times.partition_point(|e| e.0 < high);
        let mut delivered_at = match self.sent_times.get(idx) {
            Some(&(_, t, false)) => t,
            _ => Instant::ZERO,
        };
        // ... or of the newest retransmission that is SACKed.
        for &(s, e, t) in self.retx_log.iter().rev() {
            if t <= delivered_at {
                break;
            }
            if self.sacked.covers(s.max(self.snd_una), e) && s >= self.snd_una {
                delivered_at = t;
                break;
            }
        }
        if delivered_at == Instant::ZERO {
            return;
        }
        let reo = self.rtt.min_rtt().unwrap_or(Duration::ZERO) / 4;
        while let Some(&(s, e, t)) = self.retx_log.front() {
            if t + reo >= delivered_at {
                break;
            }
            self.retx_log.pop_front();
            if e <= self.snd_una || self.sacked.covers(s.max(self.snd_una), e) {
                continue;
            }
            self.lost_again.insert(s.max(self.snd_una), e);
        }
    }

    /// Answers a RST, SYN or ACK out of place with a challenge ACK (RFC 5961 §3-5), at most
    /// [`CHALLENGE_ACKS_PER_SEC`] a second so that a blind attacker cannot turn us into
    /// an ACK reflector (§7).
    pub fn challenge_ack(&mut self, now: Instant) {
        let second = now.as_millis() / 1000;
        if self.challenge_second != second {
            self.challenge_second = second;
            self.challenge_count = 0;
        }
        if self.challenge_count < CHALLENGE_ACKS_PER_SEC {
            self.challenge_count += 1;
            self.ack_now = true;
            self.stats.challenge_acks += 1;
        } else {
            self.stats.challenge_acks_limited += 1;
        }
    }

    /// Retransmission timeout (RFC 6298 §5.4-5.7, RFC 5681 §3.1).
    pub fn on_rto(&mut self, now: Instant) {
        self.on_rto_stale_after(now, 1);
    }

    /// [`Subflow::on_rto`], marking the subflow stale (the scheduler avoids it while
    /// others work) from the `stale_after`-th consecutive timeout on.
    pub fn on_rto_stale_after(&mut self, now: Instant, stale_after: u32) {
        self.stats.rto_count += 1;
        self.rto_backoff = self.rto_backoff.saturating_add(1);
        self.rto_since.get_or_insert(now);
        if self.rto_backoff >= stale_after.max(1) {
            self.stale = true;
        }
        match self.recovery {
            Some(rec) if !rec.after_rto => self.cc.on_rto_in_recovery(now),
            _ => self.cc.on_rto(now, self.flight()),
        }
        self.recovery = Some(Recovery {
            point: self.snd_max,
            high_rxt: self.snd_una,
            after_rto: true,
            first_sent: false,
        });
        // RFC 6675 §5.1: SACK information may be reneged; keep it but retransmit from una.
        self.dupacks = 0;
        for e in self.sent_times.iter_mut() {
            e.2 = true;
        }
    }

    /// Records received subflow offsets `[start, end)` (already window-checked). Returns true
    /// when they filled a hole or arrived out of order (ACK at once, RFC 5681 §4.2).
    pub fn on_received(&mut self, start: u64, end: u64) -> bool {
        if end <= self.rcv_nxt {
            return true;
        }
        let start = start.max(self.rcv_nxt);
        if start == self.rcv_nxt {
            self.rcv_nxt = end;
            let had_ooo = !self.rcv_ooo.is_empty();
            while let Some((s, e)) = self.rcv_ooo.first() {
                if s <= self.rcv_nxt {
                    self.rcv_nxt = self.rcv_nxt.max(e);
                    self.rcv_ooo.remove_below(e);
                } else {
                    break;
                }
            }
            self.stats.bytes_received += end - start;
            had_ooo
        } else {
            self.rcv_ooo.insert(start, end);
            true
        }
    }

    /// SACK blocks to report: the most recent out-of-order ranges first (RFC 2018 §4).
    pub fn sack_blocks(&self, max: usize) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.rcv_ooo.iter().rev().take(max)
    }

    /// Earliest armed timer.
    pub fn next_timeout(&self) -> Option<Instant> {
        self.timers.iter().flatten().min().copied()
    }

    /// Snapshot for congestion control views.
    pub fn path_info(&self, initial_rtt: Duration) -> crate::congestion::PathInfo {
        crate::congestion::PathInfo {
            cwnd: self.cc.window(),
            srtt: self.rtt.srtt().unwrap_or(initial_rtt),
            mss: self.mss,
            active: self.state.can_send() && !self.stale,
            loss_interval: self.cc.loss_interval(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::congestion::{CcAlgorithm, PathInfo};

    fn subflow(now: Instant) -> Subflow {
        let a: SocketAddr = "10.0.0.1:1000".parse().unwrap();
        let b: SocketAddr = "10.0.0.2:80".parse().unwrap();
        let mut sf = Subflow::new(
            SubflowId(0),
            a,
            b,
            TcpState::Established,
            SeqNum(1000),
            0,
            1000,
            CcAlgorithm::Reno.build(1000, 10_000),
            64,
            now,
        );
        sf.snd_una = 1;
        sf.tx_maps.push_back(TxMap::new(1, 0, 100_000));
        sf.map_end = 100_001;
        sf
    }

    fn view() -> [PathInfo; 1] {
        [PathInfo {
            cwnd: 10_000,
            srtt: Duration::from_millis(100),
            mss: 1000,
            active: true,
            loss_interval: 0,
        }]
    }

    #[test]
    fn capped_rto_bounds_the_backoff_not_the_base() {
        let ms = Duration::from_millis;
        let (init, min, max) = (ms(1000), ms(200), ms(120_000));
        let t0 = Instant::from_millis(1_000);
        let mut sf = subflow(t0);
        // No sample: the initial RTO, never cut below itself.
        assert_eq!(sf.capped_rto(init, min, max, ms(500)), ms(1000));
        sf.rtt.on_sample(ms(10));
        assert_eq!(sf.capped_rto(init, min, max, ms(500)), ms(200));
        for _ in 0..5 {
            sf.on_rto(t0);
        }
        assert_eq!(sf.current_rto(init, min, max), ms(6400));
        assert_eq!(sf.capped_rto(init, min, max, ms(500)), ms(500));
        assert_eq!(sf.capped_rto(init, min, max, max), ms(6400));
        assert_eq!(sf.rto_since, Some(t0));
        // A slow path keeps its own un-backed-off timeout.
        let mut slow = subflow(t0);
        slow.rtt.on_sample(ms(800));
        slow.on_rto(t0);
        assert_eq!(slow.capped_rto(init, min, max, ms(500)), ms(2400));
    }

    #[test]
    fn stale_from_the_configured_timeout_on() {
        let t0 = Instant::ZERO;
        let mut sf = subflow(t0);
        sf.on_rto_stale_after(t0, 3);
        sf.on_rto_stale_after(t0, 3);
        assert!(!sf.stale, "two timeouts of three");
        sf.on_rto_stale_after(t0, 3);
        assert!(sf.stale);
        let mut sf = subflow(t0);
        sf.on_rto(t0);
        assert!(sf.stale, "the default: at the first timeout");
    }

    #[test]
    fn rtt_from_send_times_and_karn() {
        let t0 = Instant::from_millis(1_000);
        let mut sf = subflow(t0);
        let plan = sf.plan_segment(1000, false).unwrap();
        assert_eq!((plan.start, plan.len, plan.retransmit), (1, 1000, false));
        sf.on_sent(
            t0,
            &plan,
            (
                Duration::from_secs(1),
                Duration::from_millis(200),
                Duration::from_secs(60),
            ),
        );
        let paths = view();
        let v = CcView {
            paths: &paths,
            me: 0,
        };
        sf.on_ack(t0 + Duration::from_millis(30), 1001, &[], false, false, &v);
        assert_eq!(sf.rtt.latest(), Duration::from_millis(30));
    }

    #[test]
    fn rttm_uses_timestamps_for_retransmitted_data() {
        let t0 = Instant::from_millis(5_000);
        let mut sf = subflow(t0);
        sf.ts_ok = true;
        let bounds = (
            Duration::from_secs(1),
            Duration::from_millis(200),
            Duration::from_secs(60),
        );
        let plan = sf.plan_segment(1000, false).unwrap();
        sf.on_sent(t0, &plan, bounds);
        // Timeout: the segment is resent; its send-time sample is no longer valid (Karn).
        sf.on_rto(t0 + Duration::from_secs(1));
        let t1 = t0 + Duration::from_secs(1);
        let plan = sf.plan_segment(1000, false).unwrap();
        assert!(plan.retransmit);
        sf.on_sent(t1, &plan, bounds);
        let echo = sf.tsval(t1);
        sf.ts_echo = Some(echo);
        let paths = view();
        let v = CcView {
            paths: &paths,
            me: 0,
        };
        sf.on_ack(t1 + Duration::from_millis(42), 1001, &[], false, false, &v);
        assert_eq!(sf.rtt.latest(), Duration::from_millis(42));
    }

    #[test]
    fn sack_recovery_retransmits_the_hole_first() {
        let t0 = Instant::from_millis(0);
        let mut sf = subflow(t0);
        let bounds = (
            Duration::from_secs(1),
            Duration::from_millis(200),
            Duration::from_secs(60),
        );
        for _ in 0..10 {
            let p = sf.plan_segment(1000, false).unwrap();
            sf.on_sent(t0, &p, bounds);
        }
        sf.sack_ok = true;
        let paths = view();
        let v = CcView {
            paths: &paths,
            me: 0,
        };
        // Segment [1, 1001) lost; the next four arrive and are SACKed.
        let t1 = t0 + Duration::from_millis(50);
        sf.on_ack(t1, 1, &[(1001, 5001)], false, false, &v);
        assert!(
            sf.recovery.is_some(),
            "three segments SACKed above the hole start recovery"
        );
        let p = sf.plan_segment(1000, false).unwrap();
        assert_eq!((p.start, p.retransmit), (1, true));
    }

    #[test]
    fn receiver_rtt_from_echoed_timestamps() {
        let t0 = Instant::from_millis(1_000);
        let mut sf = subflow(t0);
        // Data echoing the TSval we sent at 1.0 s arrives at 1.1 s: 100 ms.
        let echo = sf.tsval(t0);
        sf.on_data_timestamp(t0 + Duration::from_millis(100), echo);
        assert_eq!(sf.rcv_rtt, Some(Duration::from_millis(100)));
        // Later segments echoing the same TSval (same flight) give no sample.
        sf.on_data_timestamp(t0 + Duration::from_millis(180), echo);
        assert_eq!(sf.rcv_rtt, Some(Duration::from_millis(100)));
        // A new echo, 200 ms: 100 - 100/8 + 200/8 = 112.5 ms.
        let echo = sf.tsval(t0 + Duration::from_millis(300));
        sf.on_data_timestamp(t0 + Duration::from_millis(500), echo);
        assert_eq!(sf.rcv_rtt, Some(Duration::from_micros(112_500)));
        // Below the 1 ms resolution, zero, or absurd (over a minute): ignored.
        let now = t0 + Duration::from_secs(2);
        sf.on_data_timestamp(now, sf.tsval(now));
        sf.on_data_timestamp(now, 0);
        sf.on_data_timestamp(now, sf.tsval(now).wrapping_add(5));
        assert_eq!(sf.rcv_rtt, Some(Duration::from_micros(112_500)));
    }
}
