//! Validation: checks the attribute arguments and the handlers against every rule, reporting
//! all problems at once (each on the offending tokens, each saying how to fix it), and
//! produces the [`Model`] that `expand` turns into code.

mod events;
mod hooks;
mod path;
mod settings;
mod signatures;

use proc_macro2::Span;
use syn::Ident;

use crate::ast::{Controller, Handler, Kind};
use crate::attr::Args;
use crate::diagnostics::Errors;
use crate::model::{Handlers, Hooks, Model, Style};
use signatures::Registry;

/// Validates everything, pushing every problem into `errors`; the model is only meaningful
/// when `errors` stays empty.
pub fn validate(args: &Args, controller: &Controller, errors: &mut Errors) -> Option<Model> {
    let settings = settings::settings(args, errors);
    let seen = one_per_role(&controller.handlers, errors);
    let find = |kind: Kind| seen.iter().copied().find(|h| h.kind == kind);
    let events: Vec<&Handler> = seen
        .iter()
        .copied()
        .filter(|h| h.kind == Kind::Event)
        .collect();

    // Serve style or declarative style, not both; and at least one of them.
    let serve = find(Kind::Serve);
    if let Some(serve) = serve {
        for other in seen.iter().filter(|h| {
            matches!(
                h.kind,
                Kind::Open | Kind::Text | Kind::Json | Kind::Binary | Kind::Event | Kind::Close
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
    } else if !seen.iter().any(|h| {
        matches!(
            h.kind,
            Kind::Open | Kind::Text | Kind::Json | Kind::Binary | Kind::Event
        )
    }) {
        errors.spanned(
            &controller.item.self_ty,
            "this controller has no handlers: mark a method `#[on_text]`, `#[on_json]`, \
             `#[on_binary]`, `#[on_event(\"name\")]` or `#[on_open]` (e.g. `#[on_text] async \
             fn said(&self, text: String) -> String { text }`), or own the connection with \
             `#[serve] async fn serve(&self, conn: Conn) -> Result<(), Error>`",
        );
    }
    for handler in &seen {
        signatures::check_form(handler, errors);
    }

    let has_session = find(Kind::Open).is_some();
    let mut registry = Registry::default();
    let style = match serve {
        Some(serve) => {
            signatures::serve_fn(serve, &mut registry, errors).map(|s| Style::Serve(Box::new(s)))
        }
        None => {
            let open = find(Kind::Open).map(|h| signatures::open_fn(h, &mut registry, errors));
            let message = |kind: Kind, registry: &mut Registry, errors: &mut Errors| {
                find(kind).map(|h| signatures::message_fn(h, has_session, registry, errors))
            };
            let text = message(Kind::Text, &mut registry, errors);
            let json = message(Kind::Json, &mut registry, errors);
            let binary = message(Kind::Binary, &mut registry, errors);
            let event_fns = events::event_fns(&events, has_session, &mut registry, errors);
            let close = find(Kind::Close)
                .map(|h| signatures::close_fn(h, has_session, &mut registry, errors));
            let fields = events::fields(args, !events.is_empty(), errors);
            // A wrong signature has been reported; the model is then not expanded.
            Some(Style::Handlers(Box::new(Handlers {
                open: open.flatten(),
                text: text.flatten(),
                json: json.flatten(),
                binary: binary.flatten(),
                events: event_fns,
                close: close.flatten(),
                fields,
            })))
        }
    };
    if serve.is_some() {
        events::fields(args, false, errors);
    }

    let hook = |kind: Kind, errors: &mut Errors| find(kind).and_then(|h| hooks::hook_fn(h, errors));
    let hooks = Hooks {
        upgrade_headers: hook(Kind::UpgradeHeaders, errors),
        on_error: hook(Kind::OnError, errors),
        on_upgrade_error: hook(Kind::OnUpgradeError, errors),
        hub: hook(Kind::Hub, errors),
    };
    let origin = settings::origin(args, find(Kind::CheckOrigin), errors);
    let asyncapi = events::asyncapi(args, controller, &style, errors);
    let extractors = registry.into_types();

    let path = match &args.path {
        Some(path) => {
            let has_place = serve.is_some() || find(Kind::Open).is_some() || !extractors.is_empty();
            let readers = has_place.then_some(&extractors[..]);
            path::check_path(path, style.is_some(), readers, errors);
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
        extractors,
        asyncapi,
    })
}

/// The first handler of each role; a second one, or a second handler of text messages, is
/// reported. Event handlers are many, one per event (checked in `events`).
fn one_per_role<'a>(handlers: &'a [Handler], errors: &mut Errors) -> Vec<&'a Handler> {
    let mut seen: Vec<&Handler> = Vec::new();
    for handler in handlers {
        if handler.kind != Kind::Event {
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
        }
        let text_kinds = [Kind::Text, Kind::Json, Kind::Event];
        if text_kinds.contains(&handler.kind) {
            let other = seen
                .iter()
                .find(|h| text_kinds.contains(&h.kind) && h.kind != handler.kind);
            if let Some(other) = other {
                errors.at(
                    handler.marker.span(),
                    two_text_handlers(handler.kind, other.kind, other.name()),
                );
                continue;
            }
        }
        seen.push(handler);
    }
    seen
}

fn two_text_handlers(kind: Kind, first_kind: Kind, first: &Ident) -> String {
    if kind == Kind::Event || first_kind == Kind::Event {
        format!(
            "`#[{}]` cannot be combined with `#[{}]` (`{first}`): with `#[on_event]` \
             handlers, text messages are event envelopes routed by their `event` field; \
             handle each kind of message with its own `#[on_event(\"name\")]`",
            kind.name(),
            first_kind.name()
        )
    } else {
        format!(
            "two handlers for text messages: `{first}` already handles them (`#[on_json]` \
             decodes text messages); keep one: use `#[on_json]` for JSON, or `#[on_text]` and \
             decode inside it"
        )
    }
}
