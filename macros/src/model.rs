//! The validated model: everything `expand` needs, known to be valid.

use proc_macro2::Span;
use syn::spanned::Spanned;
use syn::{Ident, LitStr, ReturnType, Type};

use crate::ast::Handler;

/// Everything `expand` needs, known to be valid.
pub struct Model {
    pub path: LitStr,
    pub settings: Settings,
    pub origin: Origin,
    pub style: Style,
    pub hooks: Hooks,
    /// Every extractor of every handler, each type once: `Controller::Extract`.
    pub extractors: Vec<Type>,
    /// `asyncapi = true`: the AsyncAPI description of the controller.
    pub asyncapi: Option<AsyncApi>,
}

#[derive(Default)]
pub struct Settings {
    pub max_message_size: Option<u64>,
    pub read_buffer_size: Option<u64>,
    pub write_buffer_size: Option<u64>,
    pub send_queue: Option<u64>,
    pub send_queue_bytes: Option<u64>,
    pub slow_consumer: Option<crate::attr::SlowConsumerArg>,
    pub compression: Option<crate::attr::CompressionArg>,
    /// Window bits with `compression = context_takeover`.
    pub compression_window_bits: Option<u64>,
    pub compression_threshold: Option<u64>,
    /// zlib's level, 0..=9, with compression on.
    pub compression_level: Option<u64>,
    /// Milliseconds.
    pub close_timeout: Option<u64>,
    /// `Some(None)` is `off`.
    pub ping_interval: Option<Option<u64>>,
    pub idle_timeout: Option<Option<u64>>,
    pub max_connections: Option<u64>,
    pub max_connections_per_client: Option<u64>,
    /// Messages and bytes per second, and the action (set only with a limit).
    pub rate_limit_messages: Option<u64>,
    pub rate_limit_bytes: Option<u64>,
    pub rate_limit_action: Option<crate::attr::RateLimitActionArg>,
    pub subprotocols: Option<Vec<String>>,
    pub debug: Option<bool>,
}

impl Settings {
    pub fn debug(&self) -> bool {
        self.debug.unwrap_or(false)
    }
}

pub enum Origin {
    /// The trait's default (`same_host`).
    Default,
    Any,
    List(Vec<String>),
    Fn(syn::Path),
    /// A `#[check_origin]` method.
    Hook(Box<HookFn>),
}

pub enum Style {
    Serve(Box<ServeFn>),
    Handlers(Box<Handlers>),
}

/// An extractor parameter: its index in [`Model::extractors`] and its type as written.
pub struct ExtractorArg {
    pub index: usize,
    pub ty: Type,
}

/// `#[serve] async fn serve(&self, conn: Conn, extractors...)`.
pub struct ServeFn {
    pub name: Ident,
    pub conn_ty: Type,
    pub extractors: Vec<ExtractorArg>,
    pub output: Output,
}

#[derive(Default)]
pub struct Handlers {
    pub open: Option<OpenFn>,
    pub text: Option<MessageFn>,
    pub json: Option<MessageFn>,
    pub binary: Option<MessageFn>,
    pub events: Vec<EventFn>,
    pub close: Option<CloseFn>,
    /// The envelope's field names: event, data, id, error.
    pub fields: [String; 4],
}

impl Handlers {
    /// True when some message handler takes the session by `&mut`.
    pub fn session_mutated(&self) -> bool {
        [&self.text, &self.json, &self.binary]
            .into_iter()
            .flatten()
            .any(|h| h.session.is_some())
            || self.events.iter().any(|e| e.session.is_some())
    }

    /// The extractors some handler other than `#[on_open]` takes (those are cloned per call).
    pub fn shared_extractors(&self) -> Vec<usize> {
        let messages = [&self.text, &self.json, &self.binary].into_iter().flatten();
        messages
            .flat_map(|h| &h.extractors)
            .chain(self.events.iter().flat_map(|e| &e.extractors))
            .chain(self.close.iter().flat_map(|c| &c.extractors))
            .map(|e| e.index)
            .collect()
    }
}

/// `#[on_open] async fn open(&self, [conn: &Conn,] extractors...)`.
pub struct OpenFn {
    pub name: Ident,
    pub conn: Option<Type>,
    pub extractors: Vec<ExtractorArg>,
    pub output: Output,
}

/// `#[on_text|on_json|on_binary] async fn f(&self, [conn: &Conn,] [session: &mut S,]
/// extractors..., msg: T)`.
pub struct MessageFn {
    pub name: Ident,
    pub conn: Option<Type>,
    pub session: Option<Type>,
    pub extractors: Vec<ExtractorArg>,
    pub message: Type,
    pub output: Output,
}

/// `#[on_event("bid")] async fn f(&self, [conn: &Conn,] [session: &mut S,] extractors...,
/// [data: T])`.
pub struct EventFn {
    pub name: Ident,
    pub event: LitStr,
    pub conn: Option<Type>,
    pub session: Option<Type>,
    pub extractors: Vec<ExtractorArg>,
    pub data: Option<Type>,
    pub output: Output,
}

/// `#[on_close] async fn f(&self, [conn: &Conn,] [session: S,] extractors..., status:
/// CloseStatus, reason: &str)`.
pub struct CloseFn {
    pub name: Ident,
    pub conn: Option<Type>,
    pub session: Option<Type>,
    pub extractors: Vec<ExtractorArg>,
    pub status: Type,
    pub reason: Type,
    pub output: Output,
}

/// A hook: `fn f(&self, params...) -> R`.
pub struct HookFn {
    pub name: Ident,
    pub params: Vec<Type>,
    pub output: Output,
}

/// A method's return type and the span to put conversion errors on.
pub struct Output {
    pub span: Span,
    /// The return type as written, unless it is `impl Trait` (which cannot be named).
    pub ty: Option<Type>,
}

impl Output {
    pub fn of(handler: &Handler) -> Self {
        let span = match &handler.sig.output {
            ReturnType::Type(_, ty) => ty.span(),
            ReturnType::Default => handler.sig.ident.span(),
        };
        let ty = match &handler.sig.output {
            ReturnType::Type(_, ty) if !matches!(&**ty, Type::ImplTrait(_)) => Some((**ty).clone()),
            ReturnType::Type(..) => None,
            ReturnType::Default => Some(syn::parse_quote!(())),
        };
        Self { span, ty }
    }
}

#[derive(Default)]
pub struct Hooks {
    pub upgrade_headers: Option<HookFn>,
    pub on_error: Option<HookFn>,
    pub on_upgrade_error: Option<HookFn>,
    pub hub: Option<HookFn>,
}

/// `asyncapi = true`, with the pushes of `emits = [..]`.
pub struct AsyncApi {
    /// The `asyncapi` key, for the span of "enable the feature".
    pub key: Span,
    /// The channel's name: the controller type's name.
    pub channel: String,
    pub emits: Vec<Emit>,
}

/// One entry of `emits`: an event push (`"price": Price`) or a plain JSON message (`Price`).
pub struct Emit {
    pub event: Option<LitStr>,
    pub ty: Type,
}
