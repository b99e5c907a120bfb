//! Receive-buffer autotuning end to end: the server's receive buffer grows for a large
//! bandwidth-delay product, stays small for a slow application or a small BDP, and the
//! right edge it advertises never moves left.

mod util;

use mptcp_proto::wire::{IpRepr, MptcpOption, TcpOption, TcpRepr};
use mptcp_proto::{ConnectionHandle, Duration, EndpointConfig, Event, Instant};
use util::{pattern, Link, Pair};

const MAX: usize = 8 << 20;

fn config(autotune: bool, mptcp: bool) -> EndpointConfig {
    EndpointConfig {
        recv_buffer: MAX,
        send_buffer: MAX,
        recv_buffer_autotune: autotune,
        mptcp,
        ..EndpointConfig::default()
    }
}

/// Right edges the server advertised, checked as they go out. A scaled window field
/// cannot express every edge: moving the left edge by less than 2^wscale may pull the
/// rounded-down right edge back by less than 2^wscale (RFC 7323 §2.4). Anything more is a
/// shrunk window.
#[derive(Default)]
struct EdgeCheck {
    wscale: u8,
    last: Option<u32>,
    checked: u64,
    shrank: Vec<(u32, u32)>,
}

impl EdgeCheck {
    /// Server-to-client packet: right edge = DATA_ACK + window (MPTCP, RFC 8684 §3.3.4)
    /// or ACK + window (TCP), compared modulo 2^32.
    fn packet(&mut self, pkt: &[u8]) {
        let Ok((_, payload)) = IpRepr::parse(pkt) else {
            return;
        };
        let Ok(seg) = TcpRepr::parse(payload, None) else {
            return;
        };
        if seg.flags.syn() {
            for o in seg.options.iter() {
                if let TcpOption::WindowScale(s) = o {
                    self.wscale = *s;
                }
            }
            return;
        }
        if !seg.flags.ack() || seg.flags.rst() {
            return;
        }
        let mut left = seg.ack.0;
        for o in seg.options.iter() {
            if let TcpOption::Mptcp(MptcpOption::Dss(d)) = o {
                match d.data_ack {
                    Some(a) => left = a.value as u32,
                    None => return,
                }
            }
        }
        let edge = left.wrapping_add(u32::from(seg.window) << self.wscale);
        if let Some(last) = self.last {
            if last.wrapping_sub(edge) as i32 >= 1 << self.wscale {
                self.shrank.push((last, edge));
            }
        }
        if self.last.is_none_or(|l| (edge.wrapping_sub(l) as i32) > 0) {
            self.last = Some(edge);
        }
        self.checked += 1;
    }
}

struct Outcome {
    done_at: Option<Instant>,
    /// Largest receive buffer the server reported.
    max_buffer: u64,
    edges: EdgeCheck,
}

/// The client sends `data`; the server reads at most `read_per_10ms` bytes every 10 ms
/// (all it can when `None`).
fn run(mut pair: Pair, data: &[u8], read_per_10ms: Option<usize>, limit: Instant) -> Outcome {
    pair.capture_limit = 1 << 16;
    let c = pair.connect();
    let mut sent = 0usize;
    let mut shut = false;
    let mut server: Option<ConnectionHandle> = None;
    let mut got = 0usize;
    let mut done_at = None;
    let mut buf = vec![0u8; 65536];
    let mut max_buffer = 0;
    let mut edges = EdgeCheck::default();
    let mut next_read = Instant::ZERO;
    let tick = Duration::from_millis(10);
    let mut step = |p: &mut Pair| -> bool {
        for (to_server, pkt) in p.captured.drain(..) {
            if !to_server {
                edges.packet(&pkt);
            }
        }
        while sent < data.len() {
            match p.client.send(c, &data[sent..]) {
                Ok(n) if n > 0 => sent += n,
                _ => break,
            }
        }
        if sent == data.len() && !shut && p.client.shutdown(c).is_ok() {
            shut = true;
        }
        for e in p.server_events.drain(..) {
            if let Event::Incoming { conn, .. } = e {
                server = Some(conn);
            }
        }
        let Some(s) = server else {
            return false;
        };
        if let Some(st) = p.server.stats(s) {
            max_buffer = max_buffer.max(st.recv_buffer);
        }
        let mut budget = match read_per_10ms {
            None => usize::MAX,
            Some(_) if p.now < next_read => 0,
            Some(n) => {
                next_read = p.now + tick;
                n
            }
        };
        while budget > 0 {
            let want = budget.min(buf.len());
            match p.server.recv(s, &mut buf[..want]) {
                Ok(0) => {
                    done_at.get_or_insert(p.now);
                    break;
                }
                Ok(n) => {
                    got += n;
                    budget -= n;
                }
                Err(_) => break,
            }
        }
        done_at.is_some()
    };
    // Drive with a wake-up every 10 ms so that a slow reader reads on time even while
    // nothing else happens.
    while !step(&mut pair) && pair.now < limit {
        let until = (pair.now + tick).min(limit);
        while pair.step(until) {}
        pair.now = pair.now.max(until);
    }
    assert!(done_at.is_none() || got == data.len());
    Outcome {
        done_at,
        max_buffer,
        edges,
    }
}

fn secs(s: u64) -> Instant {
    Instant::ZERO + Duration::from_secs(s)
}

/// One path each way: `delay_ms` one-way, `rate_mbit`, drop-tail queue of `queue` bytes.
fn pair(autotune: bool, mptcp: bool, delay_ms: u64, rate_mbit: u64, queue: usize) -> Pair {
    let mut up = Link::new(delay_ms, rate_mbit);
    up.queue_limit = queue;
    let mut down = Link::new(delay_ms, rate_mbit);
    down.queue_limit = queue;
    Pair::new(
        config(autotune, mptcp),
        config(autotune, mptcp),
        vec![(up, down)],
        3,
    )
}

#[test]
fn autotune_grows_for_a_large_bdp_as_fast_as_a_fixed_buffer() {
    // 100 Mbit/s, 100 ms RTT: BDP 1.25 MB, queue 1 MB.
    let data = pattern(40_000_000, 1);
    let tuned = run(pair(true, true, 50, 100, 1 << 20), &data, None, secs(60));
    let fixed = run(pair(false, true, 50, 100, 1 << 20), &data, None, secs(60));
    let t_tuned = tuned.done_at.expect("autotuned transfer finished");
    let t_fixed = fixed.done_at.expect("fixed-buffer transfer finished");
    // The buffer grew past the BDP from its 128 KiB start (which alone would cap the
    // transfer at 128 KiB per 100 ms, about 10 Mbit/s, over 30 s for 40 MB).
    assert!(
        tuned.max_buffer >= 2_500_000,
        "buffer {} did not grow",
        tuned.max_buffer
    );
    assert_eq!(fixed.max_buffer, MAX as u64);
    assert!(
        t_tuned.as_secs_f64() <= 1.05 * t_fixed.as_secs_f64(),
        "autotuned {t_tuned:?} vs fixed {t_fixed:?}"
    );
    for o in [&tuned, &fixed] {
        assert!(o.edges.checked > 1000);
        assert!(
            o.edges.shrank.is_empty(),
            "{:?}",
            &o.edges.shrank[..5.min(o.edges.shrank.len())]
        );
    }
}

#[test]
fn autotune_stays_small_for_a_slow_reader() {
    // The large-BDP path, but the application reads 1 KB per 10 ms (100 KB/s): 10 KB per
    // RTT, less than the sender's initial window, so the buffer never grows.
    for mptcp in [true, false] {
        let data = pattern(300_000, 2);
        let o = run(
            pair(true, mptcp, 50, 100, 1 << 20),
            &data,
            Some(1_000),
            secs(30),
        );
        let done = o.done_at.expect("slow transfer finished");
        // The reader set the pace: 300 reads of 1 KB, one per 10 ms.
        assert!(done >= secs(3), "mptcp={mptcp}: done at {done:?}");
        assert_eq!(o.max_buffer, 128 * 1024, "mptcp={mptcp}");
        assert!(o.edges.checked > 100);
        assert!(
            o.edges.shrank.is_empty(),
            "mptcp={mptcp}: {:?}",
            o.edges.shrank
        );
    }
    // 5 KB per 10 ms (500 KB/s, 50 KB per RTT): the first RTTs of slow start, while the
    // reader still keeps up, grow the buffer; then the unread half stops it. It stays far
    // below the 8 MiB that is advertised without autotuning.
    let data = pattern(1_000_000, 4);
    let o = run(
        pair(true, true, 50, 100, 1 << 20),
        &data,
        Some(5_000),
        secs(30),
    );
    assert!(o.done_at.is_some());
    assert!(
        o.max_buffer <= 512 * 1024,
        "buffer grew to {}",
        o.max_buffer
    );
    assert!(o.edges.shrank.is_empty(), "{:?}", o.edges.shrank);
    let o = run(
        pair(false, true, 50, 100, 1 << 20),
        &data,
        Some(5_000),
        secs(30),
    );
    assert_eq!(o.max_buffer, MAX as u64);
}

#[test]
fn autotune_stays_small_for_a_small_bdp() {
    // 10 Mbit/s, 2 ms RTT (BDP 2.5 KB), 32 KB queue: the flow never has more than about
    // 35 KB in flight, so twice that plus slow-start room is all the buffer grows to.
    let data = pattern(5_000_000, 3);
    let o = run(pair(true, true, 1, 10, 32_000), &data, None, secs(30));
    assert!(o.done_at.is_some());
    assert!(
        o.max_buffer <= 512 * 1024,
        "buffer grew to {} for a 2.5 KB BDP",
        o.max_buffer
    );
    assert!(o.edges.shrank.is_empty(), "{:?}", o.edges.shrank);
}
