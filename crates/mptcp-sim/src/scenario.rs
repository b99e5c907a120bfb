//! Scenario files (TOML): the stable contract described in DESIGN.md, "Simulator scenario file".
//!
//! Extensions to that contract (optional keys; files without them mean what they meant):
//! - `[[path]] backup = true`: the client's subflows on this path are backup subflows (it
//!   sends MP_JOIN with flag B, or MP_PRIO for an initial subflow), so the default
//!   scheduler only uses the path when no regular one is usable and `active-backup:DELAY`
//!   uses it for data older than DELAY. Default `false`.
//! - `[[flow]] scheduler` takes parameters after a colon, e.g. `"active-backup:200ms"`,
//!   `"ecf:0.25"`, `"blest:1.2"` (grammar: `SchedulerKind::from_name`).
//!
//! Parsing happens in two stages. Serde structs with `deny_unknown_fields` catch unknown keys
//! (each table is deserialized on its own so the error can name its position, e.g.
//! `path[1].event[0]`); leaf values are kept as raw TOML values and then validated by hand so
//! every error names its field (`path[1].rate`) and says what was expected.

use crate::units::{parse_duration, parse_rate, parse_size};
use mptcp_proto::path_manager::PathManagerKind;
use mptcp_proto::scheduler::SchedulerKind;
use mptcp_proto::CcAlgorithm;
use serde::Deserialize;
use std::path::Path;
use std::time::Duration;
use toml::Value;

/// Most paths a scenario may declare (addresses 10.{p}.x.x; 10.253 and 10.254 are reserved).
pub const MAX_PATHS: usize = 250;
/// Most flows a scenario may declare (addresses 10.x.{f}.1).
pub const MAX_FLOWS: usize = 250;

/// Congestion-control names the simulator accepts: the engine's.
pub const KNOWN_CCS: &[&str] = mptcp_proto::congestion::CC_NAMES;
/// Scheduler names the simulator accepts: the engine's.
pub const KNOWN_SCHEDULERS: &[&str] = mptcp_proto::scheduler::SCHEDULER_NAMES;
/// Path-manager names the simulator accepts: the engine's.
pub const KNOWN_PATH_MANAGERS: &[&str] = mptcp_proto::path_manager::PATH_MANAGER_NAMES;
/// Middlebox names, in the order of [`MiddleboxKind`].
pub const KNOWN_MIDDLEBOXES: &[&str] = &[
    "strip-mptcp",
    "strip-mptcp-data",
    "nat",
    "seq-rewrite",
    "split",
    "coalesce",
    "strip-mptcp-synack",
    "drop-mptcp-syn",
    "rewrite-payload",
];

/// A malformed scenario. Display is always a single line naming the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("{file}: cannot read: {message}")]
    Io {
        /// File name as given.
        file: String,
        /// OS error.
        message: String,
    },
    /// The file is not valid TOML.
    #[error("{file}: line {line}: invalid TOML: {message}")]
    Syntax {
        /// File name as given.
        file: String,
        /// 1-based line of the error.
        line: usize,
        /// Parser message (one line).
        message: String,
    },
    /// A key the scenario format does not know.
    #[error("{file}: {field}: unknown key (expected one of: {expected})")]
    UnknownKey {
        /// File name as given.
        file: String,
        /// Path of the unknown key, e.g. `path[0].rte`.
        field: String,
        /// The keys allowed there.
        expected: String,
    },
    /// A required key is missing.
    #[error("{file}: {field}: missing required key")]
    Missing {
        /// File name as given.
        file: String,
        /// Path of the missing key.
        field: String,
    },
    /// A value has the wrong type or form.
    #[error("{file}: {field}: expected {expected}, got {got}")]
    Invalid {
        /// File name as given.
        file: String,
        /// Path of the field, e.g. `path[1].rate`.
        field: String,
        /// What the field must look like.
        expected: String,
        /// The value found, TOML-formatted.
        got: String,
    },
}

/// One line, at most `max` characters, for error messages.
fn one_line(s: &str, max: usize) -> String {
    let flat: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() > max {
        let mut cut: String = flat.chars().take(max).collect();
        cut.push('…');
        cut
    } else {
        flat
    }
}

/// A middlebox sitting on a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MiddleboxKind {
    /// MPTCP options on SYN and SYN/ACK replaced by NOPs.
    StripMptcp,
    /// MPTCP options removed from segments carrying payload.
    StripMptcpData,
    /// Source NAT of the client's address and port.
    Nat,
    /// Client-to-server sequence numbers shifted by a constant.
    SeqRewrite,
    /// Data segments split in two.
    Split,
    /// Back-to-back data segments merged.
    Coalesce,
    /// MPTCP options on SYN/ACKs only replaced by NOPs (the client's SYN passes).
    StripMptcpSynAck,
    /// SYNs carrying an MPTCP option dropped (the client retries without MPTCP).
    DropMptcpSyn,
    /// One payload byte of every client-to-server data segment rewritten, TCP checksum
    /// fixed (an application-level gateway); DSS checksums catch it.
    RewritePayload,
}

impl MiddleboxKind {
    /// Looks a middlebox up by its scenario-file name.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "strip-mptcp" => MiddleboxKind::StripMptcp,
            "strip-mptcp-data" => MiddleboxKind::StripMptcpData,
            "nat" => MiddleboxKind::Nat,
            "seq-rewrite" => MiddleboxKind::SeqRewrite,
            "split" => MiddleboxKind::Split,
            "coalesce" => MiddleboxKind::Coalesce,
            "strip-mptcp-synack" => MiddleboxKind::StripMptcpSynAck,
            "drop-mptcp-syn" => MiddleboxKind::DropMptcpSyn,
            "rewrite-payload" => MiddleboxKind::RewritePayload,
            _ => return None,
        })
    }

    /// The scenario-file name.
    pub fn name(self) -> &'static str {
        match self {
            MiddleboxKind::StripMptcp => "strip-mptcp",
            MiddleboxKind::StripMptcpData => "strip-mptcp-data",
            MiddleboxKind::Nat => "nat",
            MiddleboxKind::SeqRewrite => "seq-rewrite",
            MiddleboxKind::Split => "split",
            MiddleboxKind::Coalesce => "coalesce",
            MiddleboxKind::StripMptcpSynAck => "strip-mptcp-synack",
            MiddleboxKind::DropMptcpSyn => "drop-mptcp-syn",
            MiddleboxKind::RewritePayload => "rewrite-payload",
        }
    }
}

/// Parameters changed by a `set` event; `None` keeps the current value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LinkChange {
    /// New rate, bits per second.
    pub rate: Option<u64>,
    /// New one-way delay.
    pub delay: Option<Duration>,
    /// New loss probability.
    pub loss: Option<f64>,
    /// New queue limit, bytes.
    pub queue: Option<u64>,
}

/// What a path event does.
#[derive(Debug, Clone, PartialEq)]
pub enum PathAction {
    /// Both directions go down: queued and in-flight packets are lost, new ones dropped.
    Down,
    /// Both directions come back up.
    Up,
    /// As `Down`, and each client using the path is told its address there went down (an
    /// interface report: `Endpoint::address_down`).
    IfaceDown,
    /// As `Up`, and each client using the path is told its address there is back
    /// (`Endpoint::address_up`).
    IfaceUp,
    /// Parameters change from then on.
    Set(LinkChange),
}

/// A timed event on a path.
#[derive(Debug, Clone, PartialEq)]
pub struct PathEvent {
    /// When, from the start of the simulation.
    pub at: Duration,
    /// What.
    pub action: PathAction,
}

/// One path between the clients and the servers (two independent directions).
#[derive(Debug, Clone, PartialEq)]
pub struct PathSpec {
    /// Bottleneck rate, bits per second, each direction.
    pub rate: u64,
    /// One-way propagation delay.
    pub delay: Duration,
    /// Drop-tail queue limit in bytes; `None`: one bandwidth-delay product (see [`default_queue`]).
    pub queue: Option<u64>,
    /// Random loss probability per packet, each direction.
    pub loss: f64,
    /// Probability that a packet gets an extra random delay (up to one propagation delay).
    pub reorder: f64,
    /// Probability that a packet is duplicated.
    pub duplicate: f64,
    /// Middlebox on this path.
    pub middlebox: Option<MiddleboxKind>,
    /// Largest IP packet the path carries (default 1500); endpoints use MSS = MTU - 40.
    pub mtu: u64,
    /// The client's subflows on this path are backup subflows.
    pub backup: bool,
    /// Timeline, sorted by time.
    pub events: Vec<PathEvent>,
}

/// Default path MTU (Ethernet).
pub const DEFAULT_MTU: u64 = 1500;

/// The default queue: one bandwidth-delay product (rate × 2 × delay), at least two full packets.
pub fn default_queue(rate_bps: u64, delay: Duration) -> u64 {
    let bdp = (u128::from(rate_bps) * 2 * delay.as_nanos()) / 8 / 1_000_000_000;
    u64::try_from(bdp).unwrap_or(u64::MAX).max(2 * 1500)
}

/// Kind of a flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowKind {
    /// Multipath TCP over all the flow's paths.
    Mptcp,
    /// Plain TCP over one path.
    Tcp,
}

impl FlowKind {
    /// Scenario-file name.
    pub fn name(self) -> &'static str {
        match self {
            FlowKind::Mptcp => "mptcp",
            FlowKind::Tcp => "tcp",
        }
    }
}

/// Which side sends the data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Client to server.
    Upload,
    /// Server to client.
    Download,
}

/// One application flow: a bulk transfer over its own pair of endpoints.
#[derive(Debug, Clone, PartialEq)]
pub struct FlowSpec {
    /// MPTCP or TCP.
    pub kind: FlowKind,
    /// Indices of the paths the flow may use; the first carries the initial subflow.
    pub paths: Vec<usize>,
    /// Bytes to transfer.
    pub bytes: u64,
    /// When the client connects.
    pub start: Duration,
    /// Who sends.
    pub direction: Direction,
    /// Congestion control.
    pub cc: CcAlgorithm,
    /// Scheduler (one of [`KNOWN_SCHEDULERS`]).
    pub scheduler: SchedulerKind,
    /// Path manager: a spec of [`PathManagerKind::from_name`], e.g. `"fullmesh"` or
    /// `"ndiffports:3"` (the forms are listed in [`KNOWN_PATH_MANAGERS`]; see `flow.rs` for
    /// what `endpoints` and `lb-server` are given in the simulator).
    pub path_manager: PathManagerKind,
    /// DSS checksums.
    pub checksum: bool,
    /// Send buffer of both ends, bytes (`send_buffer`; default: the engine's).
    pub send_buffer: Option<u64>,
    /// Receive buffer of both ends, bytes (`recv_buffer`; default: the engine's).
    pub recv_buffer: Option<u64>,
    /// Delay before the client opens additional subflows (`join_delay`; default none).
    pub join_delay: Option<Duration>,
}

/// A validated scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// Seed of every random choice (overridden by `--seed`).
    pub seed: u64,
    /// Simulated time limit.
    pub duration: Duration,
    /// Paths, by index.
    pub paths: Vec<PathSpec>,
    /// Flows, by index.
    pub flows: Vec<FlowSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    seed: Option<Value>,
    duration: Option<Value>,
    #[serde(default)]
    path: Vec<Value>,
    #[serde(default)]
    flow: Vec<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPath {
    rate: Option<Value>,
    delay: Option<Value>,
    queue: Option<Value>,
    loss: Option<Value>,
    reorder: Option<Value>,
    duplicate: Option<Value>,
    middlebox: Option<Value>,
    mtu: Option<Value>,
    backup: Option<Value>,
    #[serde(default)]
    event: Vec<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEvent {
    at: Option<Value>,
    action: Option<Value>,
    rate: Option<Value>,
    delay: Option<Value>,
    loss: Option<Value>,
    queue: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFlow {
    kind: Option<Value>,
    paths: Option<Value>,
    bytes: Option<Value>,
    start: Option<Value>,
    direction: Option<Value>,
    cc: Option<Value>,
    scheduler: Option<Value>,
    path_manager: Option<Value>,
    checksum: Option<Value>,
    send_buffer: Option<Value>,
    recv_buffer: Option<Value>,
    join_delay: Option<Value>,
}

const SCENARIO_KEYS: &str = "seed, duration, path, flow";
const PATH_KEYS: &str =
    "rate, delay, queue, loss, reorder, duplicate, middlebox, mtu, backup, event";
const EVENT_KEYS: &str = "at, action, rate, delay, loss, queue";
const FLOW_KEYS: &str = "kind, paths, bytes, start, direction, cc, scheduler, path_manager, \
     checksum, send_buffer, recv_buffer, join_delay";

/// Validation context: the file name and helpers that build errors.
struct Ctx<'a> {
    file: &'a str,
}

impl Ctx<'_> {
    fn invalid(&self, field: &str, expected: &str, got: &Value) -> ScenarioError {
        ScenarioError::Invalid {
            file: self.file.to_string(),
            field: field.to_string(),
            expected: expected.to_string(),
            got: one_line(&got.to_string(), 60),
        }
    }

    fn missing(&self, field: &str) -> ScenarioError {
        ScenarioError::Missing {
            file: self.file.to_string(),
            field: field.to_string(),
        }
    }

    /// Deserializes one table, mapping serde's unknown-field error to [`ScenarioError::UnknownKey`].
    fn table<T: for<'de> Deserialize<'de>>(
        &self,
        value: Value,
        at: &str,
        keys: &str,
    ) -> Result<T, ScenarioError> {
        if !value.is_table() {
            return Err(self.invalid(
                if at.is_empty() { "(top level)" } else { at },
                "a table",
                &value,
            ));
        }
        T::deserialize(value).map_err(|e| {
            let msg = e.message().to_string();
            let key = msg
                .strip_prefix("unknown field `")
                .and_then(|rest| rest.split('`').next())
                .map(str::to_string);
            match key {
                Some(key) => ScenarioError::UnknownKey {
                    file: self.file.to_string(),
                    field: if at.is_empty() {
                        key
                    } else {
                        format!("{at}.{key}")
                    },
                    expected: keys.to_string(),
                },
                None => ScenarioError::Syntax {
                    file: self.file.to_string(),
                    line: 0,
                    message: one_line(&format!("{at}: {msg}"), 200),
                },
            }
        })
    }

    fn string<'v>(
        &self,
        v: &'v Value,
        field: &str,
        expected: &str,
    ) -> Result<&'v str, ScenarioError> {
        v.as_str().ok_or_else(|| self.invalid(field, expected, v))
    }

    fn rate(&self, v: &Value, field: &str) -> Result<u64, ScenarioError> {
        const EXP: &str = "a rate like \"100Mbit\"";
        parse_rate(self.string(v, field, EXP)?).ok_or_else(|| self.invalid(field, EXP, v))
    }

    fn duration(&self, v: &Value, field: &str) -> Result<Duration, ScenarioError> {
        const EXP: &str = "a duration like \"10ms\"";
        parse_duration(self.string(v, field, EXP)?).ok_or_else(|| self.invalid(field, EXP, v))
    }

    fn size(&self, v: &Value, field: &str) -> Result<u64, ScenarioError> {
        const EXP: &str = "a size like \"100MB\" or a number of bytes";
        match v {
            Value::Integer(i) => u64::try_from(*i).map_err(|_| self.invalid(field, EXP, v)),
            Value::String(s) => parse_size(s).ok_or_else(|| self.invalid(field, EXP, v)),
            _ => Err(self.invalid(field, EXP, v)),
        }
    }

    fn probability(&self, v: &Value, field: &str) -> Result<f64, ScenarioError> {
        const EXP: &str = "a probability between 0.0 and 1.0";
        let p = match v {
            Value::Float(f) => *f,
            Value::Integer(i) => *i as f64,
            _ => return Err(self.invalid(field, EXP, v)),
        };
        if (0.0..=1.0).contains(&p) {
            Ok(p)
        } else {
            Err(self.invalid(field, EXP, v))
        }
    }

    fn opt_probability(&self, v: Option<&Value>, field: &str) -> Result<f64, ScenarioError> {
        v.map_or(Ok(0.0), |v| self.probability(v, field))
    }

    fn name_in(&self, v: &Value, field: &str, known: &[&str]) -> Result<String, ScenarioError> {
        let expected = format!("one of {}", quoted_list(known));
        let s = self.string(v, field, &expected)?;
        if known.contains(&s) {
            Ok(s.to_string())
        } else {
            Err(self.invalid(field, &expected, v))
        }
    }
}

fn quoted_list(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("\"{n}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Checks a scheduler or path-manager name against the names the simulator knows.
/// Returns the list to quote in the error message when the name is unknown.
pub fn known_name(kind: NameKind, name: &str) -> Result<(), &'static [&'static str]> {
    let known = match kind {
        NameKind::Scheduler => KNOWN_SCHEDULERS,
        NameKind::PathManager => {
            // Path managers take parameters ("ndiffports:3"): the engine's parser decides.
            return PathManagerKind::from_name(name)
                .map(|_| ())
                .map_err(|_| KNOWN_PATH_MANAGERS);
        }
        NameKind::Middlebox => KNOWN_MIDDLEBOXES,
    };
    if known.contains(&name) {
        Ok(())
    } else {
        Err(known)
    }
}

/// The kinds of names checked by [`known_name`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameKind {
    /// `flow.scheduler`.
    Scheduler,
    /// `flow.path_manager`.
    PathManager,
    /// `path.middlebox`.
    Middlebox,
}

fn known_list(kind: NameKind) -> &'static [&'static str] {
    known_name(kind, "").err().unwrap_or(&[])
}

impl Scenario {
    /// Reads and validates a scenario file.
    pub fn from_file(path: &Path) -> Result<Scenario, ScenarioError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ScenarioError::Io {
            file: file.clone(),
            message: one_line(&e.to_string(), 200),
        })?;
        Scenario::from_toml(&text, &file)
    }

    /// Parses and validates scenario text; `file` names it in error messages.
    pub fn from_toml(text: &str, file: &str) -> Result<Scenario, ScenarioError> {
        let cx = Ctx { file };
        let root: toml::Table = text.parse().map_err(|e: toml::de::Error| {
            let line = e.span().map_or(0, |s| {
                text[..s.start.min(text.len())].matches('\n').count() + 1
            });
            ScenarioError::Syntax {
                file: file.to_string(),
                line,
                message: one_line(e.message(), 200),
            }
        })?;
        let raw: RawScenario = cx.table(Value::Table(root), "", SCENARIO_KEYS)?;

        let seed = match &raw.seed {
            None => 1,
            Some(v @ Value::Integer(i)) => {
                u64::try_from(*i).map_err(|_| cx.invalid("seed", "a non-negative integer", v))?
            }
            Some(v) => return Err(cx.invalid("seed", "a non-negative integer", v)),
        };
        let duration = match &raw.duration {
            None => Duration::from_secs(60),
            Some(v) => cx.duration(v, "duration")?,
        };
        if duration.is_zero() {
            return Err(cx.invalid(
                "duration",
                "a positive duration",
                raw.duration.as_ref().unwrap_or(&Value::Integer(0)),
            ));
        }

        if raw.path.is_empty() {
            return Err(cx.missing("path"));
        }
        if raw.path.len() > MAX_PATHS {
            return Err(cx.invalid(
                "path",
                &format!("at most {MAX_PATHS} paths"),
                &Value::Integer(raw.path.len() as i64),
            ));
        }
        let mut paths = Vec::with_capacity(raw.path.len());
        for (i, v) in raw.path.into_iter().enumerate() {
            paths.push(validate_path(&cx, v, i)?);
        }

        if raw.flow.is_empty() {
            return Err(cx.missing("flow"));
        }
        if raw.flow.len() > MAX_FLOWS {
            return Err(cx.invalid(
                "flow",
                &format!("at most {MAX_FLOWS} flows"),
                &Value::Integer(raw.flow.len() as i64),
            ));
        }
        let mut flows = Vec::with_capacity(raw.flow.len());
        for (i, v) in raw.flow.into_iter().enumerate() {
            flows.push(validate_flow(&cx, v, i, paths.len())?);
        }
        Ok(Scenario {
            seed,
            duration,
            paths,
            flows,
        })
    }
}

fn validate_path(cx: &Ctx<'_>, v: Value, i: usize) -> Result<PathSpec, ScenarioError> {
    let at = format!("path[{i}]");
    let raw: RawPath = cx.table(v, &at, PATH_KEYS)?;
    let f = |k: &str| format!("{at}.{k}");
    let rate = cx.rate(
        raw.rate.as_ref().ok_or_else(|| cx.missing(&f("rate")))?,
        &f("rate"),
    )?;
    let delay = cx.duration(
        raw.delay.as_ref().ok_or_else(|| cx.missing(&f("delay")))?,
        &f("delay"),
    )?;
    let queue = raw
        .queue
        .as_ref()
        .map(|v| cx.size(v, &f("queue")))
        .transpose()?;
    let loss = cx.opt_probability(raw.loss.as_ref(), &f("loss"))?;
    let reorder = cx.opt_probability(raw.reorder.as_ref(), &f("reorder"))?;
    let duplicate = cx.opt_probability(raw.duplicate.as_ref(), &f("duplicate"))?;
    let middlebox = match &raw.middlebox {
        None => None,
        Some(v) => {
            let name = cx.name_in(v, &f("middlebox"), known_list(NameKind::Middlebox))?;
            MiddleboxKind::from_name(&name)
        }
    };
    let mtu = match raw.mtu.as_ref() {
        None => DEFAULT_MTU,
        Some(v) => {
            let m = cx.size(v, &f("mtu"))?;
            if !(576..=65535).contains(&m) {
                return Err(cx.invalid(&f("mtu"), "an MTU between 576 and 65535 bytes", v));
            }
            m
        }
    };
    let backup = match &raw.backup {
        None => false,
        Some(Value::Boolean(b)) => *b,
        Some(v) => return Err(cx.invalid(&f("backup"), "true or false", v)),
    };
    let mut events = Vec::with_capacity(raw.event.len());
    for (j, ev) in raw.event.into_iter().enumerate() {
        events.push(validate_event(cx, ev, &format!("{at}.event[{j}]"))?);
    }
    // Stable sort: events at the same time keep their file order.
    events.sort_by_key(|e| e.at);
    Ok(PathSpec {
        rate,
        delay,
        queue,
        loss,
        reorder,
        duplicate,
        middlebox,
        mtu,
        backup,
        events,
    })
}

fn validate_event(cx: &Ctx<'_>, v: Value, at: &str) -> Result<PathEvent, ScenarioError> {
    let raw: RawEvent = cx.table(v, at, EVENT_KEYS)?;
    let f = |k: &str| format!("{at}.{k}");
    let time = cx.duration(
        raw.at.as_ref().ok_or_else(|| cx.missing(&f("at")))?,
        &f("at"),
    )?;
    let action_v = raw
        .action
        .as_ref()
        .ok_or_else(|| cx.missing(&f("action")))?;
    let action = cx.name_in(
        action_v,
        &f("action"),
        &["down", "up", "set", "iface-down", "iface-up"],
    )?;
    let change = LinkChange {
        rate: raw
            .rate
            .as_ref()
            .map(|v| cx.rate(v, &f("rate")))
            .transpose()?,
        delay: raw
            .delay
            .as_ref()
            .map(|v| cx.duration(v, &f("delay")))
            .transpose()?,
        loss: raw
            .loss
            .as_ref()
            .map(|v| cx.probability(v, &f("loss")))
            .transpose()?,
        queue: raw
            .queue
            .as_ref()
            .map(|v| cx.size(v, &f("queue")))
            .transpose()?,
    };
    let has_params = change != LinkChange::default();
    let action = match action.as_str() {
        "down" | "up" | "iface-down" | "iface-up" if has_params => {
            return Err(cx.invalid(
                &f("action"),
                "\"set\" when rate, delay, loss or queue is given",
                action_v,
            ))
        }
        "down" => PathAction::Down,
        "up" => PathAction::Up,
        "iface-down" => PathAction::IfaceDown,
        "iface-up" => PathAction::IfaceUp,
        _ if !has_params => {
            return Err(cx.missing(&f("rate|delay|loss|queue")));
        }
        _ => PathAction::Set(change),
    };
    Ok(PathEvent { at: time, action })
}

fn validate_flow(
    cx: &Ctx<'_>,
    v: Value,
    i: usize,
    n_paths: usize,
) -> Result<FlowSpec, ScenarioError> {
    let at = format!("flow[{i}]");
    let raw: RawFlow = cx.table(v, &at, FLOW_KEYS)?;
    let f = |k: &str| format!("{at}.{k}");
    let kind = match &raw.kind {
        None => FlowKind::Mptcp,
        Some(v) => match cx.name_in(v, &f("kind"), &["mptcp", "tcp"])?.as_str() {
            "tcp" => FlowKind::Tcp,
            _ => FlowKind::Mptcp,
        },
    };
    let paths_v = raw.paths.as_ref().ok_or_else(|| cx.missing(&f("paths")))?;
    const PATHS_EXP: &str = "a list of path indices like [0, 1]";
    let list = paths_v
        .as_array()
        .ok_or_else(|| cx.invalid(&f("paths"), PATHS_EXP, paths_v))?;
    if list.is_empty() {
        return Err(cx.invalid(&f("paths"), "at least one path index", paths_v));
    }
    let mut paths = Vec::with_capacity(list.len());
    for (j, p) in list.iter().enumerate() {
        let field = format!("{at}.paths[{j}]");
        let idx = p
            .as_integer()
            .ok_or_else(|| cx.invalid(&field, "a path index (integer)", p))?;
        let idx = usize::try_from(idx)
            .ok()
            .filter(|&x| x < n_paths)
            .ok_or_else(|| {
                cx.invalid(
                    &field,
                    &format!("a path index below {n_paths} (the number of [[path]] tables)"),
                    p,
                )
            })?;
        if paths.contains(&idx) {
            return Err(cx.invalid(&field, "each path at most once", p));
        }
        paths.push(idx);
    }
    if kind == FlowKind::Tcp && paths.len() != 1 {
        return Err(cx.invalid(&f("paths"), "exactly one path for a tcp flow", paths_v));
    }
    let bytes = cx.size(
        raw.bytes.as_ref().ok_or_else(|| cx.missing(&f("bytes")))?,
        &f("bytes"),
    )?;
    let start = raw
        .start
        .as_ref()
        .map(|v| cx.duration(v, &f("start")))
        .transpose()?
        .unwrap_or_default();
    let direction = match &raw.direction {
        None => Direction::Upload,
        Some(v) => match cx
            .name_in(v, &f("direction"), &["upload", "download"])?
            .as_str()
        {
            "download" => Direction::Download,
            _ => Direction::Upload,
        },
    };
    let cc = match &raw.cc {
        None => CcAlgorithm::Reno,
        Some(v) => {
            let expected = format!("one of {}", quoted_list(KNOWN_CCS));
            let s = cx.string(v, &f("cc"), &expected)?;
            CcAlgorithm::from_name(s).map_err(|_| cx.invalid(&f("cc"), &expected, v))?
        }
    };
    let scheduler = match &raw.scheduler {
        None => SchedulerKind::default(),
        Some(v) => {
            let expected = format!(
                "one of {} (parameters after a colon: blest:LAMBDA, ecf:BETA, \
                 active-backup:DELAY such as \"active-backup:200ms\" or \"active-backup:inf\")",
                quoted_list(KNOWN_SCHEDULERS)
            );
            let s = cx.string(v, &f("scheduler"), &expected)?;
            SchedulerKind::from_name(s).map_err(|_| cx.invalid(&f("scheduler"), &expected, v))?
        }
    };
    let path_manager = match &raw.path_manager {
        None => PathManagerKind::default(),
        Some(v) => {
            let expected = format!("one of {}", quoted_list(KNOWN_PATH_MANAGERS));
            let s = cx.string(v, &f("path_manager"), &expected)?;
            PathManagerKind::from_name(s)
                .map_err(|_| cx.invalid(&f("path_manager"), &expected, v))?
        }
    };
    let checksum = match &raw.checksum {
        None => false,
        Some(Value::Boolean(b)) => *b,
        Some(v) => return Err(cx.invalid(&f("checksum"), "true or false", v)),
    };
    // Buffers: at least one full segment, at most 1 GB.
    let buffer = |v: &Option<Value>, name: &str| -> Result<Option<u64>, ScenarioError> {
        let Some(v) = v else { return Ok(None) };
        let n = cx.size(v, &f(name))?;
        if !(2048..=1 << 30).contains(&n) {
            return Err(cx.invalid(&f(name), "a size between 2KB and 1GB", v));
        }
        Ok(Some(n))
    };
    let send_buffer = buffer(&raw.send_buffer, "send_buffer")?;
    let recv_buffer = buffer(&raw.recv_buffer, "recv_buffer")?;
    let join_delay = match &raw.join_delay {
        None => None,
        Some(v) => Some(cx.duration(v, &f("join_delay"))?),
    };
    Ok(FlowSpec {
        kind,
        paths,
        bytes,
        start,
        direction,
        cc,
        scheduler,
        path_manager,
        checksum,
        send_buffer,
        recv_buffer,
        join_delay,
    })
}

#[cfg(test)]
mod tests;
