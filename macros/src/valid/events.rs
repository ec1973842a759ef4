//! Event controllers: event names, the envelope's field names, and the AsyncAPI keys.

use syn::Type;

use crate::ast::{Controller, Handler};
use crate::attr::{Args, FIELD_KEYS};
use crate::diagnostics::Errors;
use crate::model::{AsyncApi, Emit, EventFn, Style};
use crate::valid::signatures::{event_fn, Registry};

/// The `#[on_event]` handlers, each event named once.
pub fn event_fns(
    handlers: &[&Handler],
    has_session: bool,
    registry: &mut Registry,
    errors: &mut Errors,
) -> Vec<EventFn> {
    let mut out: Vec<EventFn> = Vec::new();
    for handler in handlers {
        let Some(event) = handler.event.clone() else {
            // `#[on_event]` without a usable name was reported by the parser.
            continue;
        };
        let name = event.value();
        if name.is_empty() {
            errors.at(
                event.span(),
                "an event needs a name: `#[on_event(\"bid\")]`",
            );
            continue;
        }
        // The protocol's own events (room history's `$joined`, planned) share the namespace.
        if let Some(rest) = name.strip_prefix('$') {
            let rest = if rest.is_empty() { "bid" } else { rest };
            errors.at(
                event.span(),
                format!(
                    "event names starting with `$` are reserved for the protocol's own events: \
                     rename it, e.g. `#[on_event(\"{rest}\")]`"
                ),
            );
            continue;
        }
        if let Some(first) = out.iter().find(|e| e.event.value() == name) {
            errors.at(
                event.span(),
                format!(
                    "event `{name}` already has a handler: `{}`; one handler per event",
                    first.name
                ),
            );
            continue;
        }
        if let Some(handler) = event_fn(handler, event, has_session, registry, errors) {
            out.push(handler);
        }
    }
    out
}

/// The envelope's field names: the `*_field` keys, or the defaults.
pub fn fields(args: &Args, has_events: bool, errors: &mut Errors) -> [String; 4] {
    let mut names: [String; 4] = FIELD_KEYS.map(|(_, default)| default.to_owned());
    for (slot, arg) in args.fields.iter().enumerate() {
        let Some(arg) = arg else { continue };
        if !has_events {
            errors.at(
                arg.key.span(),
                format!(
                    "`{}` names a field of the event envelope, which only `#[on_event]` \
                     handlers use: add one, or remove this key",
                    arg.key
                ),
            );
            continue;
        }
        let value = arg.value.value();
        if value.is_empty() {
            errors.at(arg.value.span(), format!("`{}` cannot be empty", arg.key));
            continue;
        }
        names[slot] = value;
    }
    // A given name may clash with another given one or with a default.
    for (i, arg) in args.fields.iter().enumerate() {
        let Some(arg) = arg else { continue };
        let clash =
            (0..4).find(|&j| j != i && names[j] == names[i] && (j < i || args.fields[j].is_none()));
        if let Some(j) = clash.filter(|_| !names[i].is_empty()) {
            errors.at(
                arg.value.span(),
                format!(
                    "`{}` and `{}` are both \"{}\": every envelope field needs its own name",
                    arg.key, FIELD_KEYS[j].0, names[i]
                ),
            );
        }
    }
    names
}

/// `asyncapi = true` and `emits = [..]`.
pub fn asyncapi(
    args: &Args,
    controller: &Controller,
    style: &Option<Style>,
    errors: &mut Errors,
) -> Option<AsyncApi> {
    let enabled = args.asyncapi.as_ref().filter(|a| a.value.value);
    let events: &[EventFn] = match style {
        Some(Style::Handlers(h)) => &h.events,
        _ => &[],
    };
    let has_events = controller
        .handlers
        .iter()
        .any(|h| h.kind == crate::ast::Kind::Event);
    let mut emits = Vec::new();
    if let Some(arg) = &args.emits {
        if enabled.is_none() {
            errors.at(
                arg.key.span(),
                "`emits` describes the controller's pushes in its AsyncAPI document: add \
                 `asyncapi = true`",
            );
        }
        for entry in &arg.value {
            match (&entry.event, has_events) {
                (None, true) => errors.spanned(
                    &entry.ty,
                    "an event controller pushes events: name this one, e.g. `\"price\": Price`",
                ),
                (Some(event), false) => errors.at(
                    event.span(),
                    "only event controllers (with `#[on_event]` handlers) push named events; \
                     list the type of the JSON message alone, e.g. `emits = [Update]`",
                ),
                (Some(event), true) if event.value().is_empty() => errors.at(
                    event.span(),
                    "an event needs a name, e.g. `\"price\": Price`",
                ),
                (Some(event), true)
                    if emits.iter().any(|e: &Emit| {
                        e.event.as_ref().is_some_and(|n| n.value() == event.value())
                    }) =>
                {
                    errors.at(
                        event.span(),
                        format!("`{}` is listed twice; remove one", event.value()),
                    )
                }
                _ => emits.push(Emit {
                    event: entry.event.clone(),
                    ty: entry.ty.clone(),
                }),
            }
        }
    }
    let enabled = enabled?;
    let plain = match style {
        Some(Style::Handlers(h)) => [&h.text, &h.json, &h.binary]
            .into_iter()
            .flatten()
            .map(|f| &f.output)
            .collect(),
        _ => Vec::new(),
    };
    for output in events.iter().map(|e| &e.output).chain(plain) {
        if output.ty.is_none() {
            errors.at(
                output.span,
                "the AsyncAPI document describes this handler's reply from its type: name \
                 the return type instead of `impl Trait`",
            );
        }
    }
    let channel = match &*controller.item.self_ty {
        Type::Path(p) => p.path.segments.last().map(|s| s.ident.to_string()),
        _ => None,
    }
    .unwrap_or_else(|| "controller".to_owned());
    Some(AsyncApi {
        key: enabled.key.span(),
        channel,
        emits,
    })
}
