//! Wire codec: parsing any bytes never panics; what parses re-emits and re-parses to the
//! same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mptcp_proto::wire::{IpRepr, MptcpOption, TcpRepr};

fuzz_target!(|data: &[u8]| {
    // Whole IP packet, as the endpoint sees it.
    if let Ok((ip, payload)) = IpRepr::parse(data) {
        let _ = TcpRepr::parse(payload, Some((ip.src, ip.dst)));
    }
    // Bare TCP segment, without checksum verification, then a round trip.
    if let Ok(seg) = TcpRepr::parse(data, None) {
        if seg.header_len() <= 60 {
            let src = "10.0.0.1".parse().unwrap();
            let dst = "10.0.0.2".parse().unwrap();
            let mut buf = vec![0u8; seg.buffer_len()];
            seg.emit(&mut buf, src, dst);
            let again = TcpRepr::parse(&buf, Some((src, dst))).expect("emitted segment parses");
            assert_eq!(again.payload, seg.payload);
        }
    }
    // One MPTCP option body.
    let opt = MptcpOption::parse(data);
    let mut buf = vec![0u8; opt.buffer_len()];
    if opt.buffer_len() <= 255 {
        opt.emit(&mut buf);
    }
    let _ = MptcpOption::try_parse(data);
});
