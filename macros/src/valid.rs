//! Validation: checks the attribute arguments and the handlers against every rule, reporting
//! all problems at once (each on the offending tokens, each saying how to fix it), and
//! produces the [`Model`] that `expand.rs` turns into code.

use proc_macro2::Span;
use syn::spanned::Spanned;
use syn::{Ident, LitStr, ReturnType, Type};

use crate::ast::{Controller, Handler, Kind, Param, Receiver, Shape};
use crate::attr::{Args, DurationArg, Keyed, List, OriginArg};

/// Accumulates errors with `syn::Error::combine`.
#[derive(Default)]
pub struct Errors(Option<syn::Error>);

impl Errors {
    pub fn push(&mut self, err: syn::Error) {
        match &mut self.0 {
            Some(all) => all.combine(err),
            None => self.0 = Some(err),
        }
    }

    pub fn at(&mut self, span: Span, message: impl std::fmt::Display) {
        self.push(syn::Error::new(span, message));
    }

    /// An error covering all of `tokens` (a multi-token span on stable Rust).
    pub fn spanned(&mut self, tokens: impl quote::ToTokens, message: impl std::fmt::Display) {
        self.push(syn::Error::new_spanned(tokens, message));
    }

    pub fn finish(self) -> syn::Result<()> {
        self.0.map_or(Ok(()), Err)
    }
}

/// The closest of `candidates` to `name`, when it is close enough to be a typo.
pub fn did_you_mean<'a>(name: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let limit = if name.len() >= 6 {
        (name.len() / 3).max(2)
    } else {
        1
    };
    candidates
        .iter()
        .map(|c| (edit_distance(name, c), *c))
        .filter(|(d, c)| *d <= limit || (name.len() >= 4 && c.starts_with(name)))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            let next = (row[j + 1] + 1).min(row[j] + 1).min(prev + cost);
            prev = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

// ---------------------------------------------------------------------------------------------
// The validated model.

/// Everything `expand.rs` needs, known to be valid.
pub struct Model {
    pub path: LitStr,
    pub settings: Settings,
    pub origin: Origin,
    pub style: Style,
    pub hooks: Hooks,
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
    /// Milliseconds.
    pub close_timeout: Option<u64>,
    /// `Some(None)` is `off`.
    pub ping_interval: Option<Option<u64>>,
    pub idle_timeout: Option<Option<u64>>,
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

/// `#[serve] async fn serve(&self, conn: Conn, extractors...)`.
pub struct ServeFn {
    pub name: Ident,
    pub conn_ty: Type,
    pub extractors: Vec<Type>,
    pub output: Output,
}

#[derive(Default)]
pub struct Handlers {
    pub open: Option<OpenFn>,
    pub text: Option<MessageFn>,
    pub json: Option<MessageFn>,
    pub binary: Option<MessageFn>,
    pub close: Option<CloseFn>,
}

impl Handlers {
    /// True when some message handler takes the session by `&mut`.
    pub fn session_mutated(&self) -> bool {
        [&self.text, &self.json, &self.binary]
            .into_iter()
            .flatten()
            .any(|h| h.session.is_some())
    }
}

/// `#[on_open] async fn open(&self, [conn: &Conn,] extractors...)`.
pub struct OpenFn {
    pub name: Ident,
    pub conn: Option<Type>,
    pub extractors: Vec<Type>,
    pub output: Output,
}

/// `#[on_text|on_json|on_binary] async fn f(&self, [conn: &Conn,] [session: &mut S,] msg: T)`.
pub struct MessageFn {
    pub name: Ident,
    pub conn: Option<Type>,
    pub session: Option<Type>,
    pub message: Type,
    pub output: Output,
}

/// `#[on_close] async fn f(&self, [conn: &Conn,] [session: S,] status: CloseStatus, reason: &str)`.
pub struct CloseFn {
    pub name: Ident,
    pub conn: Option<Type>,
    pub session: Option<Type>,
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
    fn of(handler: &Handler) -> Self {
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

// ---------------------------------------------------------------------------------------------
// Checks.

/// Validates everything, pushing every problem into `errors`; the model is only meaningful
/// when `errors` stays empty.
pub fn validate(args: &Args, controller: &Controller, errors: &mut Errors) -> Option<Model> {
    let settings = settings(args, errors);
    let handlers = &controller.handlers;

    // One handler per role.
    let mut seen: Vec<&Handler> = Vec::new();
    for handler in handlers {
        if let Some(first) = seen.iter().find(|h| h.kind == handler.kind) {
            let what = if handler.kind.is_hook() {
                "hook"
            } else {
                "handler"
            };
            errors.at(
                handler.marker.span(),
                format!(
                    "a second `#[{}]` {what}: `{}` already is one; keep one of them",
                    handler.kind.name(),
                    first.name()
                ),
            );
            continue;
        }
        if handler.kind == Kind::Json {
            if let Some(text) = seen.iter().find(|h| h.kind == Kind::Text) {
                errors.at(handler.marker.span(), two_text_handlers(text.name()));
                continue;
            }
        }
        if handler.kind == Kind::Text {
            if let Some(json) = seen.iter().find(|h| h.kind == Kind::Json) {
                errors.at(handler.marker.span(), two_text_handlers(json.name()));
                continue;
            }
        }
        seen.push(handler);
    }
    let find = |kind: Kind| seen.iter().copied().find(|h| h.kind == kind);

    // Serve style or declarative style, not both; and at least one of them.
    let serve = find(Kind::Serve);
    if let Some(serve) = serve {
        for other in seen.iter().filter(|h| {
            matches!(
                h.kind,
                Kind::Open | Kind::Text | Kind::Json | Kind::Binary | Kind::Close
            )
        }) {
            errors.at(
                other.marker.span(),
                format!(
                    "`#[{}]` cannot be combined with `#[serve]` (`{}`): `#[serve]` owns the \
                     whole connection; either remove `#[serve]` and let the message handlers \
                     build the serve loop, or handle messages inside `{}`",
                    other.kind.name(),
                    serve.name(),
                    serve.name()
                ),
            );
        }
    } else if !seen
        .iter()
        .any(|h| matches!(h.kind, Kind::Open | Kind::Text | Kind::Json | Kind::Binary))
    {
        errors.spanned(
            &controller.item.self_ty,
            "this controller has no handlers: mark a method `#[on_text]`, `#[on_json]`, \
             `#[on_binary]` or `#[on_open]` (e.g. `#[on_text] async fn said(&self, text: \
             String) -> String { text }`), or own the connection with `#[serve] async fn \
             serve(&self, conn: Conn) -> Result<(), Error>`",
        );
    }

    let has_session = find(Kind::Open).is_some();
    for handler in &seen {
        check_form(handler, errors);
    }

    let style = match serve {
        Some(serve) => serve_fn(serve, errors).map(|s| Style::Serve(Box::new(s))),
        None => {
            let mut out = Handlers::default();
            if let Some(h) = find(Kind::Open) {
                out.open = open_fn(h, errors);
            }
            out.text = find(Kind::Text).and_then(|h| message_fn(h, has_session, errors));
            out.json = find(Kind::Json).and_then(|h| message_fn(h, has_session, errors));
            out.binary = find(Kind::Binary).and_then(|h| message_fn(h, has_session, errors));
            out.close = find(Kind::Close).and_then(|h| close_fn(h, has_session, errors));
            Some(Style::Handlers(Box::new(out)))
        }
    };

    let hook = |kind: Kind, errors: &mut Errors| find(kind).and_then(|h| hook_fn(h, errors));
    let hooks = Hooks {
        upgrade_headers: hook(Kind::UpgradeHeaders, errors),
        on_error: hook(Kind::OnError, errors),
        on_upgrade_error: hook(Kind::OnUpgradeError, errors),
        hub: hook(Kind::Hub, errors),
    };
    let origin = origin(args, find(Kind::CheckOrigin), errors);

    let path = match &args.path {
        Some(path) => {
            let extractors: Option<&[Type]> = match &style {
                Some(Style::Serve(s)) => Some(&s.extractors),
                Some(Style::Handlers(h)) => h.open.as_ref().map(|o| &o.extractors[..]),
                None => None,
            };
            check_path(path, style.is_some(), extractors, errors);
            Some(path.clone())
        }
        None if args.path_given => None,
        None => {
            errors.at(
                Span::call_site(),
                "missing `path`: every controller needs a route, e.g. \
                 `#[ws_controller(path = \"/chat\")]`",
            );
            None
        }
    };

    Some(Model {
        path: path?,
        settings,
        origin: origin?,
        style: style?,
        hooks,
    })
}

fn two_text_handlers(first: &Ident) -> String {
    format!(
        "two handlers for text messages: `{first}` already handles them (`#[on_json]` \
         decodes text messages); keep one: use `#[on_json]` for JSON, or `#[on_text]` and \
         decode inside it"
    )
}

/// `async` for handlers, plain `fn` for hooks, `&self`, no generics.
fn check_form(handler: &Handler, errors: &mut Errors) {
    let sig = &handler.sig;
    let name = handler.kind.name();
    if handler.kind.is_hook() {
        if let Some(asyncness) = &sig.asyncness {
            errors.at(
                asyncness.span,
                format!(
                    "`#[{name}]` is a hook, called synchronously during the upgrade: remove \
                     `async` (`fn {}(&self, ...)`)",
                    sig.ident
                ),
            );
        }
    } else if sig.asyncness.is_none() {
        errors.at(
            sig.fn_token.span,
            format!(
                "`#[{name}]` handlers must be `async`: write `async fn {}(...)`",
                sig.ident
            ),
        );
    }
    if !sig.generics.params.is_empty() {
        errors.spanned(
            &sig.generics,
            format!(
                "a `#[{name}]` method cannot have generic parameters of its own; put them on \
                 the controller type instead"
            ),
        );
    }
    for param in &handler.params {
        if let Type::ImplTrait(ty) = &param.ty {
            errors.spanned(
                ty,
                format!("`#[{name}]` parameters need a concrete type, not `impl Trait`"),
            );
        }
    }
    if let Some(variadic) = &sig.variadic {
        errors.spanned(variadic, "variadic parameters are not supported");
    }
    match &handler.receiver {
        Some((Receiver::Shared, _)) => {}
        Some((Receiver::Mut, tokens)) => errors.spanned(
            tokens,
            format!(
                "`#[{name}]` takes `&self`, not `&mut self`: the controller is shared by all \
                 connections; keep per-connection state in the session (returned by \
                 `#[on_open]`) and shared state behind a `Mutex` or atomic"
            ),
        ),
        Some((Receiver::Other, tokens)) => errors.spanned(
            tokens,
            format!(
                "`#[{name}]` takes `&self`: the controller is shared by all connections; write \
                 `&self`"
            ),
        ),
        None => errors.at(
            sig.paren_token.span.join(),
            format!(
                "`#[{name}]` needs a `&self` receiver: write `fn {}(&self, ...)`",
                sig.ident
            ),
        ),
    }
}

fn output_is_unit(handler: &Handler) -> bool {
    match &handler.sig.output {
        ReturnType::Default => true,
        ReturnType::Type(_, ty) => matches!(&**ty, Type::Tuple(t) if t.elems.is_empty()),
    }
}

/// Leading `&Conn`: a shared reference parameter is the connection (extractors and messages
/// are owned values).
fn split_conn(params: &[Param]) -> (Option<&Param>, &[Param]) {
    match params.split_first() {
        Some((first, rest)) if first.shape == Shape::Shared => (Some(first), rest),
        _ => (None, params),
    }
}

fn extractor_types(params: &[Param], errors: &mut Errors, handler: &str) -> Vec<Type> {
    for p in params {
        if p.shape != Shape::Value {
            errors.spanned(
                &p.ty,
                format!(
                    "`#[{handler}]` extractors are owned values (`Path<String>`, \
                     `State<Db>`, `Query<Params>`, ...), not references"
                ),
            );
        }
    }
    params.iter().map(|p| p.ty.clone()).collect()
}

fn open_fn(h: &Handler, errors: &mut Errors) -> Option<OpenFn> {
    let (conn, rest) = split_conn(&h.params);
    let extractors = extractor_types(rest, errors, "on_open");
    Some(OpenFn {
        name: h.name().clone(),
        conn: conn.map(|p| p.ty.clone()),
        extractors,
        output: Output::of(h),
    })
}

fn serve_fn(h: &Handler, errors: &mut Errors) -> Option<ServeFn> {
    let Some((conn, rest)) = h.params.split_first() else {
        errors.at(
            h.sig.paren_token.span.join(),
            format!(
                "`#[serve]` takes the connection after `&self`: write `async fn {}(&self, \
                 mut conn: Conn) -> Result<(), Error>` (extractors may follow `conn`)",
                h.name()
            ),
        );
        return None;
    };
    if conn.shape != Shape::Value {
        errors.spanned(
            &conn.ty,
            "`#[serve]` owns the connection: take it by value, `mut conn: Conn`",
        );
    }
    let extractors = extractor_types(rest, errors, "serve");
    Some(ServeFn {
        name: h.name().clone(),
        conn_ty: conn.ty.clone(),
        extractors,
        output: Output::of(h),
    })
}

fn no_session(p: &Param, handler: &str, errors: &mut Errors) {
    errors.spanned(
        &p.arg,
        format!(
            "this `#[{handler}]` handler takes a session, but there is no `#[on_open]` handler \
             to create one: add `#[on_open] async fn open(&self) -> Result<Session, Error>`, or \
             remove this parameter"
        ),
    );
}

fn message_fn(h: &Handler, has_session: bool, errors: &mut Errors) -> Option<MessageFn> {
    let name = h.kind.name();
    let what = match h.kind {
        Kind::Text => "text: String",
        Kind::Binary => "data: Bytes",
        _ => "command: Command",
    };
    let signature = format!(
        "`async fn {}(&self, [conn: &Conn,] [session: &mut Session,] {what})`",
        h.name()
    );
    let Some((message, leading)) = h.params.split_last() else {
        errors.at(
            h.sig.paren_token.span.join(),
            format!("`#[{name}]` takes the message as its last parameter: {signature}"),
        );
        return None;
    };
    let mut ok = true;
    if message.shape != Shape::Value {
        errors.spanned(
            &message.ty,
            format!("the message is passed by value: {signature}"),
        );
        ok = false;
    }
    let (conn, rest) = split_conn(leading);
    let mut session = None;
    match rest {
        [] => {}
        [s] if s.shape == Shape::Mut => {
            if has_session {
                session = Some(s.ty.clone());
            } else {
                no_session(s, name, errors);
                ok = false;
            }
        }
        [s] if s.shape == Shape::Value && !has_session => {
            no_session(s, name, errors);
            ok = false;
        }
        [s] => {
            errors.spanned(
                &s.arg,
                format!(
                    "unexpected parameter; the session is borrowed mutably (`session: &mut \
                     Session`) and comes after the connection: {signature}"
                ),
            );
            ok = false;
        }
        [_, extra @ ..] => {
            let extra: Vec<_> = extra.iter().map(|p| &p.arg).collect();
            errors.spanned(
                quote::quote!(#(#extra),*),
                format!("too many parameters: {signature}"),
            );
            ok = false;
        }
    }
    ok.then(|| MessageFn {
        name: h.name().clone(),
        conn: conn.map(|p| p.ty.clone()),
        session,
        message: message.ty.clone(),
        output: Output::of(h),
    })
}

fn close_fn(h: &Handler, has_session: bool, errors: &mut Errors) -> Option<CloseFn> {
    let signature = format!(
        "`async fn {}(&self, [conn: &Conn,] [session: Session,] status: CloseStatus, reason: \
         &str)`",
        h.name()
    );
    if h.params.len() < 2 {
        errors.at(
            h.sig.paren_token.span.join(),
            format!("`#[on_close]` ends with the close status and reason: {signature}"),
        );
        return None;
    }
    let (leading, tail) = h.params.split_at(h.params.len() - 2);
    let (conn, rest) = split_conn(leading);
    let mut session = None;
    let mut ok = true;
    match rest {
        [] => {}
        [s] if has_session && s.shape == Shape::Value => session = Some(s.ty.clone()),
        [s] if !has_session => {
            no_session(s, "on_close", errors);
            ok = false;
        }
        [s, ..] => {
            errors.spanned(
                &s.arg,
                format!("unexpected parameter (the session is taken by value): {signature}"),
            );
            ok = false;
        }
    }
    ok.then(|| CloseFn {
        name: h.name().clone(),
        conn: conn.map(|p| p.ty.clone()),
        session,
        status: tail[0].ty.clone(),
        reason: tail[1].ty.clone(),
        output: Output::of(h),
    })
}

fn hook_fn(h: &Handler, errors: &mut Errors) -> Option<HookFn> {
    let (expected, returns): (&[&str], Option<&str>) = match h.kind {
        Kind::CheckOrigin => (&["request: &Parts"], Some("bool")),
        Kind::UpgradeHeaders => (&["request: &Parts"], Some("HeaderMap")),
        Kind::OnError => (&["request: &Parts", "error: &Error"], None),
        Kind::Hub => (&[], Some("&Hub")),
        _ => (
            &[
                "request: &Parts",
                "status: StatusCode",
                "reason: &UpgradeError",
            ],
            Some("Response"),
        ),
    };
    let name = h.kind.name();
    let signature = format!(
        "`fn {}(&self{}){}`",
        h.name(),
        expected
            .iter()
            .map(|p| format!(", {p}"))
            .collect::<String>(),
        returns.map(|r| format!(" -> {r}")).unwrap_or_default()
    );
    let mut ok = true;
    if h.params.len() != expected.len() {
        let params: Vec<_> = h.params.iter().map(|p| &p.arg).collect();
        let tokens = if params.is_empty() {
            let mut group = proc_macro2::Group::new(
                proc_macro2::Delimiter::Parenthesis,
                proc_macro2::TokenStream::new(),
            );
            group.set_span(h.sig.paren_token.span.join());
            quote::quote!(#group)
        } else {
            quote::quote!(#(#params),*)
        };
        errors.spanned(
            tokens,
            format!(
                "`#[{name}]` takes {}: {signature}",
                match expected.len() {
                    0 => "only `&self`".to_owned(),
                    1 => "1 parameter after `&self`".to_owned(),
                    n => format!("{n} parameters after `&self`"),
                }
            ),
        );
        ok = false;
    }
    match (returns, output_is_unit(h)) {
        (Some(ty), true) => {
            errors.at(
                h.sig.ident.span(),
                format!("`#[{name}]` must return `{ty}`: {signature}"),
            );
            ok = false;
        }
        (None, false) => {
            errors.spanned(
                &h.sig.output,
                format!("`#[{name}]` returns nothing: remove the return type ({signature})"),
            );
            ok = false;
        }
        _ => {}
    }
    ok.then(|| HookFn {
        name: h.name().clone(),
        params: h.params.iter().map(|p| p.ty.clone()).collect(),
        output: Output::of(h),
    })
}

// ---------------------------------------------------------------------------------------------
// Attribute values.

fn origin(args: &Args, hook: Option<&Handler>, errors: &mut Errors) -> Option<Origin> {
    let arg = args.origin.as_ref();
    if let (Some(arg), Some(hook)) = (arg, hook) {
        errors.at(
            arg.key.span(),
            format!(
                "`origin = ...` and the `#[check_origin]` hook `{}` both decide the origin \
                 policy; keep one: remove this key, or remove `#[check_origin]`",
                hook.name()
            ),
        );
        return None;
    }
    if let Some(hook) = hook {
        return hook_fn(hook, errors).map(|h| Origin::Hook(Box::new(h)));
    }
    Some(match arg.map(|a| &a.value) {
        None | Some(OriginArg::SameHost) => Origin::Default,
        Some(OriginArg::Any) => Origin::Any,
        Some(OriginArg::Fn(path)) => Origin::Fn(path.clone()),
        Some(OriginArg::List(list)) => {
            if list.items.is_empty() {
                errors.spanned(
                    &list.tokens,
                    "an empty origin list would refuse every browser; list the allowed \
                     origins (`[\"https://example.com\"]`), or write `origin = any` to allow \
                     all",
                );
                return None;
            }
            let mut patterns = Vec::new();
            for lit in &list.items {
                let value = lit.value();
                if let Err(reason) = origin_pattern(&value) {
                    errors.at(
                        lit.span(),
                        format!(
                            "invalid origin pattern `{value}`: {reason} (e.g. \
                             \"https://example.com\", \"https://*.example.com\", \
                             \"http://localhost:3000\")"
                        ),
                    );
                } else {
                    patterns.push(value);
                }
            }
            Origin::List(patterns)
        }
    })
}

/// The rules of `ws_controller::origin::OriginAllowList`, from the grammar both crates share.
fn origin_pattern(pattern: &str) -> Result<(), &'static str> {
    ws_controller_origin::Pattern::parse(pattern).map(drop)
}

/// `compression_window_bits`: 9 to 15, and only with `compression = context_takeover` (the
/// lean mode keeps no window between messages, so it has none to size).
fn compression_window_bits(args: &Args, errors: &mut Errors) -> Option<u64> {
    let arg = args.compression_window_bits.as_ref()?;
    let takeover = args
        .compression
        .as_ref()
        .is_some_and(|c| c.value == crate::attr::CompressionArg::ContextTakeover);
    if !takeover {
        errors.at(
            arg.key.span(),
            "`compression_window_bits` sizes the window kept between messages: it needs \
             `compression = context_takeover`",
        );
        return None;
    }
    match arg.value.base10_parse::<u64>() {
        Ok(bits @ 9..=15) => Some(bits),
        _ => {
            errors.at(
                arg.value.span(),
                "`compression_window_bits` is 9 to 15 (a window of 2^bits bytes; zlib cannot \
                 compress raw deflate with 8)",
            );
            None
        }
    }
}

fn settings(args: &Args, errors: &mut Errors) -> Settings {
    let size = |arg: &Option<Keyed<syn::LitInt>>, errors: &mut Errors| -> Option<u64> {
        let lit = &arg.as_ref()?.value;
        let key = &arg.as_ref()?.key;
        if !matches!(lit.suffix(), "" | "usize") {
            errors.at(
                lit.span(),
                format!("`{key}` is a `usize`: remove the `{}` suffix", lit.suffix()),
            );
            return None;
        }
        match lit.base10_parse::<u64>() {
            Ok(0) => {
                errors.at(
                    lit.span(),
                    format!("`{key}` must be greater than zero (remove the key for the default)"),
                );
                None
            }
            Ok(n) => Some(n),
            Err(err) => {
                errors.at(lit.span(), format!("`{key}`: {err}"));
                None
            }
        }
    };
    let subprotocols = args
        .subprotocols
        .as_ref()
        .and_then(|arg| subprotocols(&arg.value, errors));
    Settings {
        max_message_size: size(&args.max_message_size, errors),
        read_buffer_size: size(&args.read_buffer_size, errors),
        write_buffer_size: size(&args.write_buffer_size, errors),
        send_queue: size(&args.send_queue, errors),
        send_queue_bytes: size(&args.send_queue_bytes, errors),
        slow_consumer: args.slow_consumer,
        compression: args.compression.as_ref().map(|arg| arg.value),
        compression_window_bits: compression_window_bits(args, errors),
        compression_threshold: args.compression_threshold.as_ref().and_then(|arg| {
            match arg.value.base10_parse::<u64>() {
                Ok(n) => Some(n),
                Err(err) => {
                    errors.at(arg.value.span(), format!("`compression_threshold`: {err}"));
                    None
                }
            }
        }),
        close_timeout: args
            .close_timeout
            .as_ref()
            .and_then(|arg| duration(&arg.value, &arg.key, false, errors)),
        ping_interval: args
            .ping_interval
            .as_ref()
            .and_then(|arg| duration_or_off(arg, errors)),
        idle_timeout: args
            .idle_timeout
            .as_ref()
            .and_then(|arg| duration_or_off(arg, errors)),
        subprotocols,
        debug: args.debug.as_ref().map(|b| b.value),
    }
}

fn subprotocols(list: &List, errors: &mut Errors) -> Option<Vec<String>> {
    if list.items.is_empty() {
        errors.spanned(
            &list.tokens,
            "the subprotocol list is empty: list at least one (`[\"chat.v1\"]`), or remove \
             the key",
        );
        return None;
    }
    let mut out: Vec<String> = Vec::new();
    for lit in &list.items {
        let value = lit.value();
        let is_tchar = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
        if value.is_empty() || !value.chars().all(is_tchar) {
            errors.at(
                lit.span(),
                format!(
                    "`{value}` is not a valid subprotocol name: it must be an RFC 7230 token \
                     (letters, digits and ! # $ % & ' * + - . ^ _ ` | ~; no spaces, commas or \
                     slashes), e.g. \"chat.v1\""
                ),
            );
        } else if out.contains(&value) {
            errors.at(lit.span(), format!("`{value}` is listed twice; remove one"));
        } else {
            out.push(value);
        }
    }
    Some(out)
}

fn duration_or_off(arg: &Keyed<DurationArg>, errors: &mut Errors) -> Option<Option<u64>> {
    match &arg.value {
        DurationArg::Off => Some(None),
        DurationArg::Lit(lit) => duration(lit, &arg.key, true, errors).map(Some),
    }
}

/// `"10s"`, `"500ms"`, `"2m"`, `"1h"` → milliseconds.
fn duration(lit: &LitStr, key: &Ident, can_be_off: bool, errors: &mut Errors) -> Option<u64> {
    let value = lit.value();
    let text = value.trim();
    let digits = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(digits);
    let scale = match unit.trim() {
        "ms" => Some(1),
        "s" => Some(1_000),
        "m" => Some(60_000),
        "h" => Some(3_600_000),
        _ => None,
    };
    let off = if can_be_off {
        "; or `off` (no quotes) to disable"
    } else {
        ""
    };
    let parsed = number.parse::<u64>().ok().zip(scale);
    match parsed {
        None => {
            errors.at(
                lit.span(),
                format!(
                    "`{key}`: `{value}` is not a duration; write a whole number and a unit \
                     (`ms`, `s`, `m` or `h`), e.g. \"10s\", \"500ms\", \"2m\"{off}"
                ),
            );
            None
        }
        Some((0, _)) => {
            errors.at(
                lit.span(),
                format!("`{key}` must be greater than zero{off}"),
            );
            None
        }
        Some((n, scale)) => match n.checked_mul(scale) {
            Some(ms) => Some(ms),
            None => {
                errors.at(lit.span(), format!("`{key}` is too large"));
                None
            }
        },
    }
}

/// Route syntax of axum 0.8: `/literal/{param}/{*rest}`. Also checks that a parameter can be
/// extracted, when that is knowable.
fn check_path(lit: &LitStr, has_style: bool, extractors: Option<&[Type]>, errors: &mut Errors) {
    let path = lit.value();
    if !path.starts_with('/') {
        errors.at(
            lit.span(),
            format!("the path must start with `/`: write \"/{path}\""),
        );
        return;
    }
    let mut params: Vec<String> = Vec::new();
    let mut problems: Vec<String> = Vec::new();
    let segments: Vec<&str> = path[1..].split('/').collect();
    let last = segments.len() - 1;
    let mut fixed_segments = Vec::new();
    let mut old_syntax = false;
    for (i, segment) in segments.iter().enumerate() {
        if let Some(name) = segment.strip_prefix(':') {
            old_syntax = true;
            fixed_segments.push(format!("{{{name}}}"));
            continue;
        }
        if let Some(name) = segment.strip_prefix('*') {
            old_syntax = true;
            fixed_segments.push(format!("{{*{name}}}"));
            continue;
        }
        fixed_segments.push((*segment).to_owned());
        // Scan braces: `{{` and `}}` are literal braces.
        let chars: Vec<char> = segment.chars().collect();
        let mut j = 0;
        while j < chars.len() {
            match chars[j] {
                '{' if chars.get(j + 1) == Some(&'{') => j += 2,
                '}' if chars.get(j + 1) == Some(&'}') => j += 2,
                '{' => {
                    let Some(len) = chars[j + 1..].iter().position(|&c| c == '}') else {
                        problems.push(format!(
                            "unclosed `{{` in segment `{segment}` (write `{{{{` for a literal brace)"
                        ));
                        break;
                    };
                    let inner: String = chars[j + 1..j + 1 + len].iter().collect();
                    let whole = j == 0 && j + len + 2 == chars.len();
                    let (catch_all, name) = match inner.strip_prefix('*') {
                        Some(name) => (true, name.to_owned()),
                        None => (false, inner.clone()),
                    };
                    let valid_name = name
                        .chars()
                        .next()
                        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                    if inner.contains('{') {
                        problems.push(format!("nested `{{` in segment `{segment}`"));
                    } else if !valid_name {
                        problems.push(format!(
                            "`{{{inner}}}` is not a valid parameter: a name is a Rust-like \
                             identifier, e.g. `{{room}}` or `{{*rest}}`"
                        ));
                    } else if !whole {
                        problems.push(format!(
                            "`{{{inner}}}` must be a whole path segment, like `/files/{{{inner}}}`"
                        ));
                    } else if catch_all && i != last {
                        problems.push(format!(
                            "the catch-all `{{{inner}}}` must be the last segment of the path"
                        ));
                    } else if params.contains(&name) {
                        problems.push(format!("the parameter `{name}` appears twice"));
                    } else {
                        params.push(name);
                    }
                    j += len + 2;
                }
                '}' => {
                    problems.push(format!(
                        "unmatched `}}` in segment `{segment}` (write `}}}}` for a literal brace)"
                    ));
                    break;
                }
                _ => j += 1,
            }
        }
    }
    if old_syntax {
        errors.at(
            lit.span(),
            format!(
                "axum 0.8 writes path parameters in braces: `{{name}}` instead of `:name`, \
                 `{{*rest}}` instead of `*rest`; write \"/{}\"",
                fixed_segments.join("/")
            ),
        );
        return;
    }
    for problem in &problems {
        errors.at(lit.span(), format!("invalid path \"{path}\": {problem}"));
    }
    if !problems.is_empty() || params.is_empty() || !has_style {
        return;
    }
    // A parameter nobody extracts is a route that can never be read; `Path` (or any extractor
    // whose name contains `Path`, like `RawPathParams` or a wrapper) reads them.
    let reads_path = extractors.is_some_and(|types| types.iter().any(mentions_path));
    if !reads_path {
        let (pattern, ty) = if params.len() == 1 {
            (params[0].clone(), "String".to_owned())
        } else {
            (
                format!("({})", params.join(", ")),
                format!(
                    "({})",
                    params
                        .iter()
                        .map(|_| "String")
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
        };
        let fix = match extractors {
            Some(_) => format!(
                "add `Path({pattern}): Path<{ty}>` (from `axum::extract`) to the parameters \
                 of the `#[on_open]` or `#[serve]` method"
            ),
            None => format!(
                "add an `#[on_open]` handler that takes it: `#[on_open] async fn open(&self, \
                 Path({pattern}): Path<{ty}>) -> Result<Session, Error>`"
            ),
        };
        errors.at(
            lit.span(),
            format!(
                "the path has {} but no handler extracts {}: {fix}",
                params
                    .iter()
                    .map(|p| format!("`{{{p}}}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
                if params.len() == 1 { "it" } else { "them" },
            ),
        );
    }
}

fn mentions_path(ty: &Type) -> bool {
    match ty {
        Type::Path(p) => p
            .path
            .segments
            .last()
            .is_some_and(|s| s.ident.to_string().contains("Path")),
        Type::Group(g) => mentions_path(&g.elem),
        Type::Paren(p) => mentions_path(&p.elem),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions() {
        assert_eq!(
            did_you_mean("on_txt", &["on_text", "on_json"]),
            Some("on_text")
        );
        assert_eq!(
            did_you_mean("max_msg_size", &["max_message_size", "send_queue"]),
            Some("max_message_size")
        );
        assert_eq!(did_you_mean("on_bin", &["on_binary"]), Some("on_binary"));
        assert_eq!(
            did_you_mean("inline", &["on_open", "on_close", "serve"]),
            None
        );
        assert_eq!(did_you_mean("test", &["serve"]), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn origin_patterns_follow_the_runtime_rules() {
        // The grammar itself is tested in `ws-controller-origin`; this checks the wiring.
        assert_eq!(origin_pattern("https://*.example.com"), Ok(()));
        assert!(origin_pattern("https://*.127.0.0.1").is_err());
    }

    fn ms(text: &str) -> Option<u64> {
        let lit = LitStr::new(text, Span::call_site());
        let key = Ident::new("close_timeout", Span::call_site());
        let mut errors = Errors::default();
        let out = duration(&lit, &key, true, &mut errors);
        assert_eq!(out.is_some(), errors.finish().is_ok());
        out
    }

    #[test]
    fn durations() {
        assert_eq!(ms("500ms"), Some(500));
        assert_eq!(ms("10s"), Some(10_000));
        assert_eq!(ms("2m"), Some(120_000));
        assert_eq!(ms("1h"), Some(3_600_000));
        for bad in ["0s", "10", "s", "1.5s", "10 seconds", "-1s", ""] {
            assert_eq!(ms(bad), None, "{bad}");
        }
    }

    fn path_errors(path: &str, extractors: Option<&[Type]>) -> usize {
        let lit = LitStr::new(path, Span::call_site());
        let mut errors = Errors::default();
        check_path(&lit, true, extractors, &mut errors);
        errors.finish().err().map_or(0, |e| e.into_iter().count())
    }

    #[test]
    fn paths() {
        let path: Vec<Type> = vec![syn::parse_quote!(axum::extract::Path<String>)];
        let raw: Vec<Type> = vec![syn::parse_quote!(RawPathParams)];
        let query: Vec<Type> = vec![syn::parse_quote!(Query<Q>)];
        assert_eq!(path_errors("/", None), 0);
        assert_eq!(path_errors("/chat/{room}", Some(&path)), 0);
        assert_eq!(path_errors("/files/{*rest}", Some(&raw)), 0);
        assert_eq!(path_errors("/lit/{{braces}}", None), 0);
        assert_eq!(path_errors("/chat/{room}", Some(&query)), 1);
        assert_eq!(path_errors("/chat/{room}", None), 1);
        assert_eq!(path_errors("chat", None), 1);
        assert_eq!(path_errors("/chat/:room", Some(&path)), 1);
        assert_eq!(path_errors("/files/*rest", Some(&path)), 1);
        assert_eq!(path_errors("/a/{x}/{x}", Some(&path)), 1);
        assert_eq!(path_errors("/a/{*x}/b", Some(&path)), 1);
        assert_eq!(path_errors("/a/b{x}", Some(&path)), 1);
        assert_eq!(path_errors("/a/{x-y}", Some(&path)), 1);
        assert_eq!(path_errors("/a/{x", Some(&path)), 1);
        assert_eq!(path_errors("/a/x}", Some(&path)), 1);
    }
}
