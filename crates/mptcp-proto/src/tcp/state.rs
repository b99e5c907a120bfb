//! TCP connection states (RFC 9293 §3.3.2).

/// The state of one subflow's TCP connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpState {
    /// SYN sent, waiting for SYN/ACK.
    SynSent,
    /// SYN received and answered, waiting for the final ACK.
    SynReceived,
    /// Data may flow both ways.
    Established,
    /// We sent FIN, not yet acknowledged.
    FinWait1,
    /// Our FIN is acknowledged; waiting for the peer's.
    FinWait2,
    /// The peer sent FIN; we may still send.
    CloseWait,
    /// Both sent FIN simultaneously; waiting for the ACK of ours.
    Closing,
    /// We sent FIN after the peer's; waiting for its ACK.
    LastAck,
    /// Both directions closed; lingering for 2 MSL.
    TimeWait,
    /// Gone.
    Closed,
}

impl TcpState {
    /// States in which the handshake is complete and data we send can be acknowledged.
    pub fn is_synchronized(self) -> bool {
        !matches!(
            self,
            TcpState::SynSent | TcpState::SynReceived | TcpState::Closed
        )
    }
    /// States in which we may still send new data.
    pub fn can_send(self) -> bool {
        matches!(self, TcpState::Established | TcpState::CloseWait)
    }
    /// States in which the peer may still send new data.
    pub fn can_receive(self) -> bool {
        matches!(
            self,
            TcpState::Established | TcpState::FinWait1 | TcpState::FinWait2
        )
    }
}
