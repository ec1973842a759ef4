//! Code generation from a validated [`Model`]: the impl block as written (markers removed) plus
//! `PATH` and `into_router`, and the `Controller` impl with the generated serve loop.
//!
//! Generated code names the runtime only through `::ws_controller::__private`. Conversions
//! that can fail to type-check (a reply type, a JSON parameter type, a hook's return type) are
//! spanned on the user's tokens, so the trait's `on_unimplemented` message points there.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{parse_quote, Ident, Item, Type};

use crate::ast;
use crate::attr::Args;
use crate::valid::{
    self, CloseFn, Errors, HookFn, MessageFn, Model, OpenFn, Origin, Output, ServeFn, Style,
};

/// The attribute's entry point: parse, validate, expand; on errors, the impl is still emitted
/// (without its marker attributes) so that the errors are the only ones reported.
pub fn ws_controller(args: TokenStream, input: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    let args = Args::parse(args, &mut errors);
    let item: Item = match syn::parse2(input.clone()) {
        Ok(item) => item,
        Err(err) => {
            errors.push(err);
            return with_errors(input, errors);
        }
    };
    let controller = match ast::parse(item, &mut errors) {
        Ok(controller) => controller,
        Err(err) => {
            errors.push(err);
            return with_errors(input, errors);
        }
    };
    let model = valid::validate(&args, &controller, &mut errors);
    match (errors.finish(), model) {
        (Ok(()), Some(model)) => expand(controller, model),
        (result, _) => {
            let item = &controller.item;
            let errors = result.err().map(|e| e.to_compile_error());
            quote!(#item #errors)
        }
    }
}

fn with_errors(input: TokenStream, errors: Errors) -> TokenStream {
    let errors = errors.finish().err().map(|e| e.to_compile_error());
    quote!(#input #errors)
}

fn private() -> TokenStream {
    quote!(::ws_controller::__private)
}

fn expand(controller: ast::Controller, model: Model) -> TokenStream {
    let p = private();
    let mut item = controller.item;
    let path = &model.path;
    item.items.push(parse_quote! {
        /// The route of this WebSocket controller, from `#[ws_controller(path = ...)]`.
        #[allow(dead_code)]
        pub const PATH: &'static str = #path;
    });
    item.items.push(parse_quote! {
        /// A router that serves this controller at [`Self::PATH`]; merge it into your app and
        /// give it the state its extractors need with `with_state`.
        #[allow(dead_code)]
        pub fn into_router<__S>(self) -> #p::Router<__S>
        where
            Self: #p::Controller<__S>,
            __S: ::core::clone::Clone + ::core::marker::Send + ::core::marker::Sync + 'static,
        {
            #p::route(Self::PATH, self)
        }
    });

    let extractors: &[Type] = match &model.style {
        Style::Serve(serve) => &serve.extractors,
        Style::Handlers(h) => h.open.as_ref().map_or(&[], |o| &o.extractors),
    };
    let mut generics = item.generics.clone();
    generics.params.push(parse_quote!(__S));
    let where_clause = generics.make_where_clause();
    where_clause.predicates.push(parse_quote!(
        __S: ::core::clone::Clone + ::core::marker::Send + ::core::marker::Sync + 'static
    ));
    where_clause
        .predicates
        .push(parse_quote!(Self: ::core::marker::Send + ::core::marker::Sync + 'static));
    where_clause.predicates.push(parse_quote!(
        (#(#extractors,)*): #p::FromRequestParts<__S> + ::core::marker::Send + 'static
    ));
    let (impl_generics, _, where_clause) = generics.split_for_impl();
    let self_ty = &item.self_ty;

    let serve = match &model.style {
        Style::Serve(serve) => serve_style(serve),
        Style::Handlers(handlers) => handler_style(handlers, model.settings.debug()),
    };
    let settings = settings(&model.settings);
    let check_origin = check_origin(&model.origin);
    let upgrade_headers = model.hooks.upgrade_headers.as_ref().map(|h| {
        let call = hook_call(h, &[quote!(__request)]);
        let out = convert(&h.output, quote!(#p::UpgradeHeadersOutput), "into_headers");
        quote! {
            fn upgrade_headers(&self, __request: &#p::Parts) -> #p::HeaderMap {
                let __ret = #call;
                #out
            }
        }
    });
    let on_error = model.hooks.on_error.as_ref().map(|h| {
        let call = hook_call(h, &[quote!(__request), quote!(__error)]);
        quote! {
            fn on_error(&self, __request: &#p::Parts, __error: &#p::Error) {
                #call
            }
        }
    });
    let on_upgrade_error = model.hooks.on_upgrade_error.as_ref().map(|h| {
        let call = hook_call(h, &[quote!(__request), quote!(__status), quote!(__reason)]);
        let out = convert(&h.output, quote!(#p::IntoResponse), "into_response");
        quote! {
            fn on_upgrade_error(
                &self,
                __request: &#p::Parts,
                __status: #p::StatusCode,
                __reason: &#p::UpgradeError,
            ) -> #p::Response {
                let __ret = #call;
                #out
            }
        }
    });
    let hub = model.hooks.hub.as_ref().map(|h| {
        let call = hook_call(h, &[]);
        let out = convert(&h.output, quote!(#p::HubOutput), "into_hub");
        quote! {
            fn hub(&self) -> ::core::option::Option<&#p::Hub> {
                let __ret = #call;
                #out
            }
        }
    });

    quote! {
        #item

        impl #impl_generics #p::Controller<__S> for #self_ty #where_clause {
            type Extract = (#(#extractors,)*);

            #serve
            #settings
            #check_origin
            #upgrade_headers
            #on_error
            #on_upgrade_error
            #hub
        }
    }
}

/// `Self::name(self, args...)` with each argument spanned on the parameter type it feeds, so
/// a type mismatch points at the user's signature.
fn call(name: &Ident, args: Vec<TokenStream>) -> TokenStream {
    quote!(Self::#name(self, #(#args),*))
}

/// A span that resolves names like the macro's own tokens (so generated locals stay visible
/// even when the impl comes from a `macro_rules!`) but points at the user's tokens.
fn at(span: Span) -> Span {
    Span::call_site().located_at(span)
}

/// `value` with every token placed at `ty` (resolving names as the macro's own tokens).
fn spanned(ty: &Type, value: TokenStream) -> TokenStream {
    respan(value, at(ty.span()))
}

fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut tree| {
            if let proc_macro2::TokenTree::Group(group) = &tree {
                let mut new =
                    proc_macro2::Group::new(group.delimiter(), respan(group.stream(), span));
                new.set_span(span);
                tree = proc_macro2::TokenTree::Group(new);
            } else {
                tree.set_span(span);
            }
            tree
        })
        .collect()
}

/// Converts `__ret`, a method's result, with `trait_::method`. Written as
/// `<ReturnType as Trait>::method` when the type can be named, so an unsatisfied bound is
/// reported on the user's return type (with the trait's `on_unimplemented` message).
fn convert(output: &Output, trait_: TokenStream, method: &str) -> TokenStream {
    let method = Ident::new(method, Span::call_site());
    match &output.ty {
        Some(ty) => quote_spanned!(at(output.span)=> <#ty as #trait_>::#method(__ret)),
        None => quote_spanned!(at(output.span)=> #trait_::#method(__ret)),
    }
}

fn hook_call(hook: &HookFn, args: &[TokenStream]) -> TokenStream {
    let args = hook
        .params
        .iter()
        .zip(args)
        .map(|(ty, arg)| spanned(ty, arg.clone()))
        .collect();
    call(&hook.name, args)
}

fn extractor_vars(count: usize) -> Vec<Ident> {
    (0..count)
        .map(|i| format_ident!("__extract{}", i))
        .collect()
}

fn serve_style(serve: &ServeFn) -> TokenStream {
    let p = private();
    let vars = extractor_vars(serve.extractors.len());
    let (param, destructure) = extract_param(&vars);
    let mut args = vec![spanned(&serve.conn_ty, quote!(__conn))];
    args.extend(vars.iter().map(|v| quote!(#v)));
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

/// The serve parameter for the extracted tuple and the statement that takes it apart.
fn extract_param(vars: &[Ident]) -> (TokenStream, TokenStream) {
    if vars.is_empty() {
        (quote!(_), quote!())
    } else {
        (quote!(__extract), quote!(let (#(#vars,)*) = __extract;))
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

fn handler_style(h: &valid::Handlers, debug: bool) -> TokenStream {
    let p = private();
    let (param, destructure, open) = match &h.open {
        Some(open) => open_session(open, debug),
        None => (quote!(_), quote!(), quote!()),
    };
    let session_mut = h.session_mutated().then(|| quote!(mut));
    let session_decl = if h.open.is_some() {
        quote!(let #session_mut __session = #open;)
    } else {
        quote!()
    };

    let text_arm = if let Some(text) = &h.text {
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
    let text_pat = if h.text.is_some() || h.json.is_some() {
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

/// The serve parameter, the destructuring of the extractors, and the expression that runs
/// `#[on_open]` and yields the session (returning early when it fails).
fn open_session(open: &OpenFn, debug: bool) -> (TokenStream, TokenStream, TokenStream) {
    let p = private();
    let vars = extractor_vars(open.extractors.len());
    let (param, destructure) = extract_param(&vars);
    let mut args = Vec::new();
    if let Some(ty) = &open.conn {
        args.push(spanned(ty, quote!(&__conn)));
    }
    args.extend(vars.iter().map(|v| quote!(#v)));
    let call = call(&open.name, args);
    let into_session = convert(&open.output, quote!(#p::IntoSession), "into_session");
    let expr = quote! {
        match #p::catch_panic(async { #call.await }, #debug).await {
            ::core::result::Result::Ok(__ret) => match #into_session {
                ::core::result::Result::Ok(__session) => __session,
                ::core::result::Result::Err(__error) => return ::core::result::Result::Err(__error),
            },
            ::core::result::Result::Err(__panic) => return ::core::result::Result::Err(__panic),
        }
    };
    (param, destructure, expr)
}

/// After the loop: close the connection with the right code, wait for the final status, run
/// `#[on_close]` (panics contained), and hand the result to the runtime's serve driver, which
/// tells the error hook.
fn close_handler(close: Option<&CloseFn>, debug: bool) -> TokenStream {
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

fn settings(s: &valid::Settings) -> Option<TokenStream> {
    let p = private();
    let mut calls = Vec::new();
    let ms = |ms: u64| quote!(#p::Duration::from_millis(#ms));
    let int = |n: u64| proc_macro2::Literal::u64_unsuffixed(n);
    if let Some(n) = s.max_message_size {
        let n = int(n);
        calls.push(quote!(.max_message_size(#n)));
    }
    if let Some(n) = s.read_buffer_size {
        let n = int(n);
        calls.push(quote!(.read_buffer_size(#n)));
    }
    if let Some(n) = s.write_buffer_size {
        let n = int(n);
        calls.push(quote!(.write_buffer_size(#n)));
    }
    if let Some(n) = s.send_queue {
        let n = int(n);
        calls.push(quote!(.send_queue(#n)));
    }
    if let Some(n) = s.send_queue_bytes {
        let n = int(n);
        calls.push(quote!(.send_queue_bytes(#n)));
    }
    if let Some(policy) = s.slow_consumer {
        let policy = match policy {
            crate::attr::SlowConsumerArg::Close => quote!(Close),
            crate::attr::SlowConsumerArg::DropNewest => quote!(DropNewest),
            crate::attr::SlowConsumerArg::Wait => quote!(Wait),
        };
        calls.push(quote!(.slow_consumer(#p::SlowConsumer::#policy)));
    }
    if let Some(mode) = s.compression {
        let mode = match mode {
            crate::attr::CompressionArg::Off => quote!(#p::Compression::Off),
            crate::attr::CompressionArg::On => quote!(#p::Compression::On),
            crate::attr::CompressionArg::ContextTakeover => {
                let bits = proc_macro2::Literal::u8_unsuffixed(
                    s.compression_window_bits.unwrap_or(15) as u8,
                );
                quote!(#p::Compression::ContextTakeover { window_bits: #bits })
            }
        };
        calls.push(quote!(.compression(#mode)));
    }
    if let Some(n) = s.compression_threshold {
        let n = int(n);
        calls.push(quote!(.compression_threshold(#n)));
    }
    if let Some(t) = s.close_timeout {
        let t = ms(t);
        calls.push(quote!(.close_timeout(#t)));
    }
    let optional = |value: Option<u64>| match value {
        Some(t) => {
            let t = ms(t);
            quote!(::core::option::Option::Some(#t))
        }
        None => quote!(::core::option::Option::None),
    };
    if let Some(t) = s.ping_interval {
        let t = optional(t);
        calls.push(quote!(.ping_interval(#t)));
    }
    if let Some(t) = s.idle_timeout {
        let t = optional(t);
        calls.push(quote!(.idle_timeout(#t)));
    }
    if let Some(list) = &s.subprotocols {
        calls.push(quote!(.subprotocols([#(#list),*])));
    }
    if let Some(debug) = s.debug {
        calls.push(quote!(.debug(#debug)));
    }
    if calls.is_empty() {
        return None;
    }
    Some(quote! {
        fn settings(&self) -> #p::Settings {
            <#p::Settings as ::core::default::Default>::default() #(#calls)*
        }
    })
}

fn check_origin(origin: &Origin) -> Option<TokenStream> {
    let p = private();
    let body = match origin {
        Origin::Default => return None,
        Origin::Any => {
            return Some(quote! {
                fn check_origin(&self, _: &#p::Parts) -> bool {
                    true
                }
            })
        }
        Origin::List(patterns) => {
            quote!(#p::OriginAllowList::from_static(&[#(#patterns),*]).allows(__request))
        }
        Origin::Fn(path) => {
            let request = respan(quote!(__request), at(path.span()));
            quote!(#path(#request))
        }
        Origin::Hook(hook) => {
            let call = hook_call(hook, &[quote!(__request)]);
            let out = convert(&hook.output, quote!(#p::CheckOriginOutput), "into_bool");
            quote! {
                let __ret = #call;
                #out
            }
        }
    };
    Some(quote! {
        fn check_origin(&self, __request: &#p::Parts) -> bool {
            #body
        }
    })
}
