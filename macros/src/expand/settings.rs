//! The generated `Controller::settings` and `Controller::check_origin`.

use proc_macro2::TokenStream;
use quote::quote;
use syn::spanned::Spanned;

use crate::expand::{at, convert, hook_call, private, respan};
use crate::model::{self, Origin};

pub fn settings(s: &model::Settings) -> Option<TokenStream> {
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
    if let Some(level) = s.compression_level {
        // Validated as 0..=9.
        let level = proc_macro2::Literal::u8_unsuffixed(level as u8);
        calls.push(quote!(.compression_level(#level)));
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
    let some = |n: u64| {
        let n = int(n);
        quote!(::core::option::Option::Some(#n))
    };
    if s.rate_limit_messages.is_some() || s.rate_limit_bytes.is_some() {
        let messages = match s.rate_limit_messages {
            Some(n) => {
                let n = proc_macro2::Literal::u32_unsuffixed(n as u32);
                quote!(::core::option::Option::Some(#n))
            }
            None => quote!(::core::option::Option::None),
        };
        let bytes = match s.rate_limit_bytes {
            Some(n) => {
                let n = int(n);
                quote!(::core::option::Option::Some(#n))
            }
            None => quote!(::core::option::Option::None),
        };
        let action = match s.rate_limit_action {
            Some(crate::attr::RateLimitActionArg::Drop) => quote!(Drop),
            _ => quote!(Close),
        };
        calls.push(quote!(.rate_limit(::core::option::Option::Some(
            #p::RateLimit::messages(1)
                .messages_per_second(#messages)
                .bytes_per_second(#bytes)
                .action(#p::RateLimitAction::#action)
        ))));
    }
    if let Some(n) = s.max_connections {
        let n = some(n);
        calls.push(quote!(.max_connections(#n)));
    }
    if let Some(n) = s.max_connections_per_client {
        let n = some(n);
        calls.push(quote!(.max_connections_per_client(#n)));
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

pub fn check_origin(origin: &Origin) -> Option<TokenStream> {
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
