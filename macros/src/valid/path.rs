//! The route: axum 0.8 syntax, and its parameters read by some extractor.

use syn::{LitStr, Type};

use crate::diagnostics::Errors;

/// Route syntax of axum 0.8: `/literal/{param}/{*rest}`. Also checks that a parameter can be
/// extracted, when that is knowable.
pub fn check_path(lit: &LitStr, has_style: bool, extractors: Option<&[Type]>, errors: &mut Errors) {
    let path = lit.value();
    if !path.starts_with('/') {
        errors.at(
            lit.span(),
            format!("the path must start with `/`: write \"/{path}\""),
        );
        return;
    }
    let mut params: Vec<String> = Vec::new();
    let mut problems: Vec<String> = Vec::new();
    let segments: Vec<&str> = path[1..].split('/').collect();
    let last = segments.len() - 1;
    let mut fixed_segments = Vec::new();
    let mut old_syntax = false;
    for (i, segment) in segments.iter().enumerate() {
        if let Some(name) = segment.strip_prefix(':') {
            old_syntax = true;
            fixed_segments.push(format!("{{{name}}}"));
            continue;
        }
        if let Some(name) = segment.strip_prefix('*') {
            old_syntax = true;
            fixed_segments.push(format!("{{*{name}}}"));
            continue;
        }
        fixed_segments.push((*segment).to_owned());
        // Scan braces: `{{` and `}}` are literal braces.
        let chars: Vec<char> = segment.chars().collect();
        let mut j = 0;
        while j < chars.len() {
            match chars[j] {
                '{' if chars.get(j + 1) == Some(&'{') => j += 2,
                '}' if chars.get(j + 1) == Some(&'}') => j += 2,
                '{' => {
                    let Some(len) = chars[j + 1..].iter().position(|&c| c == '}') else {
                        problems.push(format!(
                            "unclosed `{{` in segment `{segment}` (write `{{{{` for a literal brace)"
                        ));
                        break;
                    };
                    let inner: String = chars[j + 1..j + 1 + len].iter().collect();
                    let whole = j == 0 && j + len + 2 == chars.len();
                    let (catch_all, name) = match inner.strip_prefix('*') {
                        Some(name) => (true, name.to_owned()),
                        None => (false, inner.clone()),
                    };
                    let valid_name = name
                        .chars()
                        .next()
                        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                    if inner.contains('{') {
                        problems.push(format!("nested `{{` in segment `{segment}`"));
                    } else if !valid_name {
                        problems.push(format!(
                            "`{{{inner}}}` is not a valid parameter: a name is a Rust-like \
                             identifier, e.g. `{{room}}` or `{{*rest}}`"
                        ));
                    } else if !whole {
                        problems.push(format!(
                            "`{{{inner}}}` must be a whole path segment, like `/files/{{{inner}}}`"
                        ));
                    } else if catch_all && i != last {
                        problems.push(format!(
                            "the catch-all `{{{inner}}}` must be the last segment of the path"
                        ));
                    } else if params.contains(&name) {
                        problems.push(format!("the parameter `{name}` appears twice"));
                    } else {
                        params.push(name);
                    }
                    j += len + 2;
                }
                '}' => {
                    problems.push(format!(
                        "unmatched `}}` in segment `{segment}` (write `}}}}` for a literal brace)"
                    ));
                    break;
                }
                _ => j += 1,
            }
        }
    }
    if old_syntax {
        errors.at(
            lit.span(),
            format!(
                "axum 0.8 writes path parameters in braces: `{{name}}` instead of `:name`, \
                 `{{*rest}}` instead of `*rest`; write \"/{}\"",
                fixed_segments.join("/")
            ),
        );
        return;
    }
    for problem in &problems {
        errors.at(lit.span(), format!("invalid path \"{path}\": {problem}"));
    }
    if !problems.is_empty() || params.is_empty() || !has_style {
        return;
    }
    // A parameter nobody extracts is a route that can never be read; `Path` (or any extractor
    // whose name contains `Path`, like `RawPathParams` or a wrapper) reads them.
    let reads_path = extractors.is_some_and(|types| types.iter().any(mentions_path));
    if !reads_path {
        let (pattern, ty) = if params.len() == 1 {
            (params[0].clone(), "String".to_owned())
        } else {
            (
                format!("({})", params.join(", ")),
                format!(
                    "({})",
                    params
                        .iter()
                        .map(|_| "String")
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
        };
        let fix = match extractors {
            Some(_) => format!(
                "add `Path({pattern}): Path<{ty}>` (from `axum::extract`) to the parameters \
                 of the `#[on_open]` or `#[serve]` method"
            ),
            None => format!(
                "add an `#[on_open]` handler that takes it: `#[on_open] async fn open(&self, \
                 Path({pattern}): Path<{ty}>) -> Result<Session, Error>`"
            ),
        };
        errors.at(
            lit.span(),
            format!(
                "the path has {} but no handler extracts {}: {fix}",
                params
                    .iter()
                    .map(|p| format!("`{{{p}}}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
                if params.len() == 1 { "it" } else { "them" },
            ),
        );
    }
}

fn mentions_path(ty: &Type) -> bool {
    match ty {
        Type::Path(p) => p
            .path
            .segments
            .last()
            .is_some_and(|s| s.ident.to_string().contains("Path")),
        Type::Group(g) => mentions_path(&g.elem),
        Type::Paren(p) => mentions_path(&p.elem),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use proc_macro2::Span;

    use super::*;

    fn path_errors(path: &str, extractors: Option<&[Type]>) -> usize {
        let lit = LitStr::new(path, Span::call_site());
        let mut errors = Errors::default();
        check_path(&lit, true, extractors, &mut errors);
        errors.finish().err().map_or(0, |e| e.into_iter().count())
    }

    #[test]
    fn paths() {
        let path: Vec<Type> = vec![syn::parse_quote!(axum::extract::Path<String>)];
        let raw: Vec<Type> = vec![syn::parse_quote!(RawPathParams)];
        let query: Vec<Type> = vec![syn::parse_quote!(Query<Q>)];
        assert_eq!(path_errors("/", None), 0);
        assert_eq!(path_errors("/chat/{room}", Some(&path)), 0);
        assert_eq!(path_errors("/files/{*rest}", Some(&raw)), 0);
        assert_eq!(path_errors("/lit/{{braces}}", None), 0);
        assert_eq!(path_errors("/chat/{room}", Some(&query)), 1);
        assert_eq!(path_errors("/chat/{room}", None), 1);
        assert_eq!(path_errors("chat", None), 1);
        assert_eq!(path_errors("/chat/:room", Some(&path)), 1);
        assert_eq!(path_errors("/files/*rest", Some(&path)), 1);
        assert_eq!(path_errors("/a/{x}/{x}", Some(&path)), 1);
        assert_eq!(path_errors("/a/{*x}/b", Some(&path)), 1);
        assert_eq!(path_errors("/a/b{x}", Some(&path)), 1);
        assert_eq!(path_errors("/a/{x-y}", Some(&path)), 1);
        assert_eq!(path_errors("/a/{x", Some(&path)), 1);
        assert_eq!(path_errors("/a/x}", Some(&path)), 1);
    }
}
