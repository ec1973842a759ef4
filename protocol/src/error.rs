//! What a peer can do wrong, and the close code each violation is answered with.

/// A violation of RFC 6455 (or RFC 7692) by the peer. The connection must be failed with
/// [`ProtocolError::close_code`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// RSV2 or RSV3 set, or RSV1 without a compression extension or where it may not be.
    #[error("reserved bits set")]
    ReservedBits,
    /// An opcode RFC 6455 reserves.
    #[error("reserved opcode {0:#x}")]
    ReservedOpcode(u8),
    /// A control frame without FIN.
    #[error("fragmented control frame")]
    FragmentedControl,
    /// A control frame with more than 125 bytes of payload.
    #[error("control frame longer than 125 bytes")]
    ControlTooLong,
    /// A client sent an unmasked frame.
    #[error("unmasked frame from a client")]
    UnmaskedFrame,
    /// A server sent a masked frame.
    #[error("masked frame from a server")]
    MaskedFrame,
    /// A 64-bit length with its most significant bit set.
    #[error("frame length with the most significant bit set")]
    InvalidLength,
    /// A continuation frame with no message to continue.
    #[error("continuation frame without a message to continue")]
    UnexpectedContinuation,
    /// A new text or binary frame while a fragmented message is unfinished.
    #[error("new data frame inside a fragmented message")]
    ExpectedContinuation,
    /// A close frame whose payload is one byte long.
    #[error("close frame with a one-byte payload")]
    CloseTooShort,
    /// A close frame with a code that may not be sent.
    #[error("invalid close code {0}")]
    InvalidCloseCode(u16),
    /// A close frame whose reason is not UTF-8.
    #[error("close reason is not valid UTF-8")]
    InvalidCloseReason,
    /// A text message that is not UTF-8.
    #[error("text message is not valid UTF-8")]
    InvalidUtf8,
    /// A message larger than the limit.
    #[error("message exceeds the {limit}-byte limit")]
    MessageTooBig {
        /// The limit in bytes.
        limit: usize,
    },
    /// A compressed message that does not inflate.
    #[error("compressed message is corrupt: {0}")]
    Compression(String),
}

impl ProtocolError {
    /// The close code the connection is failed with: 1007 for payloads that do not match
    /// their type, 1009 for size, 1002 for the rest.
    pub fn close_code(&self) -> u16 {
        match self {
            Self::InvalidUtf8 | Self::InvalidCloseReason | Self::Compression(_) => 1007,
            Self::MessageTooBig { .. } => 1009,
            _ => 1002,
        }
    }
}
