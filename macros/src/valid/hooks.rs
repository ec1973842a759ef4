//! The signatures of the hooks: plain `fn`s with fixed parameters and return types.

use syn::{ReturnType, Type};

use crate::ast::{Handler, Kind};
use crate::diagnostics::Errors;
use crate::model::{HookFn, Output};

fn output_is_unit(handler: &Handler) -> bool {
    match &handler.sig.output {
        ReturnType::Default => true,
        ReturnType::Type(_, ty) => matches!(&**ty, Type::Tuple(t) if t.elems.is_empty()),
    }
}

pub fn hook_fn(h: &Handler, errors: &mut Errors) -> Option<HookFn> {
    let (expected, returns): (&[&str], Option<&str>) = match h.kind {
        Kind::CheckOrigin => (&["request: &Parts"], Some("bool")),
        Kind::UpgradeHeaders => (&["request: &Parts"], Some("HeaderMap")),
        Kind::OnError => (&["request: &Parts", "error: &Error"], None),
        Kind::Hub => (&[], Some("&Hub")),
        _ => (
            &[
                "request: &Parts",
                "status: StatusCode",
                "reason: &UpgradeError",
            ],
            Some("Response"),
        ),
    };
    let name = h.kind.name();
    let signature = format!(
        "`fn {}(&self{}){}`",
        h.name(),
        expected
            .iter()
            .map(|p| format!(", {p}"))
            .collect::<String>(),
        returns.map(|r| format!(" -> {r}")).unwrap_or_default()
    );
    let mut ok = true;
    if h.params.len() != expected.len() {
        let params: Vec<_> = h.params.iter().map(|p| &p.arg).collect();
        let tokens = if params.is_empty() {
            let mut group = proc_macro2::Group::new(
                proc_macro2::Delimiter::Parenthesis,
                proc_macro2::TokenStream::new(),
            );
            group.set_span(h.sig.paren_token.span.join());
            quote::quote!(#group)
        } else {
            quote::quote!(#(#params),*)
        };
        errors.spanned(
            tokens,
            format!(
                "`#[{name}]` takes {}: {signature}",
                match expected.len() {
                    0 => "only `&self`".to_owned(),
                    1 => "1 parameter after `&self`".to_owned(),
                    n => format!("{n} parameters after `&self`"),
                }
            ),
        );
        ok = false;
    }
    match (returns, output_is_unit(h)) {
        (Some(ty), true) => {
            errors.at(
                h.sig.ident.span(),
                format!("`#[{name}]` must return `{ty}`: {signature}"),
            );
            ok = false;
        }
        (None, false) => {
            errors.spanned(
                &h.sig.output,
                format!("`#[{name}]` returns nothing: remove the return type ({signature})"),
            );
            ok = false;
        }
        _ => {}
    }
    ok.then(|| HookFn {
        name: h.name().clone(),
        params: h.params.iter().map(|p| p.ty.clone()).collect(),
        output: Output::of(h),
    })
}
