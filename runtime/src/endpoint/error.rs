//! Error types of the endpoint: what a controller reports to its error hook ([`Error`]) and
//! why an upgrade was refused ([`UpgradeError`]).

use std::error::Error as StdError;
use std::fmt;

use crate::connection::close::AsErrorSource;
use crate::connection::error::ConnError;

/// What kind of failure an [`Error`] reports to the error hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The controller returned an error.
    Handler,
    /// The controller panicked; the message is the panic payload.
    Panic,
    /// The peer vanished without a close frame (1006). Not a server fault.
    PeerGone,
    /// The peer sent something the protocol or the controller does not accept (1002, 1003,
    /// 1007, 1008, 1009). Not a server fault.
    PeerViolation,
    /// The peer closed with a code other than 1000, 1001 or 1005.
    PeerClosed,
}

/// The error a controller's `serve` returns and the error hook receives.
///
/// Any `std::error::Error + Send + Sync` converts into it with `?`, so `serve` can use `?` on
/// any call. It derefs to the wrapped error.
pub struct Error {
    kind: ErrorKind,
    inner: Box<dyn StdError + Send + Sync + 'static>,
    backtrace: Option<String>,
}

impl Error {
    /// Wraps an error; its kind is [`ErrorKind::Handler`] unless it is a [`ConnError`] that
    /// says the peer vanished or misbehaved.
    pub fn new(err: impl Into<Box<dyn StdError + Send + Sync + 'static>>) -> Self {
        let inner = err.into();
        let kind = match inner.downcast_ref::<ConnError>() {
            Some(conn) if conn.is_peer_gone() => ErrorKind::PeerGone,
            Some(conn) if conn.is_peer_violation() => ErrorKind::PeerViolation,
            Some(ConnError::Closed(_)) => ErrorKind::PeerClosed,
            _ => ErrorKind::Handler,
        };
        Self {
            kind,
            inner,
            backtrace: None,
        }
    }

    /// An error with a plain message.
    pub fn msg(message: impl fmt::Display) -> Self {
        Self::new(message.to_string())
    }

    /// An error of kind [`ErrorKind::Panic`] built from a caught panic's payload.
    pub fn from_panic(payload: Box<dyn std::any::Any + Send>, backtrace: Option<String>) -> Self {
        Self {
            kind: ErrorKind::Panic,
            inner: Box::new(PanicError {
                message: crate::endpoint::panic::payload_message(payload.as_ref()),
            }),
            backtrace,
        }
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The backtrace of a panic, captured only when the controller's debug flag is on.
    pub fn backtrace(&self) -> Option<&str> {
        self.backtrace.as_deref()
    }

    /// The wrapped error, if it is a `T`.
    pub fn downcast_ref<T: StdError + 'static>(&self) -> Option<&T> {
        self.inner.downcast_ref()
    }

    /// The wrapped error.
    pub fn into_inner(self) -> Box<dyn StdError + Send + Sync + 'static> {
        self.inner
    }
}

impl<E: StdError + Send + Sync + 'static> From<E> for Error {
    fn from(err: E) -> Self {
        Self::new(err)
    }
}

impl std::ops::Deref for Error {
    type Target = dyn StdError + Send + Sync + 'static;

    fn deref(&self) -> &Self::Target {
        &*self.inner
    }
}

impl AsErrorSource for Error {
    fn as_error_source(&self) -> &(dyn StdError + 'static) {
        &*self.inner
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.kind)
            .field("error", &self.inner)
            .finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.inner, f)
    }
}

/// The payload of a caught panic, as the error inside an [`Error`] of kind
/// [`ErrorKind::Panic`].
#[derive(Debug, Clone, thiserror::Error)]
#[error("panic: {message}")]
pub struct PanicError {
    /// The panic message (`&str` and `String` payloads; otherwise a placeholder).
    pub message: String,
}

/// Why a WebSocket upgrade was refused; handed to the upgrade-error hook with the status.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UpgradeError {
    /// The request method is not GET (405).
    #[error("WebSocket upgrade requires the GET method, got {0}")]
    MethodNotGet(http::Method),
    /// `Connection` does not list `upgrade` (426).
    #[error("`Connection` header must contain the `upgrade` token")]
    ConnectionHeader,
    /// `Upgrade` does not list `websocket` (426).
    #[error("`Upgrade` header must contain the `websocket` token")]
    UpgradeHeader,
    /// `Sec-WebSocket-Version` is missing or not 13 (400).
    #[error("`Sec-WebSocket-Version` must be 13")]
    Version,
    /// `Sec-WebSocket-Key` is missing, repeated, or not a base64-encoded 16-byte value (400).
    #[error("`Sec-WebSocket-Key` must be one base64-encoded 16-byte value")]
    Key,
    /// The origin check refused the request's `Origin` (403).
    #[error("origin not allowed")]
    Origin,
    /// An HTTP/2 request's method is not CONNECT (405): RFC 8441 opens WebSockets with
    /// extended CONNECT.
    #[error("a WebSocket over HTTP/2 requires the CONNECT method, got {0}")]
    MethodNotConnect(http::Method),
    /// An HTTP/2 CONNECT without `:protocol websocket` (400).
    #[error("an HTTP/2 WebSocket CONNECT must carry `:protocol websocket`")]
    ProtocolPseudoHeader,
    /// The upgrade request has a body (`Content-Length` other than 0, or any
    /// `Transfer-Encoding`) (400). Accepting it would hand the body's bytes to the
    /// WebSocket, or desynchronise a proxy that reads the request differently.
    #[error("a WebSocket upgrade request must not have a body")]
    Body,
    /// The controller's [`Settings::max_connections`](crate::Settings::max_connections) is
    /// reached (503, with `Retry-After`).
    #[error("too many connections on this route (limit {limit})")]
    TooManyConnections {
        /// The limit.
        limit: usize,
    },
    /// The server's [`Server::max_connections`](crate::Server::max_connections) is reached
    /// (503, with `Retry-After`).
    #[error("too many connections on this server (limit {limit})")]
    ServerFull {
        /// The limit.
        limit: usize,
    },
    /// The client's address has
    /// [`Settings::max_connections_per_client`](crate::Settings::max_connections_per_client)
    /// connections open (429, with `Retry-After`).
    #[error("too many connections from this client (limit {limit})")]
    TooManyFromClient {
        /// The limit.
        limit: usize,
    },
    /// The HTTP connection cannot be upgraded (a server without upgrade support, or HTTP/2
    /// without the `http2` feature) (426).
    #[error("this connection cannot be upgraded")]
    NotUpgradable,
    /// The server is shutting down and takes no new connections (503).
    #[error("server is shutting down")]
    ShuttingDown,
    /// A `since` position of the URL query is malformed (400): checked when the
    /// controller's hub keeps room histories ([`Hub::with_history`](crate::Hub::with_history)).
    #[error("invalid `since`: {0}")]
    InvalidSince(#[from] crate::InvalidSince),
    /// A hook panicked during the upgrade (500).
    #[error("upgrade hook panicked: {0}")]
    HookPanicked(String),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connection::close::{is_close_error, CloseCode, CloseError, CloseStatus};

    #[test]
    fn close_errors_are_seen_through_the_handler_error() {
        for (status, clean) in [
            (CloseStatus::Code(CloseCode::NORMAL_CLOSURE), true),
            (CloseStatus::NoStatusReceived, true),
            (CloseStatus::Abnormal, false),
            (CloseStatus::Code(CloseCode::INTERNAL_ERROR), false),
        ] {
            let err = Error::new(ConnError::Closed(CloseError::new(status, "")));
            assert_eq!(is_close_error(&err), clean, "{status}");
        }
    }
}
