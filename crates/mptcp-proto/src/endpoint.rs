//! The endpoint: demultiplexes packets to connections (4-tuple and token tables), owns the
//! listeners and the limits, and is the engine's whole public surface.

use crate::config::{EndpointConfig, SynCookies};
use crate::congestion::CcAlgorithm;
use crate::connection::input::SegOptions;
use crate::connection::send_buffer::SendFlags;
use crate::connection::{Connection, Role};
use crate::error::{ConnectError, ListenError, ReadError, WriteError};
use crate::event::{CloseReason, Event};
use crate::stats::ConnectionStats;
use crate::syn_cookie::{self, CookieSecret};
use crate::time::Instant;
use crate::wire::{
    IpRepr, MpCapable, MpJoin, MpTcpRst, MptcpOption, TcpFlags, TcpOption, TcpOptions, TcpRepr,
    IP_PROTO_TCP,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// Opaque handle of a connection, never reused within an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionHandle(pub u64);

/// A subflow within its connection (0 = the initial subflow).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SubflowId(pub u32);

/// Metadata of one packet written by [`Endpoint::poll_transmit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub struct Transmit {
    /// Source address of the IP packet.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// Length of the IP packet in the buffer.
    pub len: usize,
}

/// Parameters of an outgoing connection.
#[derive(Debug, Clone)]
pub struct ConnectParams {
    /// Local addresses the connection may use; the first one of the remote's family carries
    /// the initial subflow, the others get joined subflows.
    pub local_addrs: Vec<IpAddr>,
    /// The server.
    pub remote: SocketAddr,
    /// Offer MPTCP (false: plain TCP). Defaults to the endpoint's setting.
    pub mptcp: bool,
    /// Congestion control. Defaults to the endpoint's setting.
    pub congestion: CcAlgorithm,
}

/// Endpoint-wide counters (packets that belong to no connection).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndpointStats {
    /// Packets that did not parse (bad IP/TCP header, checksum, lengths).
    pub malformed: u64,
    /// Packets of another protocol than TCP.
    pub not_tcp: u64,
    /// Segments for no connection and no listener (answered with RST).
    pub no_connection: u64,
    /// MP_JOIN SYNs with an unknown token (MPTcpExt MPJoinNoTokenFound).
    pub join_no_token: u64,
    /// MP_JOIN SYNs refused (limits, connection state).
    pub join_refused: u64,
    /// SYNs dropped because of the connection or half-open limits.
    pub syn_dropped: u64,
    /// Token collisions avoided by regenerating a key.
    pub token_collisions: u64,
    /// SYN/ACKs sent with a SYN cookie instead of half-open state (TcpExt SyncookiesSent).
    pub syncookies_sent: u64,
    /// Connections rebuilt from a valid cookie in a third ACK (TcpExt SyncookiesRecv).
    pub syncookies_recv: u64,
    /// ACKs to a listener whose cookie did not check (TcpExt SyncookiesFailed).
    pub syncookies_failed: u64,
}

/// The engine. See the crate documentation for the call order.
pub struct Endpoint {
    config: Arc<EndpointConfig>,
    rng: ChaCha8Rng,
    connections: BTreeMap<u64, Connection>,
    next_handle: u64,
    /// (local, remote) -> (connection, subflow).
    tuples: HashMap<(SocketAddr, SocketAddr), (u64, SubflowId)>,
    /// Local token -> connection (RFC 8684 §3.2 MP_JOIN lookup).
    tokens: HashMap<u32, u64>,
    listeners: BTreeSet<u16>,
    /// Connections that may have something to send, in round-robin order.
    dirty: VecDeque<u64>,
    dirty_set: HashSet<u64>,
    /// Connections with events to deliver.
    eventful: VecDeque<u64>,
    eventful_set: HashSet<u64>,
    /// (deadline, connection) for every armed connection.
    timers: BTreeSet<(Instant, u64)>,
    timer_of: HashMap<u64, Instant>,
    /// Packets the endpoint itself answers with (RSTs).
    control: VecDeque<(IpAddr, IpAddr, Vec<u8>)>,
    /// Events not tied to a live connection.
    stats: EndpointStats,
    /// Made on the first SYN cookie (so endpoints that never need one draw no randomness).
    cookie_secret: Option<CookieSecret>,
}

impl Endpoint {
    /// A new endpoint; `seed` drives every random choice (keys, ISNs, ports).
    pub fn new(config: EndpointConfig, seed: u64) -> Self {
        Endpoint {
            config: Arc::new(config),
            rng: ChaCha8Rng::seed_from_u64(seed),
            connections: BTreeMap::new(),
            next_handle: 1,
            tuples: HashMap::default(),
            tokens: HashMap::default(),
            listeners: BTreeSet::new(),
            dirty: VecDeque::new(),
            dirty_set: HashSet::default(),
            eventful: VecDeque::new(),
            eventful_set: HashSet::default(),
            timers: BTreeSet::new(),
            timer_of: HashMap::default(),
            control: VecDeque::new(),
            stats: EndpointStats::default(),
            cookie_secret: None,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &EndpointConfig {
        &self.config
    }

    /// Endpoint-wide counters.
    pub fn endpoint_stats(&self) -> &EndpointStats {
        &self.stats
    }

    /// Default connect parameters from the endpoint configuration.
    pub fn connect_params(&self, local_addrs: Vec<IpAddr>, remote: SocketAddr) -> ConnectParams {
        ConnectParams {
            local_addrs,
            remote,
            mptcp: self.config.mptcp,
            congestion: self.config.congestion,
        }
    }

    /// Accept connections to `port` on any local address.
    pub fn listen(&mut self, port: u16) -> Result<(), ListenError> {
        if !self.listeners.insert(port) {
            return Err(ListenError::AlreadyListening(port));
        }
        Ok(())
    }

    /// A fresh key whose token is not in use (RFC 8684 §3.1: regenerate on collision).
    fn fresh_key(&mut self) -> u64 {
        loop {
            let key: u64 = self.rng.gen();
            if key == 0 {
                continue;
            }
            if self.tokens.contains_key(&crate::crypto::token(key)) {
                self.stats.token_collisions += 1;
                continue;
            }
            return key;
        }
    }

    /// A local port free for `(local ip, remote)`.
    fn free_port(&mut self, local: IpAddr, remote: SocketAddr) -> Option<u16> {
        for _ in 0..64 {
            let port = self.rng.gen_range(32768..61000);
            if !self
                .tuples
                .contains_key(&(SocketAddr::new(local, port), remote))
            {
                return Some(port);
            }
        }
        (32768..61000).find(|p| {
            !self
                .tuples
                .contains_key(&(SocketAddr::new(local, *p), remote))
        })
    }

    fn new_connection(
        &mut self,
        role: Role,
        mptcp: bool,
        cc: CcAlgorithm,
        local_addrs: Vec<IpAddr>,
        key: Option<u64>,
    ) -> u64 {
        let h = self.next_handle;
        self.next_handle += 1;
        let key = match key {
            Some(k) => k,
            None if mptcp => self.fresh_key(),
            None => self.rng.gen::<u64>() | 1,
        };
        let seed = self.rng.gen();
        let conn = Connection::new(
            ConnectionHandle(h),
            role,
            self.config.clone(),
            seed,
            mptcp,
            cc,
            key,
            local_addrs,
            self.config.scheduler.build(),
            self.config
                .path_manager
                .build(&self.config, role == Role::Client),
        );
        if mptcp {
            self.tokens.insert(crate::crypto::token(key), h);
        }
        self.connections.insert(h, conn);
        h
    }

    /// Starts a connection; the SYN goes out on the next `poll_transmit`.
    pub fn connect(
        &mut self,
        now: Instant,
        params: ConnectParams,
    ) -> Result<ConnectionHandle, ConnectError> {
        let local_ip = params
            .local_addrs
            .iter()
            .copied()
            .find(|a| a.is_ipv4() == params.remote.is_ipv4())
            .ok_or(ConnectError::NoLocalAddress)?;
        if self.connections.len() >= self.config.max_connections {
            return Err(ConnectError::TooManyConnections(
                self.config.max_connections,
            ));
        }
        let port = self
            .free_port(local_ip, params.remote)
            .ok_or(ConnectError::NoFreePort)?;
        let local = SocketAddr::new(local_ip, port);
        let h = self.new_connection(
            Role::Client,
            params.mptcp,
            params.congestion,
            params.local_addrs.clone(),
            None,
        );
        let conn = self.connections.get_mut(&h).expect("just inserted");
        let idx = conn.start_client(now, local, params.remote);
        let id = conn.subflows[idx].id;
        self.tuples.insert((local, params.remote), (h, id));
        self.touch(h, now);
        Ok(ConnectionHandle(h))
    }

    /// Feeds one IP packet received from the network. Malformed packets are counted and dropped.
    pub fn handle_packet(&mut self, now: Instant, packet: &[u8]) {
        let Ok((ip, payload)) = IpRepr::parse(packet) else {
            self.stats.malformed += 1;
            return;
        };
        if ip.protocol != IP_PROTO_TCP {
            self.stats.not_tcp += 1;
            return;
        }
        let Ok(seg) = TcpRepr::parse(payload, Some((ip.src, ip.dst))) else {
            self.stats.malformed += 1;
            return;
        };
        let local = SocketAddr::new(ip.dst, seg.dst_port);
        let remote = SocketAddr::new(ip.src, seg.src_port);
        let opts = SegOptions::from_repr(&seg);
        if let Some(&(h, sid)) = self.tuples.get(&(local, remote)) {
            if let Some(conn) = self.connections.get_mut(&h) {
                if let Some(idx) = conn.subflow_index(sid) {
                    conn.handle_segment(now, idx, &seg, &opts);
                    conn.arm_keepalive(idx);
                }
            }
            self.touch(h, now);
            return;
        }
        if seg.flags.rst() {
            return;
        }
        if seg.flags.syn() && !seg.flags.ack() && self.listeners.contains(&seg.dst_port) {
            self.on_listen_syn(now, local, remote, &seg, &opts);
            return;
        }
        if !seg.flags.syn()
            && seg.flags.ack()
            && self.cookie_secret.is_some()
            && self.listeners.contains(&seg.dst_port)
            && self.on_cookie_ack(now, local, remote, &seg, &opts)
        {
            return;
        }
        self.stats.no_connection += 1;
        self.queue_reset(local, remote, &seg, None);
    }

    /// A SYN to a listener: a new connection, or an MP_JOIN for an existing one.
    fn on_listen_syn(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        seg: &TcpRepr<'_>,
        opts: &SegOptions,
    ) {
        if let Some(MpJoin::Syn { token, .. }) = opts.join {
            let Some(&h) = self.tokens.get(&token) else {
                self.stats.join_no_token += 1;
                self.queue_reset(local, remote, seg, Some(MpTcpRst::REASON_MPTCP));
                return;
            };
            let Some(conn) = self.connections.get_mut(&h) else {
                return;
            };
            match conn.accept_join(now, local, remote, seg, opts) {
                Some(idx) => {
                    let id = conn.subflows[idx].id;
                    self.tuples.insert((local, remote), (h, id));
                    self.touch(h, now);
                }
                None => {
                    self.stats.join_refused += 1;
                    self.queue_reset(local, remote, seg, Some(MpTcpRst::REASON_PROHIBITED));
                }
            }
            return;
        }
        let half_open = self
            .connections
            .values()
            .filter(|c| !c.announced_to_app && c.role == Role::Server)
            .count();
        if self.connections.len() >= self.config.max_connections {
            self.stats.syn_dropped += 1;
            return;
        }
        let cookie = match self.config.syn_cookies {
            SynCookies::Off => false,
            SynCookies::OnOverflow => half_open >= self.config.max_half_open,
            SynCookies::Always => true,
        };
        if cookie {
            self.send_syn_cookie(now, local, remote, seg, opts);
            return;
        }
        if half_open >= self.config.max_half_open {
            self.stats.syn_dropped += 1;
            return;
        }
        let mptcp = self.config.mptcp && opts.syn_mpc().is_some();
        let locals = self.server_locals(local.ip());
        let h = self.new_connection(Role::Server, mptcp, self.config.congestion, locals, None);
        let conn = self.connections.get_mut(&h).expect("just inserted");
        let idx = conn.accept_syn(now, local, remote, seg, opts);
        let id = conn.subflows[idx].id;
        self.tuples.insert((local, remote), (h, id));
        self.touch(h, now);
    }

    /// A server connection's local addresses: the one the SYN came to, then the announced.
    fn server_locals(&self, local: IpAddr) -> Vec<IpAddr> {
        let mut locals = vec![local];
        locals.extend(
            self.config
                .announce_addrs
                .iter()
                .copied()
                .filter(|a| *a != local),
        );
        locals
    }

    /// The cookie secret, made on first use.
    fn cookie_secret(&mut self) -> CookieSecret {
        if self.cookie_secret.is_none() {
            let mut key = [0u8; 32];
            self.rng.fill(&mut key);
            let ts_offset = self.rng.gen();
            self.cookie_secret = Some(CookieSecret::new(key, ts_offset));
        }
        self.cookie_secret.clone().expect("just made")
    }

    /// Answers a SYN with a SYN cookie and keeps nothing. The SYN/ACK is written by a
    /// throwaway connection in SYN-RECEIVED, so it is exactly what a stateful listener
    /// sends, apart from the ISN (the cookie), the TSval (carrying the peer's options) and
    /// our MPTCP key (derived from the cookie).
    fn send_syn_cookie(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        seg: &TcpRepr<'_>,
        opts: &SegOptions,
    ) {
        if self.control.len() >= self.config.max_pending_control {
            self.stats.syn_dropped += 1;
            return;
        }
        let secret = self.cookie_secret();
        let mss_idx = syn_cookie::mss_index(opts.mss.unwrap_or(536));
        let count = syn_cookie::counter(now.as_millis() / 1000);
        let cookie = secret.make(local, remote, seg.seq.0, count, mss_idx);
        let mptcp = self.config.mptcp && opts.syn_mpc().is_some();
        let key = secret.server_key(local, remote, seg.seq.0, cookie);
        if mptcp && self.tokens.contains_key(&crate::crypto::token(key)) {
            // The ACK could not become a connection: let the peer retry with a new ISN.
            self.stats.token_collisions += 1;
            self.stats.syn_dropped += 1;
            return;
        }
        let mut conn = Connection::new(
            ConnectionHandle(0),
            Role::Server,
            self.config.clone(),
            u64::from(cookie),
            mptcp,
            self.config.congestion,
            key,
            self.server_locals(local.ip()),
            self.config.scheduler.build(),
            self.config.path_manager.build(&self.config, false),
        );
        let idx = conn.accept_syn(now, local, remote, seg, opts);
        let sf = &mut conn.subflows[idx];
        sf.iss = crate::SeqNum(cookie);
        if sf.ts_ok {
            let ts = syn_cookie::encode_ts(
                secret.ts_now(now.as_millis()),
                opts.wscale,
                opts.sack_permitted,
            );
            sf.ts_offset = ts.wrapping_sub(now.as_millis() as u32);
        }
        let mut buf = Vec::new();
        if let Some(t) = conn.poll_transmit(now, &mut buf) {
            buf.truncate(t.len);
            self.control.push_back((t.src, t.dst, buf));
            self.stats.syncookies_sent += 1;
        }
    }

    /// An ACK to a listener with no connection: a third ACK answering a SYN cookie?
    /// Rebuilds the connection (true) or leaves the segment to the caller (false: RST).
    fn on_cookie_ack(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        seg: &TcpRepr<'_>,
        opts: &SegOptions,
    ) -> bool {
        let secret = self.cookie_secret();
        let peer_isn = seg.seq.0.wrapping_sub(1);
        let cookie = seg.ack.0.wrapping_sub(1);
        let count = syn_cookie::counter(now.as_millis() / 1000);
        let Some(mss_idx) = secret.check(local, remote, peer_isn, cookie, count) else {
            self.stats.syncookies_failed += 1;
            return false;
        };
        if self.connections.len() >= self.config.max_connections {
            // Valid but no room: drop it, the peer retransmits (Linux drops too).
            self.stats.syn_dropped += 1;
            return true;
        }
        let key = secret.server_key(local, remote, peer_isn, cookie);
        let mptcp = self.config.mptcp && opts.mpc.is_some();
        let mut syn_opts = SegOptions::default();
        if mptcp {
            // RFC 8684 §3.1: the third ACK echoes our key; the flags are the client's.
            let Some(mpc) = opts.keyed_mpc().filter(|m| m.receiver_key == Some(key)) else {
                self.stats.syncookies_failed += 1;
                return false;
            };
            if self.tokens.contains_key(&crate::crypto::token(key)) {
                self.stats.token_collisions += 1;
                self.stats.syncookies_failed += 1;
                return false;
            }
            syn_opts.mpc = Some(MpCapable {
                version: 1,
                flags: mpc.flags,
                sender_key: None,
                receiver_key: None,
                data_len: None,
                checksum: None,
            });
            syn_opts.any_mptcp = true;
        }
        let peer = syn_cookie::decode_options(mss_idx, opts.timestamp.map(|(_, ecr)| ecr));
        syn_opts.mss = Some(peer.mss);
        syn_opts.wscale = peer.wscale;
        syn_opts.sack_permitted = peer.sack_permitted;
        syn_opts.timestamp = opts.timestamp.map(|(val, _)| (val, 0));
        let syn = TcpRepr {
            src_port: seg.src_port,
            dst_port: seg.dst_port,
            seq: crate::SeqNum(peer_isn),
            ack: crate::SeqNum(0),
            flags: TcpFlags(TcpFlags::SYN),
            window: seg.window,
            urgent: 0,
            options: TcpOptions::new(),
            payload: &[],
        };
        let locals = self.server_locals(local.ip());
        let h = self.new_connection(
            Role::Server,
            mptcp,
            self.config.congestion,
            locals,
            Some(key),
        );
        let conn = self.connections.get_mut(&h).expect("just inserted");
        let idx = conn.accept_syn(now, local, remote, &syn, &syn_opts);
        // As if our SYN/ACK had just gone out.
        let sf = &mut conn.subflows[idx];
        sf.iss = crate::SeqNum(cookie);
        sf.ts_offset = secret.ts_offset;
        sf.syn_pending = false;
        sf.snd_nxt = 1;
        sf.snd_max = 1;
        let id = sf.id;
        self.tuples.insert((local, remote), (h, id));
        self.stats.syncookies_recv += 1;
        conn.handle_segment(now, idx, seg, opts);
        conn.arm_keepalive(idx);
        self.touch(h, now);
        true
    }

    /// Answers a segment that has no connection with a RST (RFC 9293 §3.10.7.1).
    fn queue_reset(
        &mut self,
        local: SocketAddr,
        remote: SocketAddr,
        seg: &TcpRepr<'_>,
        reason: Option<u8>,
    ) {
        if seg.flags.rst() || self.control.len() >= self.config.max_pending_control {
            return;
        }
        let mut options = TcpOptions::new();
        if let Some(r) = reason {
            options.push(TcpOption::Mptcp(MptcpOption::MpTcpRst(MpTcpRst {
                flags: 0,
                reason: r,
            })));
        }
        let (seq, ack, flags) = if seg.flags.ack() {
            (seg.ack, crate::SeqNum(0), TcpFlags::RST)
        } else {
            let len =
                seg.payload.len() as u32 + u32::from(seg.flags.syn()) + u32::from(seg.flags.fin());
            (
                crate::SeqNum(0),
                seg.seq + len,
                TcpFlags::RST | TcpFlags::ACK,
            )
        };
        let repr = TcpRepr {
            src_port: local.port(),
            dst_port: remote.port(),
            seq,
            ack,
            flags: TcpFlags(flags),
            window: 0,
            urgent: 0,
            options,
            payload: &[],
        };
        let mut buf = Vec::new();
        let _ = crate::connection::output::write_packet(&mut buf, local.ip(), remote.ip(), &repr);
        self.control.push_back((local.ip(), remote.ip(), buf));
    }

    /// After any input to a connection: open requested subflows, forget ended ones, re-arm
    /// its timer, note it may send and may have events; drop it once drained.
    fn touch(&mut self, h: u64, now: Instant) {
        let Some(conn) = self.connections.get_mut(&h) else {
            return;
        };
        conn.pm_flush(now);
        let opens = if conn.joins_allowed_at.is_some_and(|t| t > now) {
            Vec::new()
        } else {
            std::mem::take(&mut conn.pending_opens)
        };
        for o in opens {
            let Some(port) = self.free_port(o.local, o.remote) else {
                continue;
            };
            let conn = self.connections.get_mut(&h).expect("present");
            let local = SocketAddr::new(o.local, port);
            let remote = o.remote;
            if let Some(idx) = conn.open_join(now, local, remote, o.backup, o.local_id) {
                let id = conn.subflows[idx].id;
                self.tuples.insert((local, remote), (h, id));
            }
        }
        let conn = self.connections.get_mut(&h).expect("present");
        for t in conn.removed_tuples.drain(..) {
            if self.tuples.get(&t).is_some_and(|(c, _)| *c == h) {
                self.tuples.remove(&t);
            }
        }
        conn.arm_persist(now);
        let deadline = conn.next_timeout();
        let has_events = !conn.events.is_empty() || (conn.closed.is_some() && !conn.close_reported);
        let drained = conn.is_drained();
        if let Some(old) = self.timer_of.remove(&h) {
            self.timers.remove(&(old, h));
        }
        if drained {
            self.remove_connection(h);
            return;
        }
        if let Some(d) = deadline {
            self.timers.insert((d, h));
            self.timer_of.insert(h, d);
        }
        if self.dirty_set.insert(h) {
            self.dirty.push_back(h);
        }
        if has_events && self.eventful_set.insert(h) {
            self.eventful.push_back(h);
        }
    }

    fn remove_connection(&mut self, h: u64) {
        if let Some(conn) = self.connections.remove(&h) {
            self.tokens.retain(|_, c| *c != h);
            for sf in conn.subflows.iter() {
                let t = (sf.local, sf.remote);
                if self.tuples.get(&t).is_some_and(|(c, _)| *c == h) {
                    self.tuples.remove(&t);
                }
            }
        }
        if let Some(old) = self.timer_of.remove(&h) {
            self.timers.remove(&(old, h));
        }
        self.dirty_set.remove(&h);
        self.eventful_set.remove(&h);
    }

    /// Writes the next packet to send into `buf` (cleared first), if any.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        if let Some((src, dst, pkt)) = self.control.pop_front() {
            buf.clear();
            buf.extend_from_slice(&pkt);
            return Some(Transmit {
                src,
                dst,
                len: pkt.len(),
            });
        }
        while let Some(h) = self.dirty.pop_front() {
            let Some(conn) = self.connections.get_mut(&h) else {
                self.dirty_set.remove(&h);
                continue;
            };
            match conn.poll_transmit(now, buf) {
                Some(t) => {
                    self.dirty.push_back(h);
                    let conn_has_changes = !conn.removed_tuples.is_empty()
                        || (!conn.pending_opens.is_empty()
                            && conn.joins_allowed_at.is_none_or(|t| t <= now))
                        || conn.closed.is_some();
                    let deadline = conn.next_timeout();
                    if conn_has_changes {
                        self.dirty_set.remove(&h);
                        self.dirty.pop_back();
                        self.touch(h, now);
                    } else if self.timer_of.get(&h) != deadline.as_ref() {
                        if let Some(old) = self.timer_of.remove(&h) {
                            self.timers.remove(&(old, h));
                        }
                        if let Some(d) = deadline {
                            self.timers.insert((d, h));
                            self.timer_of.insert(h, d);
                        }
                    }
                    return Some(t);
                }
                None => {
                    self.dirty_set.remove(&h);
                    let deadline = conn.next_timeout();
                    if self.timer_of.get(&h) != deadline.as_ref() {
                        if let Some(old) = self.timer_of.remove(&h) {
                            self.timers.remove(&(old, h));
                        }
                        if let Some(d) = deadline {
                            self.timers.insert((d, h));
                            self.timer_of.insert(h, d);
                        }
                    }
                    if conn.is_drained() || (conn.closed.is_some() && !conn.close_reported) {
                        self.touch(h, now);
                        self.dirty_set.remove(&h);
                        self.dirty.retain(|x| *x != h);
                    }
                }
            }
        }
        None
    }

    /// The earliest time `handle_timeout` must be called, if any timer is armed.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        self.timers.first().map(|(t, _)| *t)
    }

    /// Runs every timer that expired at or before `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(&(t, h)) = self.timers.first() {
            if t > now {
                break;
            }
            self.timers.pop_first();
            self.timer_of.remove(&h);
            if let Some(conn) = self.connections.get_mut(&h) {
                conn.handle_timeout(now);
            }
            self.touch(h, now);
        }
    }

    /// The next application event.
    pub fn poll_event(&mut self) -> Option<Event> {
        while let Some(&h) = self.eventful.front() {
            let Some(conn) = self.connections.get_mut(&h) else {
                self.eventful.pop_front();
                self.eventful_set.remove(&h);
                continue;
            };
            if let Some(ev) = conn.events.pop_front() {
                return Some(ev);
            }
            if let Some(reason) = conn.closed {
                let app_done = reason != CloseReason::Normal || conn.recv.readable_len() == 0;
                // A client's application holds the handle since `connect`: it must learn
                // that the attempt failed (refused, timed out).
                let known = conn.announced_to_app || conn.role == Role::Client;
                if !conn.close_reported && app_done && known {
                    conn.close_reported = true;
                    return Some(Event::Closed {
                        conn: ConnectionHandle(h),
                        reason,
                    });
                }
                if !conn.close_reported && !known {
                    // Never surfaced to the application: drop silently.
                    conn.close_reported = true;
                }
            }
            self.eventful.pop_front();
            self.eventful_set.remove(&h);
            let drained = conn.is_drained();
            if drained {
                self.remove_connection(h);
            }
        }
        None
    }

    fn conn_mut(&mut self, conn: ConnectionHandle) -> Option<&mut Connection> {
        self.connections.get_mut(&conn.0)
    }

    /// Queues application data; returns how many bytes were accepted (possibly fewer than given).
    pub fn send(&mut self, conn: ConnectionHandle, data: &[u8]) -> Result<usize, WriteError> {
        self.send_with(conn, data, SendFlags::default())
    }

    /// [`Endpoint::send`] with per-write flags: with `trusted_only` the bytes are only ever
    /// mapped onto trusted subflows (`EndpointConfig::trusted_addrs`,
    /// [`Endpoint::set_subflow_trusted`]), reinjections and retransmissions included; they
    /// wait, with the data written after them, while no trusted subflow can take them.
    pub fn send_with(
        &mut self,
        conn: ConnectionHandle,
        data: &[u8],
        flags: SendFlags,
    ) -> Result<usize, WriteError> {
        let Some(c) = self.conn_mut(conn) else {
            return Err(WriteError::Closed);
        };
        let r = c.send(data, flags);
        if r.is_ok() {
            self.mark_dirty(conn.0);
        }
        r
    }

    fn mark_dirty(&mut self, h: u64) {
        if self.dirty_set.insert(h) {
            self.dirty.push_back(h);
        }
    }

    /// Reads in-order data. `Ok(0)` means the peer finished and everything was read.
    pub fn recv(&mut self, conn: ConnectionHandle, buf: &mut [u8]) -> Result<usize, ReadError> {
        let Some(c) = self.conn_mut(conn) else {
            return Err(ReadError::Closed);
        };
        let r = c.recv(buf);
        let wants =
            c.subflows.iter().any(|s| s.ack_now) || (c.closed.is_some() && !c.close_reported);
        if wants {
            self.mark_dirty(conn.0);
            if self.eventful_set.insert(conn.0) {
                self.eventful.push_back(conn.0);
            }
        }
        r
    }

    /// Closes the sending side after the queued data (DATA_FIN / FIN).
    pub fn shutdown(&mut self, conn: ConnectionHandle) -> Result<(), WriteError> {
        let Some(c) = self.conn_mut(conn) else {
            return Err(WriteError::Closed);
        };
        c.shutdown()?;
        self.mark_dirty(conn.0);
        Ok(())
    }

    /// Aborts the connection (MP_FASTCLOSE, or RST in plain TCP).
    pub fn abort(&mut self, now: Instant, conn: ConnectionHandle) {
        if let Some(c) = self.conn_mut(conn) {
            c.abort();
            self.touch(conn.0, now);
        }
    }

    /// Marks a subflow backup (or regular) and tells the peer with MP_PRIO.
    pub fn set_subflow_backup(&mut self, conn: ConnectionHandle, subflow: SubflowId, backup: bool) {
        if let Some(c) = self.conn_mut(conn) {
            if let Some(idx) = c.subflow_index(subflow) {
                c.set_backup(idx, backup);
            }
            self.mark_dirty(conn.0);
        }
    }

    /// Marks a subflow trusted (it may carry `trusted_only` data) or not. Data already
    /// mapped onto it stays there.
    pub fn set_subflow_trusted(
        &mut self,
        conn: ConnectionHandle,
        subflow: SubflowId,
        trusted: bool,
    ) {
        if let Some(c) = self.conn_mut(conn) {
            if let Some(idx) = c.subflow_index(subflow) {
                c.subflows[idx].trusted = trusted;
            }
            self.mark_dirty(conn.0);
        }
    }

    /// Closes one subflow with a FIN while the connection goes on over the others. Returns
    /// false for an unknown handle or subflow, or the connection's last subflow.
    pub fn close_subflow(&mut self, conn: ConnectionHandle, subflow: SubflowId) -> bool {
        let Some(c) = self.conn_mut(conn) else {
            return false;
        };
        let Some(idx) = c.subflow_index(subflow) else {
            return false;
        };
        let ok = c.close_subflow(idx);
        self.mark_dirty(conn.0);
        ok
    }

    /// Stops using a local address on a connection: REMOVE_ADDR, its subflows reset.
    pub fn remove_local_address(&mut self, now: Instant, conn: ConnectionHandle, addr: IpAddr) {
        if let Some(c) = self.conn_mut(conn) {
            c.remove_local_addr(addr);
            self.touch(conn.0, now);
        }
    }

    /// The driver reports a local address usable: an interface came (back) up or the
    /// address was added. Every connection's path manager may open subflows from it at once
    /// (re-opening the ones lost while it was down); subflows from it that survived
    /// retransmit at once. A client connection adds an address it did not know.
    pub fn address_up(&mut self, now: Instant, ip: IpAddr) {
        let handles: Vec<u64> = self.connections.keys().copied().collect();
        for h in handles {
            if let Some(c) = self.connections.get_mut(&h) {
                c.address_up(now, ip);
            }
            self.touch(h, now);
        }
    }

    /// The driver reports a local address unusable (interface down, address deleted,
    /// carrier lost). Subflows from it are reset, their data moved to the other subflows,
    /// unless they are all a connection has; nothing new starts from it until
    /// [`Endpoint::address_up`]. Unlike [`Endpoint::remove_local_address`] the peer is not
    /// sent REMOVE_ADDR: the address is expected back.
    pub fn address_down(&mut self, now: Instant, ip: IpAddr) {
        let handles: Vec<u64> = self.connections.keys().copied().collect();
        for h in handles {
            if let Some(c) = self.connections.get_mut(&h) {
                c.address_down(now, ip);
            }
            self.touch(h, now);
        }
    }

    /// Counters of a connection, `None` for an unknown handle.
    pub fn stats(&self, conn: ConnectionHandle) -> Option<ConnectionStats> {
        self.connections.get(&conn.0).map(|c| c.stats())
    }

    /// Number of live connections (for limits and tests).
    pub fn connection_count(&self) -> usize {
        self.connections.len()
    }

    /// Bytes of memory held in buffers across all connections (for the bounded-memory tests).
    pub fn buffered_bytes(&self) -> usize {
        self.connections
            .values()
            .map(|c| c.buffered_bytes())
            .sum::<usize>()
            + self.control.iter().map(|(_, _, p)| p.len()).sum::<usize>()
    }
}
