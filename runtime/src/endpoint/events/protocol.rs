//! [`EventProtocol`]: parse envelopes, and encode and send replies, error replies and pushes.

use serde::Serialize;

use crate::endpoint::events::envelope::{Body, Outgoing};
use crate::endpoint::events::{
    EventFields, EventReply, Incoming, IntoEventReply, InvalidEnvelope, Reject,
};
use crate::{CloseCode, Conn, ConnError, Error, Sender};
use ws_controller_protocol::Message;

/// Reason of the 1007 close for a text message that is not an event envelope.
pub(crate) const INVALID_ENVELOPE_REASON: &str = "Invalid event envelope";

/// The event protocol with its field names and debug flag: what the serve loop of an event
/// controller runs on, and what a hand-written one can use.
///
/// ```
/// use ws_controller::{Conn, Controller, Error, EventProtocol, Json, Message, Reject};
///
/// struct Auction;
///
/// impl Controller for Auction {
///     type Extract = ();
///
///     async fn serve(&self, mut conn: Conn, _: ()) -> Result<(), Error> {
///         let events = EventProtocol::default();
///         loop {
///             let incoming = match events.recv(&mut conn).await? {
///                 Some(incoming) => incoming,
///                 None => continue, // a binary message
///             };
///             match incoming.event() {
///                 "bid" => match incoming.decode::<u64>() {
///                     Ok(amount) if amount > 0 => {
///                         events.respond(&conn, &incoming, Json(amount)).await?
///                     }
///                     Ok(_) => events.respond(&conn, &incoming, Reject::new("too_low", "bid more")).await?,
///                     Err(error) => events.invalid_data(&conn, &incoming, &error).await,
///                 },
///                 _ => events.unknown_event(&conn, &incoming).await,
///             }
///         }
///     }
/// }
/// # let _: axum::Router = ws_controller::route("/auction", Auction);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventProtocol {
    fields: EventFields,
    debug: bool,
}

impl EventProtocol {
    /// The protocol with these field names, debug off.
    pub const fn new(fields: EventFields) -> Self {
        Self {
            fields,
            debug: false,
        }
    }

    /// With debug on, `invalid_data` error replies carry serde's message.
    pub const fn debug(mut self, debug: bool) -> Self {
        self.debug = debug;
        self
    }

    /// The field names.
    pub fn fields(&self) -> &EventFields {
        &self.fields
    }

    /// Parses a text message as an event envelope.
    pub fn parse(&self, text: &str) -> Result<Incoming, InvalidEnvelope> {
        Incoming::parse(text, &self.fields)
    }

    /// Receives the next event. A text message that is not an envelope starts the close
    /// handshake with 1007 and returns [`ConnError::Json`]; a binary message is `None`.
    pub async fn recv(&self, conn: &mut Conn) -> Result<Option<Incoming>, ConnError> {
        match conn.recv().await? {
            Message::Text(text) => self.parse_or_close(conn, text.as_str()).await.map(Some),
            Message::Binary(_) => Ok(None),
        }
    }

    /// Parses `text`; when it is not an envelope, closes with 1007 "Invalid event envelope"
    /// and returns the error (a peer violation, as [`ConnError::Json`]).
    pub async fn parse_or_close(&self, conn: &Sender, text: &str) -> Result<Incoming, ConnError> {
        self.parse(text).map_err(|invalid| {
            conn.shared
                .request_close(CloseCode::INVALID_PAYLOAD, INVALID_ENVELOPE_REASON, true);
            let error = match invalid {
                InvalidEnvelope::Json(error) => error,
                other => serde::de::Error::custom(other),
            };
            ConnError::Json(error)
        })
    }

    /// A push: `{"event": .., "data": ..}`, encoded once; send it to one connection or
    /// broadcast it.
    pub fn push<T: Serialize + ?Sized>(&self, event: &str, data: &T) -> Result<Message, ConnError> {
        self.encode(&Outgoing {
            fields: &self.fields,
            event,
            id: None,
            body: Body::Data(data),
        })
    }

    /// The reply to `to`: its event and id, with `data`.
    pub fn reply<T: Serialize + ?Sized>(
        &self,
        to: &Incoming,
        data: &T,
    ) -> Result<Message, ConnError> {
        self.encode(&Outgoing {
            fields: &self.fields,
            event: to.event(),
            id: to.id(),
            body: Body::Data(data),
        })
    }

    /// The error reply to `to`.
    pub fn error_reply(&self, to: &Incoming, reject: &Reject) -> Message {
        let outgoing = Outgoing::<()> {
            fields: &self.fields,
            event: to.event(),
            id: to.id(),
            body: Body::Error {
                code: reject.code(),
                message: reject.message(),
            },
        };
        // Strings and ids always serialize.
        self.encode(&outgoing)
            .unwrap_or_else(|_| Message::text("{}"))
    }

    /// The message for what a handler returned: a reply, an error reply, or none. An error
    /// that is not a [`Reject`] is returned, for the serve loop to end the connection with.
    pub fn answer<R: IntoEventReply>(
        &self,
        to: &Incoming,
        result: R,
    ) -> Result<Option<Message>, Error> {
        Ok(match result.into_event_reply()? {
            EventReply::None => None,
            EventReply::Data(data) => Some(self.reply(to, &data)?),
            EventReply::Reject(reject) => Some(self.error_reply(to, &reject)),
        })
    }

    /// Sends [`EventProtocol::answer`]'s message. A reply that cannot be sent (the
    /// connection is closing) is dropped: the next `recv` reports how the connection ended.
    pub async fn respond<R: IntoEventReply>(
        &self,
        conn: &Sender,
        to: &Incoming,
        result: R,
    ) -> Result<(), Error> {
        if let Some(message) = self.answer(to, result)? {
            let _ = conn.send(message).await;
        }
        Ok(())
    }

    /// Sends the `unknown_event` error reply.
    pub async fn unknown_event(&self, conn: &Sender, to: &Incoming) {
        let _ = conn
            .send(self.error_reply(to, &Reject::unknown_event(to.event())))
            .await;
    }

    /// Sends the `invalid_data` error reply (serde's message only with debug).
    pub async fn invalid_data(&self, conn: &Sender, to: &Incoming, error: &serde_json::Error) {
        let reject = Reject::invalid_data(error, self.debug);
        let _ = conn.send(self.error_reply(to, &reject)).await;
    }

    fn encode<T: Serialize + ?Sized>(
        &self,
        outgoing: &Outgoing<'_, T>,
    ) -> Result<Message, ConnError> {
        let text = serde_json::to_string(outgoing).map_err(ConnError::Encode)?;
        Ok(Message::Text(text.into()))
    }
}
