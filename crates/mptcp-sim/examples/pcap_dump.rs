//! Prints one line per packet of a pcap written by `mptcp sim --pcap`: time, addresses,
//! flags, sequence and acknowledgment numbers, window, payload length and MPTCP options.
//! Usage: `cargo run -p mptcp-sim --example pcap_dump -- FILE [MAX_LINES]`.

use mptcp_proto::wire::{IpRepr, MptcpOption, TcpOption, TcpRepr};
use pcap_file::pcap::PcapReader;

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next() else {
        eprintln!("usage: pcap_dump FILE [MAX_LINES]");
        std::process::exit(2);
    };
    let max: usize = args
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(usize::MAX);
    let file = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("{path}: {e}");
            std::process::exit(1);
        }
    };
    let mut reader = match PcapReader::new(file) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{path}: {e}");
            std::process::exit(1);
        }
    };
    let mut n = 0;
    while let Some(Ok(pkt)) = reader.next_packet() {
        if n >= max {
            break;
        }
        n += 1;
        let t = pkt.timestamp.as_secs_f64();
        let Ok((ip, payload)) = IpRepr::parse(&pkt.data) else {
            println!("{t:.6} unparsable IP");
            continue;
        };
        let Ok(seg) = TcpRepr::parse(payload, None) else {
            println!("{t:.6} {} > {} unparsable TCP", ip.src, ip.dst);
            continue;
        };
        let mut opts = String::new();
        for o in seg.options.iter() {
            match o {
                TcpOption::Mptcp(m) => opts.push_str(&match m {
                    MptcpOption::Dss(d) => format!(
                        " DSS[ack={:?} map={:?} fin={}]",
                        d.data_ack.map(|a| a.value),
                        d.mapping.map(|m| (m.dsn, m.ssn, m.data_len)),
                        d.data_fin
                    ),
                    other => format!(" {other:?}"),
                }),
                TcpOption::Sack(b) => opts.push_str(&format!(
                    " SACK{:?}",
                    b.iter().map(|(l, r)| (l.0, r.0)).collect::<Vec<_>>()
                )),
                _ => {}
            }
        }
        println!(
            "{t:.6} {}:{} > {}:{} f={:#04x} seq={} ack={} win={} len={}{}",
            ip.src,
            seg.src_port,
            ip.dst,
            seg.dst_port,
            seg.flags.0,
            seg.seq.0,
            seg.ack.0,
            seg.window,
            seg.payload.len(),
            opts
        );
    }
}
