//! [`IntoEventReply`]: what an `#[on_event]` handler's return value sends back.

use serde::Serialize;

use crate::endpoint::events::Reject;
use crate::{Error, Json};

/// What an event handler's result becomes.
#[derive(Debug)]
pub enum EventReply<T> {
    /// No reply.
    None,
    /// A reply with this data.
    Data(T),
    /// An error reply.
    Reject(Reject),
}

/// What an `#[on_event]` handler may return:
///
/// - `()` sends no reply; `Option<R>` replies when `Some`;
/// - [`Json<T>`] replies with `T` as the data;
/// - [`Reject`] sends an error reply (the connection stays open);
/// - `Result<R, E>` replies with `Ok`'s; an `Err` that is (or wraps) a [`Reject`] is an error
///   reply, any other ends the connection through the error hook with 1011.
///
/// ```
/// use ws_controller::{EventReply, IntoEventReply, Json, Reject};
/// let ok: Result<Json<u32>, Reject> = Ok(Json(7));
/// assert!(matches!(ok.into_event_reply().unwrap(), EventReply::Data(7)));
/// let no: Result<Json<u32>, Reject> = Err(Reject::new("outbid", "too low"));
/// assert!(matches!(no.into_event_reply().unwrap(), EventReply::Reject(_)));
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be returned from an `#[on_event]` handler",
    label = "this return type is not an event reply",
    note = "return `()`, `Json<T>` for a serde type, `Reject`, `Option<..>` or `Result<.., E>` (a `Reject` error is an error reply; other errors end the connection)"
)]
pub trait IntoEventReply {
    /// The reply's data type (`()` when the handler never replies).
    type Data: Serialize;

    /// True when the handler can reply with data (for the AsyncAPI document).
    const REPLIES: bool;

    /// The reply, or the error that ends the connection.
    fn into_event_reply(self) -> Result<EventReply<Self::Data>, Error>;
}

impl IntoEventReply for () {
    type Data = ();
    const REPLIES: bool = false;

    fn into_event_reply(self) -> Result<EventReply<()>, Error> {
        Ok(EventReply::None)
    }
}

impl<T: Serialize> IntoEventReply for Json<T> {
    type Data = T;
    const REPLIES: bool = true;

    fn into_event_reply(self) -> Result<EventReply<T>, Error> {
        Ok(EventReply::Data(self.0))
    }
}

impl IntoEventReply for Reject {
    type Data = ();
    const REPLIES: bool = false;

    fn into_event_reply(self) -> Result<EventReply<()>, Error> {
        Ok(EventReply::Reject(self))
    }
}

impl<R: IntoEventReply> IntoEventReply for Option<R> {
    type Data = R::Data;
    const REPLIES: bool = R::REPLIES;

    fn into_event_reply(self) -> Result<EventReply<R::Data>, Error> {
        self.map_or(Ok(EventReply::None), IntoEventReply::into_event_reply)
    }
}

impl<R: IntoEventReply, E: Into<Error>> IntoEventReply for Result<R, E> {
    type Data = R::Data;
    const REPLIES: bool = R::REPLIES;

    fn into_event_reply(self) -> Result<EventReply<R::Data>, Error> {
        match self {
            Ok(reply) => reply.into_event_reply(),
            Err(error) => {
                let error: Error = error.into();
                if error.downcast_ref::<Reject>().is_none() {
                    return Err(error);
                }
                match error.into_inner().downcast::<Reject>() {
                    Ok(reject) => Ok(EventReply::Reject(*reject)),
                    Err(other) => Err(Error::new(other)),
                }
            }
        }
    }
}
