//! The event router of the serve loop: parse the envelope, dispatch on its event, and answer
//! with a reply or an error reply, through the runtime's `EventProtocol`.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use crate::attr::FIELD_KEYS;
use crate::expand::serve_loop::extractor_arg;
use crate::expand::{at, call, private, spanned};
use crate::model::{EventFn, Handlers};

/// `let __events = EventProtocol::new(..)`, first in `serve`; custom field names are stored
/// in the connection's data so that `conn.emit` writes them too.
pub fn protocol(h: &Handlers, debug: bool) -> TokenStream {
    if h.events.is_empty() {
        return quote!();
    }
    let p = private();
    let [event, data, id, error] = &h.fields;
    let custom = h
        .fields
        .iter()
        .zip(FIELD_KEYS)
        .any(|(name, (_, default))| name != default);
    let store = custom.then(|| quote!(__conn.insert(__events.fields().clone());));
    quote! {
        let __events = #p::EventProtocol::new(#p::EventFields::new(#event, #data, #id, #error))
            .debug(#debug);
        #store
    }
}

/// The text arm: a message that is not an envelope ends the loop (1007); an unknown event
/// and undecodable data get error replies; a handler's result is answered.
pub fn dispatch(events: &[EventFn]) -> TokenStream {
    let p = private();
    let arms = events.iter().map(|event| {
        let name = &event.event;
        let body = handle(event);
        quote!(#name => { #body })
    });
    quote! {
        let __incoming = match __events.parse_or_close(&__conn, __text.as_str()).await {
            ::core::result::Result::Ok(__incoming) => __incoming,
            ::core::result::Result::Err(__error) => {
                break ::core::result::Result::Err(#p::Error::new(__error));
            }
        };
        let __handled: ::core::result::Result<(), #p::Error> = match __incoming.event() {
            #(#arms)*
            _ => {
                __events.unknown_event(&__conn, &__incoming).await;
                ::core::result::Result::Ok(())
            }
        };
        if let ::core::result::Result::Err(__error) = __handled {
            break ::core::result::Result::Err(__error);
        }
    }
}

fn handle(event: &EventFn) -> TokenStream {
    let p = private();
    let mut args = Vec::new();
    if let Some(ty) = &event.conn {
        args.push(spanned(ty, quote!(&__conn)));
    }
    if let Some(ty) = &event.session {
        args.push(spanned(ty, quote!(&mut __session)));
    }
    args.extend(event.extractors.iter().map(|e| extractor_arg(e, true)));
    if event.data.is_some() {
        args.push(quote!(__data));
    }
    let call = call(&event.name, args);
    // A synchronous conversion, so that a wrong return type is one error on its token.
    let answer = match &event.output.ty {
        Some(ty) => quote_spanned!(at(event.output.span)=>
            __events.answer::<#ty>(&__incoming, __ret)
        ),
        None => quote_spanned!(at(event.output.span)=>
            __events.answer(&__incoming, __ret)
        ),
    };
    let run = quote! {
        let __ret = #call.await;
        match #answer {
            ::core::result::Result::Ok(::core::option::Option::Some(__reply)) => {
                // A failed send means the connection is closing; the next `recv` says why.
                let _ = __conn.send(__reply).await;
                ::core::result::Result::Ok(())
            }
            ::core::result::Result::Ok(::core::option::Option::None) => ::core::result::Result::Ok(()),
            ::core::result::Result::Err(__error) => ::core::result::Result::Err(__error),
        }
    };
    match &event.data {
        None => run,
        Some(ty) => {
            let decode = quote_spanned!(at(ty.span())=>
                <#ty as #p::FromEventData>::from_event(&__incoming)
            );
            quote! {
                match #decode {
                    ::core::result::Result::Ok(__data) => { #run }
                    ::core::result::Result::Err(__error) => {
                        __events.invalid_data(&__conn, &__incoming, &__error).await;
                        ::core::result::Result::Ok(())
                    }
                }
            }
        }
    }
}
