//! The traits that give message handlers their meaning: what an open handler's return value
//! becomes ([`IntoSession`]), what a handler's return value sends back ([`IntoReply`]), and
//! which types a text or binary handler can take ([`FromText`], [`FromBinary`]).
//!
//! `#[ws_controller]` dispatches through these traits, so a type alias of `Result` behaves
//! like `Result`. A hand-written serve loop can use them the same way.

use bytes::Bytes;
use serde::Serialize;

use crate::{ConnError, Error, Message, Utf8Bytes};

/// What an open handler may return: `()` (no per-connection state) or `Result<S, E>` (state
/// `S`, or an error that ends the connection before any message is read).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be returned from an `#[on_open]` handler",
    label = "return `()` or `Result<Session, E>`",
    note = "wrap per-connection state in `Ok(..)`: `-> Result<Session, ws_controller::Error>`"
)]
pub trait IntoSession {
    /// The per-connection state handed to the other handlers by `&mut`.
    type Session: Send;

    /// The state, or the error that ends the connection.
    fn into_session(self) -> Result<Self::Session, Error>;
}

impl IntoSession for () {
    type Session = ();

    fn into_session(self) -> Result<(), Error> {
        Ok(())
    }
}

impl<S: Send, E: Into<Error>> IntoSession for Result<S, E> {
    type Session = S;

    fn into_session(self) -> Result<S, Error> {
        self.map_err(Into::into)
    }
}

/// What a message handler may return; the reply (if any) is sent back on the connection.
///
/// - `()` sends nothing; `Option<T>` sends when `Some`;
/// - `Result<T, E>` sends `Ok` and ends the connection through the error path on `Err`;
/// - `String`, `&'static str`, [`Utf8Bytes`] send text; `Vec<u8>`, [`Bytes`] send binary;
/// - [`Message`] is sent as is; [`Json<T>`] sends `T` serialized as a JSON text message.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be sent as a WebSocket reply",
    label = "this return type is not a reply",
    note = "return `()`, `Option<T>`, `Result<T, E>`, `String`, `&'static str`, `Bytes`, `Vec<u8>`, `Message`, or `Json<T>` for a serde type"
)]
pub trait IntoReply {
    /// The message to send (`None` for nothing), or the error that ends the connection.
    fn into_reply(self) -> Result<Option<Message>, Error>;
}

impl IntoReply for () {
    fn into_reply(self) -> Result<Option<Message>, Error> {
        Ok(None)
    }
}

impl<T: IntoReply> IntoReply for Option<T> {
    fn into_reply(self) -> Result<Option<Message>, Error> {
        self.map_or(Ok(None), IntoReply::into_reply)
    }
}

impl<T: IntoReply, E: Into<Error>> IntoReply for Result<T, E> {
    fn into_reply(self) -> Result<Option<Message>, Error> {
        self.map_err(Into::into)?.into_reply()
    }
}

macro_rules! reply_as_message {
    ($($ty:ty),*) => {$(
        impl IntoReply for $ty {
            fn into_reply(self) -> Result<Option<Message>, Error> {
                Ok(Some(Message::from(self)))
            }
        }
    )*};
}

reply_as_message!(Message, String, &'static str, Utf8Bytes, Bytes, Vec<u8>);

/// A value sent as a JSON text message.
///
/// ```
/// use ws_controller::{IntoReply, Json, Message};
/// let reply = Json(serde_json::json!({ "ok": true })).into_reply().unwrap();
/// assert_eq!(reply, Some(Message::text(r#"{"ok":true}"#)));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Json<T>(pub T);

impl<T: Serialize> IntoReply for Json<T> {
    fn into_reply(self) -> Result<Option<Message>, Error> {
        let text = serde_json::to_string(&self.0).map_err(ConnError::Encode)?;
        Ok(Some(Message::Text(text.into())))
    }
}

/// A type an `#[on_text]` handler can take: `String` or [`Utf8Bytes`] (no copy).
#[diagnostic::on_unimplemented(
    message = "an `#[on_text]` handler cannot take `{Self}`",
    label = "take `String` or `ws_controller::Utf8Bytes`"
)]
pub trait FromText: Sized {
    /// Converts the received text.
    fn from_text(text: Utf8Bytes) -> Self;
}

impl FromText for String {
    fn from_text(text: Utf8Bytes) -> Self {
        // The decoder's text is the only handle: taken over, not copied.
        text.into_string()
    }
}

impl FromText for Utf8Bytes {
    fn from_text(text: Utf8Bytes) -> Self {
        text
    }
}

/// A type an `#[on_binary]` handler can take: [`Bytes`] (no copy) or `Vec<u8>`.
#[diagnostic::on_unimplemented(
    message = "an `#[on_binary]` handler cannot take `{Self}`",
    label = "take `axum::body::Bytes` or `Vec<u8>`"
)]
pub trait FromBinary: Sized {
    /// Converts the received payload.
    fn from_binary(data: Bytes) -> Self;
}

impl FromBinary for Bytes {
    fn from_binary(data: Bytes) -> Self {
        data
    }
}

impl FromBinary for Vec<u8> {
    fn from_binary(data: Bytes) -> Self {
        data.into()
    }
}

/// The parameter type of an `#[on_json]` handler: any `serde::de::DeserializeOwned` type.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be decoded from a JSON message",
    label = "the `#[on_json]` parameter must implement `serde::Deserialize`",
    note = "add `#[derive(serde::Deserialize)]` to `{Self}`"
)]
pub trait FromJson: Sized {
    /// Decodes the message payload.
    fn from_json(payload: &[u8]) -> Result<Self, serde_json::Error>;
}

impl<T: serde::de::DeserializeOwned> FromJson for T {
    fn from_json(payload: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(payload)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type MyResult<T> = Result<T, std::io::Error>;

    #[test]
    fn replies_follow_the_traits() {
        assert_eq!(().into_reply().unwrap(), None);
        assert_eq!(None::<String>.into_reply().unwrap(), None);
        assert_eq!(Some("hi").into_reply().unwrap(), Some(Message::text("hi")));
        let ok: MyResult<Vec<u8>> = Ok(vec![1, 2]);
        assert_eq!(ok.into_reply().unwrap(), Some(Message::binary(vec![1, 2])));
        let err: MyResult<String> = Err(std::io::Error::other("boom"));
        assert_eq!(err.into_reply().unwrap_err().to_string(), "boom");
    }

    #[test]
    fn sessions_follow_the_traits() {
        ().into_session().unwrap();
        let ok: MyResult<u32> = Ok(7);
        assert_eq!(ok.into_session().unwrap(), 7);
    }
}
