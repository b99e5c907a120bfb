//! The result of a run: the JSON object of the stable contract (DESIGN.md) and a
//! human-readable summary.
//!
//! Serde structs (not maps) fix the key order, so the same scenario and seed always give
//! byte-identical JSON apart from `wall_time_s`.

use crate::units::{format_rate, format_size};
use serde::Serialize;
use std::fmt::Write as _;

/// One subflow of a flow, seen from the data sender.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SubflowReport {
    /// Path index (from the client-side address).
    pub path: Option<usize>,
    /// Payload bytes the data sender sent on it (retransmissions included).
    pub bytes: u64,
    /// Segments retransmitted.
    pub retransmits: u64,
    /// Smoothed RTT in milliseconds, `null` without a sample.
    pub srtt_ms: Option<f64>,
    /// Fast-recovery episodes (not part of the JSON contract).
    #[serde(skip)]
    pub fast_recoveries: u64,
    /// Retransmission timeouts (not part of the JSON contract).
    #[serde(skip)]
    pub rtos: u64,
}

/// One flow.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FlowReport {
    /// "mptcp" or "tcp".
    pub kind: String,
    /// Bytes the sending application handed to the engine.
    pub bytes_sent: u64,
    /// Bytes the receiving application read.
    pub bytes_delivered: u64,
    /// Same length, same SHA-256, nothing extra, end of stream seen.
    pub integrity_ok: bool,
    /// Bytes × 8 / completion time (or / elapsed time if the flow did not complete).
    pub goodput_bps: f64,
    /// From the flow's start until the receiver read the last byte and saw EOF; `null`
    /// if it never did.
    pub completion_time_s: Option<f64>,
    /// The connection fell back to plain TCP.
    pub fallback: bool,
    /// Subflows, in creation order.
    pub subflows: Vec<SubflowReport>,
}

/// A timeline entry.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TimelineEvent {
    /// Simulated time, seconds.
    pub time_s: f64,
    /// "path-down", "path-up", "path-set", "iface-down", "iface-up", "subflow-up",
    /// "subflow-down", "fallback",
    /// "connection-closed", "connect-failed", "flow-complete".
    pub kind: String,
    /// Flow index, when the event belongs to a flow.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flow: Option<usize>,
    /// Path index, when the event belongs to a path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<usize>,
    /// Free-form detail (deterministic).
    pub detail: String,
}

/// A flow's cumulative bytes sent on one path at one time.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PathSample {
    /// Simulated time, seconds.
    pub time_s: f64,
    /// Flow index.
    pub flow: usize,
    /// Path index.
    pub path: usize,
    /// Bytes sent so far on that path (retransmissions included).
    pub bytes: u64,
}

/// The whole result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// Flows, in scenario order.
    pub flows: Vec<FlowReport>,
    /// Simulated time when the run stopped, seconds.
    pub sim_time_s: f64,
    /// Wall-clock time the run took, seconds (the only non-deterministic value).
    pub wall_time_s: f64,
    /// Timeline.
    pub events: Vec<TimelineEvent>,
    /// Bytes sent per flow and path over time, when asked for (`RunOptions::sample_interval`);
    /// absent from the JSON otherwise.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub samples: Vec<PathSample>,
    /// Simulator counters (not part of the JSON contract).
    #[serde(skip)]
    pub stats: RunStats,
}

/// Counters of the simulator itself, shown in the human-readable summary only.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunStats {
    /// Scheduled actions processed.
    pub actions: u64,
    /// Packets delivered across links.
    pub packets: u64,
    /// Packets dropped by full queues.
    pub dropped_queue: u64,
    /// Packets lost at random.
    pub dropped_loss: u64,
    /// Packets dropped on links that were down.
    pub dropped_down: u64,
    /// Packets no route existed for.
    pub unroutable: u64,
}

impl Report {
    /// Whether every flow passed its integrity check.
    pub fn all_ok(&self) -> bool {
        self.flows.iter().all(|f| f.integrity_ok)
    }

    /// The JSON object of the stable contract, on one line.
    pub fn to_json(&self) -> String {
        // Serializing plain structs of numbers, strings and options cannot fail.
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// A human-readable summary: a table per flow and its subflows, then the timeline.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        for (i, f) in self.flows.iter().enumerate() {
            let _ = writeln!(
                s,
                "flow {i} ({}): {} of {} delivered, integrity {}, goodput {}, completion {}{}",
                f.kind,
                format_size(f.bytes_delivered),
                format_size(f.bytes_sent),
                if f.integrity_ok { "ok" } else { "FAILED" },
                format_rate(f.goodput_bps),
                f.completion_time_s
                    .map_or("-".to_string(), |t| format!("{t:.3} s")),
                if f.fallback { ", fell back to TCP" } else { "" },
            );
            if !f.subflows.is_empty() {
                let _ = writeln!(
                    s,
                    "  {:<8} {:>6} {:>14} {:>12} {:>10}",
                    "subflow", "path", "bytes", "retransmits", "srtt"
                );
                for (j, sf) in f.subflows.iter().enumerate() {
                    let _ = writeln!(
                        s,
                        "  {:<8} {:>6} {:>14} {:>12} {:>10}",
                        j,
                        sf.path.map_or("?".to_string(), |p| p.to_string()),
                        format_size(sf.bytes),
                        sf.retransmits,
                        sf.srtt_ms.map_or("-".to_string(), |r| format!("{r:.1} ms")),
                    );
                }
            }
        }
        if !self.events.is_empty() {
            let _ = writeln!(s, "events:");
            for e in &self.events {
                let mut who = String::new();
                if let Some(f) = e.flow {
                    let _ = write!(who, " flow {f}");
                }
                if let Some(p) = e.path {
                    let _ = write!(who, " path {p}");
                }
                let _ = writeln!(
                    s,
                    "  {:>10.6} s  {:<18}{}  {}",
                    e.time_s, e.kind, who, e.detail
                );
            }
        }
        let st = &self.stats;
        let _ = writeln!(
            s,
            "simulated {:.3} s in {:.3} s of wall time ({} actions, {} packets; dropped: {} queue, {} loss, {} down, {} unroutable)",
            self.sim_time_s, self.wall_time_s, st.actions, st.packets, st.dropped_queue, st.dropped_loss, st.dropped_down, st.unroutable
        );
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Report {
        Report {
            flows: vec![FlowReport {
                kind: "mptcp".into(),
                bytes_sent: 100,
                bytes_delivered: 100,
                integrity_ok: true,
                goodput_bps: 800.0,
                completion_time_s: Some(1.0),
                fallback: false,
                subflows: vec![SubflowReport {
                    path: Some(0),
                    bytes: 100,
                    retransmits: 0,
                    srtt_ms: Some(40.5),
                    fast_recoveries: 0,
                    rtos: 0,
                }],
            }],
            sim_time_s: 1.5,
            wall_time_s: 0.25,
            samples: Vec::new(),
            events: vec![TimelineEvent {
                time_s: 0.5,
                kind: "path-down".into(),
                flow: None,
                path: Some(0),
                detail: String::new(),
            }],
            stats: RunStats::default(),
        }
    }

    #[test]
    fn json_shape_and_key_order() {
        let j = sample().to_json();
        assert_eq!(
            j,
            "{\"flows\":[{\"kind\":\"mptcp\",\"bytes_sent\":100,\"bytes_delivered\":100,\"integrity_ok\":true,\
             \"goodput_bps\":800.0,\"completion_time_s\":1.0,\"fallback\":false,\"subflows\":[{\"path\":0,\
             \"bytes\":100,\"retransmits\":0,\"srtt_ms\":40.5}]}],\"sim_time_s\":1.5,\"wall_time_s\":0.25,\
             \"events\":[{\"time_s\":0.5,\"kind\":\"path-down\",\"path\":0,\"detail\":\"\"}]}"
        );
    }

    #[test]
    fn text_mentions_everything() {
        let r = sample();
        assert!(r.all_ok());
        let t = r.to_text();
        assert!(t.contains("flow 0 (mptcp)"));
        assert!(t.contains("integrity ok"));
        assert!(t.contains("40.5 ms"));
        assert!(t.contains("path-down"));
    }
}
