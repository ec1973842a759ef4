//! Tests of the deflate module, with a few shared helpers.

mod inflate;
mod negotiate;
mod roundtrip;

use crate::deflate::{DeflateConfig, DeflateParams, Deflater, Inflater};
use crate::Role;

/// xorshift64: reproducible pseudo-random inputs without a dependency.
pub(super) struct Rng(u64);

impl Rng {
    pub(super) fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    pub(super) fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number in `0..n` (n > 0).
    pub(super) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    pub(super) fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }

    /// Text-like bytes: words from a small vocabulary, so that it compresses.
    pub(super) fn text(&mut self, len: usize) -> Vec<u8> {
        const WORDS: &[&str] = &[
            "{\"id\":",
            "\"price\":",
            "12.5,",
            "\"name\":",
            "\"websocket\"",
            "}",
            "[",
            "],",
            "deflate ",
            "context ",
            "takeover ",
            "window ",
            "0",
            "1",
            "2",
            "3",
            "\n",
        ];
        let mut text = Vec::with_capacity(len + 16);
        while text.len() < len {
            text.extend_from_slice(WORDS[self.below(WORDS.len())].as_bytes());
        }
        text.truncate(len);
        text
    }

    /// Splits `len` into random piece lengths (some of them empty).
    pub(super) fn splits(&mut self, len: usize, max_piece: usize) -> Vec<usize> {
        let mut pieces = Vec::new();
        let mut left = len;
        while left > 0 {
            let piece = self.below(max_piece + 1).min(left);
            pieces.push(piece);
            left -= piece;
        }
        pieces
    }
}

/// The parameters `server` agrees on with a client configured as `client`.
pub(super) fn agree(client: &DeflateConfig, server: &DeflateConfig) -> DeflateParams {
    let offer = crate::deflate::client_offer(client);
    crate::deflate::accept_offer([offer.as_bytes()], server).expect("offer accepted")
}

/// The two ends of one direction: the sender's deflater and the receiver's inflater.
pub(super) fn direction(params: &DeflateParams, sender: Role) -> (Deflater, Inflater) {
    let receiver = match sender {
        Role::Server => Role::Client,
        Role::Client => Role::Server,
    };
    (
        Deflater::new(params, sender, 0),
        Inflater::new(params, receiver),
    )
}

/// Inflates one message given in pieces of the given lengths, then finishes it.
pub(super) fn inflate_pieces(
    inflater: &mut Inflater,
    payload: &[u8],
    pieces: &[usize],
    limit: usize,
) -> Result<Vec<u8>, crate::deflate::InflateError> {
    let mut out = Vec::new();
    let mut at = 0;
    for &piece in pieces {
        inflater.inflate(&payload[at..at + piece], &mut out, limit)?;
        at += piece;
    }
    inflater.inflate(&payload[at..], &mut out, limit)?;
    inflater.finish(&mut out, limit)?;
    Ok(out)
}

/// Inflates one whole message at once.
pub(super) fn inflate_all(inflater: &mut Inflater, payload: &[u8]) -> Vec<u8> {
    inflate_pieces(inflater, payload, &[], usize::MAX).expect("valid message")
}
