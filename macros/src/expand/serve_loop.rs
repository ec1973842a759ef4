//! The generated `Controller::serve`: the `#[serve]` method's call, or the serve loop of the
//! declarative handlers (open, one message at a time, close).

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::Ident;

use crate::expand::{at, call, convert, events, private, respan, spanned};
use crate::model::{CloseFn, ExtractorArg, Handlers, MessageFn, OpenFn, ServeFn};

fn extractor_vars(count: usize) -> Vec<Ident> {
    (0..count)
        .map(|i| format_ident!("__extract{}", i))
        .collect()
}

/// The argument for an extractor parameter: the extracted value itself, or (`shared`) a
/// clone of it for one call.
pub(crate) fn extractor_arg(arg: &ExtractorArg, shared: bool) -> TokenStream {
    let p = private();
    let var = format_ident!("__extract{}", arg.index);
    let ty = &arg.ty;
    if shared {
        quote_spanned!(at(ty.span())=> <#ty as #p::SharedExtractor>::share(&#var))
    } else {
        quote!(#var)
    }
}

/// The serve parameter for the extracted tuple and the statement that takes it apart.
fn extract_param(vars: &[Ident]) -> (TokenStream, TokenStream) {
    if vars.is_empty() {
        (quote!(_), quote!())
    } else {
        (quote!(__extract), quote!(let (#(#vars,)*) = __extract;))
    }
}

pub fn serve_style(serve: &ServeFn) -> TokenStream {
    let p = private();
    let vars = extractor_vars(serve.extractors.len());
    let (param, destructure) = extract_param(&vars);
    let mut args = vec![spanned(&serve.conn_ty, quote!(__conn))];
    args.extend(serve.extractors.iter().map(|e| extractor_arg(e, false)));
    let call = call(&serve.name, args);
    let out = convert(&serve.output, quote!(#p::IntoOutcome), "into_outcome");
    quote! {
        async fn serve(
            &self,
            __conn: #p::Conn,
            #param: Self::Extract,
        ) -> ::core::result::Result<(), #p::Error> {
            #destructure
            let __ret = #call.await;
            #out
        }
    }
}

/// Sends what a message handler returned, or leaves the loop with its error.
fn reply(handler: &MessageFn, call: TokenStream) -> TokenStream {
    let p = private();
    let reply = convert(&handler.output, quote!(#p::IntoReply), "into_reply");
    quote! {
        let __ret = #call.await;
        match #reply {
            ::core::result::Result::Ok(::core::option::Option::Some(__reply)) => {
                // A failed send means the connection is closing; the next `recv` says why.
                let _ = __conn.send(__reply).await;
            }
            ::core::result::Result::Ok(::core::option::Option::None) => {}
            ::core::result::Result::Err(__error) => break ::core::result::Result::Err(__error),
        }
    }
}

fn message_call(handler: &MessageFn, message: TokenStream) -> TokenStream {
    let mut args = Vec::new();
    if let Some(ty) = &handler.conn {
        args.push(spanned(ty, quote!(&__conn)));
    }
    if let Some(ty) = &handler.session {
        args.push(spanned(ty, quote!(&mut __session)));
    }
    args.extend(handler.extractors.iter().map(|e| extractor_arg(e, true)));
    args.push(message);
    call(&handler.name, args)
}

fn unsupported(kind: &str) -> TokenStream {
    let p = private();
    let reason = format!("{kind} messages are not supported");
    quote! {
        __conn.close(#p::CloseCode::UNSUPPORTED_DATA, #reason).await;
        break ::core::result::Result::Ok(());
    }
}

pub fn handler_style(h: &Handlers, extractors: usize, debug: bool) -> TokenStream {
    let p = private();
    let vars = extractor_vars(extractors);
    let (param, destructure) = extract_param(&vars);
    let shared = h.shared_extractors();
    let open = h
        .open
        .as_ref()
        .map(|open| open_session(open, &shared, debug))
        .unwrap_or_default();
    let events = events::protocol(h, debug);
    let session_mut = h.session_mutated().then(|| quote!(mut));
    let session_decl = if h.open.is_some() {
        quote!(let #session_mut __session = #open;)
    } else {
        quote!()
    };

    let text_arm = if !h.events.is_empty() {
        events::dispatch(&h.events)
    } else if let Some(text) = &h.text {
        let ty = &text.message;
        let message = quote_spanned!(at(ty.span())=> <#ty as #p::FromText>::from_text(__text));
        reply(text, message_call(text, message))
    } else if let Some(json) = &h.json {
        let ty = &json.message;
        let decode = quote_spanned!(at(ty.span())=>
            <#ty as #p::FromJson>::from_json(__text.as_str().as_bytes())
        );
        let send = reply(json, message_call(json, quote!(__value)));
        quote! {
            let __value = match #decode {
                ::core::result::Result::Ok(__value) => __value,
                ::core::result::Result::Err(__error) => {
                    __conn.close(#p::CloseCode::INVALID_PAYLOAD, "Invalid JSON").await;
                    break ::core::result::Result::Err(#p::Error::new(#p::ConnError::Json(__error)));
                }
            };
            #send
        }
    } else {
        unsupported("Text")
    };
    let binary_arm = if let Some(binary) = &h.binary {
        let ty = &binary.message;
        let message = quote_spanned!(at(ty.span())=> <#ty as #p::FromBinary>::from_binary(__data));
        reply(binary, message_call(binary, message))
    } else {
        unsupported("Binary")
    };
    // Bind the payloads even in arms that do not use them, without unused-variable noise.
    let text_pat = if h.text.is_some() || h.json.is_some() || !h.events.is_empty() {
        quote!(__text)
    } else {
        quote!(_)
    };
    let binary_pat = if h.binary.is_some() {
        quote!(__data)
    } else {
        quote!(_)
    };

    let close = close_handler(h.close.as_ref(), debug);

    quote! {
        async fn serve(
            &self,
            mut __conn: #p::Conn,
            #param: Self::Extract,
        ) -> ::core::result::Result<(), #p::Error> {
            #destructure
            #events
            #session_decl
            // One message at a time: a handler runs to completion before the next `recv`.
            let __outcome = #p::catch_panic(
                async {
                    // Once the connection is closing (a handler closed it, or the peer did
                    // while a handler ran), messages are discarded until `recv` reports the
                    // end; a close we asked for is not an error.
                    let mut __closing = __conn.is_closed();
                    loop {
                        let __message = match __conn.recv().await {
                            ::core::result::Result::Ok(__message) => __message,
                            ::core::result::Result::Err(__error) => {
                                break match __error {
                                    #p::ConnError::Closed(_) if __closing => {
                                        ::core::result::Result::Ok(())
                                    }
                                    __error if #p::is_close_error(&__error) => {
                                        ::core::result::Result::Ok(())
                                    }
                                    __error => ::core::result::Result::Err(#p::Error::new(__error)),
                                };
                            }
                        };
                        if __closing {
                            continue;
                        }
                        match __message {
                            #p::Message::Text(#text_pat) => { #text_arm }
                            #p::Message::Binary(#binary_pat) => { #binary_arm }
                        }
                        __closing = __conn.is_closed();
                    }
                },
                #debug,
            )
            .await;
            let __result = match __outcome {
                ::core::result::Result::Ok(__result) => __result,
                ::core::result::Result::Err(__panic) => ::core::result::Result::Err(__panic),
            };
            #close
        }
    }
}

/// The expression that runs `#[on_open]` and yields the session (returning early when it
/// fails).
fn open_session(open: &OpenFn, shared: &[usize], debug: bool) -> TokenStream {
    let p = private();
    let mut args = Vec::new();
    if let Some(ty) = &open.conn {
        args.push(spanned(ty, quote!(&__conn)));
    }
    // An extractor only `#[on_open]` takes is moved into it; one other handlers take too is
    // cloned.
    args.extend(
        open.extractors
            .iter()
            .map(|e| extractor_arg(e, shared.contains(&e.index))),
    );
    let call = call(&open.name, args);
    let into_session = convert(&open.output, quote!(#p::IntoSession), "into_session");
    // All on the return type: the session's type comes from `IntoSession`, and an error in
    // it is then reported once, there.
    let session = respan(
        quote! {
            match #into_session {
                ::core::result::Result::Ok(__session) => __session,
                ::core::result::Result::Err(__error) => return ::core::result::Result::Err(__error),
            }
        },
        at(open.output.span),
    );
    quote! {
        match #p::catch_panic(async { #call.await }, #debug).await {
            ::core::result::Result::Ok(__ret) => #session,
            ::core::result::Result::Err(__panic) => return ::core::result::Result::Err(__panic),
        }
    }
}

/// After the loop: close the connection with the right code, wait for the final status, run
/// `#[on_close]` (panics contained), and hand the result to the runtime's serve driver, which
/// tells the error hook.
pub(crate) fn close_handler(close: Option<&CloseFn>, debug: bool) -> TokenStream {
    let p = private();
    let finish = quote! {
        match &__result {
            ::core::result::Result::Ok(()) => __conn.close_normal().await,
            ::core::result::Result::Err(__error) if #p::is_close_error(__error) => {
                __conn.close_normal().await
            }
            ::core::result::Result::Err(__error) => __conn.close_with_error(__error).await,
        }
    };
    let Some(close) = close else {
        return quote! {
            #finish
            __result
        };
    };
    let mut args = Vec::new();
    if let Some(ty) = &close.conn {
        args.push(spanned(ty, quote!(&__conn)));
    }
    if let Some(ty) = &close.session {
        args.push(spanned(ty, quote!(__session)));
    }
    args.extend(close.extractors.iter().map(|e| extractor_arg(e, true)));
    args.push(spanned(&close.status, quote!(__status.code)));
    args.push(spanned(&close.reason, quote!(__status.reason.as_str())));
    let call = call(&close.name, args);
    let outcome = convert(&close.output, quote!(#p::IntoOutcome), "into_outcome");
    quote! {
        #finish
        let __status = __conn.closed().await;
        let __closed = #p::catch_panic(
            async {
                let __ret = #call.await;
                #outcome
            },
            #debug,
        )
        .await;
        match (__result, __closed) {
            (__result, ::core::result::Result::Ok(::core::result::Result::Ok(()))) => __result,
            (::core::result::Result::Ok(()), ::core::result::Result::Ok(__failed)) => __failed,
            (::core::result::Result::Ok(()), ::core::result::Result::Err(__panic)) => {
                ::core::result::Result::Err(__panic)
            }
            (::core::result::Result::Err(__first), __second) => {
                // The error hook hears of the first failure from the serve driver; a second
                // one, from the close handler, is reported here.
                let __second = match __second {
                    ::core::result::Result::Ok(__second) => __second,
                    ::core::result::Result::Err(__panic) => ::core::result::Result::Err(__panic),
                };
                if let ::core::result::Result::Err(__second) = __second {
                    #p::report_error::<Self, __S>(self, __conn.request(), &__second);
                }
                ::core::result::Result::Err(__first)
            }
        }
    }
}
