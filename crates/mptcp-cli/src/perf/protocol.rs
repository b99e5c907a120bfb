//! iperf3's control protocol (esnet/iperf 3.x, `iperf_api.c`, `iperf_client_api.c`,
//! `iperf_server_api.c`).
//!
//! The control connection carries, in order:
//! - the client's cookie: 36 characters from `[a-z2-7]` and a NUL (37 bytes);
//! - one-byte (signed) state messages, server to client mostly;
//! - JSON objects, each prefixed by its length as a 4-byte big-endian integer.
//!
//! Every data stream is a separate TCP connection to the same port that starts with the same
//! cookie. Everything read from the network is bounded and checked: a malformed message is an
//! error, never a panic.

use rand::Rng;
use serde_json::{json, Map, Value};
use std::fmt;
use std::io;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Length of the cookie on the wire: 36 characters and a terminating NUL.
pub const COOKIE_SIZE: usize = 37;
/// Largest JSON message accepted (iperf3's own messages are a few hundred bytes).
pub const MAX_JSON_LEN: usize = 1 << 20;
/// iperf3's default TCP block size (128 KiB).
pub const DEFAULT_TCP_BLKSIZE: usize = 128 * 1024;
/// Largest block size accepted from a peer.
pub const MAX_BLKSIZE: usize = 16 << 20;
/// Most parallel streams accepted from a peer.
pub const MAX_STREAMS: usize = 128;
/// The version we announce in `client_version`.
pub const CLIENT_VERSION: &str = "3.12";

/// A state byte of the control connection (iperf.h).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    TestStart,
    TestRunning,
    TestEnd,
    ParamExchange,
    CreateStreams,
    ServerTerminate,
    ClientTerminate,
    ExchangeResults,
    DisplayResults,
    IperfStart,
    IperfDone,
    AccessDenied,
    ServerError,
}

impl State {
    /// Every state, for round-trip tests.
    pub const ALL: [State; 13] = [
        State::TestStart,
        State::TestRunning,
        State::TestEnd,
        State::ParamExchange,
        State::CreateStreams,
        State::ServerTerminate,
        State::ClientTerminate,
        State::ExchangeResults,
        State::DisplayResults,
        State::IperfStart,
        State::IperfDone,
        State::AccessDenied,
        State::ServerError,
    ];

    /// The byte on the wire.
    pub fn to_byte(self) -> u8 {
        let v: i8 = match self {
            State::TestStart => 1,
            State::TestRunning => 2,
            State::TestEnd => 4,
            State::ParamExchange => 9,
            State::CreateStreams => 10,
            State::ServerTerminate => 11,
            State::ClientTerminate => 12,
            State::ExchangeResults => 13,
            State::DisplayResults => 14,
            State::IperfStart => 15,
            State::IperfDone => 16,
            State::AccessDenied => -1,
            State::ServerError => -2,
        };
        v as u8
    }

    /// Decodes a byte from the wire.
    pub fn from_byte(b: u8) -> Option<State> {
        State::ALL.into_iter().find(|s| s.to_byte() == b)
    }
}

/// Errors of the control protocol.
#[derive(Debug)]
pub enum ProtoError {
    Io(io::Error),
    /// The peer closed the control connection.
    Closed,
    /// A state byte that iperf3 does not define.
    UnknownState(u8),
    /// A state that is valid but not expected now.
    Unexpected(State),
    /// A JSON length prefix above [`MAX_JSON_LEN`].
    TooLong(usize),
    /// A JSON message that does not parse or lacks what it must have.
    BadJson(String),
    /// The server refused us (another test is running, or a bad cookie).
    AccessDenied,
    /// The server reported an error (iperf3's `i_errno` and `errno`).
    ServerError(i32, i32),
    /// The server terminated the test.
    ServerTerminated,
    /// The client terminated the test.
    ClientTerminated,
    /// A cookie that is not 36 characters of iperf3's alphabet and a NUL.
    BadCookie,
    /// The peer asked for something we do not support.
    Unsupported(String),
    /// A phase of the protocol took too long.
    Timeout(&'static str),
}

impl fmt::Display for ProtoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtoError::Io(e) => write!(f, "{e}"),
            ProtoError::Closed => write!(f, "the peer closed the control connection"),
            ProtoError::UnknownState(b) => write!(f, "unknown control message {}", *b as i8),
            ProtoError::Unexpected(s) => write!(f, "unexpected control message {s:?}"),
            ProtoError::TooLong(n) => write!(
                f,
                "control message of {n} bytes is over the {MAX_JSON_LEN}-byte limit"
            ),
            ProtoError::BadJson(m) => write!(f, "bad control message: {m}"),
            ProtoError::AccessDenied => {
                write!(f, "the server is busy running a test or refused the cookie")
            }
            ProtoError::ServerError(i, e) => {
                write!(
                    f,
                    "the server reported an error (iperf error {i}, errno {e})"
                )
            }
            ProtoError::ServerTerminated => write!(f, "the server has terminated"),
            ProtoError::ClientTerminated => write!(f, "the client has terminated"),
            ProtoError::BadCookie => write!(f, "bad cookie"),
            ProtoError::Unsupported(m) => write!(f, "unsupported: {m}"),
            ProtoError::Timeout(what) => write!(f, "timed out waiting for {what}"),
        }
    }
}

impl std::error::Error for ProtoError {}

impl From<io::Error> for ProtoError {
    fn from(e: io::Error) -> Self {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            ProtoError::Closed
        } else {
            ProtoError::Io(e)
        }
    }
}

/// A fresh cookie: 36 random characters of iperf3's alphabet and a NUL (`make_cookie`).
pub fn make_cookie() -> [u8; COOKIE_SIZE] {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut rng = rand::thread_rng();
    let mut c = [0u8; COOKIE_SIZE];
    for b in c.iter_mut().take(COOKIE_SIZE - 1) {
        *b = ALPHABET[rng.gen_range(0..ALPHABET.len())];
    }
    c
}

/// Checks that a received cookie is printable and NUL-terminated, as iperf3 would make it.
pub fn check_cookie(c: &[u8; COOKIE_SIZE]) -> Result<(), ProtoError> {
    let body = &c[..COOKIE_SIZE - 1];
    if c[COOKIE_SIZE - 1] != 0 || !body.iter().all(|b| b.is_ascii_graphic()) {
        return Err(ProtoError::BadCookie);
    }
    Ok(())
}

/// The cookie as text (without the NUL), for the JSON output.
pub fn cookie_str(c: &[u8; COOKIE_SIZE]) -> String {
    String::from_utf8_lossy(&c[..COOKIE_SIZE - 1]).into_owned()
}

/// Reads a cookie.
pub async fn read_cookie<R: AsyncRead + Unpin>(r: &mut R) -> Result<[u8; COOKIE_SIZE], ProtoError> {
    let mut c = [0u8; COOKIE_SIZE];
    r.read_exact(&mut c).await?;
    Ok(c)
}

/// Reads one state byte. `SERVER_ERROR` is followed by two 32-bit big-endian integers
/// (iperf3's `i_errno` and the system `errno`); they are read here and returned as an error,
/// like `ACCESS_DENIED`, `SERVER_TERMINATE` and `CLIENT_TERMINATE`.
pub async fn read_state<R: AsyncRead + Unpin>(r: &mut R) -> Result<State, ProtoError> {
    let b = r.read_u8().await?;
    finish_state(r, b).await
}

/// Decodes a state byte already read (reading `SERVER_ERROR`'s two numbers). Reading the
/// byte alone is cancel-safe, so it can be done in a `select!`, and this afterwards.
pub async fn finish_state<R: AsyncRead + Unpin>(r: &mut R, b: u8) -> Result<State, ProtoError> {
    let s = State::from_byte(b).ok_or(ProtoError::UnknownState(b))?;
    match s {
        State::AccessDenied => Err(ProtoError::AccessDenied),
        State::ServerTerminate => Err(ProtoError::ServerTerminated),
        State::ClientTerminate => Err(ProtoError::ClientTerminated),
        State::ServerError => {
            let mut v = [0u8; 8];
            r.read_exact(&mut v).await?;
            let ierr = i32::from_be_bytes([v[0], v[1], v[2], v[3]]);
            let errno = i32::from_be_bytes([v[4], v[5], v[6], v[7]]);
            Err(ProtoError::ServerError(ierr, errno))
        }
        s => Ok(s),
    }
}

/// Writes one state byte.
pub async fn write_state<W: AsyncWrite + Unpin>(w: &mut W, s: State) -> Result<(), ProtoError> {
    w.write_all(&[s.to_byte()]).await?;
    w.flush().await?;
    Ok(())
}

/// Writes `SERVER_ERROR` followed by iperf3's error number and an errno.
pub async fn write_server_error<W: AsyncWrite + Unpin>(
    w: &mut W,
    ierr: i32,
    errno: i32,
) -> Result<(), ProtoError> {
    let mut b = vec![State::ServerError.to_byte()];
    b.extend_from_slice(&ierr.to_be_bytes());
    b.extend_from_slice(&errno.to_be_bytes());
    w.write_all(&b).await?;
    w.flush().await?;
    Ok(())
}

/// Encodes a JSON message: a 4-byte big-endian length, then the compact JSON text.
pub fn encode_json(v: &Value) -> Vec<u8> {
    let text = v.to_string();
    let mut out = Vec::with_capacity(4 + text.len());
    out.extend_from_slice(&(text.len() as u32).to_be_bytes());
    out.extend_from_slice(text.as_bytes());
    out
}

/// Writes a length-prefixed JSON message.
pub async fn write_json<W: AsyncWrite + Unpin>(w: &mut W, v: &Value) -> Result<(), ProtoError> {
    w.write_all(&encode_json(v)).await?;
    w.flush().await?;
    Ok(())
}

/// Reads a length-prefixed JSON message; it must be an object of at most [`MAX_JSON_LEN`]
/// bytes. (iperf3 counts the length without a terminating NUL; a trailing NUL is tolerated.)
pub async fn read_json<R: AsyncRead + Unpin>(r: &mut R) -> Result<Map<String, Value>, ProtoError> {
    let mut lb = [0u8; 4];
    r.read_exact(&mut lb).await?;
    let len = u32::from_be_bytes(lb) as usize;
    if len > MAX_JSON_LEN {
        return Err(ProtoError::TooLong(len));
    }
    let mut buf = vec![0u8; len];
    r.read_exact(&mut buf).await?;
    while buf.last() == Some(&0) {
        buf.pop();
    }
    match serde_json::from_slice::<Value>(&buf) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(ProtoError::BadJson("not a JSON object".into())),
        Err(e) => Err(ProtoError::BadJson(e.to_string())),
    }
}

/// A JSON number as an integer the way cJSON's `valueint` would see it (truncating a float);
/// a boolean counts as 0/1, anything else is `None`.
fn as_i64(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_u64().map(|u| u.min(i64::MAX as u64) as i64))
            .or_else(|| n.as_f64().filter(|f| f.is_finite()).map(|f| f as i64)),
        Value::Bool(b) => Some(*b as i64),
        _ => None,
    }
}

fn as_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        _ => None,
    }
}

fn int_field(m: &Map<String, Value>, key: &str) -> Result<Option<i64>, ProtoError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => as_i64(v)
            .map(Some)
            .ok_or_else(|| ProtoError::BadJson(format!("\"{key}\" is not a number"))),
    }
}

/// The test parameters the client sends after `PARAM_EXCHANGE` (`send_parameters`).
#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    /// Test length in seconds; 0 when the test is bounded by bytes.
    pub time: u64,
    /// Bytes to send (`-n`), 0 when bounded by time.
    pub num: u64,
    /// Blocks to send (`-k`), 0 when unused.
    pub blockcount: u64,
    /// Block (write) size.
    pub len: usize,
    /// Number of parallel streams.
    pub parallel: usize,
    /// Server sends, client receives.
    pub reverse: bool,
    /// Seconds omitted at the start.
    pub omit: u64,
    /// Requested congestion control, if any.
    pub congestion: Option<String>,
    /// The client's iperf3 version, if it said.
    pub client_version: Option<String>,
    /// Requested rate in bits/s (0: unlimited).
    pub bandwidth: u64,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            time: 10,
            num: 0,
            blockcount: 0,
            len: DEFAULT_TCP_BLKSIZE,
            parallel: 1,
            reverse: false,
            omit: 0,
            congestion: None,
            client_version: None,
            bandwidth: 0,
        }
    }
}

impl Params {
    /// The JSON object iperf3's client sends.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("tcp".into(), Value::Bool(true));
        m.insert("omit".into(), json!(self.omit));
        m.insert("time".into(), json!(self.time));
        if self.num != 0 {
            m.insert("num".into(), json!(self.num));
        }
        if self.blockcount != 0 {
            m.insert("blockcount".into(), json!(self.blockcount));
        }
        m.insert("parallel".into(), json!(self.parallel));
        if self.reverse {
            m.insert("reverse".into(), Value::Bool(true));
        }
        m.insert("len".into(), json!(self.len));
        if self.bandwidth != 0 {
            m.insert("bandwidth".into(), json!(self.bandwidth));
        }
        m.insert("pacing_timer".into(), json!(1000));
        if let Some(c) = &self.congestion {
            m.insert("congestion".into(), json!(c));
        }
        m.insert(
            "client_version".into(),
            json!(self.client_version.as_deref().unwrap_or(CLIENT_VERSION)),
        );
        Value::Object(m)
    }

    /// Parses and validates the client's parameters (`get_parameters`). Unknown keys are
    /// ignored, as iperf3 does; what we cannot do (UDP, SCTP, bidirectional) is an error.
    pub fn from_json(m: &Map<String, Value>) -> Result<Params, ProtoError> {
        for proto in ["udp", "sctp"] {
            if m.contains_key(proto) {
                return Err(ProtoError::Unsupported(format!(
                    "{} tests (only TCP)",
                    proto.to_uppercase()
                )));
            }
        }
        if m.contains_key("bidirectional") {
            return Err(ProtoError::Unsupported("bidirectional tests".into()));
        }
        let mut p = Params::default();
        let nonneg = |k: &str| -> Result<Option<u64>, ProtoError> {
            match int_field(m, k)? {
                None => Ok(None),
                Some(v) if v >= 0 => Ok(Some(v as u64)),
                Some(v) => Err(ProtoError::BadJson(format!("\"{k}\" is negative ({v})"))),
            }
        };
        if let Some(t) = nonneg("time")? {
            if t > 86_400 {
                return Err(ProtoError::BadJson(format!("test time {t} s is too long")));
            }
            p.time = t;
        }
        if let Some(n) = nonneg("num")? {
            p.num = n;
        }
        if let Some(n) = nonneg("blockcount")? {
            p.blockcount = n;
        }
        if let Some(o) = nonneg("omit")? {
            if o > 600 {
                return Err(ProtoError::BadJson(format!("omit {o} s is too long")));
            }
            p.omit = o;
        }
        if let Some(l) = nonneg("len")? {
            if l == 0 || l as usize > MAX_BLKSIZE {
                return Err(ProtoError::BadJson(format!("block size {l} out of range")));
            }
            p.len = l as usize;
        }
        if let Some(n) = nonneg("parallel")? {
            if n == 0 || n as usize > MAX_STREAMS {
                return Err(ProtoError::BadJson(format!(
                    "{n} parallel streams out of range"
                )));
            }
            p.parallel = n as usize;
        }
        if let Some(b) = nonneg("bandwidth")? {
            p.bandwidth = b;
        }
        // iperf3 only tests for the key's presence.
        p.reverse = m.contains_key("reverse");
        p.congestion = m
            .get("congestion")
            .and_then(|v| v.as_str())
            .map(str::to_owned);
        p.client_version = m
            .get("client_version")
            .and_then(|v| v.as_str())
            .map(str::to_owned);
        if p.time == 0 && p.num == 0 && p.blockcount == 0 {
            return Err(ProtoError::BadJson(
                "neither a test time nor a byte or block count".into(),
            ));
        }
        Ok(p)
    }
}

/// One stream's entry of the results exchanged at the end (`send_results`).
#[derive(Debug, Clone, PartialEq)]
pub struct StreamResult {
    pub id: i64,
    pub bytes: u64,
    /// -1 when unknown (the receiver's side).
    pub retransmits: i64,
    pub jitter: f64,
    pub errors: i64,
    pub packets: i64,
    pub start_time: f64,
    pub end_time: f64,
}

/// The results each side sends the other after `EXCHANGE_RESULTS`.
#[derive(Debug, Clone, PartialEq)]
pub struct Results {
    pub cpu_util_total: f64,
    pub cpu_util_user: f64,
    pub cpu_util_system: f64,
    /// 1: the sender reports retransmits; 0: it cannot; -1: this side was the receiver.
    pub sender_has_retransmits: i64,
    pub congestion_used: Option<String>,
    pub streams: Vec<StreamResult>,
}

impl Results {
    /// The JSON object.
    pub fn to_json(&self) -> Value {
        let streams: Vec<Value> = self
            .streams
            .iter()
            .map(|s| {
                json!({
                    "id": s.id,
                    "bytes": s.bytes,
                    "retransmits": s.retransmits,
                    "jitter": s.jitter,
                    "errors": s.errors,
                    "packets": s.packets,
                    "start_time": s.start_time,
                    "end_time": s.end_time,
                })
            })
            .collect();
        let mut m = Map::new();
        m.insert("cpu_util_total".into(), json!(self.cpu_util_total));
        m.insert("cpu_util_user".into(), json!(self.cpu_util_user));
        m.insert("cpu_util_system".into(), json!(self.cpu_util_system));
        m.insert(
            "sender_has_retransmits".into(),
            json!(self.sender_has_retransmits),
        );
        if let Some(c) = &self.congestion_used {
            m.insert("congestion_used".into(), json!(c));
        }
        m.insert("streams".into(), Value::Array(streams));
        Value::Object(m)
    }

    /// Parses the peer's results (`get_results`): the same keys are required as in iperf3.
    pub fn from_json(m: &Map<String, Value>) -> Result<Results, ProtoError> {
        let num = |m: &Map<String, Value>, k: &str| -> Result<f64, ProtoError> {
            m.get(k)
                .and_then(as_f64)
                .ok_or_else(|| ProtoError::BadJson(format!("results lack a number \"{k}\"")))
        };
        let int = |m: &Map<String, Value>, k: &str| -> Result<i64, ProtoError> {
            m.get(k)
                .and_then(as_i64)
                .ok_or_else(|| ProtoError::BadJson(format!("results lack a number \"{k}\"")))
        };
        let streams_v = m
            .get("streams")
            .and_then(|v| v.as_array())
            .ok_or_else(|| ProtoError::BadJson("results lack \"streams\"".into()))?;
        if streams_v.len() > MAX_STREAMS {
            return Err(ProtoError::BadJson("too many streams in results".into()));
        }
        let mut streams = Vec::with_capacity(streams_v.len());
        for s in streams_v {
            let s = s
                .as_object()
                .ok_or_else(|| ProtoError::BadJson("a stream result is not an object".into()))?;
            let bytes = int(s, "bytes")?;
            streams.push(StreamResult {
                id: int(s, "id")?,
                bytes: bytes.max(0) as u64,
                retransmits: int(s, "retransmits")?,
                jitter: num(s, "jitter")?,
                errors: int(s, "errors")?,
                packets: int(s, "packets")?,
                start_time: s.get("start_time").and_then(as_f64).unwrap_or(0.0),
                end_time: s.get("end_time").and_then(as_f64).unwrap_or(0.0),
            });
        }
        Ok(Results {
            cpu_util_total: num(m, "cpu_util_total")?,
            cpu_util_user: num(m, "cpu_util_user")?,
            cpu_util_system: num(m, "cpu_util_system")?,
            sender_has_retransmits: int(m, "sender_has_retransmits")?,
            congestion_used: m
                .get("congestion_used")
                .and_then(|v| v.as_str())
                .map(str::to_owned),
            streams,
        })
    }
}

/// iperf3's stream ids: 1 for the first stream, then 3, 4, 5, ... (`iperf_add_stream`
/// starts counting the later ones at 2 and adds one per existing stream).
pub fn stream_id(index: usize) -> i64 {
    if index == 0 {
        1
    } else {
        index as i64 + 2
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_bytes_are_iperf3s() {
        assert_eq!(State::ParamExchange.to_byte(), 9);
        assert_eq!(State::CreateStreams.to_byte(), 10);
        assert_eq!(State::TestStart.to_byte(), 1);
        assert_eq!(State::TestRunning.to_byte(), 2);
        assert_eq!(State::TestEnd.to_byte(), 4);
        assert_eq!(State::ExchangeResults.to_byte(), 13);
        assert_eq!(State::DisplayResults.to_byte(), 14);
        assert_eq!(State::IperfDone.to_byte(), 16);
        assert_eq!(State::ClientTerminate.to_byte(), 12);
        assert_eq!(State::ServerTerminate.to_byte(), 11);
        assert_eq!(State::AccessDenied.to_byte(), 0xff);
        assert_eq!(State::ServerError.to_byte(), 0xfe);
        for s in State::ALL {
            assert_eq!(State::from_byte(s.to_byte()), Some(s));
        }
        assert_eq!(State::from_byte(3), None);
        assert_eq!(State::from_byte(100), None);
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn states_round_trip_over_a_stream() {
        rt().block_on(async {
            let (mut a, mut b) = tokio::io::duplex(64);
            for s in [State::ParamExchange, State::TestEnd, State::IperfDone] {
                write_state(&mut a, s).await.unwrap();
                assert_eq!(read_state(&mut b).await.unwrap(), s);
            }
            write_state(&mut a, State::AccessDenied).await.unwrap();
            assert!(matches!(
                read_state(&mut b).await,
                Err(ProtoError::AccessDenied)
            ));
            write_server_error(&mut a, 117, 2).await.unwrap();
            assert!(matches!(
                read_state(&mut b).await,
                Err(ProtoError::ServerError(117, 2))
            ));
            a.write_all(&[77]).await.unwrap();
            assert!(matches!(
                read_state(&mut b).await,
                Err(ProtoError::UnknownState(77))
            ));
            drop(a);
            assert!(matches!(read_state(&mut b).await, Err(ProtoError::Closed)));
        });
    }

    #[test]
    fn json_round_trips_and_is_bounded() {
        rt().block_on(async {
            let (mut a, mut b) = tokio::io::duplex(1 << 16);
            let p = Params {
                time: 3,
                reverse: true,
                ..Params::default()
            };
            write_json(&mut a, &p.to_json()).await.unwrap();
            let m = read_json(&mut b).await.unwrap();
            assert_eq!(Params::from_json(&m).unwrap().time, 3);
            assert!(Params::from_json(&m).unwrap().reverse);
            // Length prefix is big-endian and counts the text.
            let enc = encode_json(&json!({"a": 1}));
            assert_eq!(&enc[..4], &[0, 0, 0, 7]);
            assert_eq!(&enc[4..], b"{\"a\":1}");
            // Over-long.
            a.write_all(&(MAX_JSON_LEN as u32 + 1).to_be_bytes())
                .await
                .unwrap();
            assert!(matches!(
                read_json(&mut b).await,
                Err(ProtoError::TooLong(_))
            ));
        });
        rt().block_on(async {
            // Truncated.
            let (mut a, mut b) = tokio::io::duplex(1 << 16);
            a.write_all(&[0, 0, 0, 50, b'{']).await.unwrap();
            drop(a);
            assert!(matches!(read_json(&mut b).await, Err(ProtoError::Closed)));
        });
        rt().block_on(async {
            // Not JSON, not an object.
            let (mut a, mut b) = tokio::io::duplex(1 << 16);
            a.write_all(&[0, 0, 0, 3, b'x', b'y', b'z']).await.unwrap();
            assert!(matches!(
                read_json(&mut b).await,
                Err(ProtoError::BadJson(_))
            ));
            a.write_all(&[0, 0, 0, 2, b'[', b']']).await.unwrap();
            assert!(matches!(
                read_json(&mut b).await,
                Err(ProtoError::BadJson(_))
            ));
        });
    }

    #[test]
    fn params_match_iperf3s_keys_and_reject_hostile_values() {
        let iperf3 = json!({"tcp":true,"omit":0,"time":2,"num":1048576,"parallel":1,"len":131072,
            "pacing_timer":1000,"client_version":"3.12","reverse":true});
        let p = Params::from_json(iperf3.as_object().unwrap()).unwrap();
        assert_eq!(
            (p.time, p.num, p.len, p.parallel, p.reverse),
            (2, 1 << 20, 131072, 1, true)
        );
        assert_eq!(p.client_version.as_deref(), Some("3.12"));
        let j = Params::default().to_json();
        for k in ["tcp", "omit", "time", "parallel", "len", "client_version"] {
            assert!(j.get(k).is_some(), "{k}");
        }
        for bad in [
            json!({"udp": true, "time": 1}),
            json!({"time": -1}),
            json!({"time": "x"}),
            json!({"time": 1, "len": 0}),
            json!({"time": 1, "len": 1e12}),
            json!({"time": 1, "parallel": 100000}),
            json!({"time": 0}),
            json!({"time": 1, "bidirectional": true}),
        ] {
            assert!(
                Params::from_json(bad.as_object().unwrap()).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn results_round_trip_and_require_iperf3s_keys() {
        let r = Results {
            cpu_util_total: 1.5,
            cpu_util_user: 0.5,
            cpu_util_system: 1.0,
            sender_has_retransmits: 1,
            congestion_used: Some("cubic".into()),
            streams: vec![StreamResult {
                id: 1,
                bytes: 5_000_000_000,
                retransmits: 3,
                jitter: 0.0,
                errors: 0,
                packets: 0,
                start_time: 0.0,
                end_time: 2.0,
            }],
        };
        let j = r.to_json();
        assert_eq!(Results::from_json(j.as_object().unwrap()).unwrap(), r);
        let mut m = j.as_object().unwrap().clone();
        m.remove("sender_has_retransmits");
        assert!(Results::from_json(&m).is_err());
        let bad = json!({"cpu_util_total":0,"cpu_util_user":0,"cpu_util_system":0,
            "sender_has_retransmits":0,"streams":[{"id":1}]});
        assert!(Results::from_json(bad.as_object().unwrap()).is_err());
    }

    #[test]
    fn cookies() {
        let c = make_cookie();
        assert_eq!(c[36], 0);
        assert!(check_cookie(&c).is_ok());
        assert_eq!(cookie_str(&c).len(), 36);
        let mut bad = c;
        bad[36] = b'x';
        assert!(check_cookie(&bad).is_err());
        assert_eq!((stream_id(0), stream_id(1), stream_id(2)), (1, 3, 4));
    }
}
