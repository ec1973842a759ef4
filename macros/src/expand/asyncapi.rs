//! The `DescribeChannel` impl of an `asyncapi = true` controller, behind the runtime's
//! `asyncapi` feature (without it, a compile error on the key says how to enable it).

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::ItemImpl;

use crate::expand::{at, private};
use crate::model::{AsyncApi, Style};

pub fn describe(item: &ItemImpl, api: &AsyncApi, style: &Style) -> TokenStream {
    let p = private();
    let a = quote!(#p::asyncapi);
    let schema =
        |ty: &syn::Type| quote_spanned!(at(ty.span())=> <#ty as #a::PayloadSchema>::schema);
    let mut operations = Vec::new();
    if let Style::Handlers(h) = style {
        if !h.events.is_empty() {
            let [event, data, id, error] = &h.fields;
            operations.push(quote!(.fields(#p::EventFields::new(#event, #data, #id, #error))));
        }
        for event in &h.events {
            let name = &event.event;
            let data = match &event.data {
                Some(ty) => schema(ty),
                None => quote!(<() as #a::PayloadSchema>::schema),
            };
            // Validation made sure an asyncapi controller's event handlers name their type.
            let reply = event.output.ty.as_ref().map(|ty| {
                quote_spanned!(at(ty.span())=>
                    <#ty as #p::IntoEventReply>::REPLIES.then_some(
                        <<#ty as #p::IntoEventReply>::Data as #a::PayloadSchema>::schema
                    )
                )
            });
            operations.push(quote!(.receive_event(#name, #data, #reply)));
        }
        // What a plain handler answers, from its return type (validation made sure it is
        // named).
        let reply = |output: &crate::model::Output| match &output.ty {
            Some(ty) => quote_spanned!(at(ty.span())=> <#ty as #a::DescribeReply>::reply()),
            None => quote!(::core::option::Option::None),
        };
        if let Some(json) = &h.json {
            let payload = schema(&json.message);
            let reply = reply(&json.output);
            operations.push(quote!(.receive_json(#payload, #reply)));
        }
        if let Some(text) = &h.text {
            let reply = reply(&text.output);
            operations.push(quote!(.receive_text(#reply)));
        }
        if let Some(binary) = &h.binary {
            let reply = reply(&binary.output);
            operations.push(quote!(.receive_binary(#reply)));
        }
    }
    for emit in &api.emits {
        let payload = schema(&emit.ty);
        operations.push(match &emit.event {
            Some(event) => quote!(.send_event(#event, #payload)),
            None => quote!(.send_json(#payload)),
        });
    }
    let channel = &api.channel;
    let (impl_generics, _, where_clause) = item.generics.split_for_impl();
    let self_ty = &item.self_ty;
    let gate = quote_spanned!(api.key=> #p::if_asyncapi!);
    quote! {
        #gate {
            impl #impl_generics #a::DescribeChannel for #self_ty #where_clause {
                fn describe_channel() -> #a::Channel {
                    #a::Channel::new(#channel, Self::PATH) #(#operations)*
                }
            }
        }
    }
}
