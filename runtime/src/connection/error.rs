//! [`ConnError`]: what a connection operation can fail with.

use crate::connection::close::CloseError;

/// Why a connection operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnError {
    /// The connection is closed; the close frame's status and reason (1006 when the peer
    /// vanished without one).
    #[error(transparent)]
    Closed(CloseError),
    /// A message exceeded the maximum message size; the connection was closed with 1009.
    #[error("message exceeds the {limit}-byte limit")]
    MessageTooBig {
        /// The configured limit in bytes.
        limit: usize,
    },
    /// A text message was not valid UTF-8; the connection was closed with 1007.
    #[error("text message is not valid UTF-8")]
    InvalidUtf8,
    /// A compressed message did not inflate (permessage-deflate); the connection was closed
    /// with 1007.
    #[error("invalid compressed message: {0}")]
    Compression(String),
    /// The peer broke RFC 6455; the connection was closed with 1002.
    #[error("protocol violation: {0}")]
    Protocol(String),
    /// A message was not valid JSON for the requested type; the connection was closed with 1007.
    #[error("invalid JSON message: {0}")]
    Json(#[source] serde_json::Error),
    /// A value could not be serialized to JSON; nothing was sent.
    #[error("could not encode message as JSON: {0}")]
    Encode(#[source] serde_json::Error),
    /// A data message arrived after [`Conn::close_read`](crate::Conn::close_read); closed with 1008.
    #[error("data message received on a write-only connection")]
    UnexpectedMessage,
    /// The peer sent faster than its [`RateLimit`](crate::RateLimit) allows; the connection
    /// was closed with 1008 "rate limit exceeded".
    #[error("inbound rate limit exceeded")]
    RateLimited,
    /// The peer vanished without a close frame (reset, EOF, 1006).
    #[error("peer went away without a close frame{}", .0.as_ref().map(|e| format!(": {e}")).unwrap_or_default())]
    PeerGone(Option<std::io::Error>),
}

impl ConnError {
    /// True when the peer vanished without a close frame.
    pub fn is_peer_gone(&self) -> bool {
        match self {
            Self::PeerGone(_) => true,
            Self::Closed(close) => close.code == crate::connection::close::CloseStatus::Abnormal,
            _ => false,
        }
    }

    /// True when the error is the peer's fault (protocol violation, bad payload, size).
    pub fn is_peer_violation(&self) -> bool {
        matches!(
            self,
            Self::MessageTooBig { .. }
                | Self::InvalidUtf8
                | Self::Compression(_)
                | Self::Protocol(_)
                | Self::Json(_)
                | Self::UnexpectedMessage
                | Self::RateLimited
        )
    }
}
