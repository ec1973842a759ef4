//! The signature of each handler and hook: receiver, parameter roles, return type.
//!
//! Roles follow from a parameter's form: a leading `&T` is the connection, a `&mut T` the
//! session, owned values are extractors, and the last parameter is the message.

use syn::{LitStr, Type};

use crate::ast::{Handler, Kind, Param, Receiver, Shape};
use crate::diagnostics::Errors;
use crate::model::{CloseFn, EventFn, ExtractorArg, MessageFn, OpenFn, Output, ServeFn};

/// `async` for handlers, plain `fn` for hooks, `&self`, no generics.
pub fn check_form(handler: &Handler, errors: &mut Errors) {
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

/// Every extractor type of the controller, once each: several handlers taking `State<Db>`
/// share one extraction.
#[derive(Default)]
pub struct Registry {
    types: Vec<Type>,
    keys: Vec<String>,
}

impl Registry {
    fn add(&mut self, ty: &Type) -> ExtractorArg {
        let key = quote::ToTokens::to_token_stream(ty).to_string();
        let index = match self.keys.iter().position(|k| *k == key) {
            Some(index) => index,
            None => {
                self.keys.push(key);
                self.types.push(ty.clone());
                self.types.len() - 1
            }
        };
        ExtractorArg {
            index,
            ty: ty.clone(),
        }
    }

    pub fn into_types(self) -> Vec<Type> {
        self.types
    }
}

/// The last path segment's name, for the checks that go by a type's name.
fn type_name(ty: &Type) -> Option<String> {
    match ty {
        Type::Path(p) => p.path.segments.last().map(|s| s.ident.to_string()),
        Type::Group(g) => type_name(&g.elem),
        Type::Paren(p) => type_name(&p.elem),
        Type::Reference(r) => type_name(&r.elem),
        _ => None,
    }
}

/// Extractors read the upgrade request, which has no body: the well-known body extractors
/// are refused here, on their token (the trait bound would only fail where the router is
/// built).
fn extractor(
    p: &Param,
    handler: &str,
    registry: &mut Registry,
    errors: &mut Errors,
) -> ExtractorArg {
    const BODY: &[&str] = &[
        "String",
        "Bytes",
        "Json",
        "Form",
        "RawForm",
        "Body",
        "Request",
        "Multipart",
        "Vec",
    ];
    if let Some(name) = type_name(&p.ty).filter(|n| BODY.contains(&n.as_str())) {
        errors.spanned(
            &p.ty,
            format!(
                "`{name}` reads a request body, but a WebSocket upgrade request has none: the \
                 extractors of `#[{handler}]` run on the upgrade request and are \
                 `FromRequestParts` types (`Path`, `Query`, `State`, `HeaderMap`, ...)"
            ),
        );
    }
    registry.add(&p.ty)
}

/// A reference that is not in the first place, where the connection goes.
fn misplaced_reference(p: &Param, signature: &str, errors: &mut Errors) {
    if type_name(&p.ty).is_some_and(|n| n == "Conn" || n == "Sender") {
        errors.spanned(
            &p.arg,
            format!("the connection comes first, right after `&self`: {signature}"),
        );
    } else {
        errors.spanned(
            &p.arg,
            format!(
                "unexpected reference: only the connection (`&Conn`, first) and the session \
                 (`&mut Session`, after it) are borrowed; extractors are owned values: \
                 {signature}"
            ),
        );
    }
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

/// The connection, session and extractors before a message handler's message.
struct Leading {
    conn: Option<Type>,
    session: Option<Type>,
    extractors: Vec<ExtractorArg>,
}

fn leading(
    params: &[Param],
    handler: &str,
    has_session: bool,
    signature: &str,
    registry: &mut Registry,
    errors: &mut Errors,
) -> Option<Leading> {
    let mut out = Leading {
        conn: None,
        session: None,
        extractors: Vec::new(),
    };
    let mut ok = true;
    for (i, p) in params.iter().enumerate() {
        match p.shape {
            Shape::Shared if i == 0 => out.conn = Some(p.ty.clone()),
            Shape::Shared => {
                misplaced_reference(p, signature, errors);
                ok = false;
            }
            Shape::Mut if !has_session => {
                no_session(p, handler, errors);
                ok = false;
            }
            Shape::Mut if out.session.is_some() || !out.extractors.is_empty() => {
                errors.spanned(
                    &p.arg,
                    format!(
                        "the session comes once, after the connection and before the \
                         extractors: {signature}"
                    ),
                );
                ok = false;
            }
            Shape::Mut => out.session = Some(p.ty.clone()),
            Shape::Value => out.extractors.push(extractor(p, handler, registry, errors)),
        }
    }
    ok.then_some(out)
}

pub fn open_fn(h: &Handler, registry: &mut Registry, errors: &mut Errors) -> Option<OpenFn> {
    let signature = format!(
        "`async fn {}(&self, [conn: &Conn,] extractors...) -> Result<Session, Error>`",
        h.name()
    );
    let mut conn = None;
    let mut extractors = Vec::new();
    let mut ok = true;
    for (i, p) in h.params.iter().enumerate() {
        match p.shape {
            Shape::Shared if i == 0 => conn = Some(p.ty.clone()),
            Shape::Shared => {
                misplaced_reference(p, &signature, errors);
                ok = false;
            }
            Shape::Mut => {
                errors.spanned(
                    &p.arg,
                    format!(
                        "`#[on_open]` creates the session (its return value) and takes none: \
                         {signature}"
                    ),
                );
                ok = false;
            }
            Shape::Value => extractors.push(extractor(p, "on_open", registry, errors)),
        }
    }
    ok.then(|| OpenFn {
        name: h.name().clone(),
        conn,
        extractors,
        output: Output::of(h),
    })
}

pub fn serve_fn(h: &Handler, registry: &mut Registry, errors: &mut Errors) -> Option<ServeFn> {
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
    let mut extractors = Vec::new();
    for p in rest {
        if p.shape == Shape::Value {
            extractors.push(extractor(p, "serve", registry, errors));
        } else {
            errors.spanned(
                &p.ty,
                "`#[serve]` extractors are owned values (`Path<String>`, `State<Db>`, \
                 `Query<Params>`, ...), not references",
            );
        }
    }
    Some(ServeFn {
        name: h.name().clone(),
        conn_ty: conn.ty.clone(),
        extractors,
        output: Output::of(h),
    })
}

pub fn message_fn(
    h: &Handler,
    has_session: bool,
    registry: &mut Registry,
    errors: &mut Errors,
) -> Option<MessageFn> {
    let name = h.kind.name();
    let what = match h.kind {
        Kind::Text => "text: String",
        Kind::Binary => "data: Bytes",
        _ => "command: Command",
    };
    let signature = format!(
        "`async fn {}(&self, [conn: &Conn,] [session: &mut Session,] [extractors...,] {what})`",
        h.name()
    );
    let Some((message, params)) = h.params.split_last() else {
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
    let leading = leading(params, name, has_session, &signature, registry, errors)?;
    ok.then(|| MessageFn {
        name: h.name().clone(),
        conn: leading.conn,
        session: leading.session,
        extractors: leading.extractors,
        message: message.ty.clone(),
        output: Output::of(h),
    })
}

pub fn event_fn(
    h: &Handler,
    event: LitStr,
    has_session: bool,
    registry: &mut Registry,
    errors: &mut Errors,
) -> Option<EventFn> {
    let signature = format!(
        "`async fn {}(&self, [conn: &Conn,] [session: &mut Session,] [extractors...,] [data: \
         Data])`",
        h.name()
    );
    let (data, params) = match h.params.split_last() {
        Some((last, rest)) if last.shape == Shape::Value => (Some(last.ty.clone()), rest),
        _ => (None, &h.params[..]),
    };
    let leading = leading(
        params,
        "on_event",
        has_session,
        &signature,
        registry,
        errors,
    )?;
    Some(EventFn {
        name: h.name().clone(),
        event,
        conn: leading.conn,
        session: leading.session,
        extractors: leading.extractors,
        data,
        output: Output::of(h),
    })
}

pub fn close_fn(
    h: &Handler,
    has_session: bool,
    registry: &mut Registry,
    errors: &mut Errors,
) -> Option<CloseFn> {
    let signature = format!(
        "`async fn {}(&self, [conn: &Conn,] [session: Session,] [extractors...,] status: \
         CloseStatus, reason: &str)`",
        h.name()
    );
    if h.params.len() < 2 {
        errors.at(
            h.sig.paren_token.span.join(),
            format!("`#[on_close]` ends with the close status and reason: {signature}"),
        );
        return None;
    }
    let (params, tail) = h.params.split_at(h.params.len() - 2);
    let mut conn = None;
    let mut session = None;
    let mut extractors = Vec::new();
    let mut ok = true;
    for (i, p) in params.iter().enumerate() {
        match p.shape {
            Shape::Shared if i == 0 => conn = Some(p.ty.clone()),
            Shape::Shared => {
                misplaced_reference(p, &signature, errors);
                ok = false;
            }
            Shape::Mut => {
                let fix = if has_session {
                    "the connection is closed, so `#[on_close]` takes the session by value"
                } else {
                    "there is no session without an `#[on_open]` handler"
                };
                errors.spanned(&p.arg, format!("{fix}: {signature}"));
                ok = false;
            }
            Shape::Value if has_session && session.is_none() && extractors.is_empty() => {
                session = Some(p.ty.clone());
            }
            Shape::Value => extractors.push(extractor(p, "on_close", registry, errors)),
        }
    }
    ok.then(|| CloseFn {
        name: h.name().clone(),
        conn,
        session,
        extractors,
        status: tail[0].ty.clone(),
        reason: tail[1].ty.clone(),
        output: Output::of(h),
    })
}
