//! The event protocol: one handler per named event, with replies, error replies and pushes,
//! over JSON text messages.
//!
//! # The wire
//!
//! | direction | message |
//! | --- | --- |
//! | client → server | `{"event": "bid", "data": {"amount": 5}, "id": 7}` (`id` optional, a number or a string; `data` optional, `null` when absent) |
//! | reply | `{"event": "bid", "id": 7, "data": {"accepted": true}}` |
//! | error reply | `{"event": "bid", "id": 7, "error": {"code": "outbid", "message": "..."}}` |
//! | push | `{"event": "price", "data": {"price": 6}}` |
//!
//! A reply or an error reply carries the request's `id` (none when the request had none), so
//! a client can match it to its request. Error replies are sent for an unknown event
//! (`unknown_event`), data that does not decode for the event (`invalid_data`, with serde's
//! message only when debug is on) and a handler's [`Reject`]; the connection stays open. A
//! text message that is not an envelope at all (not JSON, not an object, no `event` string, an
//! `id` that is neither a number nor a string) closes the connection with 1007.
//!
//! The field names are [`EventFields`]; `#[ws_controller(event_field = "topic", ...)]` changes
//! them, to serve clients of another shape.
//!
//! `#[on_event("bid")]` handlers are sugar over [`EventProtocol`]: a hand-written
//! [`Controller`](crate::Controller) parses with [`EventProtocol::parse`], dispatches on
//! [`Incoming::event`] and answers with [`EventProtocol::respond`].

mod emit;
mod envelope;
mod hub;
mod protocol;
mod reject;
mod reply;

pub use envelope::{EventFields, EventId, Incoming, InvalidEnvelope};
pub use protocol::EventProtocol;
pub use reject::Reject;
pub use reply::{EventReply, IntoEventReply};
