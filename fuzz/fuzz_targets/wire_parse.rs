//! Wire codec: parsing any bytes never panics, and wherever the codec promises it, what
//! parses re-emits and re-parses to the same value (reserved bits are dropped once, so
//! the second emission is byte-identical to the first).
//!
//! The same input is tried as a whole IPv4/IPv6 packet (then its TCP segment with the
//! checksum verified), as a bare TCP segment, as a TCP option area and as one MPTCP
//! option body. Seeds are real packets extracted from simulator captures
//! (`scripts/fuzz-corpus.sh`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mptcp_proto::wire::tcp::{emit_options, parse_options};
use mptcp_proto::wire::{IpRepr, MptcpOption, TcpOption, TcpRepr};
use std::net::IpAddr;

/// IP header: parse, then emit a header of the same fields and parse it back.
fn check_ip(data: &[u8]) -> Option<(IpRepr, &[u8])> {
    let (ip, payload) = IpRepr::parse(data).ok()?;
    assert_eq!(
        payload.len(),
        ip.payload_len,
        "payload trimmed to the header's length"
    );
    assert!(ip.header_len() + ip.payload_len <= data.len());
    let mut buf = vec![0xa5; ip.buffer_len()];
    ip.emit(&mut buf);
    buf[ip.header_len()..].copy_from_slice(payload);
    let (again, again_payload) = IpRepr::parse(&buf).expect("emitted IP header parses");
    assert_eq!(again, ip);
    assert_eq!(again_payload, payload);
    Some((ip, payload))
}

/// TCP segment: emit(parse(x)) parses (with the checksum verified) to the same segment,
/// and emitting that again gives the same bytes.
fn check_tcp(seg: &TcpRepr<'_>, src: IpAddr, dst: IpAddr) {
    // A parsed option area never exceeds 40 bytes, so the header is expressible.
    assert!(seg.header_len() <= 60, "{} byte header", seg.header_len());
    let mut buf = vec![0xa5; seg.buffer_len()];
    seg.emit(&mut buf, src, dst);
    let again = TcpRepr::parse(&buf, Some((src, dst))).expect("emitted segment parses");
    assert_eq!(&again, seg);
    let mut buf2 = vec![0x5a; again.buffer_len()];
    again.emit(&mut buf2, src, dst);
    assert_eq!(buf, buf2);
    for m in seg.mptcp_options() {
        check_mptcp_value(m);
    }
}

/// A parsed MPTCP option re-emits within its `buffer_len` and parses back to itself.
fn check_mptcp_value(opt: &MptcpOption) {
    let len = opt.buffer_len();
    if len > 255 {
        // Only an `Unknown` body longer than any TCP option area can get here.
        assert!(matches!(opt, MptcpOption::Unknown { .. }));
        return;
    }
    let mut buf = vec![0xa5; len];
    opt.emit(&mut buf);
    assert_eq!(buf[0], 30);
    assert_eq!(usize::from(buf[1]), len);
    assert_eq!(&MptcpOption::parse(&buf[2..]), opt);
    let mut again = vec![0x5a; len];
    opt.emit(&mut again);
    assert_eq!(
        buf, again,
        "emit does not depend on the buffer's old contents"
    );
}

/// One MPTCP option body: the lenient and the strict parse agree, and a strict parse
/// accounts for every byte of the body (each form has a fixed length).
fn check_mptcp_body(body: &[u8]) {
    let opt = MptcpOption::parse(body);
    match MptcpOption::try_parse(body) {
        Ok(strict) => {
            assert_eq!(strict, opt);
            assert_eq!(strict.buffer_len(), body.len() + 2);
            assert_eq!(strict.subtype(), body[0] >> 4);
        }
        Err(_) => assert_eq!(opt, MptcpOption::Unknown { data: body.into() }),
    }
    check_mptcp_value(&opt);
}

/// An option area (at most 40 bytes, padded to words as in a header).
fn check_options(area: &[u8]) {
    let Ok(opts) = parse_options(area) else {
        return;
    };
    let n: usize = opts.iter().map(TcpOption::buffer_len).sum();
    assert!(n <= area.len());
    // Exactly the options' bytes: padding would add an `End` the original may lack.
    let mut out = vec![0xa5; n];
    emit_options(&opts, &mut out);
    assert_eq!(parse_options(&out).expect("emitted area parses"), opts);
    let mut again = vec![0x5a; n];
    emit_options(&opts, &mut again);
    assert_eq!(out, again);
}

fuzz_target!(|data: &[u8]| {
    // Whole IP packet, as the endpoint sees it.
    if let Some((ip, payload)) = check_ip(data) {
        if let Ok(seg) = TcpRepr::parse(payload, Some((ip.src, ip.dst))) {
            check_tcp(&seg, ip.src, ip.dst);
        }
        if let Ok(seg) = TcpRepr::parse(payload, None) {
            check_tcp(&seg, ip.src, ip.dst);
        }
    }
    // Bare TCP segment, without checksum verification.
    if let Ok(seg) = TcpRepr::parse(data, None) {
        let v4 = |a: [u8; 4]| IpAddr::from(a);
        check_tcp(&seg, v4([10, 0, 0, 1]), v4([10, 0, 0, 2]));
        check_tcp(&seg, IpAddr::from([0xfd; 16]), IpAddr::from([0x20; 16]));
    }
    // An option area and an MPTCP option body (both at most what a header can hold).
    let area = &data[..data.len().min(40)];
    check_options(area);
    if !data.is_empty() {
        check_mptcp_body(&data[..data.len().min(38)]);
    }
});
