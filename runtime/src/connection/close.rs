//! Close codes, close statuses and the close error (RFC 6455 §7.4).

use std::error::Error as StdError;
use std::fmt;

/// Longest close reason that fits a control frame: 125 bytes of payload minus the 2-byte code.
pub const MAX_REASON_LEN: usize = 123;

/// Reason sent with `1000` when the server ends a connection normally.
pub const NORMAL_CLOSURE_REASON: &str = "Server closed connection";

/// Reason sent with `1011` when a controller fails and debug is off.
pub const INTERNAL_ERROR_REASON: &str = "Internal Server Error";

/// A close code that may be sent in a close frame.
///
/// The type cannot hold a code that is invalid on the wire: below 1000, 1004, the reserved
/// 1005/1006/1015 (they describe closures, they are never sent — see [`CloseStatus`]),
/// 1016–2999 and 5000 and above are rejected by [`CloseCode::new`].
///
/// ```
/// use ws_controller::CloseCode;
/// assert_eq!(CloseCode::new(4001).unwrap().as_u16(), 4001);
/// assert!(CloseCode::new(1006).is_err());
/// assert_eq!(CloseCode::NORMAL_CLOSURE.as_u16(), 1000);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CloseCode(u16);

impl CloseCode {
    /// 1000: the purpose of the connection has been fulfilled.
    pub const NORMAL_CLOSURE: Self = Self(1000);
    /// 1001: the endpoint is going away (server shutting down, page navigated away).
    pub const GOING_AWAY: Self = Self(1001);
    /// 1002: the peer broke the protocol.
    pub const PROTOCOL_ERROR: Self = Self(1002);
    /// 1003: the endpoint received a kind of data message it does not accept.
    pub const UNSUPPORTED_DATA: Self = Self(1003);
    /// 1007: a message's payload does not match its type (invalid UTF-8 text, invalid JSON).
    pub const INVALID_PAYLOAD: Self = Self(1007);
    /// 1008: a message violates the endpoint's policy.
    pub const POLICY_VIOLATION: Self = Self(1008);
    /// 1009: a message is larger than the endpoint accepts.
    pub const MESSAGE_TOO_BIG: Self = Self(1009);
    /// 1010: the client expected an extension the server did not negotiate.
    pub const MANDATORY_EXTENSION: Self = Self(1010);
    /// 1011: the server met an unexpected condition.
    pub const INTERNAL_ERROR: Self = Self(1011);
    /// 1012: the service is restarting.
    pub const SERVICE_RESTART: Self = Self(1012);
    /// 1013: try again later (temporary overload).
    pub const TRY_AGAIN_LATER: Self = Self(1013);
    /// 1014: a gateway or proxy received an invalid response upstream.
    pub const BAD_GATEWAY: Self = Self(1014);

    /// Validates a numeric close code for sending.
    ///
    /// Accepts 1000–1003, 1007–1014 and the registrable/private ranges 3000–4999.
    pub const fn new(code: u16) -> Result<Self, InvalidCloseCode> {
        match code {
            1000..=1003 | 1007..=1014 | 3000..=4999 => Ok(Self(code)),
            _ => Err(InvalidCloseCode(code)),
        }
    }

    /// The numeric code.
    pub const fn as_u16(self) -> u16 {
        self.0
    }
}

impl fmt::Debug for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CloseCode({})", self.0)
    }
}

impl fmt::Display for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl TryFrom<u16> for CloseCode {
    type Error = InvalidCloseCode;

    fn try_from(code: u16) -> Result<Self, Self::Error> {
        Self::new(code)
    }
}

impl From<CloseCode> for u16 {
    fn from(code: CloseCode) -> u16 {
        code.0
    }
}

/// A number that is not a sendable close code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{0} is not a close code that can be sent (use 1000–1003, 1007–1014 or 3000–4999)")]
pub struct InvalidCloseCode(pub u16);

/// How a connection ended, as reported to handlers: a code from a close frame, or one of
/// the reserved statuses that describe a closure without ever being sent.
///
/// Together with [`CloseCode`]'s constants this covers every IANA-registered code.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub enum CloseStatus {
    /// A close frame carried this code.
    Code(CloseCode),
    /// 1005: a close frame arrived without a status code.
    NoStatusReceived,
    /// 1006: the connection ended without a close frame (reset, EOF, timeout).
    Abnormal,
    /// 1015: the TLS handshake failed (never produced by this crate; listed for completeness).
    TlsHandshake,
}

impl CloseStatus {
    /// The numeric status (1005, 1006 and 1015 for the reserved variants).
    pub const fn as_u16(self) -> u16 {
        match self {
            Self::Code(code) => code.as_u16(),
            Self::NoStatusReceived => 1005,
            Self::Abnormal => 1006,
            Self::TlsHandshake => 1015,
        }
    }

    /// The code, when the status is one that travels in a close frame.
    pub const fn code(self) -> Option<CloseCode> {
        match self {
            Self::Code(code) => Some(code),
            _ => None,
        }
    }

    /// True for the statuses of an orderly ending: 1000, 1001 and 1005.
    pub const fn is_clean(self) -> bool {
        matches!(
            self,
            Self::Code(CloseCode::NORMAL_CLOSURE)
                | Self::Code(CloseCode::GOING_AWAY)
                | Self::NoStatusReceived
        )
    }
}

impl From<CloseCode> for CloseStatus {
    fn from(code: CloseCode) -> Self {
        Self::Code(code)
    }
}

impl PartialEq<CloseCode> for CloseStatus {
    fn eq(&self, other: &CloseCode) -> bool {
        *self == Self::Code(*other)
    }
}

impl fmt::Debug for CloseStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CloseStatus({})", self.as_u16())
    }
}

impl fmt::Display for CloseStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.as_u16().fmt(f)
    }
}

/// The connection was closed: by a close frame (code and reason as sent) or without one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("connection closed with {code}{}", if reason.is_empty() { String::new() } else { format!(": {reason}") })]
pub struct CloseError {
    /// The status that ended the connection.
    pub code: CloseStatus,
    /// The reason from the close frame (empty when there was none).
    pub reason: String,
}

impl CloseError {
    /// A close error for `code` with `reason`.
    pub fn new(code: impl Into<CloseStatus>, reason: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            reason: reason.into(),
        }
    }
}

/// Borrow any error as a `dyn Error` so the close helpers can walk its source chain.
///
/// Implemented for every `std::error::Error` and for [`crate::Error`].
pub trait AsErrorSource {
    /// The error as a trait object.
    fn as_error_source(&self) -> &(dyn StdError + 'static);
}

impl<E: StdError + 'static> AsErrorSource for E {
    fn as_error_source(&self) -> &(dyn StdError + 'static) {
        self
    }
}

impl AsErrorSource for dyn StdError + Send + Sync + 'static {
    fn as_error_source(&self) -> &(dyn StdError + 'static) {
        self
    }
}

impl AsErrorSource for dyn StdError + 'static {
    fn as_error_source(&self) -> &(dyn StdError + 'static) {
        self
    }
}

/// The close status carried by `err` or by any error in its source chain.
///
/// ```
/// use ws_controller::{close_status, CloseCode, CloseError};
/// let err = CloseError::new(CloseCode::GOING_AWAY, "bye");
/// assert_eq!(close_status(&err), Some(CloseCode::GOING_AWAY.into()));
/// ```
pub fn close_status<E: AsErrorSource + ?Sized>(err: &E) -> Option<CloseStatus> {
    let mut current = Some(err.as_error_source());
    while let Some(e) = current {
        if let Some(close) = e.downcast_ref::<CloseError>() {
            return Some(close.code);
        }
        if let Some(crate::connection::error::ConnError::Closed(close)) =
            e.downcast_ref::<crate::connection::error::ConnError>()
        {
            return Some(close.code);
        }
        current = e.source();
    }
    None
}

/// True when `err` (or an error it wraps) is a close with 1000, 1001 or 1005: an orderly
/// ending that is not a server error.
pub fn is_close_error<E: AsErrorSource + ?Sized>(err: &E) -> bool {
    close_status(err).is_some_and(CloseStatus::is_clean)
}

/// Cuts `reason` to at most [`MAX_REASON_LEN`] bytes on a UTF-8 character boundary.
///
/// ```
/// let long = "é".repeat(100); // 200 bytes
/// let cut = ws_controller::truncate_reason(&long);
/// assert_eq!(cut.len(), 122);
/// ```
pub fn truncate_reason(reason: &str) -> &str {
    if reason.len() <= MAX_REASON_LEN {
        return reason;
    }
    let mut end = MAX_REASON_LEN;
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    &reason[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_validity() {
        for code in [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, u16::MAX] {
            assert_eq!(CloseCode::new(code), Err(InvalidCloseCode(code)), "{code}");
        }
        for code in [1000, 1003, 1007, 1014, 3000, 4999] {
            assert_eq!(CloseCode::new(code).map(CloseCode::as_u16), Ok(code));
        }
    }

    #[test]
    fn is_close_error_table() {
        let cases = [
            (CloseStatus::Code(CloseCode::NORMAL_CLOSURE), true),
            (CloseStatus::Code(CloseCode::GOING_AWAY), true),
            (CloseStatus::NoStatusReceived, true),
            (CloseStatus::Abnormal, false),
            (CloseStatus::Code(CloseCode::PROTOCOL_ERROR), false),
            (CloseStatus::Code(CloseCode::INTERNAL_ERROR), false),
            (CloseStatus::Code(CloseCode::new(4000).unwrap()), false),
        ];
        for (status, expected) in cases {
            let err = CloseError::new(status, "");
            assert_eq!(is_close_error(&err), expected, "{status}");
            let wrapped = crate::connection::error::ConnError::Closed(err);
            assert_eq!(is_close_error(&wrapped), expected, "wrapped {status}");
        }
        assert!(!is_close_error(&std::io::Error::other("x")));
    }

    #[test]
    fn close_status_through_sources() {
        #[derive(Debug, thiserror::Error)]
        #[error("outer")]
        struct Outer(#[source] CloseError);
        let err = Outer(CloseError::new(CloseCode::GOING_AWAY, "x"));
        assert_eq!(close_status(&err), Some(CloseCode::GOING_AWAY.into()));
        assert!(is_close_error(&err));
    }

    #[test]
    fn reason_truncation_keeps_utf8() {
        assert_eq!(truncate_reason("short"), "short");
        let s = format!("{}€", "a".repeat(121)); // 124 bytes, € spans 121..124
        assert_eq!(truncate_reason(&s), "a".repeat(121));
        let exact = "b".repeat(123);
        assert_eq!(truncate_reason(&exact), exact);
    }
}
