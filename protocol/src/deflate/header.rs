//! The `Sec-WebSocket-Extensions` grammar (RFC 6455 §9.1):
//!
//! ```text
//! extension-list  = 1#extension
//! extension       = extension-token *( ";" extension-param )
//! extension-param = token [ "=" (token | quoted-string) ]
//! ```
//!
//! with optional whitespace around every separator, empty list elements ignored (RFC 7230
//! §7) and a quoted value required to be a token once unescaped (RFC 6455 §9.1). This
//! parses attacker bytes: it never panics, never allocates more than one entry per
//! parameter, and runs in time linear in its input.

use std::borrow::Cow;

/// One element of an extension list.
#[derive(Debug)]
pub(super) struct Extension<'a> {
    pub(super) name: &'a [u8],
    pub(super) params: Vec<Param<'a>>,
}

/// One `name` or `name=value` parameter of an extension.
#[derive(Debug)]
pub(super) struct Param<'a> {
    pub(super) name: &'a [u8],
    /// The value, unescaped (owned only when the quoted-string held escapes).
    pub(super) value: Option<Cow<'a, [u8]>>,
}

/// An element that does not follow the grammar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Malformed;

/// The elements of one header value, in order. A malformed element yields `Err` and
/// parsing resumes after the comma that ends it, so one bad offer does not hide the
/// client's later ones.
pub(super) fn elements(value: &[u8]) -> Elements<'_> {
    Elements { s: value, i: 0 }
}

/// Iterator returned by [`elements`].
pub(super) struct Elements<'a> {
    s: &'a [u8],
    i: usize,
}

impl<'a> Iterator for Elements<'a> {
    type Item = Result<Extension<'a>, Malformed>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            self.skip_ows();
            match self.peek() {
                None => return None,
                Some(b',') => self.i += 1,
                Some(_) => break,
            }
        }
        let start = self.i;
        match self.element() {
            Ok(extension) => Some(Ok(extension)),
            Err(Malformed) => {
                self.i = start;
                self.skip_element();
                Some(Err(Malformed))
            }
        }
    }
}

impl<'a> Elements<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn skip_ows(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.i += 1;
        }
    }

    /// Parses one element and the comma (or end) after it.
    fn element(&mut self) -> Result<Extension<'a>, Malformed> {
        let name = self.token()?;
        let mut params = Vec::new();
        loop {
            self.skip_ows();
            match self.peek() {
                None => break,
                Some(b',') => {
                    self.i += 1;
                    break;
                }
                Some(b';') => {
                    self.i += 1;
                    self.skip_ows();
                    let name = self.token()?;
                    self.skip_ows();
                    let value = if self.peek() == Some(b'=') {
                        self.i += 1;
                        self.skip_ows();
                        Some(if self.peek() == Some(b'"') {
                            self.quoted()?
                        } else {
                            Cow::Borrowed(self.token()?)
                        })
                    } else {
                        None
                    };
                    params.push(Param { name, value });
                }
                Some(_) => return Err(Malformed),
            }
        }
        Ok(Extension { name, params })
    }

    fn token(&mut self) -> Result<&'a [u8], Malformed> {
        let start = self.i;
        while self.peek().is_some_and(is_tchar) {
            self.i += 1;
        }
        if self.i == start {
            return Err(Malformed);
        }
        Ok(&self.s[start..self.i])
    }

    /// A quoted-string (RFC 7230 §3.2.6) whose unescaped content must be a token.
    fn quoted(&mut self) -> Result<Cow<'a, [u8]>, Malformed> {
        self.i += 1; // the opening quote
        let start = self.i;
        let mut unescaped: Option<Vec<u8>> = None;
        loop {
            let c = self.peek().ok_or(Malformed)?;
            self.i += 1;
            match c {
                b'"' => break,
                b'\\' => {
                    let escaped = self.peek().ok_or(Malformed)?;
                    self.i += 1;
                    unescaped
                        .get_or_insert_with(|| self.s[start..self.i - 2].to_vec())
                        .push(escaped);
                }
                _ => {
                    if let Some(unescaped) = &mut unescaped {
                        unescaped.push(c);
                    }
                }
            }
        }
        let value = match unescaped {
            Some(unescaped) => Cow::Owned(unescaped),
            None => Cow::Borrowed(&self.s[start..self.i - 1]),
        };
        // Anything outside tchar (CTLs, spaces, separators, obs-text) fails here, which
        // also covers the characters a quoted-string itself forbids.
        if value.is_empty() || !value.iter().copied().all(is_tchar) {
            return Err(Malformed);
        }
        Ok(value)
    }

    /// Skips to just after the next comma outside a quoted-string, or to the end.
    fn skip_element(&mut self) {
        let mut quoted = false;
        while let Some(c) = self.peek() {
            self.i += 1;
            match c {
                b'"' => quoted = !quoted,
                b'\\' if quoted => self.i += 1,
                b',' if !quoted => return,
                _ => {}
            }
        }
    }
}

/// `tchar` of RFC 7230 §3.2.6.
fn is_tchar(c: u8) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(
            c,
            b'!' | b'#'
                | b'$'
                | b'%'
                | b'&'
                | b'\''
                | b'*'
                | b'+'
                | b'-'
                | b'.'
                | b'^'
                | b'_'
                | b'`'
                | b'|'
                | b'~'
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Renders parsed elements compactly: `name(p,p=v)` or `!` for a malformed one.
    fn render(value: &str) -> Vec<String> {
        elements(value.as_bytes())
            .map(|element| match element {
                Err(Malformed) => "!".to_owned(),
                Ok(e) => {
                    let params: Vec<String> = e
                        .params
                        .iter()
                        .map(|p| {
                            let name = String::from_utf8_lossy(p.name);
                            match &p.value {
                                None => name.into_owned(),
                                Some(v) => format!("{name}={}", String::from_utf8_lossy(v)),
                            }
                        })
                        .collect();
                    format!("{}({})", String::from_utf8_lossy(e.name), params.join(","))
                }
            })
            .collect()
    }

    #[test]
    fn grammar() {
        let cases: &[(&str, &[&str])] = &[
            ("", &[]),
            ("  ,, ,", &[]),
            ("permessage-deflate", &["permessage-deflate()"]),
            ("a;b;c=1", &["a(b,c=1)"]),
            ("a ; b = 1 ;c\t=\t\"2\" , d", &["a(b=1,c=2)", "d()"]),
            ("a; b=\"x\\yz\"", &["a(b=xyz)"]),
            ("a; b=\"1,2\", c", &["!", "c()"]),
            ("a; b=\"a b\"", &["!"]),
            ("a; b=\"\"", &["!"]),
            ("a; b=\"unterminated, c", &["!"]),
            ("a; b=\"x\\", &["!"]),
            ("a; b=", &["!"]),
            ("a; =1, b", &["!", "b()"]),
            ("a b, c", &["!", "c()"]),
            ("a;;b", &["!"]),
            ("a; b=1=2, c", &["!", "c()"]),
            (";a, b", &["!", "b()"]),
            ("a; b=\"q\\\"\", c", &["!", "c()"]),
            ("a\u{e9}, b", &["!", "b()"]),
            (
                "x-foo; bar=\"1,2;3\", permessage-deflate",
                &["!", "permessage-deflate()"],
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(render(input), *expected, "input {input:?}");
        }
    }

    #[test]
    fn any_bytes_terminate_without_panic() {
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        for _ in 0..20_000 {
            let mut bytes = Vec::new();
            for _ in 0..(state % 24) {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                const ALPHABET: &[u8] = b"ab=;,\" \\\t1\x00\xff";
                bytes.push(ALPHABET[(state % ALPHABET.len() as u64) as usize]);
            }
            assert!(elements(&bytes).count() <= bytes.len());
        }
    }
}
