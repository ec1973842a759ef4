//! UTF-8 validated as bytes arrive, so a text message fails at its first invalid byte.

/// Validates a byte stream piece by piece.
///
/// A sequence cut by a piece boundary is carried over (at most 3 bytes); a prefix that no
/// continuation could make valid (`\xF4\x90`, `\xED\xA0`, `\xC0`) fails at once, without
/// waiting for the rest of the sequence.
#[derive(Debug, Default, Clone)]
pub struct Utf8Validator {
    partial: [u8; 4],
    partial_len: u8,
}

/// The stream is not UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid UTF-8")]
pub struct InvalidUtf8;

impl Utf8Validator {
    /// A validator at the start of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Checks the next piece.
    pub fn feed(&mut self, input: &[u8]) -> Result<(), InvalidUtf8> {
        self.advance(input, |_| {})
    }

    /// Checks the next piece and appends its complete characters to `out`: the text is
    /// built in the same pass that checks it.
    pub fn push(&mut self, input: &[u8], out: &mut String) -> Result<(), InvalidUtf8> {
        self.advance(input, |text| out.push_str(text))
    }

    fn advance(&mut self, mut input: &[u8], mut sink: impl FnMut(&str)) -> Result<(), InvalidUtf8> {
        if self.partial_len > 0 {
            let have = usize::from(self.partial_len);
            let need = sequence_len(self.partial[0]) - have;
            let take = need.min(input.len());
            self.partial[have..have + take].copy_from_slice(&input[..take]);
            let have = have + take;
            input = &input[take..];
            match std::str::from_utf8(&self.partial[..have]) {
                Ok(text) => {
                    sink(text);
                    self.partial_len = 0;
                }
                Err(err) if err.error_len().is_none() => {
                    // Still a valid prefix: the piece ended inside the sequence again.
                    self.partial_len = have as u8;
                    return Ok(());
                }
                Err(_) => return Err(InvalidUtf8),
            }
        }
        // One pass over the piece: the characters up to `cut`, then the open sequence after
        // it, which must be a prefix some continuation could complete.
        let cut = complete_prefix(input);
        let text = std::str::from_utf8(&input[..cut]).map_err(|_| InvalidUtf8)?;
        sink(text);
        let rest = &input[cut..];
        if !rest.is_empty() {
            match std::str::from_utf8(rest) {
                Err(err) if err.error_len().is_none() && err.valid_up_to() == 0 => {}
                _ => return Err(InvalidUtf8),
            }
            self.partial[..rest.len()].copy_from_slice(rest);
            self.partial_len = rest.len() as u8;
        }
        Ok(())
    }

    /// Ends the stream: a sequence still open is invalid.
    pub fn finish(&mut self) -> Result<(), InvalidUtf8> {
        let open = self.partial_len > 0;
        self.partial_len = 0;
        if open {
            Err(InvalidUtf8)
        } else {
            Ok(())
        }
    }
}

/// Where the last, possibly unfinished, sequence of `input` starts (`input.len()` when the
/// piece ends on a character boundary, as far as its last three bytes tell).
fn complete_prefix(input: &[u8]) -> usize {
    let len = input.len();
    for at in (len.saturating_sub(3)..len).rev() {
        match input[at] {
            // A continuation byte: the sequence starts further back.
            0x80..=0xBF => continue,
            lead @ 0xC0..=0xFF if at + sequence_len(lead) > len => return at,
            _ => return len,
        }
    }
    len
}

/// The length of the sequence a lead byte starts (2 to 4; an invalid lead byte is caught by
/// the check of the bytes it starts).
fn sequence_len(lead: u8) -> usize {
    match lead {
        0xF0..=0xFF => 4,
        0xE0..=0xEF => 3,
        _ => 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_all_splits(bytes: &[u8]) -> Result<(), InvalidUtf8> {
        let whole = std::str::from_utf8(bytes)
            .map(|_| ())
            .map_err(|_| InvalidUtf8);
        // Every split into two pieces, and byte by byte.
        for cut in 0..=bytes.len() {
            let mut v = Utf8Validator::new();
            let split = v
                .feed(&bytes[..cut])
                .and_then(|()| v.feed(&bytes[cut..]))
                .and_then(|()| v.finish());
            assert_eq!(split, whole, "{bytes:x?} cut at {cut}");
            let mut v = Utf8Validator::new();
            let mut text = String::new();
            let pushed = v
                .push(&bytes[..cut], &mut text)
                .and_then(|()| v.push(&bytes[cut..], &mut text))
                .and_then(|()| v.finish());
            assert_eq!(pushed, whole, "{bytes:x?} pushed, cut at {cut}");
            if pushed.is_ok() {
                assert_eq!(text.as_bytes(), bytes);
            }
        }
        let mut v = Utf8Validator::new();
        let bytewise = bytes
            .iter()
            .try_for_each(|b| v.feed(std::slice::from_ref(b)))
            .and_then(|()| v.finish());
        assert_eq!(bytewise, whole, "{bytes:x?} byte by byte");
        whole
    }

    #[test]
    fn agrees_with_std_on_every_split() {
        let cases: &[&[u8]] = &[
            b"",
            b"hello",
            "κόσμε".as_bytes(),
            "€𝄞ü".as_bytes(),
            b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited",
            b"\xf4\x90\x80\x80",
            b"\xc0\xaf",
            b"\xe0\x80\xaf",
            b"\xed\xa0\x80",
            b"\xf0\x9f\x98",
            b"\xff",
            b"ab\xe2\x82",
            b"\xf0\x9f\x98\x80\xf0\x9f\x98\x81",
        ];
        for case in cases {
            let _ = check_all_splits(case);
        }
    }

    #[test]
    fn fails_at_the_first_impossible_byte() {
        // Autobahn 6.4.x: the invalid prefix must fail before the rest of the frame arrives.
        let mut v = Utf8Validator::new();
        v.feed("κόσμε".as_bytes()).unwrap();
        assert_eq!(
            v.feed(b"\xf4"),
            Ok(()),
            "F4 may still start a valid sequence"
        );
        assert_eq!(
            v.feed(b"\x90"),
            Err(InvalidUtf8),
            "F4 90 can never be valid"
        );

        let mut v = Utf8Validator::new();
        assert_eq!(
            v.feed(b"ok\xed\xa0"),
            Err(InvalidUtf8),
            "a surrogate prefix"
        );
    }

    #[test]
    fn an_open_sequence_at_the_end_is_invalid() {
        let mut v = Utf8Validator::new();
        v.feed(b"\xe2\x82").unwrap();
        assert_eq!(v.finish(), Err(InvalidUtf8));
        assert_eq!(v.finish(), Ok(()), "finish resets");
    }
}
