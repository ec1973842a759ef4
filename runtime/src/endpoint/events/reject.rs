//! [`Reject`]: a handler's refusal, sent to the client as an error reply.

use std::borrow::Cow;

/// An error reply: `{"code": "outbid", "message": "..."}` under the envelope's error field.
/// The connection stays open.
///
/// Return it from an `#[on_event]` handler (`Result<Json<T>, Reject>`), or with `?` from any
/// function whose error is [`Error`](crate::Error): the event router finds it inside.
///
/// ```
/// use ws_controller::Reject;
/// let reject = Reject::new("outbid", "the price is already 10");
/// assert_eq!(reject.code(), "outbid");
/// assert_eq!(reject.to_string(), "outbid: the price is already 10");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct Reject {
    code: Cow<'static, str>,
    message: Cow<'static, str>,
}

impl Reject {
    /// The code of an event no handler is registered for.
    pub const UNKNOWN_EVENT: &'static str = "unknown_event";
    /// The code of data that does not decode for its event.
    pub const INVALID_DATA: &'static str = "invalid_data";

    /// A rejection with a machine-readable `code` and a human-readable `message`.
    pub fn new(code: impl Into<Cow<'static, str>>, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
        }
    }

    /// `unknown_event`: no handler for `event`.
    pub fn unknown_event(event: &str) -> Self {
        Self::new(
            Self::UNKNOWN_EVENT,
            format!("no handler for event `{event}`"),
        )
    }

    /// `invalid_data`: the payload does not decode; serde's message only with `debug`.
    pub fn invalid_data(error: &serde_json::Error, debug: bool) -> Self {
        if debug {
            Self::new(Self::INVALID_DATA, error.to_string())
        } else {
            Self::new(Self::INVALID_DATA, "invalid data for this event")
        }
    }

    /// The machine-readable code.
    pub fn code(&self) -> &str {
        &self.code
    }

    /// The human-readable message.
    pub fn message(&self) -> &str {
        &self.message
    }
}
