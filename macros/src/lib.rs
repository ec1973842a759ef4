//! The `#[ws_controller]` attribute. Use it through the `ws-controller` crate
//! (`ws_controller::ws_controller`); the generated code refers to that crate.
//!
//! The macro is a small compiler: `attr.rs` parses the arguments, `ast.rs` parses the impl
//! block, `valid.rs` checks both and reports every problem at once, and `expand.rs` emits
//! code for a valid model only.
#![forbid(unsafe_code)]

use proc_macro::TokenStream;

mod ast;
mod attr;
mod expand;
mod valid;

#[cfg_attr(not(doctest), doc = include_str!("ws_controller.md"))]
#[proc_macro_attribute]
pub fn ws_controller(args: TokenStream, input: TokenStream) -> TokenStream {
    expand::ws_controller(args.into(), input.into()).into()
}
