//! Parses the `impl` block into [`Controller`]: its methods marked as handlers or hooks, with
//! their signatures split into receiver and typed parameters.
//!
//! Marker attributes (`#[on_text]`, ...) are removed from the methods here so the impl can be
//! emitted again unchanged otherwise (doc comments, `#[allow]`, `#[tracing::instrument]` stay).

use syn::spanned::Spanned;
use syn::{Attribute, FnArg, Ident, ImplItem, ImplItemFn, Item, ItemImpl, LitStr, Signature, Type};

use crate::diagnostics::{did_you_mean, Errors};

/// What a marked method is.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    Open,
    Text,
    Json,
    Binary,
    Event,
    Close,
    Serve,
    CheckOrigin,
    UpgradeHeaders,
    OnError,
    OnUpgradeError,
    Hub,
}

impl Kind {
    pub const ALL: [Kind; 12] = [
        Kind::Open,
        Kind::Text,
        Kind::Json,
        Kind::Binary,
        Kind::Event,
        Kind::Close,
        Kind::Serve,
        Kind::CheckOrigin,
        Kind::UpgradeHeaders,
        Kind::OnError,
        Kind::OnUpgradeError,
        Kind::Hub,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Open => "on_open",
            Kind::Text => "on_text",
            Kind::Json => "on_json",
            Kind::Binary => "on_binary",
            Kind::Event => "on_event",
            Kind::Close => "on_close",
            Kind::Serve => "serve",
            Kind::CheckOrigin => "check_origin",
            Kind::UpgradeHeaders => "upgrade_headers",
            Kind::OnError => "on_error",
            Kind::OnUpgradeError => "on_upgrade_error",
            Kind::Hub => "hub",
        }
    }

    fn from_name(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// Hooks are plain `fn`s called during the upgrade or by the serve driver; the rest are
    /// `async fn` handlers.
    pub fn is_hook(self) -> bool {
        matches!(
            self,
            Kind::CheckOrigin
                | Kind::UpgradeHeaders
                | Kind::OnError
                | Kind::OnUpgradeError
                | Kind::Hub
        )
    }
}

/// How a parameter's type is written, which decides its role in a handler.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Shape {
    /// `&T`
    Shared,
    /// `&mut T`
    Mut,
    /// `T`
    Value,
}

/// A typed (non-receiver) parameter.
pub struct Param {
    /// The whole `pat: Type`, for error spans.
    pub arg: syn::PatType,
    pub ty: Type,
    pub shape: Shape,
}

/// How the method takes `self`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Receiver {
    /// `&self`
    Shared,
    /// `&mut self`
    Mut,
    /// `self`, `mut self`, `self: Box<Self>`, ...
    Other,
}

/// A method carrying one of the marker attributes.
pub struct Handler {
    pub kind: Kind,
    /// The marker attribute's name, for spans.
    pub marker: Ident,
    pub sig: Signature,
    /// The event of an `#[on_event("name")]` handler.
    pub event: Option<LitStr>,
    pub receiver: Option<(Receiver, syn::Receiver)>,
    pub params: Vec<Param>,
}

impl Handler {
    pub fn name(&self) -> &Ident {
        &self.sig.ident
    }
}

/// The parsed `impl` block.
pub struct Controller {
    /// The impl, with marker attributes removed.
    pub item: ItemImpl,
    pub handlers: Vec<Handler>,
}

/// Parses the item the attribute is on. Fails (without partial result) when it is not an
/// inherent `impl` block; problems inside the block are pushed into `errors`.
pub fn parse(item: Item, errors: &mut Errors) -> syn::Result<Controller> {
    const HOW: &str = "put it on an inherent `impl` block: \
                       `#[ws_controller(path = \"/chat\")] impl Chat { ... }`";
    let mut item = match item {
        Item::Impl(item) => item,
        Item::Struct(s) => {
            return Err(syn::Error::new(
                s.struct_token.span,
                format!("`#[ws_controller]` does not go on a struct; {HOW}"),
            ))
        }
        Item::Enum(e) => {
            return Err(syn::Error::new(
                e.enum_token.span,
                format!("`#[ws_controller]` does not go on an enum; {HOW}"),
            ))
        }
        Item::Fn(f) => {
            return Err(syn::Error::new(
                f.sig.fn_token.span,
                format!("`#[ws_controller]` does not go on a function; {HOW}"),
            ))
        }
        other => {
            return Err(syn::Error::new(
                other.span(),
                format!("`#[ws_controller]` goes on an `impl` block; {HOW}"),
            ))
        }
    };
    if let Some((_, path, for_token)) = &item.trait_ {
        return Err(syn::Error::new_spanned(
            quote::quote!(#path #for_token),
            format!(
                "`#[ws_controller]` does not go on a trait impl: it writes the \
                 `Controller` impl itself; {HOW}"
            ),
        ));
    }
    if let Some(unsafety) = &item.unsafety {
        errors.push(syn::Error::new(
            unsafety.span,
            "a controller impl cannot be `unsafe`; remove `unsafe`",
        ));
    }

    let mut handlers = Vec::new();
    for impl_item in &mut item.items {
        match impl_item {
            ImplItem::Fn(method) => {
                if let Some(handler) = take_markers(method, errors) {
                    handlers.push(handler);
                }
            }
            ImplItem::Const(c) => reject_markers(&mut c.attrs, errors),
            ImplItem::Type(t) => reject_markers(&mut t.attrs, errors),
            _ => {}
        }
    }
    Ok(Controller { item, handlers })
}

/// The marker named by an attribute, if it is one (`#[on_text]`, not `#[foo::on_text]`).
fn marker_kind(attr: &Attribute) -> Option<(Kind, Ident)> {
    let ident = attr.path().get_ident()?;
    Kind::from_name(&ident.to_string()).map(|k| (k, ident.clone()))
}

fn marker_names() -> Vec<&'static str> {
    Kind::ALL.iter().map(|k| k.name()).collect()
}

fn reject_markers(attrs: &mut Vec<Attribute>, errors: &mut Errors) {
    attrs.retain(|attr| match marker_kind(attr) {
        Some((kind, ident)) => {
            errors.push(syn::Error::new(
                ident.span(),
                format!("`#[{}]` goes on a method of the impl", kind.name()),
            ));
            false
        }
        None => true,
    });
}

/// Removes the marker attributes of `method` and returns the handler they make of it.
fn take_markers(method: &mut ImplItemFn, errors: &mut Errors) -> Option<Handler> {
    let mut found: Option<(Kind, Ident)> = None;
    let mut event = None;
    let mut kept = Vec::with_capacity(method.attrs.len());
    for attr in std::mem::take(&mut method.attrs) {
        let Some((kind, ident)) = marker_kind(&attr) else {
            // A reported misspelling is dropped, so the compiler does not report it again.
            if !misspelled(&attr, errors) {
                kept.push(attr);
            }
            continue;
        };
        if kind == Kind::Event {
            if found.is_none() {
                event = event_name(&attr, errors);
            }
        } else if !matches!(attr.meta, syn::Meta::Path(_)) {
            errors.push(syn::Error::new_spanned(
                &attr.meta,
                format!(
                    "`#[{}]` takes no arguments: write `#[{}]`",
                    kind.name(),
                    kind.name()
                ),
            ));
        }
        match &found {
            Some((first, _)) => errors.push(syn::Error::new(
                ident.span(),
                format!(
                    "`{}` is already marked `#[{}]`; a method has one role: split it into \
                     two methods",
                    method.sig.ident,
                    first.name()
                ),
            )),
            None => found = Some((kind, ident)),
        }
    }
    method.attrs = kept;
    let (kind, marker) = found?;

    let mut receiver = None;
    let mut params = Vec::new();
    for input in &method.sig.inputs {
        match input {
            FnArg::Receiver(r) => {
                let shape = match (&r.reference, r.mutability, r.colon_token) {
                    (Some(_), None, None) => Receiver::Shared,
                    (Some(_), Some(_), None) => Receiver::Mut,
                    _ => Receiver::Other,
                };
                receiver = Some((shape, r.clone()));
            }
            FnArg::Typed(t) => {
                let shape = match &*t.ty {
                    Type::Reference(r) if r.mutability.is_some() => Shape::Mut,
                    Type::Reference(_) => Shape::Shared,
                    _ => Shape::Value,
                };
                params.push(Param {
                    arg: t.clone(),
                    ty: (*t.ty).clone(),
                    shape,
                });
            }
        }
    }
    Some(Handler {
        kind,
        marker,
        sig: method.sig.clone(),
        event,
        receiver,
        params,
    })
}

/// The name in `#[on_event("bid")]`.
fn event_name(attr: &Attribute, errors: &mut Errors) -> Option<LitStr> {
    const HOW: &str = "`#[on_event(\"bid\")]`";
    let list = match &attr.meta {
        syn::Meta::List(list) => list,
        syn::Meta::Path(path) => {
            errors.spanned(
                path,
                format!("`#[on_event]` needs the event's name, as a string: {HOW}"),
            );
            return None;
        }
        syn::Meta::NameValue(meta) => {
            errors.spanned(
                meta.eq_token,
                format!("`#[on_event]` takes the event's name in parentheses: {HOW}"),
            );
            return None;
        }
    };
    match syn::parse2::<LitStr>(list.tokens.clone()) {
        Ok(name) => Some(name),
        Err(_) if list.tokens.is_empty() => {
            errors.at(
                list.delimiter.span().join(),
                format!("`#[on_event]` needs the event's name, as a string: {HOW}"),
            );
            None
        }
        Err(_) => {
            errors.spanned(
                &list.tokens,
                format!("the event's name is a string literal: {HOW}"),
            );
            None
        }
    }
}

/// `#[on_txt]` → "did you mean `on_text`?". Attributes that are far from every marker (and
/// paths like `#[tracing::instrument]`) are someone else's and left alone.
fn misspelled(attr: &Attribute, errors: &mut Errors) -> bool {
    let Some(ident) = attr.path().get_ident() else {
        return false;
    };
    let name = ident.to_string();
    let names = marker_names();
    if let Some(close) = did_you_mean(&name, &names) {
        errors.push(syn::Error::new(
            ident.span(),
            format!(
                "unknown handler attribute `#[{name}]`; did you mean `#[{close}]`? \
                 (the markers are {})",
                list(&names)
            ),
        ));
        true
    } else if name.starts_with("on_") {
        errors.push(syn::Error::new(
            ident.span(),
            format!(
                "unknown handler attribute `#[{name}]`; the markers are {}",
                list(&names)
            ),
        ));
        true
    } else {
        false
    }
}

fn list(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("`#[{n}]`"))
        .collect::<Vec<_>>()
        .join(", ")
}
