//! Segments out: SYN, SYN/ACK, data with DSS mappings, DATA_FIN, pure ACKs carrying
//! signalling, window probes and RSTs. Each call writes at most one IP packet.

use super::{Connection, Mode, Role};
use crate::crypto;
use crate::endpoint::Transmit;
use crate::event::CloseReason;
use crate::tcp::subflow::Timer;
use crate::tcp::TcpState;
use crate::time::Instant;
use crate::wire::{
    AddAddr, DataAck, Dss, DssMapping, IpRepr, MpCapable, MpFail, MpFastclose, MpJoin, MpPrio,
    MpTcpRst, MptcpOption, RemoveAddr, TcpFlags, TcpOption, TcpOptions, TcpRepr, IP_PROTO_TCP,
};
use smallvec::SmallVec;

/// Send 64-bit DSNs in data mappings. The 32-bit form (RFC 8684 §3.3.1, expanded by the
/// receiver, Linux included) leaves 4 more payload bytes per segment; DATA_FIN mappings and
/// MP_CAPABLE-with-data stay 64-bit.
const WIDE_DSN: bool = false;

/// Room for TCP options (RFC 9293: data offset at most 15 words).
const MAX_OPTIONS: usize = 40;
/// Option bytes of an infinite mapping (DSS with an 8-byte DSN and a checksum field).
const INFINITE_MAP_LEN: usize = 20;

/// Appends an option followed by NOPs so the option area stays 4-byte aligned.
fn push_aligned(opts: &mut TcpOptions, used: &mut usize, opt: TcpOption) {
    let len = opt.buffer_len();
    let pad = (4 - len % 4) % 4;
    for _ in 0..pad {
        opts.push(TcpOption::Nop);
    }
    opts.push(opt);
    *used += len + pad;
}

/// Bytes an MPTCP option takes once aligned.
fn aligned_len(opt: &MptcpOption) -> usize {
    let l = opt.buffer_len();
    l + (4 - l % 4) % 4
}

impl Connection {
    /// Writes the next packet of this connection into `buf`.
    pub(crate) fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        self.schedule(now);
        let n = self.subflows.len();
        for k in 0..n {
            let idx = (self.tx_cursor + k) % n;
            if let Some(t) = self.transmit_on(now, idx, buf) {
                self.tx_cursor = idx;
                return Some(t);
            }
        }
        self.tx_cursor = 0;
        None
    }

    /// The window field to advertise on subflow `idx`.
    fn window_field(&mut self, idx: usize) -> u16 {
        let wnd = self.receive_window();
        let sf = &mut self.subflows[idx];
        sf.rcv_wnd_adv = wnd;
        (wnd >> sf.rcv_wscale).min(65535) as u16
    }

    fn transmit_on(&mut self, now: Instant, idx: usize, buf: &mut Vec<u8>) -> Option<Transmit> {
        let sf = &self.subflows[idx];
        match sf.state {
            TcpState::Closed => return None,
            TcpState::TimeWait if !sf.ack_now => return None,
            _ => {}
        }
        if let Some(reason) = sf.reset_pending {
            return Some(self.emit_rst(now, idx, reason, buf));
        }
        if sf.syn_pending {
            return Some(self.emit_syn(now, idx, buf));
        }
        if let Some(t) = self.emit_data(now, idx, buf) {
            return Some(t);
        }
        if self.data_fin_due_on(idx) {
            return Some(self.emit_control(now, idx, buf, Control::DataFin));
        }
        let sf = &self.subflows[idx];
        if sf.handshake_ack_pending {
            return Some(self.emit_control(now, idx, buf, Control::HandshakeAck));
        }
        if sf.probe_now {
            return Some(self.emit_control(now, idx, buf, Control::Probe));
        }
        if sf.ack_now || sf.mp_fail_due || self.signal_due_on(now, idx) {
            return Some(self.emit_control(now, idx, buf, Control::Ack));
        }
        None
    }

    /// Whether subflow `idx` should carry the (re)transmission of the DATA_FIN.
    fn data_fin_due_on(&self, idx: usize) -> bool {
        if self.mode != Mode::Mptcp || !self.data_fin_pending {
            return false;
        }
        let best = self
            .subflows
            .iter()
            .position(|s| {
                s.state.is_synchronized()
                    && s.state != TcpState::TimeWait
                    && !s.stale
                    && s.reset_pending.is_none()
            })
            .or_else(|| {
                self.subflows
                    .iter()
                    .position(|s| s.state.is_synchronized() && s.state != TcpState::TimeWait)
            });
        best == Some(idx)
    }

    /// Whether a signalling option (ADD_ADDR, echo, REMOVE_ADDR, MP_PRIO) waits for subflow `idx`.
    fn signal_due_on(&self, now: Instant, idx: usize) -> bool {
        if self.mode != Mode::Mptcp || !self.fully_established {
            return false;
        }
        let sf = &self.subflows[idx];
        if !sf.state.is_synchronized() || sf.state == TcpState::TimeWait {
            return false;
        }
        if sf.send_mp_prio {
            return true;
        }
        let first_up = self.subflows.iter().position(|s| s.state.can_send());
        if first_up != Some(idx) {
            return false;
        }
        !self.pending_echoes.is_empty()
            || !self.pending_remove.is_empty()
            || self.due_announcement(now).is_some()
    }

    /// TS option (RFC 7323) when negotiated.
    fn push_timestamp(&self, idx: usize, now: Instant, opts: &mut TcpOptions, used: &mut usize) {
        let sf = &self.subflows[idx];
        if sf.ts_ok {
            push_aligned(
                opts,
                used,
                TcpOption::Timestamp {
                    tsval: sf.tsval(now),
                    tsecr: sf.ts_recent,
                },
            );
        }
    }

    /// The DATA_ACK to send, in the given width.
    fn data_ack(&self, wide: bool) -> DataAck {
        let value = self
            .remote_idsn
            .wrapping_add(1)
            .wrapping_add(self.data_ack_offset());
        DataAck {
            value: if wide { value } else { value & 0xffff_ffff },
            wide,
        }
    }

    /// Whether DATA_ACKs may be sent (the peer's key is known).
    fn can_data_ack(&self) -> bool {
        self.mode == Mode::Mptcp && self.remote_key.is_some()
    }

    fn emit_syn(&mut self, now: Instant, idx: usize, buf: &mut Vec<u8>) -> Transmit {
        let mss = self.config.mss;
        let checksum = self.checksum;
        let deny = self.deny_join_initial_local();
        let mut flags_mpc = MpCapable::FLAG_H;
        if checksum {
            flags_mpc |= MpCapable::FLAG_A;
        }
        if deny {
            flags_mpc |= MpCapable::FLAG_C;
        }
        let window = self.recv_buffer().min(65535) as u16;
        let sf = &self.subflows[idx];
        let passive = sf.state == TcpState::SynReceived;
        let mut opts = TcpOptions::new();
        let mut used = 0usize;
        push_aligned(&mut opts, &mut used, TcpOption::Mss(mss));
        if !passive || sf.sack_ok {
            opts.push(TcpOption::SackPermitted);
            used += 2;
        }
        if !passive || sf.ts_ok {
            let tsecr = if passive { sf.ts_recent } else { 0 };
            let ts = TcpOption::Timestamp {
                tsval: sf.tsval(now),
                tsecr,
            };
            if used % 4 == 2 {
                opts.push(ts);
                used += 10;
            } else {
                push_aligned(&mut opts, &mut used, ts);
            }
        }
        if !used.is_multiple_of(4) {
            let pad = 4 - used % 4;
            for _ in 0..pad {
                opts.push(TcpOption::Nop);
            }
            used += pad;
        }
        if !passive || sf.wscale_ok {
            push_aligned(&mut opts, &mut used, TcpOption::WindowScale(sf.rcv_wscale));
        }
        let mptcp = match (&sf.join, passive) {
            (Some(js), false) => Some(MptcpOption::MpJoin(MpJoin::Syn {
                backup: sf.backup_local,
                addr_id: js.local_addr_id,
                token: self.remote_token,
                nonce: js.local_nonce,
            })),
            (Some(js), true) => {
                let hmac = crypto::join_hmac_truncated(
                    self.local_key,
                    self.remote_key.unwrap_or(0),
                    js.local_nonce,
                    js.remote_nonce,
                );
                Some(MptcpOption::MpJoin(MpJoin::SynAck {
                    backup: sf.backup_local,
                    addr_id: js.local_addr_id,
                    hmac,
                    nonce: js.local_nonce,
                }))
            }
            (None, false) if self.mode == Mode::Mptcp && self.offer_mptcp => {
                Some(MptcpOption::MpCapable(MpCapable {
                    version: 1,
                    flags: flags_mpc,
                    sender_key: None,
                    receiver_key: None,
                    data_len: None,
                    checksum: None,
                }))
            }
            (None, true) if self.mode == Mode::Mptcp => Some(MptcpOption::MpCapable(MpCapable {
                version: 1,
                flags: flags_mpc,
                sender_key: Some(self.local_key),
                receiver_key: None,
                data_len: None,
                checksum: None,
            })),
            _ => None,
        };
        if let Some(m) = mptcp {
            push_aligned(&mut opts, &mut used, TcpOption::Mptcp(m));
        }
        let mut flags = TcpFlags::SYN;
        if passive {
            flags |= TcpFlags::ACK;
        }
        let sf = &self.subflows[idx];
        let repr = TcpRepr {
            src_port: sf.local.port(),
            dst_port: sf.remote.port(),
            seq: sf.iss,
            ack: if passive {
                sf.ack_seq()
            } else {
                crate::SeqNum(0)
            },
            flags: TcpFlags(flags),
            window,
            urgent: 0,
            options: opts,
            payload: &[],
        };
        let t = write_packet(buf, sf.local.ip(), sf.remote.ip(), &repr);
        let (initial, min, _) = self.rto_bounds();
        let max = self.handshake_rto_max(idx);
        let sf = &mut self.subflows[idx];
        sf.syn_pending = false;
        sf.stats.segments_sent += 1;
        if sf.snd_max == 1 && sf.sent_times.is_empty() && sf.syn_retries == 0 && sf.snd_una == 0 {
            sf.sent_times.push_back((1, now, false));
        } else if let Some(e) = sf.sent_times.front_mut() {
            e.2 = true;
        }
        sf.arm_rto_with(now, initial, min, max);
        t
    }

    /// A data segment (new or retransmitted) if the windows allow one.
    fn emit_data(&mut self, now: Instant, idx: usize, buf: &mut Vec<u8>) -> Option<Transmit> {
        let mptcp = self.mode == Mode::Mptcp;
        let sf = &self.subflows[idx];
        if !sf.state.is_synchronized() || sf.state == TcpState::TimeWait {
            return None;
        }
        if let Some(js) = sf.join {
            if !js.fully_established {
                return None;
            }
        }
        // Room for payload: decided before the options are built, so that a subflow with
        // nothing to send costs no option building.
        let used = if sf.ts_ok { 12 } else { 0 };
        let dack_needed =
            mptcp && self.can_data_ack() && sf.last_data_ack_sent != Some(self.data_ack_offset());
        let first_data = mptcp && self.role == Role::Client && !self.fully_established && idx == 0;
        // Option bytes of the DSS: header, DATA_ACK when it changed, and the mapping on the
        // first segment of a mapping only (RFC 8684 §3.3.1: a mapping covers many segments).
        let dss_len = |mapping: bool| -> usize {
            let dsn_len = if WIDE_DSN { 8 } else { 4 };
            let map = if mapping {
                dsn_len + 6 + if self.checksum { 2 } else { 0 }
            } else {
                0
            };
            // DATA_ACKs go out in the 8-byte form.
            let dack = if dack_needed { 8 } else { 0 };
            if map + dack == 0 {
                return 0;
            }
            let base = 4 + map + dack;
            base + (4 - base % 4) % 4
        };
        let mss = sf.mss as usize;
        // After the peer's MP_FAIL: the first new segment carries the infinite mapping.
        let infinite_map = !mptcp && self.send_infinite_map;
        let (room_plain, room_mapped) = if !mptcp {
            let used = used + if infinite_map { INFINITE_MAP_LEN } else { 0 };
            (mss.saturating_sub(used), mss.saturating_sub(used))
        } else if first_data {
            // MP_CAPABLE with data on every segment until the handshake completes.
            (mss.saturating_sub(used + 24), mss.saturating_sub(used + 24))
        } else {
            (
                mss.saturating_sub(used + dss_len(false)),
                mss.saturating_sub(used + dss_len(true)),
            )
        };
        if !first_data {
            let sf = &mut self.subflows[idx];
            sf.payload_hint = room_plain.max(1) as u32;
            sf.map_overhead = room_plain.saturating_sub(room_mapped) as u32;
        }
        let sf = &self.subflows[idx];
        let mut plan = sf.plan_segment(room_plain as u32, !mptcp)?;
        let starts_mapping = mptcp
            && plan.len > 0
            && (first_data
                || sf
                    .mapping_at(plan.start)
                    .is_some_and(|m| m.ssn == plan.start));
        if starts_mapping && room_mapped < room_plain {
            plan = sf.plan_segment(room_mapped as u32, !mptcp)?;
        }
        let mut opts = TcpOptions::new();
        let mut used = 0usize;
        self.push_timestamp(idx, now, &mut opts, &mut used);
        // The mapping of this segment.
        let mut mptcp_opt = None;
        if infinite_map && plan.len > 0 {
            // RFC 8684 §3.7: data length 0, retroactive from where subflow and data
            // sequence numbers started to map one to one.
            if let Some((ssn0, d0)) = self.tx_infinite {
                mptcp_opt = Some(MptcpOption::Dss(Dss {
                    data_ack: None,
                    mapping: Some(DssMapping {
                        dsn: self.local_idsn.wrapping_add(1).wrapping_add(d0),
                        wide: true,
                        ssn: ssn0 as u32,
                        data_len: 0,
                        checksum: self.checksum.then_some(0),
                    }),
                    data_fin: false,
                }));
                self.send_infinite_map = false;
                self.stats.infinite_map_tx += 1;
            }
        }
        if starts_mapping {
            let (map_ssn, map_data, map_len, cached) = {
                let m = self.subflows[idx].mapping_at(plan.start)?;
                (m.ssn, m.data, m.len, m.checksum)
            };
            let dsn = self.local_idsn.wrapping_add(1).wrapping_add(map_data);
            let checksum = if self.checksum {
                let c = match cached {
                    Some(c) => c,
                    None => {
                        let mut tmp = std::mem::take(&mut self.scratch);
                        tmp.resize(map_len as usize, 0);
                        let ok = self.copy_payload(idx, plan.start, map_data, &mut tmp);
                        let c = if ok {
                            crypto::dss_checksum(dsn, map_ssn as u32, map_len as u16, &tmp)
                        } else {
                            0
                        };
                        self.scratch = tmp;
                        if let Some(m) = self.subflows[idx].mapping_at_mut(plan.start) {
                            m.checksum = Some(c);
                        }
                        c
                    }
                };
                Some(c)
            } else {
                None
            };
            if first_data && map_ssn == 1 {
                mptcp_opt = Some(MptcpOption::MpCapable(MpCapable {
                    version: 1,
                    flags: MpCapable::FLAG_H | if self.checksum { MpCapable::FLAG_A } else { 0 },
                    sender_key: Some(self.local_key),
                    receiver_key: self.remote_key,
                    data_len: Some(map_len as u16),
                    checksum,
                }));
            } else {
                let dack = dack_needed.then(|| self.data_ack(true));
                mptcp_opt = Some(MptcpOption::Dss(Dss {
                    data_ack: dack,
                    mapping: Some(DssMapping {
                        dsn: if WIDE_DSN { dsn } else { dsn & 0xffff_ffff },
                        wide: WIDE_DSN,
                        ssn: map_ssn as u32,
                        data_len: map_len as u16,
                        checksum,
                    }),
                    data_fin: false,
                }));
            }
        }
        // A changed DATA_ACK rides on any segment. A bare FIN still carries the DATA_ACK: it
        // may be the only segment acknowledging the peer's DATA_FIN (the pending ACK is
        // cleared once this segment goes out).
        if mptcp_opt.is_none() && self.can_data_ack() && (dack_needed || plan.len == 0) {
            mptcp_opt = Some(MptcpOption::Dss(Dss {
                data_ack: Some(self.data_ack(true)),
                mapping: None,
                data_fin: false,
            }));
        }
        if let Some(m) = mptcp_opt {
            if let MptcpOption::Dss(d) = &m {
                if d.data_ack.is_some() {
                    self.subflows[idx].last_data_ack_sent = Some(self.data_ack_offset());
                }
            }
            push_aligned(&mut opts, &mut used, TcpOption::Mptcp(m));
        }
        // Payload from the send buffer.
        let mut payload = std::mem::take(&mut self.scratch);
        payload.clear();
        if plan.len > 0 {
            let data_off = {
                let m = self.subflows[idx].mapping_at(plan.start)?;
                m.data + (plan.start - m.ssn)
            };
            payload.resize(plan.len as usize, 0);
            if !self.copy_payload(idx, plan.start, data_off, &mut payload) {
                self.scratch = payload;
                return None;
            }
        }
        let window = self.window_field(idx);
        let sf = &self.subflows[idx];
        let mut flags = TcpFlags::ACK;
        if plan.fin {
            flags |= TcpFlags::FIN;
        }
        if plan.len > 0 {
            flags |= TcpFlags::PSH;
        }
        let repr = TcpRepr {
            src_port: sf.local.port(),
            dst_port: sf.remote.port(),
            seq: sf.seq_of(plan.start),
            ack: sf.ack_seq(),
            flags: TcpFlags(flags),
            window,
            urgent: 0,
            options: opts,
            payload: &payload,
        };
        let t = write_packet(buf, sf.local.ip(), sf.remote.ip(), &repr);
        self.scratch = payload;
        let bounds = self.rto_bounds();
        let sf = &mut self.subflows[idx];
        sf.on_sent(now, &plan, bounds);
        sf.last_window_sent = window;
        self.after_ack_sent(idx);
        if plan.fin {
            self.on_fin_sent(idx);
        }
        Some(t)
    }

    /// Copies data bytes `[data_off, ..)` for the segment at subflow offset `at`: from the
    /// send buffer, or from the mapping's retained copy.
    fn copy_payload(&self, idx: usize, at: u64, data_off: u64, out: &mut [u8]) -> bool {
        if self.send_buf.copy_out(data_off, out) {
            return true;
        }
        // The front part may come from the mapping's retained copy, the rest from the buffer.
        let Some(m) = self.subflows[idx].mapping_at(at) else {
            return false;
        };
        let Some(kept) = m.retained.as_ref() else {
            return false;
        };
        let Some(from) = data_off.checked_sub(m.data) else {
            return false;
        };
        let kept_end = m.data + kept.len() as u64;
        let head = (kept_end.saturating_sub(data_off) as usize).min(out.len());
        let Some(src) = kept.get(from as usize..from as usize + head) else {
            return false;
        };
        out[..head].copy_from_slice(src);
        head == out.len()
            || self
                .send_buf
                .copy_out(data_off + head as u64, &mut out[head..])
    }

    /// State change after our FIN went out (RFC 9293 §3.10.4 CLOSE).
    fn on_fin_sent(&mut self, idx: usize) {
        let sf = &mut self.subflows[idx];
        sf.state = match sf.state {
            TcpState::Established => TcpState::FinWait1,
            TcpState::CloseWait => TcpState::LastAck,
            s => s,
        };
    }

    /// Bookkeeping once a segment carried our current ACK.
    fn after_ack_sent(&mut self, idx: usize) {
        let sf = &mut self.subflows[idx];
        sf.ack_now = false;
        sf.unacked_segments = 0;
        sf.timers[Timer::DelayedAck as usize] = None;
    }

    fn emit_control(
        &mut self,
        now: Instant,
        idx: usize,
        buf: &mut Vec<u8>,
        kind: Control,
    ) -> Transmit {
        let mut opts = TcpOptions::new();
        let mut used = 0usize;
        self.push_timestamp(idx, now, &mut opts, &mut used);
        let mptcp = self.mode == Mode::Mptcp;
        let mut sent_dack = false;
        match kind {
            Control::HandshakeAck => {
                let sf = &self.subflows[idx];
                let opt = match sf.join {
                    Some(js) => {
                        let full = crypto::join_hmac(
                            self.local_key,
                            self.remote_key.unwrap_or(0),
                            js.local_nonce,
                            js.remote_nonce,
                        );
                        let mut hmac = [0u8; 20];
                        hmac.copy_from_slice(&full[..20]);
                        MptcpOption::MpJoin(MpJoin::Ack { hmac })
                    }
                    None => MptcpOption::MpCapable(MpCapable {
                        version: 1,
                        flags: MpCapable::FLAG_H
                            | if self.checksum { MpCapable::FLAG_A } else { 0 },
                        sender_key: Some(self.local_key),
                        receiver_key: self.remote_key,
                        data_len: None,
                        checksum: None,
                    }),
                };
                if mptcp {
                    push_aligned(&mut opts, &mut used, TcpOption::Mptcp(opt));
                }
            }
            Control::DataFin => {
                let fin_off = self.data_fin_offset().unwrap_or(self.send_buf.end());
                let dsn = self.local_idsn.wrapping_add(1).wrapping_add(fin_off);
                let checksum = self.checksum.then(|| crypto::dss_checksum(dsn, 0, 1, &[]));
                let dss = Dss {
                    data_ack: self.can_data_ack().then(|| self.data_ack(true)),
                    mapping: Some(DssMapping {
                        dsn,
                        wide: true,
                        ssn: 0,
                        data_len: 1,
                        checksum,
                    }),
                    data_fin: true,
                };
                sent_dack = dss.data_ack.is_some();
                push_aligned(
                    &mut opts,
                    &mut used,
                    TcpOption::Mptcp(MptcpOption::Dss(dss)),
                );
                self.data_fin_pending = false;
                self.data_fin_sent = true;
                let rto = self.subflows[idx].current_rto(
                    self.config.initial_rto,
                    self.config.min_rto,
                    self.config.max_rto,
                );
                self.conn_timers[super::ConnTimer::DataFin as usize] = Some(now + rto);
            }
            Control::Ack | Control::Probe => {
                if let Some(dsn) = self.subflows[idx].mp_fail {
                    push_aligned(
                        &mut opts,
                        &mut used,
                        TcpOption::Mptcp(MptcpOption::MpFail(MpFail { dsn })),
                    );
                    self.stats.mp_fail_tx += 1;
                    let sf = &mut self.subflows[idx];
                    sf.mp_fail_due = false;
                    if self.mp_fail_repeats > 0 {
                        self.mp_fail_repeats -= 1;
                    } else {
                        sf.mp_fail = None;
                    }
                }
                let want_sack =
                    self.subflows[idx].sack_ok && !self.subflows[idx].rcv_ooo.is_empty();
                if mptcp && self.fully_established {
                    self.push_signals(now, idx, &mut opts, &mut used);
                }
                // Every ACK carries a DATA_ACK, as Linux's do: a peer may take an ACK without
                // DSS as the sign that a middlebox strips options (RFC 8684 §3.7). With SACK
                // blocks to send it shrinks to 4 bytes.
                if mptcp && self.can_data_ack() {
                    let need = true;
                    let wide = !want_sack;
                    let dss = MptcpOption::Dss(Dss {
                        data_ack: Some(self.data_ack(wide)),
                        mapping: None,
                        data_fin: false,
                    });
                    if need && used + aligned_len(&dss) <= MAX_OPTIONS {
                        push_aligned(&mut opts, &mut used, TcpOption::Mptcp(dss));
                        sent_dack = true;
                    }
                }
                if want_sack {
                    let room = MAX_OPTIONS.saturating_sub(used + 2 + 2);
                    let n = (room / 8).min(4);
                    if n > 0 {
                        let sf = &self.subflows[idx];
                        let blocks: SmallVec<[(crate::SeqNum, crate::SeqNum); 4]> = sf
                            .sack_blocks(n)
                            .map(|(s, e)| (sf.irs + s as u32, sf.irs + e as u32))
                            .collect();
                        push_aligned(&mut opts, &mut used, TcpOption::Sack(blocks));
                    }
                }
            }
        }
        if sent_dack {
            self.subflows[idx].last_data_ack_sent = Some(self.data_ack_offset());
        }
        let window = self.window_field(idx);
        let sf = &self.subflows[idx];
        let seq = match kind {
            Control::Probe => sf.seq_of(sf.snd_una.saturating_sub(1)),
            _ => sf.seq_of(sf.snd_nxt.max(sf.snd_una)),
        };
        let repr = TcpRepr {
            src_port: sf.local.port(),
            dst_port: sf.remote.port(),
            seq,
            ack: sf.ack_seq(),
            flags: TcpFlags(TcpFlags::ACK),
            window,
            urgent: 0,
            options: opts,
            payload: &[],
        };
        let t = write_packet(buf, sf.local.ip(), sf.remote.ip(), &repr);
        let sf = &mut self.subflows[idx];
        sf.stats.segments_sent += 1;
        sf.last_window_sent = window;
        match kind {
            Control::HandshakeAck => sf.handshake_ack_pending = false,
            Control::Probe => sf.probe_now = false,
            _ => {}
        }
        self.after_ack_sent(idx);
        t
    }

    /// Adds due signalling options that fit: MP_PRIO, ADD_ADDR echo or announcement, REMOVE_ADDR.
    fn push_signals(&mut self, now: Instant, idx: usize, opts: &mut TcpOptions, used: &mut usize) {
        if self.subflows[idx].send_mp_prio {
            let o = MptcpOption::MpPrio(MpPrio {
                backup: self.subflows[idx].backup_local,
                addr_id: None,
            });
            if *used + aligned_len(&o) <= MAX_OPTIONS {
                push_aligned(opts, used, TcpOption::Mptcp(o));
                self.subflows[idx].send_mp_prio = false;
            }
        }
        if let Some(&(id, addr, port)) = self.pending_echoes.front() {
            let o = MptcpOption::AddAddr(AddAddr {
                echo: true,
                addr_id: id,
                addr,
                port,
                hmac: None,
            });
            if *used + aligned_len(&o) <= MAX_OPTIONS {
                push_aligned(opts, used, TcpOption::Mptcp(o));
                self.pending_echoes.pop_front();
            }
        }
        let timeout = self.config.add_addr_timeout;
        let remote_key = self.remote_key.unwrap_or(0);
        let local_key = self.local_key;
        if let Some(i) = self.due_announcement(now) {
            let a = &mut self.announcements[i];
            let hmac = crypto::add_addr_hmac(local_key, remote_key, a.id, a.addr, None);
            let o = MptcpOption::AddAddr(AddAddr {
                echo: false,
                addr_id: a.id,
                addr: a.addr,
                port: None,
                hmac: Some(hmac),
            });
            if *used + aligned_len(&o) <= MAX_OPTIONS {
                push_aligned(opts, used, TcpOption::Mptcp(o));
                a.retries_left = a.retries_left.saturating_sub(1);
                a.next_at = (a.retries_left > 0).then_some(now + timeout);
            }
        }
        self.conn_timers[super::ConnTimer::AddAddr as usize] = self.announcement_deadline();
        if !self.pending_remove.is_empty() {
            let ids: SmallVec<[u8; 8]> = self.pending_remove.iter().take(8).copied().collect();
            let o = MptcpOption::RemoveAddr(RemoveAddr {
                addr_ids: ids.clone(),
            });
            if *used + aligned_len(&o) <= MAX_OPTIONS {
                push_aligned(opts, used, TcpOption::Mptcp(o));
                self.pending_remove.drain(..ids.len());
            }
        }
    }

    /// A RST, with MP_TCPRST and, when aborting an MPTCP connection, MP_FASTCLOSE (RFC 8684 §3.5, §3.6).
    fn emit_rst(&mut self, now: Instant, idx: usize, reason: u8, buf: &mut Vec<u8>) -> Transmit {
        let _ = now;
        let mut opts = TcpOptions::new();
        let mut used = 0usize;
        let aborting = self.closed == Some(CloseReason::LocalAbort);
        if self.mode == Mode::Mptcp || self.mptcp_negotiated && self.subflows.len() > 1 {
            if aborting {
                if let Some(k) = self.remote_key {
                    push_aligned(
                        &mut opts,
                        &mut used,
                        TcpOption::Mptcp(MptcpOption::MpFastclose(MpFastclose { receiver_key: k })),
                    );
                }
            }
            push_aligned(
                &mut opts,
                &mut used,
                TcpOption::Mptcp(MptcpOption::MpTcpRst(MpTcpRst { flags: 0, reason })),
            );
            // RFC 8684 §3.7: a subflow reset for a checksum failure carries MP_FAIL.
            if let Some(dsn) = self.subflows[idx].mp_fail.take() {
                push_aligned(
                    &mut opts,
                    &mut used,
                    TcpOption::Mptcp(MptcpOption::MpFail(MpFail { dsn })),
                );
                self.stats.mp_fail_tx += 1;
            }
        }
        let sf = &self.subflows[idx];
        let repr = TcpRepr {
            src_port: sf.local.port(),
            dst_port: sf.remote.port(),
            seq: sf.seq_of(sf.snd_nxt.max(sf.snd_una)),
            ack: sf.ack_seq(),
            flags: TcpFlags(TcpFlags::RST | TcpFlags::ACK),
            window: 0,
            urgent: 0,
            options: opts,
            payload: &[],
        };
        let t = write_packet(buf, sf.local.ip(), sf.remote.ip(), &repr);
        self.subflows[idx].reset_pending = None;
        let why = self.subflows[idx].reset_why;
        self.subflow_closed(idx, why);
        t
    }
}

/// Which non-data segment to build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Control {
    /// Third ACK of a handshake (MP_CAPABLE keys or MP_JOIN HMAC).
    HandshakeAck,
    /// A bare DATA_FIN.
    DataFin,
    /// A pure ACK, with SACK and signalling.
    Ack,
    /// A window probe / keepalive: an old sequence number that elicits an ACK.
    Probe,
}

/// Serialises IP header + TCP segment into `buf`.
pub(crate) fn write_packet(
    buf: &mut Vec<u8>,
    src: std::net::IpAddr,
    dst: std::net::IpAddr,
    tcp: &TcpRepr<'_>,
) -> Transmit {
    let tcp_len = tcp.buffer_len();
    let ip = IpRepr {
        src,
        dst,
        protocol: IP_PROTO_TCP,
        hop_limit: 64,
        payload_len: tcp_len,
    };
    let hl = ip.header_len();
    buf.clear();
    buf.resize(hl + tcp_len, 0);
    ip.emit(&mut buf[..hl]);
    tcp.emit(&mut buf[hl..], src, dst);
    Transmit {
        src,
        dst,
        len: hl + tcp_len,
    }
}
