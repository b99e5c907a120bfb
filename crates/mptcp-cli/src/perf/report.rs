//! What a test measured, and iperf3's text output of it (`iperf_locale.c` formats).

use std::net::SocketAddr;

/// One subflow over one interval (MPTCP only; our addition to iperf3's output).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SubflowInterval {
    pub local: Option<SocketAddr>,
    pub remote: Option<SocketAddr>,
    /// Bytes sent (including retransmissions) during the interval.
    pub bytes_sent: u64,
    /// Bytes received during the interval.
    pub bytes_received: u64,
    /// Smoothed RTT at the end of the interval, microseconds.
    pub srtt_us: u32,
    /// Congestion window at the end of the interval, bytes.
    pub cwnd_bytes: u64,
    /// Retransmitted segments during the interval.
    pub retransmits: u64,
}

/// One stream over one interval.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StreamInterval {
    pub socket: i32,
    pub start: f64,
    pub end: f64,
    pub bytes: u64,
    /// Whether this side sends on the stream.
    pub sender: bool,
    /// Retransmits during the interval (sender only).
    pub retransmits: Option<u64>,
    pub snd_cwnd: Option<u64>,
    pub snd_wnd: Option<u64>,
    pub rtt_us: Option<u32>,
    pub rttvar_us: Option<u32>,
    pub pmtu: Option<u32>,
    /// `None` when the stack cannot tell (plain TCP, or no per-subflow counters).
    pub subflows: Option<Vec<SubflowInterval>>,
}

impl StreamInterval {
    pub fn seconds(&self) -> f64 {
        (self.end - self.start).max(0.0)
    }
    pub fn bits_per_second(&self) -> f64 {
        rate(self.bytes, self.seconds())
    }
}

/// Bits per second, 0 over an empty interval.
pub fn rate(bytes: u64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        bytes as f64 * 8.0 / seconds
    } else {
        0.0
    }
}

/// One side's totals of one stream for the end summary.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SideSummary {
    pub socket: i32,
    pub seconds: f64,
    pub bytes: u64,
    /// Whether the side that prints this is the sender (iperf3's "sender" key).
    pub sender: bool,
    /// Only in sender summaries.
    pub retransmits: Option<i64>,
    pub max_snd_cwnd: Option<u64>,
    pub max_snd_wnd: Option<u64>,
    pub max_rtt: Option<u32>,
    pub min_rtt: Option<u32>,
    pub mean_rtt: Option<u32>,
}

impl SideSummary {
    pub fn bits_per_second(&self) -> f64 {
        rate(self.bytes, self.seconds)
    }
}

/// Both ends of one stream.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StreamSummary {
    pub sender: SideSummary,
    pub receiver: SideSummary,
    /// The subflows' totals at the end of the test (this side's view).
    pub subflows: Option<Vec<crate::perf::transport::SubflowSample>>,
}

/// iperf3's `unit_snprintf` with the adaptive format: the number in 4 places and its unit,
/// powers of 1024 for bytes ('A'), of 1000 for bits ('a'). The caller appends the "s".
pub fn unit(value: f64, bytes: bool) -> String {
    const BYTES: [&str; 5] = ["Byte", "KByte", "MByte", "GByte", "TByte"];
    const BITS: [&str; 5] = ["bit", "Kbit", "Mbit", "Gbit", "Tbit"];
    let base = if bytes { 1024.0 } else { 1000.0 };
    let mut v = value.max(0.0);
    let mut i = 0;
    while v >= base && i < 4 {
        v /= base;
        i += 1;
    }
    let label = if bytes { BYTES[i] } else { BITS[i] };
    if v < 9.995 {
        format!("{v:4.2} {label}")
    } else if v < 99.95 {
        format!("{v:4.1} {label}")
    } else {
        format!("{v:4.0} {label}")
    }
}

fn id_col(socket: Option<i32>) -> String {
    match socket {
        Some(s) => format!("[{s:3}]"),
        None => "[SUM]".to_string(),
    }
}

/// The column header before the interval lines.
pub fn interval_header(sender: bool, has_retr: bool, has_cwnd: bool) -> &'static str {
    match (sender && has_retr, has_cwnd) {
        (true, true) => "[ ID] Interval           Transfer     Bitrate         Retr  Cwnd",
        (true, false) => "[ ID] Interval           Transfer     Bitrate         Retr",
        _ => "[ ID] Interval           Transfer     Bitrate",
    }
}

/// The column header of the end summary.
pub fn summary_header(has_retr: bool) -> &'static str {
    if has_retr {
        "[ ID] Interval           Transfer     Bitrate         Retr"
    } else {
        "[ ID] Interval           Transfer     Bitrate"
    }
}

/// iperf3's separator line.
pub const SEPARATOR: &str = "- - - - - - - - - - - - - - - - - - - - - - - - -";

/// An interval or summary line: `[  5]   0.00-1.00   sec  11.2 MBytes  94.0 Mbits/sec ...`.
#[allow(clippy::too_many_arguments)]
pub fn line(
    socket: Option<i32>,
    start: f64,
    end: f64,
    bytes: u64,
    seconds: f64,
    retr: Option<i64>,
    cwnd: Option<u64>,
    tail: &str,
) -> String {
    let head = format!(
        "{} {:6.2}-{:<6.2} sec  {}s  {}s/sec",
        id_col(socket),
        start,
        end,
        unit(bytes as f64, true),
        unit(rate(bytes, seconds), false),
    );
    match (retr, cwnd) {
        (Some(r), Some(c)) => format!("{head}  {r:3}   {}s       {tail}", unit(c as f64, true)),
        (Some(r), None) => format!("{head}  {r:3}             {tail}"),
        _ => format!("{head}                  {tail}"),
    }
}

/// The interval line of a stream.
pub fn interval_line(s: &StreamInterval) -> String {
    let retr = if s.sender {
        s.retransmits.map(|r| r as i64)
    } else {
        None
    };
    let cwnd = if retr.is_some() { s.snd_cwnd } else { None };
    line(
        Some(s.socket),
        s.start,
        s.end,
        s.bytes,
        s.seconds(),
        retr,
        cwnd,
        "",
    )
}

fn addr(a: Option<SocketAddr>) -> String {
    a.map(|a| a.to_string()).unwrap_or_else(|| "?".into())
}

/// One line per subflow under a stream's interval line (our addition):
/// `[  5]     subflow 10.0.0.1:40000 > 10.0.0.2:5201   5.60 MBytes  47.0 Mbits/sec  retr 0  srtt 1.20 ms  cwnd 320 KBytes`.
pub fn subflow_lines(s: &StreamInterval) -> Vec<String> {
    let Some(sfs) = &s.subflows else {
        return Vec::new();
    };
    sfs.iter()
        .map(|f| {
            let bytes = if s.sender {
                f.bytes_sent
            } else {
                f.bytes_received
            };
            format!(
                "[{:3}]     subflow {} > {}  {}s  {}s/sec  retr {}  srtt {:.2} ms  cwnd {}s",
                s.socket,
                addr(f.local),
                addr(f.remote),
                unit(bytes as f64, true),
                unit(rate(bytes, s.seconds()), false),
                f.retransmits,
                f.srtt_us as f64 / 1000.0,
                unit(f.cwnd_bytes as f64, true),
            )
        })
        .collect()
}

/// The end-summary lines of one side of one stream.
pub fn summary_line(s: &SideSummary, sender_line: bool, show_retr: bool) -> String {
    let retr = if sender_line && show_retr {
        Some(s.retransmits.unwrap_or(0))
    } else {
        None
    };
    line(
        Some(s.socket),
        0.0,
        s.seconds,
        s.bytes,
        s.seconds,
        retr,
        None,
        if sender_line { "sender" } else { "receiver" },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_like_iperf3() {
        assert_eq!(unit(3.37 * 1024.0 * 1024.0 * 1024.0, true), "3.37 GByte");
        assert_eq!(unit(28.9e9, false), "28.9 Gbit");
        assert_eq!(unit(1023.0 * 1024.0, true), "1023 KByte");
        assert_eq!(unit(640.0 * 1024.0, true), " 640 KByte");
        assert_eq!(unit(0.0, true), "0.00 Byte");
    }

    #[test]
    fn lines_like_iperf3() {
        let s = StreamInterval {
            socket: 5,
            start: 0.0,
            end: 1.0,
            bytes: (3.37 * 1024.0 * 1024.0 * 1024.0) as u64,
            sender: true,
            retransmits: Some(17),
            snd_cwnd: Some(1023 * 1024),
            ..Default::default()
        };
        // iperf3: "[  5]   0.00-1.00   sec  3.37 GBytes  28.9 Gbits/sec   17   1023 KBytes       "
        assert_eq!(
            interval_line(&s),
            "[  5]   0.00-1.00   sec  3.37 GBytes  28.9 Gbits/sec   17   1023 KBytes       "
        );
        let r = SideSummary {
            socket: 5,
            seconds: 2.0,
            bytes: (6.74 * 1024.0 * 1024.0 * 1024.0) as u64,
            ..Default::default()
        };
        assert_eq!(
            summary_line(&r, false, false),
            "[  5]   0.00-2.00   sec  6.74 GBytes  28.9 Gbits/sec                  receiver"
        );
        let mut snd = r.clone();
        snd.retransmits = Some(19);
        assert_eq!(
            summary_line(&snd, true, true),
            "[  5]   0.00-2.00   sec  6.74 GBytes  28.9 Gbits/sec   19             sender"
        );
    }
}
