//! [`Channel`]: what one controller receives and sends, as the macro (or a hand-written
//! [`DescribeChannel`] impl) declares it.

use schemars::{JsonSchema, Schema, SchemaGenerator};

use crate::EventFields;

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
    ReceiveJson(SchemaFn),
    ReceiveText,
    ReceiveBinary,
    SendJson(SchemaFn),
    SendText,
    SendBinary,
}

/// The description of one WebSocket endpoint: an AsyncAPI channel and its operations.
///
/// ```
/// use ws_controller::asyncapi::{Channel, PayloadSchema};
/// let channel = Channel::new("Feed", "/feed/{topic}")
///     .receive_text()
///     .send_json(<u64 as PayloadSchema>::schema);
/// assert_eq!(channel.name(), "Feed");
/// ```
#[derive(Clone, Debug)]
pub struct Channel {
    pub(crate) name: String,
    pub(crate) address: String,
    pub(crate) fields: EventFields,
    pub(crate) operations: Vec<Operation>,
}

impl Channel {
    /// A channel named `name` (the key in `channels`) at the route `address`.
    pub fn new(name: impl Into<String>, address: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            address: address.into(),
            fields: EventFields::DEFAULT,
            operations: Vec::new(),
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

    /// JSON text messages the client sends (`#[on_json]`).
    pub fn receive_json(mut self, payload: SchemaFn) -> Self {
        self.operations.push(Operation::ReceiveJson(payload));
        self
    }

    /// Plain text messages the client sends (`#[on_text]`).
    pub fn receive_text(mut self) -> Self {
        self.operations.push(Operation::ReceiveText);
        self
    }

    /// Binary messages the client sends (`#[on_binary]`).
    pub fn receive_binary(mut self) -> Self {
        self.operations.push(Operation::ReceiveBinary);
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
