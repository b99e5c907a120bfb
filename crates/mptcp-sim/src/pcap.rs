//! Packet capture: one pcap file per path (`DIR/path{N}.pcap`), both directions,
//! LINKTYPE_RAW (IPv4 packets without a link header), timestamps = simulated time.
//!
//! Packets are captured when they arrive at the far end of the path (after queueing, loss
//! and middleboxes), which is what the receiving host sees.

use mptcp_proto::Instant;
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use pcap_file::{DataLink, Endianness, TsResolution};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Why a capture failed.
#[derive(Debug, thiserror::Error)]
#[error("pcap {path}: {message}")]
pub struct PcapError {
    /// The file.
    pub path: String,
    /// What went wrong.
    pub message: String,
}

/// A pcap writer over any byte sink.
pub struct PcapSink<W: Write> {
    writer: PcapWriter<W>,
    name: String,
    error: Option<String>,
}

impl<W: Write> std::fmt::Debug for PcapSink<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PcapSink")
            .field("name", &self.name)
            .finish()
    }
}

/// The pcap header used for every capture: microsecond timestamps, LINKTYPE_RAW.
pub fn header() -> PcapHeader {
    PcapHeader {
        version_major: 2,
        version_minor: 4,
        ts_correction: 0,
        ts_accuracy: 0,
        snaplen: 65_535,
        datalink: DataLink::RAW,
        ts_resolution: TsResolution::MicroSecond,
        endianness: Endianness::Little,
    }
}

impl<W: Write> PcapSink<W> {
    /// Writes the file header to `sink`; `name` appears in errors.
    pub fn new(sink: W, name: &str) -> Result<Self, PcapError> {
        let writer = PcapWriter::with_header(sink, header()).map_err(|e| PcapError {
            path: name.to_string(),
            message: e.to_string(),
        })?;
        Ok(PcapSink {
            writer,
            name: name.to_string(),
            error: None,
        })
    }

    /// Records one packet. Errors are remembered (see [`PcapSink::finish`]) so the
    /// simulation loop does not have to handle them per packet.
    pub fn record(&mut self, now: Instant, pkt: &[u8]) {
        if self.error.is_some() {
            return;
        }
        let ts = Duration::from_nanos(now.as_nanos());
        let orig = u32::try_from(pkt.len()).unwrap_or(u32::MAX);
        if let Err(e) = self.writer.write_packet(&PcapPacket::new(ts, orig, pkt)) {
            self.error = Some(e.to_string());
        }
    }

    /// Flushes and returns the sink, or the first error seen.
    pub fn finish(self) -> Result<W, PcapError> {
        if let Some(message) = self.error {
            return Err(PcapError {
                path: self.name,
                message,
            });
        }
        let mut w = self.writer.into_writer();
        w.flush().map_err(|e| PcapError {
            path: self.name.clone(),
            message: e.to_string(),
        })?;
        Ok(w)
    }
}

/// Captures of every path, written to files in a directory.
#[derive(Debug, Default)]
pub struct PcapSet {
    sinks: Vec<PcapSink<BufWriter<File>>>,
}

impl PcapSet {
    /// Creates `dir` if needed and `dir/path{N}.pcap` for `n_paths` paths.
    pub fn create(dir: &Path, n_paths: usize) -> Result<Self, PcapError> {
        std::fs::create_dir_all(dir).map_err(|e| PcapError {
            path: dir.display().to_string(),
            message: e.to_string(),
        })?;
        let mut sinks = Vec::with_capacity(n_paths);
        for p in 0..n_paths {
            let path: PathBuf = dir.join(format!("path{p}.pcap"));
            let name = path.display().to_string();
            let file = File::create(&path).map_err(|e| PcapError {
                path: name.clone(),
                message: e.to_string(),
            })?;
            sinks.push(PcapSink::new(BufWriter::new(file), &name)?);
        }
        Ok(PcapSet { sinks })
    }

    /// Records a packet seen on `path`.
    pub fn record(&mut self, path: usize, now: Instant, pkt: &[u8]) {
        if let Some(s) = self.sinks.get_mut(path) {
            s.record(now, pkt);
        }
    }

    /// Flushes every file.
    pub fn finish(self) -> Result<(), PcapError> {
        for s in self.sinks {
            s.finish()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pcap_file::pcap::PcapReader;

    #[test]
    fn writes_readable_raw_capture() {
        let mut sink = PcapSink::new(Vec::new(), "mem").unwrap();
        sink.record(Instant::from_micros(1_500_000), &[0x45, 1, 2, 3]);
        sink.record(Instant::from_micros(2_000_001), &[0x45, 9]);
        let bytes = sink.finish().unwrap();
        // Classic pcap magic, little-endian, microseconds; linktype 101 (RAW).
        assert_eq!(&bytes[..4], &[0xd4, 0xc3, 0xb2, 0xa1]);
        assert_eq!(u32::from_le_bytes(bytes[20..24].try_into().unwrap()), 101);
        let mut reader = PcapReader::new(&bytes[..]).unwrap();
        assert_eq!(reader.header().datalink, DataLink::RAW);
        let p = reader.next_packet().unwrap().unwrap();
        assert_eq!(p.timestamp, Duration::from_micros(1_500_000));
        assert_eq!(&p.data[..], &[0x45, 1, 2, 3]);
        let p = reader.next_packet().unwrap().unwrap();
        assert_eq!(p.timestamp, Duration::from_micros(2_000_001));
        assert_eq!(p.orig_len, 2);
        assert!(reader.next_packet().is_none());
    }

    #[test]
    fn creates_one_file_per_path() {
        let dir = std::env::temp_dir().join(format!("mptcp-sim-pcap-test-{}", std::process::id()));
        let mut set = PcapSet::create(&dir, 2).unwrap();
        set.record(1, Instant::ZERO, &[0x45, 0]);
        set.record(7, Instant::ZERO, &[0x45, 0]); // unknown path: ignored
        set.finish().unwrap();
        let p0 = std::fs::read(dir.join("path0.pcap")).unwrap();
        let p1 = std::fs::read(dir.join("path1.pcap")).unwrap();
        assert_eq!(p0.len(), 24);
        assert_eq!(p1.len(), 24 + 16 + 2);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
