//! The envelope of the event protocol: its field names, an incoming event, and the encoding
//! of replies, error replies and pushes.

use std::borrow::Cow;
use std::fmt;

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde::Deserialize;
use serde_json::{Map, Value};

/// The names of the envelope's fields. The defaults are `event`, `data`, `id` and `error`.
///
/// ```
/// use ws_controller::EventFields;
/// // A Phoenix-shaped client: `{"topic": .., "payload": .., "ref": ..}`.
/// let fields = EventFields::DEFAULT.event("topic").data("payload").id("ref");
/// assert_eq!(fields.event_name(), "topic");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EventFields {
    event: Cow<'static, str>,
    data: Cow<'static, str>,
    id: Cow<'static, str>,
    error: Cow<'static, str>,
}

impl EventFields {
    /// `event`, `data`, `id`, `error`.
    pub const DEFAULT: Self = Self {
        event: Cow::Borrowed("event"),
        data: Cow::Borrowed("data"),
        id: Cow::Borrowed("id"),
        error: Cow::Borrowed("error"),
    };

    /// All four names, as `#[ws_controller]` writes them.
    pub const fn new(
        event: &'static str,
        data: &'static str,
        id: &'static str,
        error: &'static str,
    ) -> Self {
        Self {
            event: Cow::Borrowed(event),
            data: Cow::Borrowed(data),
            id: Cow::Borrowed(id),
            error: Cow::Borrowed(error),
        }
    }

    /// The field that names the event.
    pub fn event(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.event = name.into();
        self
    }

    /// The field that carries the payload.
    pub fn data(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.data = name.into();
        self
    }

    /// The field that carries the request id.
    pub fn id(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.id = name.into();
        self
    }

    /// The field that carries an error reply's `{code, message}`.
    pub fn error(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.error = name.into();
        self
    }

    /// The name of the event field.
    pub fn event_name(&self) -> &str {
        &self.event
    }

    /// The name of the data field.
    pub fn data_name(&self) -> &str {
        &self.data
    }

    /// The name of the id field.
    pub fn id_name(&self) -> &str {
        &self.id
    }

    /// The name of the error field.
    pub fn error_name(&self) -> &str {
        &self.error
    }
}

impl Default for EventFields {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// A request id: a JSON number or string, echoed as it came.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, Deserialize)]
#[serde(untagged)]
pub enum EventId {
    /// `"id": 7`
    Number(serde_json::Number),
    /// `"id": "a7"`
    String(String),
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Number(n) => n.fmt(f),
            Self::String(s) => s.fmt(f),
        }
    }
}

/// Why a text message is not an event envelope; the connection is closed with 1007.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidEnvelope {
    /// The message is not JSON.
    #[error("event message is not JSON: {0}")]
    Json(#[source] serde_json::Error),
    /// The message is JSON but not an object.
    #[error("event message is not a JSON object")]
    NotAnObject,
    /// The object has no string field naming the event.
    #[error("event message has no `{0}` string")]
    NoEvent(String),
    /// The id field is neither a number nor a string.
    #[error("the `{0}` of an event message must be a number or a string")]
    BadId(String),
}

/// An event received from the client.
#[derive(Debug, Clone, PartialEq)]
pub struct Incoming {
    event: String,
    id: Option<EventId>,
    data: Value,
}

impl Incoming {
    /// An event as if received (for tests and hand-written dispatch).
    pub fn new(event: impl Into<String>, id: Option<EventId>, data: Value) -> Self {
        Self {
            event: event.into(),
            id,
            data,
        }
    }

    pub(crate) fn parse(text: &str, fields: &EventFields) -> Result<Self, InvalidEnvelope> {
        let value: Value = serde_json::from_str(text).map_err(InvalidEnvelope::Json)?;
        let Value::Object(mut object) = value else {
            return Err(InvalidEnvelope::NotAnObject);
        };
        let event = match object.remove(fields.event_name()) {
            Some(Value::String(event)) => event,
            _ => return Err(InvalidEnvelope::NoEvent(fields.event_name().to_owned())),
        };
        let id = match object.remove(fields.id_name()) {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => Some(EventId::Number(n)),
            Some(Value::String(s)) => Some(EventId::String(s)),
            Some(_) => return Err(InvalidEnvelope::BadId(fields.id_name().to_owned())),
        };
        let data = object.remove(fields.data_name()).unwrap_or(Value::Null);
        Ok(Self { event, id, data })
    }

    /// The event's name.
    pub fn event(&self) -> &str {
        &self.event
    }

    /// The request id, if the client sent one.
    pub fn id(&self) -> Option<&EventId> {
        self.id.as_ref()
    }

    /// The payload as sent (`null` when absent).
    pub fn data(&self) -> &Value {
        &self.data
    }

    /// Decodes the payload.
    pub fn decode<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        T::deserialize(&self.data)
    }
}

/// What follows the event name in an outgoing envelope.
pub(crate) enum Body<'a, T: ?Sized> {
    Data(&'a T),
    Error { code: &'a str, message: &'a str },
}

/// An outgoing envelope, serialized with the configured field names.
pub(crate) struct Outgoing<'a, T: ?Sized> {
    pub(crate) fields: &'a EventFields,
    pub(crate) event: &'a str,
    pub(crate) id: Option<&'a EventId>,
    pub(crate) body: Body<'a, T>,
}

impl<T: Serialize + ?Sized> Serialize for Outgoing<'_, T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry(self.fields.event_name(), self.event)?;
        if let Some(id) = self.id {
            map.serialize_entry(self.fields.id_name(), id)?;
        }
        match &self.body {
            Body::Data(data) => map.serialize_entry(self.fields.data_name(), data)?,
            Body::Error { code, message } => {
                let mut error = Map::new();
                error.insert("code".to_owned(), Value::from(*code));
                error.insert("message".to_owned(), Value::from(*message));
                map.serialize_entry(self.fields.error_name(), &error)?;
            }
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Incoming, InvalidEnvelope> {
        Incoming::parse(text, &EventFields::DEFAULT)
    }

    #[test]
    fn envelopes() {
        let bid = parse(r#"{"event":"bid","data":{"amount":5},"id":7}"#).unwrap();
        assert_eq!(bid.event(), "bid");
        assert_eq!(bid.id(), Some(&EventId::Number(7.into())));
        assert_eq!(bid.data(), &serde_json::json!({"amount": 5}));
        let ping = parse(r#"{"event":"ping","id":"a"}"#).unwrap();
        assert_eq!(ping.id(), Some(&EventId::String("a".into())));
        assert_eq!(ping.data(), &Value::Null);
        for bad in [
            "",
            "nope",
            "[]",
            "7",
            r#"{"data":1}"#,
            r#"{"event":1}"#,
            r#"{"event":"x","id":[]}"#,
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn custom_fields() {
        let fields = EventFields::DEFAULT
            .event("topic")
            .data("payload")
            .id("ref");
        let incoming = Incoming::parse(r#"{"topic":"t","payload":1,"ref":2}"#, &fields).unwrap();
        assert_eq!(incoming.event(), "t");
        let out = Outgoing {
            fields: &fields,
            event: "t",
            id: incoming.id(),
            body: Body::Data(&true),
        };
        assert_eq!(
            serde_json::to_string(&out).unwrap(),
            r#"{"topic":"t","ref":2,"payload":true}"#
        );
    }
}
