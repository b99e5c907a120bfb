//! Packet codecs: borrowed views over bytes beside owned `Repr` structs (the smoltcp pattern).
//!
//! Parsing never panics on any input; emitting never panics on a buffer of `buffer_len()` bytes.

mod bytes;
pub mod checksum;
pub mod ip;
pub mod mptcp;
pub mod tcp;

pub use ip::{IpRepr, IP_PROTO_TCP};
pub use mptcp::{
    AddAddr, DataAck, Dss, DssMapping, MpCapable, MpFail, MpFastclose, MpJoin, MpPrio, MpTcpRst,
    MptcpOption, RemoveAddr,
};
pub use tcp::{SackBlocks, TcpFlags, TcpOption, TcpOptions, TcpRepr};

/// Why bytes could not be parsed. Each variant names the field at fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The buffer ended before the named field.
    #[error("truncated {0}")]
    Truncated(&'static str),
    /// The IP version nibble is neither 4 nor 6.
    #[error("unknown IP version {0}")]
    BadIpVersion(u8),
    /// A length field is inconsistent with the buffer or the protocol.
    #[error("bad length in {0}")]
    BadLength(&'static str),
    /// A checksum did not verify.
    #[error("bad {0} checksum")]
    BadChecksum(&'static str),
    /// A TCP option's length byte is impossible for its kind.
    #[error("bad length {len} for TCP option kind {kind}")]
    BadOptionLength {
        /// Option kind.
        kind: u8,
        /// Length byte found.
        len: u8,
    },
    /// An MPTCP suboption's length is impossible for its subtype.
    #[error("bad length {len} for MPTCP subtype {subtype}")]
    BadMptcpLength {
        /// MPTCP subtype.
        subtype: u8,
        /// Length byte found.
        len: u8,
    },
    /// A field holds a value the protocol does not allow.
    #[error("invalid value in {0}")]
    Invalid(&'static str),
}
