//! Turns simulator captures into seed corpora for the cargo-fuzz targets in `fuzz/`.
//! Usage: `cargo run -p mptcp-sim --example fuzz_corpus -- OUT_DIR PCAP...`
//! (`scripts/fuzz-corpus.sh` runs the shipped scenarios and calls it).
//!
//! - `OUT_DIR/wire_parse/`: one file per distinct packet shape (flags, option kinds, MPTCP
//!   subtypes and lengths, payload or not), the raw IP packet.
//! - `OUT_DIR/endpoint_packets/`: per capture, the input format of that target (see its
//!   doc comment): a listener fed the capture's first packets verbatim, and established
//!   connections (each setup state) fed the capture's flags, options and payloads on their
//!   own live 4-tuples ("crafted" records).
//!
//! File names are content hashes, so re-running gives the same files.

use mptcp_proto::wire::{IpRepr, TcpOption, TcpRepr};
use pcap_file::pcap::PcapReader;
use std::collections::BTreeSet;
use std::path::Path;

/// Most wire seeds kept per shape, and crafted records per endpoint seed.
const PER_SHAPE: usize = 2;
const RECORDS: usize = 48;
/// Payload bytes kept in crafted records (the shape matters, not the bulk).
const PAYLOAD: usize = 64;

fn fnv(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn write(dir: &Path, data: &[u8]) {
    let path = dir.join(format!("{:016x}", fnv(data)));
    if let Err(e) = std::fs::write(&path, data) {
        eprintln!("{}: {e}", path.display());
        std::process::exit(1);
    }
}

/// What distinguishes packets for the parser: flags, and each option's kind and length
/// (with the MPTCP subtype nibble).
fn shape(seg: &TcpRepr<'_>) -> Vec<u8> {
    let mut s = vec![seg.flags.0, u8::from(!seg.payload.is_empty())];
    for o in &seg.options {
        match o {
            TcpOption::Mptcp(m) => s.extend([30, m.subtype(), m.buffer_len() as u8]),
            o => {
                let mut b = [0u8; 64];
                let n = o.buffer_len().min(64);
                o.emit(&mut b[..n]);
                s.extend([b[0], n as u8]);
            }
        }
    }
    s
}

/// A record `[ctrl][len][body]` of the endpoint target.
fn record(out: &mut Vec<u8>, ctrl: u8, body: &[u8]) {
    out.push(ctrl);
    out.extend_from_slice(&(body.len() as u16).to_be_bytes());
    out.extend_from_slice(body);
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((out, pcaps)) = args.split_first() else {
        eprintln!("usage: fuzz_corpus OUT_DIR PCAP...");
        std::process::exit(2);
    };
    let wire_dir = Path::new(out).join("wire_parse");
    let ep_dir = Path::new(out).join("endpoint_packets");
    for d in [&wire_dir, &ep_dir] {
        if let Err(e) = std::fs::create_dir_all(d) {
            eprintln!("{}: {e}", d.display());
            std::process::exit(1);
        }
    }
    let mut shapes: std::collections::BTreeMap<Vec<u8>, usize> = Default::default();
    let (mut wire_n, mut ep_n) = (0, 0);
    for pcap in pcaps {
        let reader = std::fs::File::open(pcap)
            .map_err(|e| e.to_string())
            .and_then(|f| PcapReader::new(f).map_err(|e| e.to_string()));
        let mut reader = match reader {
            Ok(r) => r,
            Err(e) => {
                eprintln!("{pcap}: {e}");
                std::process::exit(1);
            }
        };
        let mut raw = vec![0u8]; // listener state
        let mut crafted = Vec::new();
        let mut seen_crafted = BTreeSet::new();
        let mut n_raw = 0;
        while let Some(Ok(pkt)) = reader.next_packet() {
            let data = &pkt.data[..];
            let Ok((ip, payload)) = IpRepr::parse(data) else {
                continue;
            };
            let Ok(seg) = TcpRepr::parse(payload, None) else {
                continue;
            };
            // Server addresses are 10.254.x.y (crates/mptcp-sim/src/topology.rs).
            let to_server = matches!(ip.dst, std::net::IpAddr::V4(a) if a.octets()[1] == 254);
            let target = u8::from(!to_server);
            let sh = shape(&seg);
            let count = shapes.entry(sh.clone()).or_default();
            if *count < PER_SHAPE && data.len() <= 200 {
                *count += 1;
                write(&wire_dir, data);
                wire_n += 1;
            }
            if n_raw < RECORDS {
                n_raw += 1;
                // Raw form, 1 ms of clock after each packet.
                record(&mut raw, target | 1 << 3, &data[..data.len().min(200)]);
            }
            if seen_crafted.len() < RECORDS && seen_crafted.insert(sh) {
                let hdr = payload.len() - seg.payload.len();
                let opts = &payload[20..hdr];
                let mut body = vec![0, seg.flags.0, ((opts.len() / 4) as u8) << 4 | 1];
                body.extend_from_slice(opts);
                body.extend_from_slice(&seg.payload[..seg.payload.len().min(PAYLOAD)]);
                // Crafted form (3), 1 ms of clock.
                record(&mut crafted, target | 3 << 1 | 1 << 3, &body);
            }
        }
        write(&ep_dir, &raw);
        ep_n += 1;
        for setup in [1u8, 2, 3, 9] {
            let mut seed = vec![setup];
            seed.extend_from_slice(&crafted);
            write(&ep_dir, &seed);
            ep_n += 1;
        }
    }
    println!("{wire_n} wire_parse seeds, {ep_n} endpoint_packets seeds in {out}");
}
