//! Code generation from a validated [`Model`]: the impl block as written (markers removed) plus
//! `PATH` and `into_router`, and the `Controller` impl with the generated serve loop.
//!
//! Generated code names the runtime only through `::ws_controller::__private`. Conversions
//! that can fail to type-check (a reply type, a JSON parameter type, a hook's return type) are
//! spanned on the user's tokens, so the trait's `on_unimplemented` message points there.

mod asyncapi;
mod events;
mod serve_loop;
mod settings;

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{parse_quote, Ident, Item, Type};

use crate::ast;
use crate::attr::Args;
use crate::diagnostics::Errors;
use crate::model::{HookFn, Model, Output, Style};
use crate::valid;

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

pub(crate) fn private() -> TokenStream {
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

    let extractors = &model.extractors;
    let asyncapi = model
        .asyncapi
        .as_ref()
        .map(|api| asyncapi::describe(&item, api, &model.style));
    let mut generics = item.generics.clone();
    generics.params.push(parse_quote!(__S));
    let where_clause = generics.make_where_clause();
    where_clause.predicates.push(parse_quote!(
        __S: ::core::clone::Clone + ::core::marker::Send + ::core::marker::Sync + 'static
    ));
    where_clause
        .predicates
        .push(parse_quote!(Self: ::core::marker::Send + ::core::marker::Sync + 'static));
    for ty in extractors {
        // One bound per extractor, on its token: an unsatisfied one names the type.
        let bound = quote_spanned!(at(ty.span())=> #ty: #p::FromRequestParts<__S>);
        where_clause.predicates.push(parse_quote!(#bound));
    }
    where_clause.predicates.push(parse_quote!(
        (#(#extractors,)*): #p::FromRequestParts<__S> + ::core::marker::Send + 'static
    ));
    let (impl_generics, _, where_clause) = generics.split_for_impl();
    let self_ty = &item.self_ty;

    let serve = match &model.style {
        Style::Serve(serve) => serve_loop::serve_style(serve),
        Style::Handlers(handlers) => {
            serve_loop::handler_style(handlers, extractors.len(), model.settings.debug())
        }
    };
    let settings = settings::settings(&model.settings);
    let check_origin = settings::check_origin(&model.origin);
    let hooks = hooks(&model);

    quote! {
        #item

        impl #impl_generics #p::Controller<__S> for #self_ty #where_clause {
            type Extract = (#(#extractors,)*);
            const DECLARED_PATH: ::core::option::Option<&'static str> =
                ::core::option::Option::Some(#path);

            #serve
            #settings
            #check_origin
            #hooks
        }

        #asyncapi
    }
}

/// `upgrade_headers`, `on_error`, `on_upgrade_error` and `hub`, from the marked hooks.
fn hooks(model: &Model) -> TokenStream {
    let p = private();
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
    quote!(#upgrade_headers #on_error #on_upgrade_error #hub)
}

/// `Self::name(self, args...)` with each argument spanned on the parameter type it feeds, so
/// a type mismatch points at the user's signature.
pub(crate) fn call(name: &Ident, args: Vec<TokenStream>) -> TokenStream {
    quote!(Self::#name(self, #(#args),*))
}

/// A span that resolves names like the macro's own tokens (so generated locals stay visible
/// even when the impl comes from a `macro_rules!`) but points at the user's tokens.
pub(crate) fn at(span: Span) -> Span {
    Span::call_site().located_at(span)
}

/// `value` with every token placed at `ty` (resolving names as the macro's own tokens).
pub(crate) fn spanned(ty: &Type, value: TokenStream) -> TokenStream {
    respan(value, at(ty.span()))
}

pub(crate) fn respan(tokens: TokenStream, span: Span) -> TokenStream {
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
pub(crate) fn convert(output: &Output, trait_: TokenStream, method: &str) -> TokenStream {
    let method = Ident::new(method, Span::call_site());
    match &output.ty {
        Some(ty) => quote_spanned!(at(output.span)=> <#ty as #trait_>::#method(__ret)),
        None => quote_spanned!(at(output.span)=> #trait_::#method(__ret)),
    }
}

pub(crate) fn hook_call(hook: &HookFn, args: &[TokenStream]) -> TokenStream {
    let args = hook
        .params
        .iter()
        .zip(args)
        .map(|(ty, arg)| spanned(ty, arg.clone()))
        .collect();
    call(&hook.name, args)
}
