//! Parses the attribute's arguments (`path = "/chat/{room}", origin = [..], ...`) into [`Args`].
//!
//! This step checks the *shape* of each value (a string literal where a string is expected, a
//! list where a list is expected) and reports unknown and repeated keys. What a value means
//! (a valid route, a valid origin pattern, a positive size) is checked in `valid.rs`.

use proc_macro2::TokenStream;
use syn::parse::{Parse, ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::{Expr, Ident, LitBool, LitInt, LitStr, Token};

use crate::diagnostics::{did_you_mean, Errors};

mod values;

use values::{
    boolean, compression, duration_or_off, int, list, origin, rate_limit_action, slow_consumer,
    string,
};

/// Every key the attribute accepts, in the order the documentation lists them.
pub const KEYS: &[&str] = &[
    "path",
    "origin",
    "subprotocols",
    "max_message_size",
    "read_buffer_size",
    "write_buffer_size",
    "send_queue",
    "send_queue_bytes",
    "slow_consumer",
    "compression",
    "compression_window_bits",
    "compression_threshold",
    "compression_level",
    "close_timeout",
    "ping_interval",
    "idle_timeout",
    "max_connections",
    "max_connections_per_client",
    "rate_limit_messages",
    "rate_limit_bytes",
    "rate_limit_action",
    "debug",
    "event_field",
    "data_field",
    "id_field",
    "error_field",
    "asyncapi",
    "emits",
];

/// The parsed attribute arguments. Every field is `None` when its key was not given.
#[derive(Default)]
pub struct Args {
    /// True when a `path` key was given, even with an unusable value.
    pub path_given: bool,
    pub path: Option<LitStr>,
    pub origin: Option<Keyed<OriginArg>>,
    pub subprotocols: Option<Keyed<List>>,
    pub max_message_size: Option<Keyed<LitInt>>,
    pub read_buffer_size: Option<Keyed<LitInt>>,
    pub write_buffer_size: Option<Keyed<LitInt>>,
    pub send_queue: Option<Keyed<LitInt>>,
    pub send_queue_bytes: Option<Keyed<LitInt>>,
    pub slow_consumer: Option<SlowConsumerArg>,
    pub compression: Option<Keyed<CompressionArg>>,
    pub compression_window_bits: Option<Keyed<LitInt>>,
    pub compression_threshold: Option<Keyed<LitInt>>,
    pub compression_level: Option<Keyed<LitInt>>,
    pub close_timeout: Option<Keyed<LitStr>>,
    pub ping_interval: Option<Keyed<DurationArg>>,
    pub idle_timeout: Option<Keyed<DurationArg>>,
    pub max_connections: Option<Keyed<LitInt>>,
    pub max_connections_per_client: Option<Keyed<LitInt>>,
    pub rate_limit_messages: Option<Keyed<LitInt>>,
    pub rate_limit_bytes: Option<Keyed<LitInt>>,
    pub rate_limit_action: Option<Keyed<RateLimitActionArg>>,
    pub debug: Option<LitBool>,
    /// `event_field`, `data_field`, `id_field`, `error_field`, in that order.
    pub fields: [Option<Keyed<LitStr>>; 4],
    pub asyncapi: Option<Keyed<LitBool>>,
    pub emits: Option<Keyed<Vec<EmitArg>>>,
}

/// The envelope field keys, in the order of [`Args::fields`], with their defaults.
pub const FIELD_KEYS: [(&str, &str); 4] = [
    ("event_field", "event"),
    ("data_field", "data"),
    ("id_field", "id"),
    ("error_field", "error"),
];

/// One entry of `emits = [..]`: `"price": Price` (an event push) or `Price` (a JSON message).
pub struct EmitArg {
    pub event: Option<LitStr>,
    pub ty: syn::Type,
}

impl Parse for EmitArg {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        if input.peek(LitStr) {
            let event: LitStr = input.parse()?;
            if !input.peek(Token![:]) {
                return Err(input.error(
                    "expected `:` and the pushed type after the event name: `\"price\": Price`",
                ));
            }
            input.parse::<Token![:]>()?;
            let ty = input.parse()?;
            Ok(Self {
                event: Some(event),
                ty,
            })
        } else {
            let ty = input.parse().map_err(|err| {
                syn::Error::new(
                    err.span(),
                    "`emits` lists what the controller pushes: `emits = [\"price\": Price]` \
                     for events, `emits = [Update]` for plain JSON messages",
                )
            })?;
            Ok(Self { event: None, ty })
        }
    }
}

/// A value together with the key that introduced it (for spans in later errors).
pub struct Keyed<T> {
    pub key: Ident,
    pub value: T,
}

/// A bracketed list of string literals, `["a", "b"]`.
pub struct List {
    /// The list as written, for error spans.
    pub tokens: TokenStream,
    pub items: Vec<LitStr>,
}

/// The `origin = ...` policy.
pub enum OriginArg {
    /// `origin = same_host` (the default, written out).
    SameHost,
    /// `origin = any`: no check at all.
    Any,
    /// `origin = ["https://example.com", "https://*.example.com"]`.
    List(List),
    /// `origin = my_check`: a function `fn(&Parts) -> bool`.
    Fn(syn::Path),
}

/// `slow_consumer = close | drop_newest | wait`.
#[derive(Clone, Copy)]
pub enum SlowConsumerArg {
    Close,
    DropNewest,
    Wait,
}

/// `compression = off | on | context_takeover`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum CompressionArg {
    Off,
    On,
    ContextTakeover,
}

/// `rate_limit_action = close | drop`.
#[derive(Clone, Copy)]
pub enum RateLimitActionArg {
    Close,
    Drop,
}

/// `ping_interval` / `idle_timeout`: a duration string, or `off`.
pub enum DurationArg {
    Lit(LitStr),
    Off,
}

/// One `key = value` entry, before the key is interpreted.
struct Entry {
    key: Ident,
    value: Option<Value>,
}

enum Value {
    Expr(Expr),
    /// `emits = [..]`, whose entries are not expressions.
    Emits(Vec<EmitArg>),
}

impl Parse for Entry {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let key: Ident = input.call(syn::ext::IdentExt::parse_any)?;
        if input.peek(Token![=]) {
            input.parse::<Token![=]>()?;
            let value = if key == "emits" && input.peek(syn::token::Bracket) {
                let content;
                syn::bracketed!(content in input);
                let entries = Punctuated::<EmitArg, Token![,]>::parse_terminated(&content)?;
                Value::Emits(entries.into_iter().collect())
            } else {
                Value::Expr(input.parse()?)
            };
            Ok(Self {
                key,
                value: Some(value),
            })
        } else {
            Ok(Self { key, value: None })
        }
    }
}

impl Args {
    /// Parses the arguments, pushing every problem into `errors` and keeping what is usable.
    pub fn parse(tokens: TokenStream, errors: &mut Errors) -> Self {
        let mut args = Args::default();
        let entries = match Punctuated::<Entry, Token![,]>::parse_terminated.parse2(tokens) {
            Ok(entries) => entries,
            Err(err) => {
                errors.push(syn::Error::new(
                    err.span(),
                    format!(
                        "{err}; the arguments are `key = value` pairs separated by commas, \
                         e.g. `#[ws_controller(path = \"/chat\", debug = true)]`"
                    ),
                ));
                return args;
            }
        };
        for entry in entries {
            args.entry(entry, errors);
        }
        args
    }

    fn entry(&mut self, entry: Entry, errors: &mut Errors) {
        let key = entry.key;
        let name = key.to_string();
        let Some(value) = entry.value else {
            let example = match name.as_str() {
                "debug" => "`debug = true`".to_owned(),
                _ if KEYS.contains(&name.as_str()) => format!("`{name} = ...`"),
                _ => "`key = value`".to_owned(),
            };
            errors.push(syn::Error::new(
                key.span(),
                format!("expected `=` and a value after `{name}`: write {example}"),
            ));
            return;
        };
        let value = match value {
            Value::Expr(value) => value,
            Value::Emits(entries) => {
                if self.emits.is_some() {
                    errors.push(duplicate(&key));
                } else {
                    self.emits = Some(Keyed {
                        key,
                        value: entries,
                    });
                }
                return;
            }
        };
        macro_rules! set {
            ($field:ident, $parse:expr) => {{
                if self.$field.is_some() {
                    errors.push(duplicate(&key));
                } else {
                    match $parse {
                        Ok(v) => self.$field = Some(v),
                        Err(e) => errors.push(e),
                    }
                }
            }};
        }
        match name.as_str() {
            "path" => {
                let duplicated = self.path_given;
                self.path_given = true;
                if duplicated {
                    errors.push(duplicate(&key));
                } else {
                    match string(&value, "path", "\"/chat/{room}\"") {
                        Ok(path) => self.path = Some(path),
                        Err(err) => errors.push(err),
                    }
                }
            }
            "origin" => set!(
                origin,
                origin(&value).map(|value| Keyed {
                    key: key.clone(),
                    value
                })
            ),
            "subprotocols" => set!(
                subprotocols,
                list(&value, "subprotocols", "[\"chat.v2\", \"chat.v1\"]").map(|value| Keyed {
                    key: key.clone(),
                    value
                })
            ),
            "max_message_size"
            | "read_buffer_size"
            | "write_buffer_size"
            | "send_queue"
            | "send_queue_bytes"
            | "compression_window_bits"
            | "compression_threshold"
            | "compression_level"
            | "max_connections"
            | "max_connections_per_client"
            | "rate_limit_messages"
            | "rate_limit_bytes" => {
                let parsed = int(&value, &name).map(|value| Keyed {
                    key: key.clone(),
                    value,
                });
                match name.as_str() {
                    "max_message_size" => set!(max_message_size, parsed),
                    "read_buffer_size" => set!(read_buffer_size, parsed),
                    "write_buffer_size" => set!(write_buffer_size, parsed),
                    "send_queue_bytes" => set!(send_queue_bytes, parsed),
                    "compression_window_bits" => set!(compression_window_bits, parsed),
                    "compression_threshold" => set!(compression_threshold, parsed),
                    "compression_level" => set!(compression_level, parsed),
                    "max_connections" => set!(max_connections, parsed),
                    "max_connections_per_client" => set!(max_connections_per_client, parsed),
                    "rate_limit_messages" => set!(rate_limit_messages, parsed),
                    "rate_limit_bytes" => set!(rate_limit_bytes, parsed),
                    _ => set!(send_queue, parsed),
                }
            }
            "close_timeout" => set!(
                close_timeout,
                string(&value, "close_timeout", "\"10s\"").map(|value| Keyed {
                    key: key.clone(),
                    value
                })
            ),
            "ping_interval" | "idle_timeout" => {
                let parsed = duration_or_off(&value, &name).map(|value| Keyed {
                    key: key.clone(),
                    value,
                });
                if name == "ping_interval" {
                    set!(ping_interval, parsed)
                } else {
                    set!(idle_timeout, parsed)
                }
            }
            "slow_consumer" => set!(slow_consumer, slow_consumer(&value)),
            "rate_limit_action" => set!(
                rate_limit_action,
                rate_limit_action(&value).map(|value| Keyed {
                    key: key.clone(),
                    value
                })
            ),
            "compression" => set!(
                compression,
                compression(&value).map(|value| Keyed {
                    key: key.clone(),
                    value
                })
            ),
            "debug" => set!(debug, boolean(&value, "debug")),
            "asyncapi" => set!(
                asyncapi,
                boolean(&value, "asyncapi").map(|value| Keyed {
                    key: key.clone(),
                    value
                })
            ),
            "emits" => errors.push(syn::Error::new_spanned(
                &value,
                "`emits` is a list: `emits = [\"price\": Price]` for event pushes, \
                 `emits = [Update]` for plain JSON messages",
            )),
            "event_field" | "data_field" | "id_field" | "error_field" => {
                let slot = FIELD_KEYS.iter().position(|(k, _)| *k == name).unwrap_or(0);
                let default = FIELD_KEYS[slot].1;
                if self.fields[slot].is_some() {
                    errors.push(duplicate(&key));
                } else {
                    match string(&value, &name, &format!("\"{default}\"")) {
                        Ok(lit) => self.fields[slot] = Some(Keyed { key, value: lit }),
                        Err(err) => errors.push(err),
                    }
                }
            }
            _ => errors.push(unknown_key(&key)),
        }
    }
}

fn duplicate(key: &Ident) -> syn::Error {
    syn::Error::new(
        key.span(),
        format!("duplicate key `{key}`: it was already given; remove one of them"),
    )
}

fn unknown_key(key: &Ident) -> syn::Error {
    let name = key.to_string();
    let hint = match did_you_mean(&name, KEYS) {
        Some(close) => format!("did you mean `{close}`? "),
        None => String::new(),
    };
    syn::Error::new(
        key.span(),
        format!(
            "unknown key `{name}`; {hint}the keys are: {}",
            KEYS.iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    )
}
