//! An endpoint (listening server plus a client connection) fed arbitrary packet sequences
//! with advancing time: no panic, memory within the configured buffers, connection limit
//! respected.
//!
//! Input format: a sequence of records `[kind][len_hi][len_lo][len bytes]`; kind bit 0
//! selects the endpoint (server/client), bits 1..7 advance the clock by that many 10 ms.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mptcp_proto::{Duration, Endpoint, EndpointConfig, Instant};

fn config() -> EndpointConfig {
    EndpointConfig {
        max_connections: 8,
        max_half_open: 4,
        max_subflows: 4,
        send_buffer: 16 * 1024,
        recv_buffer: 16 * 1024,
        max_pending_control: 16,
        checksum: true,
        ..EndpointConfig::default()
    }
}

fn check(ep: &Endpoint) {
    let c = ep.config();
    assert!(ep.connection_count() <= c.max_connections);
    let bound =
        ep.connection_count() * (c.send_buffer + c.recv_buffer) + c.max_pending_control * 1500;
    assert!(ep.buffered_bytes() <= bound);
}

fuzz_target!(|data: &[u8]| {
    let mut server = Endpoint::new(config(), 1);
    server.listen(5201).unwrap();
    let mut client = Endpoint::new(config(), 2);
    let mut now = Instant::ZERO;
    let params = client.connect_params(
        vec!["10.0.0.1".parse().unwrap()],
        "10.9.0.1:5201".parse().unwrap(),
    );
    let conn = client.connect(now, params).unwrap();
    let mut out = Vec::new();
    let mut rest = data;
    while rest.len() >= 3 {
        let kind = rest[0];
        let len = usize::from(u16::from_be_bytes([rest[1], rest[2]]));
        let body = &rest[3..(3 + len).min(rest.len())];
        rest = &rest[(3 + len).min(rest.len())..];
        now = now + Duration::from_millis(u64::from(kind >> 1) * 10);
        let ep = if kind & 1 == 0 {
            &mut server
        } else {
            &mut client
        };
        ep.handle_packet(now, body);
        check(ep);
        for ep in [&mut server, &mut client] {
            ep.handle_timeout(now);
            while ep.poll_transmit(now, &mut out).is_some() {}
            while ep.poll_event().is_some() {}
            let _ = ep.poll_timeout();
            check(ep);
        }
        let _ = client.send(conn, &[0x55; 512]);
    }
});
