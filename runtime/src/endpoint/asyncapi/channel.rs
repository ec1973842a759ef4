//! [`Channel`]: what one controller receives and sends, as the macro (or a hand-written
//! [`DescribeChannel`] impl) declares it.

use bytes::Bytes;
use schemars::{JsonSchema, Schema, SchemaGenerator};

use crate::{EventFields, Json, Message, Utf8Bytes};

/// A function that produces a payload's schema (references land in the generator's
/// definitions, which become `#/components/schemas`).
pub type SchemaFn = fn(&mut SchemaGenerator) -> Schema;

/// A payload type of the AsyncAPI document: any [`JsonSchema`] type.
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no JSON Schema for the AsyncAPI document",
    label = "this payload type must implement `schemars::JsonSchema`",
    note = "add `#[derive(schemars::JsonSchema)]` to `{Self}` (schemars 1.x), or remove `asyncapi = true`"
)]
pub trait PayloadSchema {
    /// The schema of the payload (a reference for named types).
    fn schema(generator: &mut SchemaGenerator) -> Schema;
}

impl<T: JsonSchema + ?Sized> PayloadSchema for T {
    fn schema(generator: &mut SchemaGenerator) -> Schema {
        generator.subschema_for::<T>()
    }
}

/// What a plain message handler (`#[on_text]`, `#[on_json]`, `#[on_binary]`) sends back.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub enum Reply {
    /// A text message.
    Text,
    /// A binary message.
    Binary,
    /// A JSON text message with this payload schema.
    Json(SchemaFn),
    /// A text or a binary message (the handler returns a [`Message`]).
    Any,
}

/// A handler's return type as the AsyncAPI document describes it: implemented for every
/// [`IntoReply`](crate::IntoReply) type of the crate.
#[diagnostic::on_unimplemented(
    message = "the AsyncAPI document cannot describe `{Self}` as a reply",
    label = "this return type has no AsyncAPI description",
    note = "return `()`, `Option<T>`, `Result<T, E>`, `String`, `&'static str`, `Utf8Bytes`, `Bytes`, `Vec<u8>`, `Message`, or `Json<T>` with `T: schemars::JsonSchema`"
)]
pub trait DescribeReply {
    /// What the handler sends, `None` for nothing.
    fn reply() -> Option<Reply>;
}

impl DescribeReply for () {
    fn reply() -> Option<Reply> {
        None
    }
}

impl<T: DescribeReply> DescribeReply for Option<T> {
    fn reply() -> Option<Reply> {
        T::reply()
    }
}

impl<T: DescribeReply, E> DescribeReply for Result<T, E> {
    fn reply() -> Option<Reply> {
        T::reply()
    }
}

macro_rules! describe_reply {
    ($reply:expr => $($ty:ty),*) => {$(
        impl DescribeReply for $ty {
            fn reply() -> Option<Reply> {
                Some($reply)
            }
        }
    )*};
}

describe_reply!(Reply::Text => String, &'static str, Utf8Bytes);
describe_reply!(Reply::Binary => Bytes, Vec<u8>);
describe_reply!(Reply::Any => Message);

impl<T: PayloadSchema> DescribeReply for Json<T> {
    fn reply() -> Option<Reply> {
        Some(Reply::Json(T::schema))
    }
}

/// A controller that describes itself as an AsyncAPI channel; `#[ws_controller(asyncapi =
/// true)]` implements it.
pub trait DescribeChannel {
    /// The channel: address, operations, payloads.
    fn describe_channel() -> Channel;
}

/// One operation of a channel.
#[derive(Clone, Debug)]
pub(crate) enum Operation {
    ReceiveEvent {
        event: String,
        data: SchemaFn,
        reply: Option<SchemaFn>,
    },
    SendEvent {
        event: String,
        data: SchemaFn,
    },
    ReceiveJson {
        payload: SchemaFn,
        reply: Option<Reply>,
    },
    ReceiveText {
        reply: Option<Reply>,
    },
    ReceiveBinary {
        reply: Option<Reply>,
    },
    SendJson(SchemaFn),
    SendText,
    SendBinary,
}

/// The description of one WebSocket endpoint: an AsyncAPI channel and its operations.
///
/// ```
/// use ws_controller::asyncapi::{Channel, PayloadSchema};
/// use ws_controller::asyncapi::Reply;
/// let channel = Channel::new("Feed", "/feed/{topic}")
///     .receive_text(Some(Reply::Text))
///     .send_json(<u64 as PayloadSchema>::schema);
/// assert_eq!(channel.name(), "Feed");
/// ```
#[derive(Clone, Debug)]
pub struct Channel {
    pub(crate) name: String,
    pub(crate) address: String,
    pub(crate) fields: EventFields,
    pub(crate) operations: Vec<Operation>,
    pub(crate) room_history: bool,
}

impl Channel {
    /// A channel named `name` (the key in `channels`) at the route `address`.
    pub fn new(name: impl Into<String>, address: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            address: address.into(),
            fields: EventFields::DEFAULT,
            operations: Vec::new(),
            room_history: false,
        }
    }

    /// The channel's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The envelope's field names, when not the defaults.
    pub fn fields(mut self, fields: EventFields) -> Self {
        self.fields = fields;
        self
    }

    /// The channel's rooms keep a history ([`Hub::with_history`](crate::Hub::with_history)):
    /// its pushes are described with their `room`, `epoch` and `offset` (present for
    /// room pushes with history), and the `$joined` push is added.
    pub fn room_history(mut self) -> Self {
        self.room_history = true;
        self
    }

    /// An event the client sends, with its data's schema and, when the handler replies with
    /// data, the reply data's schema. Every event can also be answered with an error reply.
    pub fn receive_event(mut self, event: &str, data: SchemaFn, reply: Option<SchemaFn>) -> Self {
        self.operations.push(Operation::ReceiveEvent {
            event: event.to_owned(),
            data,
            reply,
        });
        self
    }

    /// An event the server pushes.
    pub fn send_event(mut self, event: &str, data: SchemaFn) -> Self {
        self.operations.push(Operation::SendEvent {
            event: event.to_owned(),
            data,
        });
        self
    }

    /// JSON text messages the client sends (`#[on_json]`), and what the handler answers
    /// each with (`None`: nothing; see [`DescribeReply`]).
    pub fn receive_json(mut self, payload: SchemaFn, reply: Option<Reply>) -> Self {
        self.operations
            .push(Operation::ReceiveJson { payload, reply });
        self
    }

    /// Plain text messages the client sends (`#[on_text]`), and the reply to each.
    pub fn receive_text(mut self, reply: Option<Reply>) -> Self {
        self.operations.push(Operation::ReceiveText { reply });
        self
    }

    /// Binary messages the client sends (`#[on_binary]`), and the reply to each.
    pub fn receive_binary(mut self, reply: Option<Reply>) -> Self {
        self.operations.push(Operation::ReceiveBinary { reply });
        self
    }

    /// JSON text messages the server sends.
    pub fn send_json(mut self, payload: SchemaFn) -> Self {
        self.operations.push(Operation::SendJson(payload));
        self
    }

    /// Plain text messages the server sends.
    pub fn send_text(mut self) -> Self {
        self.operations.push(Operation::SendText);
        self
    }

    /// Binary messages the server sends.
    pub fn send_binary(mut self) -> Self {
        self.operations.push(Operation::SendBinary);
        self
    }
}
