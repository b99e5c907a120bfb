//! Packet schedulers: which subflow carries the next chunk of data (RFC 8684 §3.3.8 leaves
//! the policy to the implementation). The connection asks [`Scheduler::select`] with a
//! [`SchedulerInput`], a snapshot of its subflows and of the data waiting. The decision is
//! pure (no clock, no I/O), so schedulers are tested on hand-built inputs.
//!
//! One file per scheduler: [`MinRtt`] (the default), [`RoundRobin`], [`Redundant`],
//! [`Blest`], [`Ecf`] and [`ActiveBackup`].
//!
//! What the connection does around a decision (`connection/schedule.rs`):
//! - each decision concerns one *run* of data: bytes with the same attributes (the same
//!   `trusted_only` flag and, if [`Scheduler::uses_data_age`], the same write time),
//!   starting with any reinjection;
//! - the chosen subflow gets a chunk of at most [`chunk_len`] bytes (its free window
//!   rounded up to whole segments, or [`Scheduler::segments_per_turn`]), then the
//!   scheduler is asked again;
//! - for `trusted_only` data, untrusted subflows are marked unusable before the scheduler
//!   sees them ([`restrict_to_trusted`]), and an answer naming an unusable subflow is
//!   ignored: no scheduler can put such data on an untrusted subflow;
//! - `None` means "wait": nothing more is assigned until the next call (after an ACK, a
//!   write, or the time given by [`Scheduler::retry_at`]).

mod active_backup;
mod blest;
mod ecf;
mod min_rtt;
mod redundant;
mod round_robin;

pub use active_backup::ActiveBackup;
pub use blest::Blest;
pub use ecf::Ecf;
pub use min_rtt::MinRtt;
pub use redundant::Redundant;
pub use round_robin::RoundRobin;

use crate::time::{Duration, Instant};

/// What a scheduler may know of one subflow.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SubflowView {
    /// Position in the connection's subflow list.
    pub index: usize,
    /// Smoothed RTT (the initial guess before any sample).
    pub srtt: Duration,
    /// RTT variation (RFC 6298 RTTVAR).
    pub rttvar: Duration,
    /// Smallest RTT seen (the initial guess before any sample): the RTT without queueing.
    pub min_rtt: Duration,
    /// In loss recovery: `srtt` gets no new sample until it ends, so it may still include
    /// a queue the loss has drained.
    pub recovering: bool,
    /// Congestion window, bytes.
    pub cwnd: u64,
    /// Bytes it could take now (free congestion window minus data already queued on it).
    pub space: u64,
    /// Bytes assigned to it and not yet acknowledged at subflow level (in flight or queued).
    pub outstanding: u64,
    /// Payload bytes per full segment.
    pub mss: u64,
    /// Backup priority (ours or the peer's).
    pub backup: bool,
    /// May carry data the application marked `trusted_only`.
    pub trusted: bool,
    /// Established, allowed to carry data, not timed out (and trusted, for trusted-only data).
    pub usable: bool,
}

/// Everything a decision may depend on.
#[derive(Debug, Clone, Copy)]
pub struct SchedulerInput<'a> {
    /// Current time.
    pub now: Instant,
    /// The connection's subflows.
    pub views: &'a [SubflowView],
    /// How long the data this decision is about has waited since the application wrote it
    /// (the oldest unsent data: reinjections first, then the next new byte).
    pub oldest_unsent_age: Duration,
    /// Bytes waiting for a subflow: written and never assigned, plus queued reinjections.
    pub bytes_unsent: u64,
    /// Bytes of the run this decision is about (the chunk is at most this).
    pub available: u64,
    /// Connection-level send window: bytes the connection may have outstanding beyond the
    /// DATA_ACK (the peer's receive window, capped by our send buffer).
    pub send_window: u64,
    /// The data is a reinjection (already sent on another subflow).
    pub reinjection: bool,
    /// The data may only go to trusted subflows (untrusted ones are already unusable).
    pub trusted_only: bool,
    /// Opportunistic retransmissions of the connection so far (a sign of head-of-line
    /// blocking; BLEST adapts to it).
    pub opportunistic_retransmissions: u64,
}

impl<'a> SchedulerInput<'a> {
    /// An input with these subflows and nothing else known: fresh data, no backlog, an
    /// unlimited send window.
    pub fn new(now: Instant, views: &'a [SubflowView]) -> Self {
        SchedulerInput {
            now,
            views,
            oldest_unsent_age: Duration::ZERO,
            bytes_unsent: 0,
            available: u64::MAX,
            send_window: u64::MAX,
            reinjection: false,
            trusted_only: false,
            opportunistic_retransmissions: 0,
        }
    }
}

/// Chooses the subflow for the next chunk of data.
pub trait Scheduler: Send + core::fmt::Debug {
    /// Index (one of `input.views`' `index` values) of the subflow to use, or `None` to wait.
    fn select(&mut self, input: &SchedulerInput<'_>) -> Option<usize>;
    /// Short name.
    fn name(&self) -> &'static str;
    /// Every chunk goes on every usable subflow (each subflow sends, in order, the data it
    /// has not sent yet and that is not yet DATA_ACKed); `select` then only places
    /// reinjections. Opportunistic retransmission is off: it would only add another copy.
    fn redundant(&self) -> bool {
        false
    }
    /// Most segments the chosen subflow gets per decision; `None`: its whole free window
    /// (the default, which keeps mappings long).
    fn segments_per_turn(&self) -> Option<u64> {
        None
    }
    /// Reads [`SchedulerInput::oldest_unsent_age`]. Only then does the connection record
    /// write times (and cut decisions where they change); otherwise the age is zero.
    fn uses_data_age(&self) -> bool {
        false
    }
    /// For a scheduler that reads data ages: whether data of age `a` and data of age `b`
    /// get the same decisions. One decision then covers consecutive runs of data written at
    /// different times whose ages are alike, so that chunks (hence mappings and segments)
    /// are not cut at every write: cutting them changes how the data is packetised, which a
    /// scheduler that ignores ages never does. Default: only equal ages are alike.
    fn same_age_class(&self, a: Duration, b: Duration) -> bool {
        a == b
    }
    /// After `select` returned `None` for data that may become sendable with time alone
    /// (not only after an ACK), when to ask again.
    fn retry_at(&self) -> Option<Instant> {
        None
    }
}

/// The subflows the default rule lets carry data (RFC 8684 §3.3.8): the usable regular
/// ones, or the usable backup ones when no regular subflow is usable.
pub fn preferred(views: &[SubflowView]) -> impl Iterator<Item = &SubflowView> + '_ {
    let any_regular = views.iter().any(|v| v.usable && !v.backup);
    views
        .iter()
        .filter(move |v| v.usable && v.backup != any_regular)
}

/// The lowest-RTT subflow (ties: lowest index).
pub fn lowest_rtt<'a>(views: impl Iterator<Item = &'a SubflowView>) -> Option<&'a SubflowView> {
    views.min_by_key(|v| (v.srtt, v.index))
}

/// Marks every untrusted subflow unusable: what the connection does before asking about
/// data written with `trusted_only`.
pub fn restrict_to_trusted(views: &mut [SubflowView]) {
    for v in views.iter_mut().filter(|v| !v.trusted) {
        v.usable = false;
    }
}

/// Most bytes the connection assigns in one decision: one DSS mapping (its data-level
/// length field is 16 bits). A larger free window is filled by further decisions.
pub const MAX_CHUNK: u64 = 64 * 1024 - 1024;

/// Bytes the connection offers `view` in one decision about `available` bytes: its free
/// window rounded up to whole segments (so a small window still sends full ones), at least
/// one segment; the connection assigns at most [`MAX_CHUNK`] of them at once.
pub fn chunk_len(view: &SubflowView, available: u64) -> u64 {
    let mss = view.mss.max(1);
    available.min(view.space.div_ceil(mss).max(1) * mss)
}

/// Default expiration delay of `active-backup` without a parameter: the trade-off the
/// thesis of seed 002 (§2.2) found good for web traffic.
pub const DEFAULT_EXPIRATION: Duration = Duration::from_millis(50);

/// The built-in schedulers, chosen per endpoint (`EndpointConfig::scheduler`); each new
/// connection gets its own instance from [`SchedulerKind::build`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SchedulerKind {
    /// Lowest RTT first ([`MinRtt`]).
    #[default]
    MinRtt,
    /// Turns among the subflows with room ([`RoundRobin`]).
    RoundRobin,
    /// Every chunk on every subflow ([`Redundant`]).
    Redundant,
    /// Blocking estimation ([`Blest`]); initial λ in thousandths.
    Blest {
        /// Initial λ × 1000.
        lambda_milli: u32,
    },
    /// Earliest completion first ([`Ecf`]); hysteresis β in thousandths.
    Ecf {
        /// β × 1000.
        beta_milli: u32,
    },
    /// Backup subflows for data older than the expiration delay ([`ActiveBackup`]).
    ActiveBackup {
        /// Expiration delay; `None` is infinite (strict backup).
        expiration: Option<Duration>,
    },
}

/// Scheduler names accepted by [`SchedulerKind::from_name`] (parameters after a colon).
pub const SCHEDULER_NAMES: &[&str] = &[
    "default",
    "min-rtt",
    "round-robin",
    "redundant",
    "blest",
    "ecf",
    "active-backup",
];

/// A scheduler name (or parameter) that is not known; the message gives the grammar.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown scheduler {0:?} (known: default, min-rtt, round-robin, redundant, \
     blest[:LAMBDA], ecf[:BETA], active-backup[:DELAY]; LAMBDA 1.0 to 1.3, BETA 0 to 10, \
     DELAY like \"0\", \"200ms\", \"1.5s\" or \"inf\", e.g. \"active-backup:200ms\")"
)]
pub struct UnknownScheduler(pub String);

impl SchedulerKind {
    /// Looks a scheduler up by name, with an optional parameter after a colon:
    ///
    /// ```text
    /// default | min-rtt          lowest RTT with room (also "minrtt")
    /// round-robin                turns among the subflows with room (also "rr")
    /// redundant                  every chunk on every subflow
    /// blest[:LAMBDA]             BLEST; LAMBDA = initial λ, 1.0 to 1.3 (default 1.2)
    /// ecf[:BETA]                 ECF; BETA = hysteresis, 0 to 10 (default 0.25)
    /// active-backup[:DELAY]      backup subflows for data older than DELAY; DELAY is a
    ///                            number with a unit (ns, us, ms, s), "0", or "inf"
    ///                            (default 50ms)
    /// ```
    pub fn from_name(name: &str) -> Result<Self, UnknownScheduler> {
        let unknown = || UnknownScheduler(name.to_string());
        let (base, param) = match name.split_once(':') {
            Some((b, p)) => (b, Some(p)),
            None => (name, None),
        };
        let kind = match (base, param) {
            ("default" | "min-rtt" | "minrtt", None) => SchedulerKind::MinRtt,
            ("round-robin" | "rr", None) => SchedulerKind::RoundRobin,
            ("redundant", None) => SchedulerKind::Redundant,
            ("blest", p) => SchedulerKind::Blest {
                lambda_milli: match p {
                    None => Blest::DEFAULT_LAMBDA_MILLI,
                    Some(p) => parse_milli(p, Blest::MIN_LAMBDA_MILLI, Blest::MAX_LAMBDA_MILLI)
                        .ok_or_else(unknown)?,
                },
            },
            ("ecf", p) => SchedulerKind::Ecf {
                beta_milli: match p {
                    None => Ecf::DEFAULT_BETA_MILLI,
                    Some(p) => parse_milli(p, 0, 10_000).ok_or_else(unknown)?,
                },
            },
            ("active-backup", p) => SchedulerKind::ActiveBackup {
                expiration: match p {
                    None => Some(DEFAULT_EXPIRATION),
                    Some(p) => parse_delay(p).ok_or_else(unknown)?,
                },
            },
            _ => return Err(unknown()),
        };
        Ok(kind)
    }

    /// A fresh scheduler for one connection.
    pub fn build(self) -> Box<dyn Scheduler> {
        match self {
            SchedulerKind::MinRtt => Box::new(MinRtt),
            SchedulerKind::RoundRobin => Box::new(RoundRobin::default()),
            SchedulerKind::Redundant => Box::new(Redundant),
            SchedulerKind::Blest { lambda_milli } => Box::new(Blest::new(lambda_milli)),
            SchedulerKind::Ecf { beta_milli } => Box::new(Ecf::new(beta_milli)),
            SchedulerKind::ActiveBackup { expiration } => Box::new(ActiveBackup::new(expiration)),
        }
    }
}

/// Builds a scheduler by name.
pub fn by_name(name: &str) -> Result<Box<dyn Scheduler>, UnknownScheduler> {
    SchedulerKind::from_name(name).map(SchedulerKind::build)
}

/// A decimal like "0.25" or "1" as thousandths, within `[min, max]`.
fn parse_milli(s: &str, min: u32, max: u32) -> Option<u32> {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if int.is_empty()
        || frac.len() > 3
        || !(int.bytes().chain(frac.bytes())).all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let int: u32 = int.parse().ok()?;
    let frac: u32 = format!("{frac:0<3}").parse().ok()?;
    let v = int.checked_mul(1000)?.checked_add(frac)?;
    (min..=max).contains(&v).then_some(v)
}

/// An expiration delay: "inf" (`None`), "0", or a number with a unit (ns, us, ms, s),
/// like "200ms" or "1.5s".
fn parse_delay(s: &str) -> Option<Option<Duration>> {
    if matches!(s, "inf" | "infinite" | "never") {
        return Some(None);
    }
    if s == "0" {
        return Some(Some(Duration::ZERO));
    }
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (num, unit) = s.split_at(split);
    let nanos_per = match unit {
        "ns" => 1u64,
        "us" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        _ => return None,
    };
    let (int, frac) = num.split_once('.').unwrap_or((num, ""));
    if int.is_empty() || frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let int: u64 = int.parse().ok()?;
    let frac_nanos = if frac.is_empty() {
        0
    } else {
        let scaled: u64 = format!("{frac:0<9}").parse().ok()?;
        // `frac` is a fraction of one `unit`: scale from nanoseconds-of-a-second.
        scaled.checked_mul(nanos_per)? / 1_000_000_000
    };
    let nanos = int.checked_mul(nanos_per)?.checked_add(frac_nanos)?;
    Some(Some(Duration::from_nanos(nanos)))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A usable regular subflow with a 10-segment window of 1000-byte segments.
    pub(crate) fn view(index: usize, rtt_ms: u64, space: u64) -> SubflowView {
        SubflowView {
            index,
            srtt: Duration::from_millis(rtt_ms),
            rttvar: Duration::ZERO,
            min_rtt: Duration::from_millis(rtt_ms),
            recovering: false,
            cwnd: 10_000,
            space,
            outstanding: 10_000 - space.min(10_000),
            mss: 1000,
            backup: false,
            trusted: false,
            usable: true,
        }
    }

    #[test]
    fn names_and_parameters() {
        let ok = |n: &str| SchedulerKind::from_name(n).unwrap();
        assert_eq!(ok("default"), SchedulerKind::MinRtt);
        assert_eq!(ok("min-rtt"), SchedulerKind::MinRtt);
        assert_eq!(ok("minrtt"), SchedulerKind::MinRtt);
        assert_eq!(ok("round-robin"), SchedulerKind::RoundRobin);
        assert_eq!(ok("rr"), SchedulerKind::RoundRobin);
        assert_eq!(ok("redundant"), SchedulerKind::Redundant);
        assert_eq!(ok("blest"), SchedulerKind::Blest { lambda_milli: 1200 });
        assert_eq!(
            ok("blest:1.05"),
            SchedulerKind::Blest { lambda_milli: 1050 }
        );
        assert_eq!(ok("ecf"), SchedulerKind::Ecf { beta_milli: 250 });
        assert_eq!(ok("ecf:0"), SchedulerKind::Ecf { beta_milli: 0 });
        assert_eq!(ok("ecf:1.5"), SchedulerKind::Ecf { beta_milli: 1500 });
        let ab = |d: Option<Duration>| SchedulerKind::ActiveBackup { expiration: d };
        assert_eq!(ok("active-backup"), ab(Some(Duration::from_millis(50))));
        assert_eq!(
            ok("active-backup:200ms"),
            ab(Some(Duration::from_millis(200)))
        );
        assert_eq!(
            ok("active-backup:1.5s"),
            ab(Some(Duration::from_millis(1500)))
        );
        assert_eq!(
            ok("active-backup:0.25ms"),
            ab(Some(Duration::from_micros(250)))
        );
        assert_eq!(
            ok("active-backup:750us"),
            ab(Some(Duration::from_micros(750)))
        );
        assert_eq!(ok("active-backup:0"), ab(Some(Duration::ZERO)));
        assert_eq!(ok("active-backup:0ms"), ab(Some(Duration::ZERO)));
        assert_eq!(ok("active-backup:inf"), ab(None));
        for bad in [
            "",
            "random",
            "min-rtt:1",
            "redundant:x",
            "round-robin:2",
            "blest:2",
            "blest:0.9",
            "blest:1.0001",
            "blest:",
            "ecf:-1",
            "ecf:11",
            "ecf:.5",
            "active-backup:",
            "active-backup:10",
            "active-backup:10 ms",
            "active-backup:ms",
            "active-backup:-5ms",
            "active-backup:5h",
            "active-backup:99999999999999999999s",
            "Active-Backup:5ms",
        ] {
            let e = SchedulerKind::from_name(bad).unwrap_err();
            assert_eq!(e.0, bad);
        }
        // Every listed name parses; the message shows the grammar.
        for n in SCHEDULER_NAMES {
            assert!(SchedulerKind::from_name(n).is_ok(), "{n}");
            assert!(!by_name(n).unwrap().name().is_empty());
        }
        let msg = UnknownScheduler("x".into()).to_string();
        assert!(
            msg.contains("active-backup[:DELAY]") && msg.contains("\"inf\""),
            "{msg}"
        );
    }

    #[test]
    fn built_names() {
        let name = |n: &str| by_name(n).unwrap().name();
        assert_eq!(name("default"), "min-rtt");
        assert_eq!(name("round-robin"), "round-robin");
        assert_eq!(name("redundant"), "redundant");
        assert_eq!(name("blest"), "blest");
        assert_eq!(name("ecf"), "ecf");
        assert_eq!(name("active-backup:1s"), "active-backup");
        assert!(by_name("redundant").unwrap().redundant());
        assert!(!by_name("min-rtt").unwrap().redundant());
    }

    #[test]
    fn chunk_rounds_the_window_up_to_segments() {
        let v = view(0, 10, 2500);
        assert_eq!(chunk_len(&v, u64::MAX), 3000);
        assert_eq!(chunk_len(&v, 1200), 1200);
        assert_eq!(chunk_len(&view(0, 10, 0), u64::MAX), 1000);
    }

    /// Views where the fastest subflow is untrusted: for trusted-only data every
    /// scheduler must pick the trusted one or wait.
    #[test]
    fn trusted_data_never_reaches_untrusted_subflows() {
        let names = [
            "min-rtt",
            "round-robin",
            "redundant",
            "blest",
            "ecf",
            "active-backup:0",
            "active-backup:inf",
        ];
        // (untrusted fast has room, trusted slow room, trusted slow is backup)
        let cases = [
            (5000, 5000, false),
            (5000, 0, false),
            (0, 5000, false),
            (5000, 5000, true),
            (5000, 0, true),
        ];
        for name in names {
            for &(fast_space, slow_space, slow_backup) in &cases {
                for age_ms in [0, 10_000] {
                    let mut s = by_name(name).unwrap();
                    let mut views = [view(0, 10, fast_space), view(1, 80, slow_space)];
                    views[1].trusted = true;
                    views[1].backup = slow_backup;
                    restrict_to_trusted(&mut views);
                    let mut input = SchedulerInput::new(Instant::from_millis(20_000), &views);
                    input.trusted_only = true;
                    input.oldest_unsent_age = Duration::from_millis(age_ms);
                    input.bytes_unsent = 1_000_000;
                    let pick = s.select(&input);
                    assert_ne!(
                        pick,
                        Some(0),
                        "{name}: trusted data on the untrusted subflow"
                    );
                    // The trusted subflow with room is used (no other subflow can compete).
                    if slow_space > 0 {
                        assert_eq!(
                            pick,
                            Some(1),
                            "{name} {fast_space} {slow_space} {slow_backup}"
                        );
                    } else {
                        assert_eq!(pick, None, "{name}");
                    }
                }
            }
        }
    }

    #[test]
    fn restrict_keeps_trusted_state() {
        let mut v = [view(0, 10, 100), view(1, 10, 100), view(2, 10, 100)];
        v[1].trusted = true;
        v[2].usable = false;
        v[2].trusted = true;
        restrict_to_trusted(&mut v);
        assert_eq!(v.map(|x| x.usable), [false, true, false]);
    }
}
