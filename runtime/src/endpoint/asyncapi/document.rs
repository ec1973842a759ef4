//! [`AsyncApi`]: the document for several controllers, with info and servers, as JSON and as
//! a route.

use std::sync::Arc;

use axum::response::{IntoResponse, Response};
use axum::Router;
use http::header::{HeaderValue, CONTENT_TYPE};
use schemars::generate::SchemaSettings;
use schemars::SchemaGenerator;
use serde_json::{json, Map, Value};

use crate::endpoint::asyncapi::channel::{Channel, DescribeChannel, Operation, Reply, SchemaFn};
use crate::EventFields;

/// An AsyncAPI 3.0 document under construction.
#[derive(Clone, Debug)]
pub struct AsyncApi {
    title: String,
    version: String,
    description: Option<String>,
    servers: Vec<(String, String, String)>,
    channels: Vec<Channel>,
}

impl AsyncApi {
    /// A document for the API `title` at `version` (the API's version, not AsyncAPI's).
    pub fn new(title: impl Into<String>, version: impl Into<String>) -> Self {
        Self {
            title: title.into(),
            version: version.into(),
            description: None,
            servers: Vec::new(),
            channels: Vec::new(),
        }
    }

    /// The API's description (CommonMark).
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// A server: `host` (`"example.com"`, `"127.0.0.1:3000"`) and `protocol` (`"ws"` or
    /// `"wss"`).
    pub fn server(
        mut self,
        name: impl Into<String>,
        host: impl Into<String>,
        protocol: impl Into<String>,
    ) -> Self {
        self.servers
            .push((name.into(), host.into(), protocol.into()));
        self
    }

    /// The channel of a controller (`#[ws_controller(asyncapi = true)]`).
    pub fn controller<C: DescribeChannel>(self) -> Self {
        self.channel(C::describe_channel())
    }

    /// A channel described by hand.
    pub fn channel(mut self, channel: Channel) -> Self {
        self.channels.push(channel);
        self
    }

    /// The document.
    pub fn to_json(&self) -> Value {
        let mut generator = SchemaSettings::draft07()
            .with(|settings| settings.definitions_path = "/components/schemas".into())
            .into_generator();
        let mut channels = Map::new();
        let mut operations = Map::new();
        for channel in &self.channels {
            let (described, ops) = describe(channel, &mut generator);
            channels.insert(channel.name.clone(), described);
            operations.extend(ops);
        }
        let mut schemas = generator.take_definitions(true);
        schemas.insert("EventError".to_owned(), event_error_schema());

        let mut info = Map::new();
        info.insert("title".into(), self.title.clone().into());
        info.insert("version".into(), self.version.clone().into());
        if let Some(description) = &self.description {
            info.insert("description".into(), description.clone().into());
        }
        let servers: Map<String, Value> = self
            .servers
            .iter()
            .map(|(name, host, protocol)| {
                (name.clone(), json!({"host": host, "protocol": protocol}))
            })
            .collect();
        let mut document = Map::new();
        document.insert("asyncapi".into(), "3.0.0".into());
        document.insert("info".into(), Value::Object(info));
        if !servers.is_empty() {
            document.insert("servers".into(), Value::Object(servers));
        }
        document.insert("defaultContentType".into(), "application/json".into());
        document.insert("channels".into(), Value::Object(channels));
        document.insert("operations".into(), Value::Object(operations));
        document.insert("components".into(), json!({ "schemas": schemas }));
        Value::Object(document)
    }

    /// A router that serves the document as JSON at `path` (e.g. `"/asyncapi.json"`); the
    /// document is built once, here.
    pub fn into_router<S: Clone + Send + Sync + 'static>(self, path: &str) -> Router<S> {
        let body: Arc<str> = self.to_json().to_string().into();
        Router::new().route(
            path,
            axum::routing::get(move || {
                let body = body.clone();
                async move { json_response(&body) }
            }),
        )
    }
}

fn json_response(body: &str) -> Response {
    (
        [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        body.to_owned(),
    )
        .into_response()
}

/// `{code, message}` of an error reply.
fn event_error_schema() -> Value {
    json!({
        "type": "object",
        "required": ["code", "message"],
        "properties": {
            "code": {"type": "string", "description": "`unknown_event`, `invalid_data`, or the handler's code"},
            "message": {"type": "string"}
        }
    })
}

/// A key usable in `channels`, `messages` and `operations` (`[A-Za-z0-9_-]`).
fn key(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The address with axum's catch-all `{*rest}` written as AsyncAPI's `{rest}`, and its
/// parameters.
fn address(route: &str) -> (String, Vec<String>) {
    let mut params = Vec::new();
    let segments: Vec<String> = route
        .split('/')
        .map(
            |segment| match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(inner) if !inner.starts_with('{') => {
                    let name = inner.trim_start_matches('*').to_owned();
                    let out = format!("{{{name}}}");
                    params.push(name);
                    out
                }
                _ => segment.to_owned(),
            },
        )
        .collect();
    (segments.join("/"), params)
}

/// The envelope schema of an event message: the event's name, the id (requests and
/// replies), and the body field (`data` or `error`), which a request may omit.
fn envelope(
    fields: &EventFields,
    event: &str,
    id: bool,
    body: (&str, Value),
    required: bool,
) -> Value {
    let mut properties = Map::new();
    properties.insert(fields.event_name().to_owned(), json!({"const": event}));
    if id {
        properties.insert(
            fields.id_name().to_owned(),
            json!({"type": ["number", "string"], "description": "a request's id, echoed in its reply"}),
        );
    }
    let (field, schema) = body;
    properties.insert(field.to_owned(), schema);
    let mut names = vec![Value::from(fields.event_name())];
    if required {
        names.push(field.into());
    }
    json!({"type": "object", "required": names, "properties": properties})
}

/// The position of a push in its room's history.
fn add_position(payload: &mut Value) {
    let Some(properties) = payload["properties"].as_object_mut() else {
        return;
    };
    properties.insert(
        "room".into(),
        json!({"type": "string", "description": "the room the push was made to; present, with `epoch` and `offset`, for rooms with history"}),
    );
    properties.insert("epoch".into(), epoch_schema());
    properties.insert(
        "offset".into(),
        json!({"type": "integer", "minimum": 1, "description": "the push's position in its room's history: +1 per push, never reused within an epoch"}),
    );
}

fn epoch_schema() -> Value {
    json!({
        "type": "string",
        "pattern": "^[A-Za-z0-9_-]+$",
        "description": "names one continuous history of the room; it changes exactly when continuity is lost",
    })
}

/// `$joined`: sent on every join of a room with history, before its live pushes.
fn joined_message(fields: &EventFields) -> Value {
    let data = json!({
        "type": "object",
        "required": ["epoch", "offset"],
        "properties": {
            "epoch": epoch_schema(),
            "offset": {"type": "integer", "minimum": 0, "description": "the room's latest offset (0 before its first push)"},
            "recovered": {"type": "boolean", "description": "present when the upgrade URL named a `since=EPOCH:OFFSET:ROOM` for the room: true when the missed pushes were replayed just before, false when they are lost (refetch state)"},
            "missed": {"type": "integer", "minimum": 0, "description": "present with `recovered`: how many pushes were replayed"},
        },
    });
    let mut payload = envelope(
        fields,
        crate::JOINED_EVENT,
        false,
        (fields.data_name(), data),
        true,
    );
    if let Some(properties) = payload["properties"].as_object_mut() {
        properties.insert("room".into(), json!({"type": "string"}));
    }
    if let Some(required) = payload["required"].as_array_mut() {
        required.push("room".into());
    }
    let mut message = message(crate::JOINED_EVENT, "application/json", payload);
    message["description"] = "Sent on every join of a room with history, before any live push of the room; after the replay when the upgrade URL's `since` named the room.".into();
    message
}

fn message(name: &str, content_type: &str, payload: Value) -> Value {
    json!({"name": name, "contentType": content_type, "payload": payload})
}

enum Plain {
    Text,
    Binary,
}

/// A message that is not JSON.
fn plain(kind: Plain) -> Value {
    match kind {
        Plain::Text => message("text", "text/plain", json!({"type": "string"})),
        Plain::Binary => message(
            "binary",
            "application/octet-stream",
            json!({"type": "string", "format": "binary"}),
        ),
    }
}

/// Adds the messages a plain handler answers operation `id` with; their ids, or `None` when
/// it answers nothing.
fn reply_messages(
    id: &str,
    reply: Option<Reply>,
    generator: &mut SchemaGenerator,
    messages: &mut Map<String, Value>,
) -> Option<Vec<String>> {
    let replies = match reply? {
        Reply::Text => vec![(format!("{id}_reply"), plain(Plain::Text))],
        Reply::Binary => vec![(format!("{id}_reply"), plain(Plain::Binary))],
        Reply::Json(payload) => {
            let payload = schema(generator, payload);
            let reply = message("json", "application/json", payload);
            vec![(format!("{id}_reply"), reply)]
        }
        Reply::Any => vec![
            (format!("{id}_reply_text"), plain(Plain::Text)),
            (format!("{id}_reply_binary"), plain(Plain::Binary)),
        ],
    };
    let ids = replies.iter().map(|(id, _)| id.clone()).collect();
    messages.extend(replies);
    Some(ids)
}

fn schema(generator: &mut SchemaGenerator, f: SchemaFn) -> Value {
    f(generator).to_value()
}

/// The channel object and its operations.
fn describe(channel: &Channel, generator: &mut SchemaGenerator) -> (Value, Map<String, Value>) {
    let name = key(&channel.name);
    let channel_ref = json!({"$ref": format!("#/channels/{name}")});
    let message_ref = |id: &str| json!({"$ref": format!("#/channels/{name}/messages/{id}")});
    let fields = &channel.fields;
    let mut messages = Map::new();
    let mut operations = Map::new();
    let mut add_operation =
        |id: String, action: &str, message_ids: &[String], reply: Option<&[String]>| {
            let mut operation = Map::new();
            operation.insert("action".into(), action.into());
            operation.insert("channel".into(), channel_ref.clone());
            operation.insert(
                "messages".into(),
                message_ids
                    .iter()
                    .map(|m| message_ref(m))
                    .collect::<Vec<_>>()
                    .into(),
            );
            if let Some(reply) = reply {
                operation.insert(
                    "reply".into(),
                    json!({
                        "channel": channel_ref.clone(),
                        "messages": reply.iter().map(|m| message_ref(m)).collect::<Vec<_>>(),
                    }),
                );
            }
            operations.insert(format!("{name}_{id}"), Value::Object(operation));
        };
    for (n, operation) in channel.operations.iter().enumerate() {
        match operation {
            Operation::ReceiveEvent { event, data, reply } => {
                let id = key(event);
                let data = schema(generator, *data);
                let request = envelope(fields, event, true, (fields.data_name(), data), false);
                messages.insert(
                    format!("receive_{id}"),
                    message(event, "application/json", request),
                );
                let mut replies = Vec::new();
                if let Some(reply) = reply {
                    let data = schema(generator, *reply);
                    let payload = envelope(fields, event, true, (fields.data_name(), data), true);
                    messages.insert(
                        format!("reply_{id}"),
                        message(event, "application/json", payload),
                    );
                    replies.push(format!("reply_{id}"));
                }
                let error = json!({"$ref": "#/components/schemas/EventError"});
                let payload = envelope(fields, event, true, (fields.error_name(), error), true);
                messages.insert(
                    format!("error_{id}"),
                    message(event, "application/json", payload),
                );
                replies.push(format!("error_{id}"));
                add_operation(
                    format!("receive_{id}"),
                    "receive",
                    &[format!("receive_{id}")],
                    Some(&replies),
                );
            }
            Operation::SendEvent { event, data } => {
                let id = key(event);
                let data = schema(generator, *data);
                let mut payload = envelope(fields, event, false, (fields.data_name(), data), true);
                if channel.room_history {
                    add_position(&mut payload);
                }
                messages.insert(
                    format!("push_{id}"),
                    message(event, "application/json", payload),
                );
                add_operation(format!("push_{id}"), "send", &[format!("push_{id}")], None);
            }
            Operation::ReceiveJson { payload, reply } => {
                let id = format!("receive_json_{n}");
                let payload = schema(generator, *payload);
                messages.insert(id.clone(), message("json", "application/json", payload));
                let replies = reply_messages(&id, *reply, generator, &mut messages);
                add_operation(id.clone(), "receive", &[id], replies.as_deref());
            }
            Operation::ReceiveText { reply } => {
                let id = "receive_text".to_owned();
                messages.insert(id.clone(), plain(Plain::Text));
                let replies = reply_messages(&id, *reply, generator, &mut messages);
                add_operation(id.clone(), "receive", &[id], replies.as_deref());
            }
            Operation::ReceiveBinary { reply } => {
                let id = "receive_binary".to_owned();
                messages.insert(id.clone(), plain(Plain::Binary));
                let replies = reply_messages(&id, *reply, generator, &mut messages);
                add_operation(id.clone(), "receive", &[id], replies.as_deref());
            }
            Operation::SendJson(payload) => {
                let id = format!("send_json_{n}");
                let payload = schema(generator, *payload);
                messages.insert(id.clone(), message("json", "application/json", payload));
                add_operation(id.clone(), "send", &[id], None);
            }
            Operation::SendText => {
                let id = "send_text".to_owned();
                messages.insert(id.clone(), plain(Plain::Text));
                add_operation(id.clone(), "send", &[id], None);
            }
            Operation::SendBinary => {
                let id = "send_binary".to_owned();
                messages.insert(id.clone(), plain(Plain::Binary));
                add_operation(id.clone(), "send", &[id], None);
            }
        }
    }
    if channel.room_history {
        let id = "push_joined".to_owned();
        messages.insert(id.clone(), joined_message(fields));
        add_operation(id.clone(), "send", &[id], None);
    }
    let (address, params) = address(&channel.address);
    let mut described = Map::new();
    described.insert("address".into(), address.into());
    if !params.is_empty() {
        let params: Map<String, Value> = params
            .into_iter()
            .map(|p| (p, json!({"description": "a path parameter of the route"})))
            .collect();
        described.insert("parameters".into(), Value::Object(params));
    }
    described.insert("messages".into(), Value::Object(messages));
    (Value::Object(described), operations)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert_eq!(
            address("/a/{lot}/b"),
            ("/a/{lot}/b".to_owned(), vec!["lot".to_owned()])
        );
        assert_eq!(
            address("/f/{*rest}"),
            ("/f/{rest}".to_owned(), vec!["rest".to_owned()])
        );
        assert_eq!(address("/x/{{y}}").1, Vec::<String>::new());
    }
}
