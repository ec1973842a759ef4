//! The parsers of single attribute values: literals, lists, policies and durations, each
//! with an error that shows what to write instead.

use syn::{Expr, ExprArray, ExprLit, Ident, Lit, LitBool, LitInt, LitStr};

use super::{CompressionArg, DurationArg, List, OriginArg, RateLimitActionArg, SlowConsumerArg};
use crate::diagnostics::Errors;

pub(super) fn slow_consumer(value: &Expr) -> syn::Result<SlowConsumerArg> {
    let policy = match value {
        Expr::Path(path) if path.attrs.is_empty() && path.qself.is_none() => {
            path.path.get_ident().map(Ident::to_string)
        }
        _ => None,
    };
    match policy.as_deref() {
        Some("close") => Ok(SlowConsumerArg::Close),
        Some("drop_newest") => Ok(SlowConsumerArg::DropNewest),
        Some("wait") => Ok(SlowConsumerArg::Wait),
        _ => Err(syn::Error::new_spanned(
            value,
            "`slow_consumer` is one of `close` (1008 when a broadcast finds the queue full), \
             `drop_newest` or `wait`: write e.g. `slow_consumer = drop_newest`",
        )),
    }
}

pub(super) fn rate_limit_action(value: &Expr) -> syn::Result<RateLimitActionArg> {
    match single_ident(value).map(Ident::to_string).as_deref() {
        Some("close") => Ok(RateLimitActionArg::Close),
        Some("drop") => Ok(RateLimitActionArg::Drop),
        _ => Err(syn::Error::new_spanned(
            value,
            "`rate_limit_action` is `close` (1008 \"rate limit exceeded\", the default) or \
             `drop` (messages over the limit are dropped): write e.g. `rate_limit_action = drop`",
        )),
    }
}

pub(super) fn compression(value: &Expr) -> syn::Result<CompressionArg> {
    let mode = match value {
        Expr::Path(path) if path.attrs.is_empty() && path.qself.is_none() => {
            path.path.get_ident().map(Ident::to_string)
        }
        _ => None,
    };
    match mode.as_deref() {
        Some("off") => Ok(CompressionArg::Off),
        Some("on") => Ok(CompressionArg::On),
        Some("context_takeover") => Ok(CompressionArg::ContextTakeover),
        _ => Err(syn::Error::new_spanned(
            value,
            "`compression` is one of `off` (the default), `on` (permessage-deflate without \
             context takeover: no memory per idle connection) or `context_takeover` (best \
             ratio, state per connection): write e.g. `compression = on`",
        )),
    }
}

fn lit(value: &Expr) -> Option<&Lit> {
    match value {
        Expr::Lit(ExprLit { lit, attrs }) if attrs.is_empty() => Some(lit),
        Expr::Group(group) => lit(&group.expr),
        _ => None,
    }
}

pub(super) fn string(value: &Expr, key: &str, example: &str) -> syn::Result<LitStr> {
    match lit(value) {
        Some(Lit::Str(s)) => Ok(s.clone()),
        _ => Err(syn::Error::new_spanned(
            value,
            format!(
                "`{key}` must be a string literal (it is checked at compile time), \
                 e.g. `{key} = {example}`"
            ),
        )),
    }
}

pub(super) fn int(value: &Expr, key: &str) -> syn::Result<LitInt> {
    let (a, b) = match key {
        "max_connections" => ("10_000", "100_000"),
        "max_connections_per_client" => ("8", "64"),
        _ => ("65536", "1_048_576"),
    };
    match lit(value) {
        Some(Lit::Int(i)) => Ok(i.clone()),
        _ => Err(syn::Error::new_spanned(
            value,
            format!("`{key}` must be an integer literal, e.g. `{key} = {a}` or `{key} = {b}`"),
        )),
    }
}

pub(super) fn boolean(value: &Expr, key: &str) -> syn::Result<LitBool> {
    match lit(value) {
        Some(Lit::Bool(b)) => Ok(b.clone()),
        _ => Err(syn::Error::new_spanned(
            value,
            format!("`{key}` must be `true` or `false`"),
        )),
    }
}

pub(super) fn list(value: &Expr, key: &str, example: &str) -> syn::Result<List> {
    let Expr::Array(ExprArray { elems, .. }) = value else {
        return Err(syn::Error::new_spanned(
            value,
            format!("`{key}` must be a list of string literals, e.g. `{key} = {example}`"),
        ));
    };
    let mut errors = Errors::default();
    let mut items = Vec::new();
    for elem in elems {
        match lit(elem) {
            Some(Lit::Str(s)) => items.push(s.clone()),
            _ => errors.push(syn::Error::new_spanned(
                elem,
                format!("`{key}` entries must be string literals, e.g. `{key} = {example}`"),
            )),
        }
    }
    errors.finish()?;
    Ok(List {
        tokens: quote::ToTokens::to_token_stream(value),
        items,
    })
}

fn single_ident(value: &Expr) -> Option<&Ident> {
    match value {
        Expr::Path(p) if p.attrs.is_empty() && p.qself.is_none() => p.path.get_ident(),
        _ => None,
    }
}

pub(super) fn origin(value: &Expr) -> syn::Result<OriginArg> {
    if let Some(ident) = single_ident(value) {
        if ident == "same_host" {
            return Ok(OriginArg::SameHost);
        }
        if ident == "any" {
            return Ok(OriginArg::Any);
        }
    }
    match value {
        Expr::Array(_) => list(
            value,
            "origin",
            "[\"https://example.com\", \"https://*.example.com\"]",
        )
        .map(OriginArg::List),
        Expr::Path(p) if p.attrs.is_empty() && p.qself.is_none() => {
            Ok(OriginArg::Fn(p.path.clone()))
        }
        _ => Err(syn::Error::new_spanned(
            value,
            "`origin` must be `same_host` (the default), `any`, a list of patterns like \
             `[\"https://example.com\", \"https://*.example.com\"]`, or the path of a \
             function `fn(&axum::http::request::Parts) -> bool`",
        )),
    }
}

pub(super) fn duration_or_off(value: &Expr, key: &str) -> syn::Result<DurationArg> {
    if let Some(ident) = single_ident(value) {
        if ident == "off" {
            return Ok(DurationArg::Off);
        }
    }
    match lit(value) {
        Some(Lit::Str(s)) => Ok(DurationArg::Lit(s.clone())),
        _ => Err(syn::Error::new_spanned(
            value,
            format!(
                "`{key}` must be a duration string like `\"30s\"`, `\"500ms\"`, `\"2m\"`, or `off`"
            ),
        )),
    }
}
