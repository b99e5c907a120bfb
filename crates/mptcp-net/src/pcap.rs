//! Packet capture of everything the stack sends and receives: one pcap file, LINKTYPE_RAW
//! (IP packets without a link header), microsecond timestamps from the wall clock.

use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use pcap_file::{DataLink, Endianness, TsResolution};
use std::fs::File;
use std::io::{self, BufWriter};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

/// Longest packet captured whole.
const SNAPLEN: u32 = 65535;

/// A capture file. Write errors stop the capture (reported once) but not the stack.
pub struct PcapFile {
    writer: Option<PcapWriter<BufWriter<File>>>,
}

impl std::fmt::Debug for PcapFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PcapFile")
            .field("open", &self.writer.is_some())
            .finish()
    }
}

impl PcapFile {
    /// Creates (truncates) the file and writes the pcap header.
    pub fn create(path: &Path) -> io::Result<Self> {
        let file = File::create(path).map_err(|e| {
            io::Error::new(e.kind(), format!("cannot create {}: {e}", path.display()))
        })?;
        let header = PcapHeader {
            version_major: 2,
            version_minor: 4,
            ts_correction: 0,
            ts_accuracy: 0,
            snaplen: SNAPLEN,
            datalink: DataLink::RAW,
            ts_resolution: TsResolution::MicroSecond,
            endianness: Endianness::native(),
        };
        let writer = PcapWriter::with_header(BufWriter::new(file), header)
            .map_err(|e| io::Error::other(format!("cannot write {}: {e}", path.display())))?;
        Ok(PcapFile {
            writer: Some(writer),
        })
    }

    /// Appends one IP packet.
    pub fn write(&mut self, packet: &[u8]) {
        let Some(w) = self.writer.as_mut() else {
            return;
        };
        let ts = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let len = u32::try_from(packet.len()).unwrap_or(u32::MAX);
        let data = &packet[..packet.len().min(SNAPLEN as usize)];
        if let Err(e) = w.write_packet(&PcapPacket::new(ts, len, data)) {
            eprintln!("pcap capture stopped: {e}");
            self.writer = None;
        }
    }

    /// Flushes buffered packets to the file and closes it.
    pub fn finish(&mut self) {
        if let Some(w) = self.writer.take() {
            use std::io::Write;
            let _ = w.into_writer().flush();
        }
    }
}

impl Drop for PcapFile {
    fn drop(&mut self) {
        self.finish();
    }
}
