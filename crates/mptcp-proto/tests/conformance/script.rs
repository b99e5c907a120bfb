//! A scripted peer (packetdrill style): one real [`Endpoint`] driven by hand-built packets,
//! with every packet it writes parsed back into an owned [`Seg`].

#![allow(dead_code)]

use hmac::{Hmac, Mac};
use mptcp_proto::wire::{
    DataAck, Dss, DssMapping, IpRepr, MpCapable, MpJoin, MptcpOption, TcpFlags, TcpOption,
    TcpOptions, TcpRepr, IP_PROTO_TCP,
};
use mptcp_proto::{ConnectionHandle, Duration, Endpoint, EndpointConfig, Event, Instant, SeqNum};
use sha2::{Digest, Sha256};
use std::net::SocketAddr;

pub const FIN: u8 = TcpFlags::FIN;
pub const SYN: u8 = TcpFlags::SYN;
pub const RST: u8 = TcpFlags::RST;
pub const PSH: u8 = TcpFlags::PSH;
pub const ACK: u8 = TcpFlags::ACK;

pub fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

// --- Independent RFC 8684 crypto (not the engine's), to check the engine against. ---

/// Token: most significant 32 bits of SHA-256(key) (RFC 8684 §3.1).
pub fn token_of(key: u64) -> u32 {
    let d = Sha256::digest(key.to_be_bytes());
    u32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

/// IDSN: least significant 64 bits of SHA-256(key) (RFC 8684 §3.1).
pub fn idsn_of(key: u64) -> u64 {
    let d = Sha256::digest(key.to_be_bytes());
    u64::from_be_bytes(d[24..32].try_into().unwrap())
}

/// HMAC-SHA256 keyed `k1 || k2` over `msg`.
pub fn hmac256(k1: u64, k2: u64, msg: &[u8]) -> [u8; 32] {
    let mut key = [0u8; 16];
    key[..8].copy_from_slice(&k1.to_be_bytes());
    key[8..].copy_from_slice(&k2.to_be_bytes());
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(msg);
    mac.finalize().into_bytes().into()
}

/// MP_JOIN HMAC of the host owning `k1`/`n1` (RFC 8684 §3.2).
pub fn join_mac(k1: u64, k2: u64, n1: u32, n2: u32) -> [u8; 32] {
    let mut msg = [0u8; 8];
    msg[..4].copy_from_slice(&n1.to_be_bytes());
    msg[4..].copy_from_slice(&n2.to_be_bytes());
    hmac256(k1, k2, &msg)
}

/// ADD_ADDR HMAC for an IPv4 address without port: rightmost 64 bits (RFC 8684 §3.4.1).
pub fn add_addr_mac(sender: u64, receiver: u64, id: u8, addr: std::net::Ipv4Addr) -> u64 {
    let mut msg = vec![id];
    msg.extend_from_slice(&addr.octets());
    msg.extend_from_slice(&[0, 0]);
    let d = hmac256(sender, receiver, &msg);
    u64::from_be_bytes(d[24..32].try_into().unwrap())
}

// --- Segments ---

/// A segment written by the endpoint, owned and parsed.
#[derive(Debug, Clone)]
pub struct Seg {
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    pub window: u16,
    pub options: Vec<TcpOption>,
    pub payload: Vec<u8>,
}

impl Seg {
    pub fn parse(pkt: &[u8]) -> Seg {
        let (ip, payload) = IpRepr::parse(pkt).expect("endpoint wrote a bad IP header");
        let t = TcpRepr::parse(payload, Some((ip.src, ip.dst))).expect("bad TCP segment");
        Seg {
            src: SocketAddr::new(ip.src, t.src_port),
            dst: SocketAddr::new(ip.dst, t.dst_port),
            seq: t.seq.0,
            ack: t.ack.0,
            flags: t.flags.0,
            window: t.window,
            options: t.options.to_vec(),
            payload: t.payload.to_vec(),
        }
    }
    pub fn has(&self, f: u8) -> bool {
        self.flags & f == f
    }
    pub fn mptcp(&self) -> impl Iterator<Item = &MptcpOption> {
        self.options.iter().filter_map(|o| match o {
            TcpOption::Mptcp(m) => Some(m),
            _ => None,
        })
    }
    pub fn mpc(&self) -> Option<MpCapable> {
        self.mptcp().find_map(|m| match m {
            MptcpOption::MpCapable(c) => Some(*c),
            _ => None,
        })
    }
    pub fn join(&self) -> Option<MpJoin> {
        self.mptcp().find_map(|m| match m {
            MptcpOption::MpJoin(c) => Some(*c),
            _ => None,
        })
    }
    pub fn dss(&self) -> Option<Dss> {
        self.mptcp().find_map(|m| match m {
            MptcpOption::Dss(c) => Some(*c),
            _ => None,
        })
    }
    pub fn rst_reason(&self) -> Option<u8> {
        self.mptcp().find_map(|m| match m {
            MptcpOption::MpTcpRst(r) => Some(r.reason),
            _ => None,
        })
    }
    /// Wire length of the first MPTCP option of `subtype`.
    pub fn mptcp_len(&self, subtype: u8) -> Option<usize> {
        self.mptcp()
            .find(|m| m.subtype() == subtype)
            .map(|m| m.buffer_len())
    }
    pub fn data_ack(&self) -> Option<DataAck> {
        self.dss().and_then(|d| d.data_ack)
    }
    pub fn tsval(&self) -> Option<u32> {
        self.options.iter().find_map(|o| match o {
            TcpOption::Timestamp { tsval, .. } => Some(*tsval),
            _ => None,
        })
    }
    /// Sequence space taken: payload + SYN + FIN.
    pub fn seq_len(&self) -> u32 {
        self.payload.len() as u32 + u32::from(self.has(SYN)) + u32::from(self.has(FIN))
    }
}

/// Builds an IP packet carrying one TCP segment.
#[allow(clippy::too_many_arguments)]
pub fn build(
    src: SocketAddr,
    dst: SocketAddr,
    seq: u32,
    ack: u32,
    flags: u8,
    window: u16,
    options: Vec<TcpOption>,
    payload: &[u8],
) -> Vec<u8> {
    let seg = TcpRepr {
        src_port: src.port(),
        dst_port: dst.port(),
        seq: SeqNum(seq),
        ack: SeqNum(ack),
        flags: TcpFlags(flags),
        window,
        urgent: 0,
        options: TcpOptions::from_vec(options),
        payload,
    };
    let ip = IpRepr {
        src: src.ip(),
        dst: dst.ip(),
        protocol: IP_PROTO_TCP,
        hop_limit: 64,
        payload_len: seg.buffer_len(),
    };
    let mut buf = vec![0u8; ip.buffer_len()];
    ip.emit(&mut buf);
    seg.emit(&mut buf[ip.header_len()..], src.ip(), dst.ip());
    buf
}

pub fn mpc(version: u8, flags: u8, sk: Option<u64>, rk: Option<u64>, dl: Option<u16>) -> TcpOption {
    TcpOption::Mptcp(MptcpOption::MpCapable(MpCapable {
        version,
        flags,
        sender_key: sk,
        receiver_key: rk,
        data_len: dl,
        checksum: None,
    }))
}

/// A DSS with an optional 64-bit DATA_ACK and an optional mapping.
pub fn dss(ack: Option<u64>, map: Option<(u64, bool, u32, u16)>, fin: bool) -> TcpOption {
    TcpOption::Mptcp(MptcpOption::Dss(Dss {
        data_ack: ack.map(|value| DataAck { value, wide: true }),
        mapping: map.map(|(dsn, wide, ssn, data_len)| DssMapping {
            dsn: if wide { dsn } else { dsn & 0xffff_ffff },
            wide,
            ssn,
            data_len,
            checksum: None,
        }),
        data_fin: fin,
    }))
}

// --- Driving one endpoint ---

pub struct Driver {
    pub ep: Endpoint,
    pub now: Instant,
    pub events: Vec<Event>,
    buf: Vec<u8>,
}

impl Driver {
    pub fn new(cfg: EndpointConfig, seed: u64) -> Self {
        Driver {
            ep: Endpoint::new(cfg, seed),
            now: Instant::ZERO,
            events: Vec::new(),
            buf: Vec::new(),
        }
    }

    /// Everything the endpoint wants to send now.
    pub fn drain(&mut self) -> Vec<Seg> {
        let mut out = Vec::new();
        while let Some(t) = self.ep.poll_transmit(self.now, &mut self.buf) {
            out.push(Seg::parse(&self.buf[..t.len]));
            assert!(out.len() < 100_000, "endpoint never stops sending");
        }
        while let Some(e) = self.ep.poll_event() {
            self.events.push(e);
        }
        out
    }

    /// Delivers one packet, returns what the endpoint sends in response.
    pub fn input(&mut self, pkt: &[u8]) -> Vec<Seg> {
        self.ep.handle_packet(self.now, pkt);
        self.drain()
    }

    /// Lets `d` pass, running timers on time; returns everything sent meanwhile.
    pub fn advance(&mut self, d: Duration) -> Vec<Seg> {
        let target = self.now + d;
        let mut out = self.drain();
        for _ in 0..100_000 {
            match self.ep.poll_timeout() {
                Some(t) if t <= target => {
                    self.now = self.now.max(t);
                    self.ep.handle_timeout(self.now);
                    out.extend(self.drain());
                }
                _ => break,
            }
        }
        self.now = target;
        out
    }

    pub fn has_event(&self, f: impl Fn(&Event) -> bool) -> bool {
        self.events.iter().any(f)
    }

    pub fn incoming(&self) -> Option<ConnectionHandle> {
        self.events.iter().find_map(|e| match e {
            Event::Incoming { conn, .. } => Some(*conn),
            _ => None,
        })
    }

    /// Reads everything readable.
    pub fn read_all(&mut self, c: ConnectionHandle) -> Vec<u8> {
        let mut out = Vec::new();
        let mut buf = vec![0u8; 65536];
        while let Ok(n) = self.ep.recv(c, &mut buf) {
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        out
    }
}

/// The scripted peer's side of one subflow.
#[derive(Debug, Clone, Copy)]
pub struct Flow {
    /// The peer's address.
    pub me: SocketAddr,
    /// The endpoint's address.
    pub it: SocketAddr,
    pub snd_nxt: u32,
    pub rcv_nxt: u32,
    /// Subflow-relative sequence number of the next byte we send (for DSS SSNs).
    pub ssn: u32,
}

impl Flow {
    pub fn seg(&self, flags: u8, options: Vec<TcpOption>, payload: &[u8]) -> Vec<u8> {
        build(
            self.me,
            self.it,
            self.snd_nxt,
            self.rcv_nxt,
            flags,
            65535,
            options,
            payload,
        )
    }
    /// A data segment (ACK|PSH) that advances our sequence numbers.
    pub fn data(&mut self, options: Vec<TcpOption>, payload: &[u8]) -> Vec<u8> {
        let p = self.seg(ACK | PSH, options, payload);
        self.snd_nxt = self.snd_nxt.wrapping_add(payload.len() as u32);
        self.ssn = self.ssn.wrapping_add(payload.len() as u32);
        p
    }
    /// Takes in what the endpoint sent on this subflow (advances `rcv_nxt`).
    pub fn absorb(&mut self, segs: &[Seg]) {
        for s in segs.iter().filter(|s| s.src == self.it && s.dst == self.me) {
            let end = s.seq.wrapping_add(s.seq_len());
            if (end.wrapping_sub(self.rcv_nxt) as i32) > 0 && !s.has(RST) {
                self.rcv_nxt = end;
            }
        }
    }
    /// Segments of `segs` on this subflow.
    pub fn on<'a>(&self, segs: &'a [Seg]) -> Vec<&'a Seg> {
        segs.iter()
            .filter(|s| s.src == self.it && s.dst == self.me)
            .collect()
    }
}

pub const SERVER: &str = "10.9.0.1:5201";
pub const PEER_KEY: u64 = 0x1122_3344_5566_7788;
pub const PEER_ISN: u32 = 0xfff0_0000;

/// An MPTCP server endpoint with a completed MP_CAPABLE handshake from a scripted client.
pub struct ServerRig {
    pub d: Driver,
    pub f: Flow,
    pub conn: ConnectionHandle,
    pub peer_key: u64,
    pub server_key: u64,
    pub synack: Seg,
    /// Data offset of our next byte (relative to our IDSN + 1).
    pub dsn_off: u64,
}

impl ServerRig {
    /// `syn_flags`: the MP_CAPABLE flags of the client SYN and third ACK.
    pub fn new(cfg: EndpointConfig, peer_key: u64, syn_flags: u8) -> ServerRig {
        let mut d = Driver::new(cfg, 77);
        d.ep.listen(5201).unwrap();
        let mut f = Flow {
            me: sa("10.0.0.1:40000"),
            it: sa(SERVER),
            snd_nxt: PEER_ISN,
            rcv_nxt: 0,
            ssn: 1,
        };
        let syn = f.seg(
            SYN,
            vec![TcpOption::Mss(1460), mpc(1, syn_flags, None, None, None)],
            &[],
        );
        let out = d.input(&syn);
        assert_eq!(out.len(), 1, "one SYN/ACK expected: {out:?}");
        let synack = out[0].clone();
        assert!(synack.has(SYN | ACK));
        let server_key = synack
            .mpc()
            .and_then(|m| m.sender_key)
            .expect("MPC in SYN/ACK");
        f.snd_nxt = PEER_ISN.wrapping_add(1);
        f.rcv_nxt = synack.seq.wrapping_add(1);
        let ack = f.seg(
            ACK,
            vec![mpc(1, syn_flags, Some(peer_key), Some(server_key), None)],
            &[],
        );
        let out = d.input(&ack);
        f.absorb(&out);
        let conn = d.incoming().expect("server accepted the connection");
        ServerRig {
            d,
            f,
            conn,
            peer_key,
            server_key,
            synack,
            dsn_off: 0,
        }
    }

    pub fn peer_idsn(&self) -> u64 {
        idsn_of(self.peer_key)
    }

    /// DSN of our next data byte.
    pub fn next_dsn(&self) -> u64 {
        self.peer_idsn().wrapping_add(1).wrapping_add(self.dsn_off)
    }

    /// DATA_ACK value acknowledging everything the server sent (from its segments).
    pub fn server_dsn(&self, off: u64) -> u64 {
        idsn_of(self.server_key).wrapping_add(1).wrapping_add(off)
    }

    /// Sends `payload` on the initial subflow with a 64-bit mapping and a DATA_ACK of `dack`.
    pub fn send_data(&mut self, dack: Option<u64>, payload: &[u8]) -> Vec<Seg> {
        let map = (self.next_dsn(), true, self.f.ssn, payload.len() as u16);
        self.dsn_off += payload.len() as u64;
        let p = self.f.data(vec![dss(dack, Some(map), false)], payload);
        let out = self.d.input(&p);
        self.f.absorb(&out);
        out
    }
}

/// An MPTCP client endpoint whose SYN a scripted server answered.
pub struct ClientRig {
    pub d: Driver,
    pub f: Flow,
    pub conn: ConnectionHandle,
    pub client_key: Option<u64>,
    pub server_key: u64,
    pub syn: Seg,
    /// What the client sent right after our SYN/ACK (the third ACK).
    pub third: Vec<Seg>,
}

pub const SERVER_KEY: u64 = 0x0a0b_0c0d_0e0f_1011;
pub const SERVER_ISN: u32 = 0x7fff_fff0;

impl ClientRig {
    /// `synack_mpc`: the option our SYN/ACK carries (None: plain SYN/ACK).
    pub fn new(cfg: EndpointConfig, locals: &[&str], synack_mpc: Option<TcpOption>) -> ClientRig {
        let mut d = Driver::new(cfg, 99);
        let locals: Vec<std::net::IpAddr> = locals.iter().map(|a| a.parse().unwrap()).collect();
        let params = d.ep.connect_params(locals, sa(SERVER));
        let conn = d.ep.connect(d.now, params).unwrap();
        let out = d.drain();
        assert_eq!(out.len(), 1);
        let syn = out[0].clone();
        assert!(syn.has(SYN) && !syn.has(ACK));
        let mut f = Flow {
            me: sa(SERVER),
            it: syn.src,
            snd_nxt: SERVER_ISN,
            rcv_nxt: syn.seq.wrapping_add(1),
            ssn: 1,
        };
        let mut opts = vec![TcpOption::Mss(1460)];
        opts.extend(synack_mpc);
        let synack = f.seg(SYN | ACK, opts, &[]);
        f.snd_nxt = SERVER_ISN.wrapping_add(1);
        let third = d.input(&synack);
        f.absorb(&third);
        let client_key = third
            .iter()
            .find_map(|s| s.mpc())
            .and_then(|m| m.sender_key);
        ClientRig {
            d,
            f,
            conn,
            client_key,
            server_key: SERVER_KEY,
            syn,
            third,
        }
    }

    /// The standard v1 SYN/ACK option with our key.
    pub fn synack_mpc(flags: u8) -> Option<TcpOption> {
        Some(mpc(1, flags, Some(SERVER_KEY), None, None))
    }

    pub fn client_idsn(&self) -> u64 {
        idsn_of(self.client_key.expect("MPTCP negotiated"))
    }
}

/// The 64-bit value closest to `reference` whose low bits are `wire` (or `wire` itself if wide).
pub fn expand32(reference: u64, wire: u64, wide: bool) -> u64 {
    if wide {
        return wire;
    }
    let cand = (reference & !0xffff_ffff) | (wire & 0xffff_ffff);
    let d = cand.wrapping_sub(reference) as i64;
    if d > i64::from(i32::MAX) {
        cand.wrapping_sub(1 << 32)
    } else if d < i64::from(i32::MIN) {
        cand.wrapping_add(1 << 32)
    } else {
        cand
    }
}

impl ServerRig {
    /// Completes an MP_JOIN from `me` (valid HMACs); returns the join subflow's flow.
    pub fn join(&mut self, me: &str, addr_id: u8) -> Flow {
        use mptcp_proto::wire::MpJoin;
        let r_a = 0x5151_5151u32;
        let mut f = Flow {
            me: sa(me),
            it: sa(SERVER),
            snd_nxt: 0x2000_0000,
            rcv_nxt: 0,
            ssn: 1,
        };
        let syn = f.seg(
            SYN,
            vec![
                TcpOption::Mss(1460),
                TcpOption::Mptcp(MptcpOption::MpJoin(MpJoin::Syn {
                    backup: false,
                    addr_id,
                    token: token_of(self.server_key),
                    nonce: r_a,
                })),
            ],
            &[],
        );
        let out = self.d.input(&syn);
        let Some(MpJoin::SynAck { nonce, .. }) = out[0].join() else {
            panic!("join refused: {out:?}")
        };
        f.snd_nxt += 1;
        f.rcv_nxt = out[0].seq.wrapping_add(1);
        let mac: [u8; 20] = join_mac(self.peer_key, self.server_key, r_a, nonce)[..20]
            .try_into()
            .unwrap();
        let out = self.d.input(&f.seg(
            ACK,
            vec![TcpOption::Mptcp(MptcpOption::MpJoin(MpJoin::Ack {
                hmac: mac,
            }))],
            &[],
        ));
        f.absorb(&out);
        f
    }
}
