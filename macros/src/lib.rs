//! The `#[ws_controller]` attribute. Use it through the `ws-controller` crate
//! (`ws_controller::ws_controller`); the generated code refers to that crate.
//!
//! The macro is a small compiler: `attr` parses the arguments, `ast` parses the impl block,
//! `valid` checks both and reports every problem at once (collected by `diagnostics`) into a
//! `model`, and `expand` emits code for a valid model only.
#![forbid(unsafe_code)]

use proc_macro::TokenStream;

mod ast;
mod attr;
mod diagnostics;
mod expand;
mod model;
mod valid;

#[cfg_attr(not(doctest), doc = include_str!("ws_controller.md"))]
#[proc_macro_attribute]
pub fn ws_controller(args: TokenStream, input: TokenStream) -> TokenStream {
    expand::ws_controller(args.into(), input.into()).into()
}
