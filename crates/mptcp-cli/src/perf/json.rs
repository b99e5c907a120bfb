//! iperf3-shaped JSON output (`-J`): an object with "start", "intervals" and "end", keyed as
//! iperf3 3.12 keys them, plus our per-subflow additions ("mptcp" in "start" and
//! "connected", "mptcp_subflows" in each interval stream and in "end").

use super::protocol::Params;
use super::report::{rate, SideSummary, StreamInterval, StreamSummary, SubflowInterval};
use super::transport::SubflowSample;
use serde_json::{json, Map, Value};
use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

/// One data stream as connected.
#[derive(Debug, Clone, Default)]
pub struct Connected {
    pub socket: i32,
    pub local: Option<SocketAddr>,
    pub remote: Option<SocketAddr>,
    pub mptcp: bool,
}

/// The "start" section.
#[derive(Debug, Clone, Default)]
pub struct StartInfo {
    pub transport: String,
    pub connecting_to: Option<(String, u16)>,
    pub accepted_connection: Option<SocketAddr>,
    pub cookie: String,
    pub tcp_mss_default: Option<u32>,
    pub connected: Vec<Connected>,
    pub params: Params,
    pub timesecs: u64,
}

/// CPU use, percent of the test's wall time.
#[derive(Debug, Clone, Copy, Default)]
pub struct Cpu {
    pub host_total: f64,
    pub host_user: f64,
    pub host_system: f64,
    pub remote_total: f64,
    pub remote_user: f64,
    pub remote_system: f64,
}

/// The "end" section.
#[derive(Debug, Clone, Default)]
pub struct EndInfo {
    pub streams: Vec<StreamSummary>,
    pub cpu: Cpu,
    pub sender_congestion: Option<String>,
    pub receiver_congestion: Option<String>,
}

/// Seconds since the epoch, now.
pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// RFC 1123 date in GMT, as iperf3's "timestamp"."time".
pub fn rfc1123(secs: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} GMT",
        DAYS[(days % 7) as usize],
        d,
        MONTHS[(m - 1) as usize],
        y,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// `uname -srvm`-like text, iperf3's "system_info".
pub fn system_info() -> String {
    // SAFETY: `uname` fills the zeroed structure; its fields are NUL-terminated.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    if unsafe { libc::uname(&mut u) } != 0 {
        return String::new();
    }
    let f = |b: &[libc::c_char]| -> String {
        let bytes: Vec<u8> = b
            .iter()
            .take_while(|&&c| c != 0)
            .map(|&c| c as u8)
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    };
    format!(
        "{} {} {} {} {}",
        f(&u.sysname),
        f(&u.nodename),
        f(&u.release),
        f(&u.version),
        f(&u.machine)
    )
}

fn host(a: Option<SocketAddr>) -> Value {
    a.map(|a| json!(a.ip().to_string())).unwrap_or(Value::Null)
}
fn port(a: Option<SocketAddr>) -> Value {
    a.map(|a| json!(a.port())).unwrap_or(Value::Null)
}

fn start_json(s: &StartInfo) -> Value {
    let mut m = Map::new();
    let connected: Vec<Value> = s
        .connected
        .iter()
        .map(|c| {
            json!({
                "socket": c.socket,
                "local_host": host(c.local),
                "local_port": port(c.local),
                "remote_host": host(c.remote),
                "remote_port": port(c.remote),
                "mptcp": c.mptcp,
            })
        })
        .collect();
    m.insert("connected".into(), Value::Array(connected));
    m.insert(
        "version".into(),
        json!(format!("mptcp perf {}", env!("CARGO_PKG_VERSION"))),
    );
    m.insert("system_info".into(), json!(system_info()));
    m.insert(
        "timestamp".into(),
        json!({"time": rfc1123(s.timesecs), "timesecs": s.timesecs}),
    );
    if let Some((h, p)) = &s.connecting_to {
        m.insert("connecting_to".into(), json!({"host": h, "port": p}));
    }
    if let Some(a) = s.accepted_connection {
        m.insert(
            "accepted_connection".into(),
            json!({"host": a.ip().to_string(), "port": a.port()}),
        );
    }
    m.insert("cookie".into(), json!(s.cookie));
    if let Some(mss) = s.tcp_mss_default {
        m.insert("tcp_mss_default".into(), json!(mss));
    }
    m.insert("target_bitrate".into(), json!(s.params.bandwidth));
    m.insert("sock_bufsize".into(), json!(0));
    m.insert(
        "test_start".into(),
        json!({
            "protocol": "TCP",
            "num_streams": s.params.parallel,
            "blksize": s.params.len,
            "omit": s.params.omit,
            "duration": s.params.time,
            "bytes": s.params.num,
            "blocks": s.params.blockcount,
            "reverse": s.params.reverse as u8,
            "tos": 0,
            "target_bitrate": s.params.bandwidth,
        }),
    );
    m.insert(
        "mptcp".into(),
        json!({
            "transport": s.transport,
            "active": !s.connected.is_empty() && s.connected.iter().all(|c| c.mptcp),
        }),
    );
    Value::Object(m)
}

fn subflow_interval_json(f: &SubflowInterval) -> Value {
    json!({
        "local": f.local.map(|a| a.to_string()),
        "remote": f.remote.map(|a| a.to_string()),
        "bytes_sent": f.bytes_sent,
        "bytes_received": f.bytes_received,
        "rtt": f.srtt_us,
        "snd_cwnd": f.cwnd_bytes,
        "retransmits": f.retransmits,
    })
}

fn subflow_total_json(f: &SubflowSample) -> Value {
    json!({
        "local": f.local.map(|a| a.to_string()),
        "remote": f.remote.map(|a| a.to_string()),
        "bytes_sent": f.bytes_sent,
        "bytes_acked": f.bytes_acked,
        "bytes_received": f.bytes_received,
        "rtt": f.srtt_us,
        "snd_cwnd": f.cwnd_bytes,
        "retransmits": f.retransmits,
    })
}

fn interval_stream_json(s: &StreamInterval) -> Value {
    let mut m = Map::new();
    m.insert("socket".into(), json!(s.socket));
    m.insert("start".into(), json!(s.start));
    m.insert("end".into(), json!(s.end));
    m.insert("seconds".into(), json!(s.seconds()));
    m.insert("bytes".into(), json!(s.bytes));
    m.insert("bits_per_second".into(), json!(s.bits_per_second()));
    if s.sender {
        if let Some(r) = s.retransmits {
            m.insert("retransmits".into(), json!(r));
            m.insert("snd_cwnd".into(), json!(s.snd_cwnd.unwrap_or(0)));
            m.insert("snd_wnd".into(), json!(s.snd_wnd.unwrap_or(0)));
            m.insert("rtt".into(), json!(s.rtt_us.unwrap_or(0)));
            m.insert("rttvar".into(), json!(s.rttvar_us.unwrap_or(0)));
            m.insert("pmtu".into(), json!(s.pmtu.unwrap_or(0)));
        }
    }
    m.insert("omitted".into(), json!(false));
    m.insert("sender".into(), json!(s.sender));
    if let Some(sf) = &s.subflows {
        m.insert(
            "mptcp_subflows".into(),
            Value::Array(sf.iter().map(subflow_interval_json).collect()),
        );
    }
    Value::Object(m)
}

fn interval_json(streams: &[StreamInterval]) -> Value {
    let start = streams.first().map(|s| s.start).unwrap_or(0.0);
    let end = streams.first().map(|s| s.end).unwrap_or(0.0);
    let bytes: u64 = streams.iter().map(|s| s.bytes).sum();
    let sender = streams.first().map(|s| s.sender).unwrap_or(false);
    let mut sum = Map::new();
    sum.insert("start".into(), json!(start));
    sum.insert("end".into(), json!(end));
    sum.insert("seconds".into(), json!(end - start));
    sum.insert("bytes".into(), json!(bytes));
    sum.insert("bits_per_second".into(), json!(rate(bytes, end - start)));
    if sender && streams.iter().any(|s| s.retransmits.is_some()) {
        let r: u64 = streams.iter().filter_map(|s| s.retransmits).sum();
        sum.insert("retransmits".into(), json!(r));
    }
    sum.insert("omitted".into(), json!(false));
    sum.insert("sender".into(), json!(sender));
    json!({
        "streams": streams.iter().map(interval_stream_json).collect::<Vec<_>>(),
        "sum": Value::Object(sum),
    })
}

fn side_json(s: &SideSummary, with_tcp: bool) -> Value {
    let mut m = Map::new();
    m.insert("socket".into(), json!(s.socket));
    m.insert("start".into(), json!(0));
    m.insert("end".into(), json!(s.seconds));
    m.insert("seconds".into(), json!(s.seconds));
    m.insert("bytes".into(), json!(s.bytes));
    m.insert("bits_per_second".into(), json!(s.bits_per_second()));
    if with_tcp {
        m.insert("retransmits".into(), json!(s.retransmits.unwrap_or(0)));
        m.insert("max_snd_cwnd".into(), json!(s.max_snd_cwnd.unwrap_or(0)));
        m.insert("max_snd_wnd".into(), json!(s.max_snd_wnd.unwrap_or(0)));
        m.insert("max_rtt".into(), json!(s.max_rtt.unwrap_or(0)));
        m.insert("min_rtt".into(), json!(s.min_rtt.unwrap_or(0)));
        m.insert("mean_rtt".into(), json!(s.mean_rtt.unwrap_or(0)));
    }
    m.insert("sender".into(), json!(s.sender));
    Value::Object(m)
}

fn sum_json(sides: &[&SideSummary], with_retr: bool) -> Value {
    let seconds = sides.iter().map(|s| s.seconds).fold(0.0, f64::max);
    let bytes: u64 = sides.iter().map(|s| s.bytes).sum();
    let mut m = Map::new();
    m.insert("start".into(), json!(0));
    m.insert("end".into(), json!(seconds));
    m.insert("seconds".into(), json!(seconds));
    m.insert("bytes".into(), json!(bytes));
    m.insert("bits_per_second".into(), json!(rate(bytes, seconds)));
    if with_retr {
        let r: i64 = sides.iter().filter_map(|s| s.retransmits).sum();
        m.insert("retransmits".into(), json!(r));
    }
    m.insert(
        "sender".into(),
        json!(sides.first().map(|s| s.sender).unwrap_or(false)),
    );
    Value::Object(m)
}

fn end_json(e: &EndInfo) -> Value {
    let streams: Vec<Value> = e
        .streams
        .iter()
        .map(|s| {
            let mut v = json!({
                "sender": side_json(&s.sender, true),
                "receiver": side_json(&s.receiver, false),
            });
            if let (Some(sf), Some(o)) = (&s.subflows, v.as_object_mut()) {
                o.insert(
                    "mptcp_subflows".into(),
                    Value::Array(sf.iter().map(subflow_total_json).collect()),
                );
            }
            v
        })
        .collect();
    let senders: Vec<&SideSummary> = e.streams.iter().map(|s| &s.sender).collect();
    let receivers: Vec<&SideSummary> = e.streams.iter().map(|s| &s.receiver).collect();
    let mut m = Map::new();
    m.insert("streams".into(), Value::Array(streams));
    m.insert("sum_sent".into(), sum_json(&senders, true));
    m.insert("sum_received".into(), sum_json(&receivers, false));
    m.insert(
        "cpu_utilization_percent".into(),
        json!({
            "host_total": e.cpu.host_total,
            "host_user": e.cpu.host_user,
            "host_system": e.cpu.host_system,
            "remote_total": e.cpu.remote_total,
            "remote_user": e.cpu.remote_user,
            "remote_system": e.cpu.remote_system,
        }),
    );
    if let Some(c) = &e.sender_congestion {
        m.insert("sender_tcp_congestion".into(), json!(c));
    }
    if let Some(c) = &e.receiver_congestion {
        m.insert("receiver_tcp_congestion".into(), json!(c));
    }
    Value::Object(m)
}

/// The whole document. `end` is empty when the test did not finish; `error` as iperf3 puts it.
pub fn document(
    start: &StartInfo,
    intervals: &[Vec<StreamInterval>],
    end: Option<&EndInfo>,
    error: Option<&str>,
) -> Value {
    let mut m = Map::new();
    m.insert("start".into(), start_json(start));
    m.insert(
        "intervals".into(),
        Value::Array(intervals.iter().map(|i| interval_json(i)).collect()),
    );
    m.insert(
        "end".into(),
        end.map(end_json)
            .unwrap_or_else(|| Value::Object(Map::new())),
    );
    if let Some(e) = error {
        m.insert("error".into(), json!(e));
    }
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(rfc1123(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(rfc1123(1_795_309_101), "Sun, 22 Nov 2026 00:58:21 GMT");
    }

    #[test]
    fn document_has_iperf3s_keys() {
        let st = StreamInterval {
            socket: 5,
            end: 1.0,
            bytes: 1000,
            sender: true,
            retransmits: Some(0),
            subflows: Some(vec![SubflowInterval::default()]),
            ..Default::default()
        };
        let end = EndInfo {
            streams: vec![StreamSummary::default()],
            ..Default::default()
        };
        let d = document(&StartInfo::default(), &[vec![st]], Some(&end), None);
        for k in ["connected", "version", "timestamp", "cookie", "test_start"] {
            assert!(d["start"].get(k).is_some(), "{k}");
        }
        assert!(d["intervals"][0]["streams"][0]["mptcp_subflows"].is_array());
        assert_eq!(d["intervals"][0]["sum"]["bits_per_second"], json!(8000.0));
        for k in [
            "streams",
            "sum_sent",
            "sum_received",
            "cpu_utilization_percent",
        ] {
            assert!(d["end"].get(k).is_some(), "{k}");
        }
    }
}
