//! Diagnostics shared by every step: [`Errors`], which collects all problems so they are
//! reported at once, and [`did_you_mean`] for misspelled keys and markers.

use proc_macro2::Span;

/// Accumulates errors with `syn::Error::combine`.
#[derive(Default)]
pub struct Errors(Option<syn::Error>);

impl Errors {
    pub fn push(&mut self, err: syn::Error) {
        match &mut self.0 {
            Some(all) => all.combine(err),
            None => self.0 = Some(err),
        }
    }

    pub fn at(&mut self, span: Span, message: impl std::fmt::Display) {
        self.push(syn::Error::new(span, message));
    }

    /// An error covering all of `tokens` (a multi-token span on stable Rust).
    pub fn spanned(&mut self, tokens: impl quote::ToTokens, message: impl std::fmt::Display) {
        self.push(syn::Error::new_spanned(tokens, message));
    }

    pub fn finish(self) -> syn::Result<()> {
        self.0.map_or(Ok(()), Err)
    }
}

/// The closest of `candidates` to `name`, when it is close enough to be a typo.
pub fn did_you_mean<'a>(name: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let limit = if name.len() >= 6 {
        (name.len() / 3).max(2)
    } else {
        1
    };
    candidates
        .iter()
        .map(|c| (edit_distance(name, c), *c))
        .filter(|(d, c)| *d <= limit || (name.len() >= 4 && c.starts_with(name)))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            let next = (row[j + 1] + 1).min(row[j] + 1).min(prev + cost);
            prev = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions() {
        assert_eq!(
            did_you_mean("on_txt", &["on_text", "on_json"]),
            Some("on_text")
        );
        assert_eq!(
            did_you_mean("max_msg_size", &["max_message_size", "send_queue"]),
            Some("max_message_size")
        );
        assert_eq!(did_you_mean("on_bin", &["on_binary"]), Some("on_binary"));
        assert_eq!(
            did_you_mean("inline", &["on_open", "on_close", "serve"]),
            None
        );
        assert_eq!(did_you_mean("test", &["serve"]), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
