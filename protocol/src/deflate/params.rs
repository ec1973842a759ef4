//! The compression policy a user chooses and the parameters a connection agrees on.

use std::fmt::Write as _;

/// The server's (or client's) compression policy, from the user's settings.
///
/// Window sizes are base-2 logarithms of the LZ77 window (9..=15; 15 is 32 KiB). Values
/// outside 9..=15 set directly in the fields are clamped into that range wherever they
/// are used.
///
/// Memory, per connection, is what sets the two modes apart; see [`DeflateConfig::lean`]
/// and [`DeflateConfig::context_takeover`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeflateConfig {
    /// Ask that the server compress every message on its own (no LZ77 window carried
    /// from one message to the next): the server side then borrows its compressor per
    /// message. A server always honours a client that asks for it.
    pub server_no_context_takeover: bool,
    /// Ask that the client compress every message on its own: the server side then
    /// borrows its decompressor per message (RFC 7692 §7.1.1.2 lets the server ask).
    pub client_no_context_takeover: bool,
    /// The largest window the server compresses with.
    pub server_max_window_bits: u8,
    /// The largest window the client may compress with, applied when the client's offer
    /// allows it (has `client_max_window_bits`, as browsers' do); otherwise the client
    /// keeps 15 bits, RFC 7692 §7.1.2.2. It saves the client memory, not the server: this
    /// implementation inflates with a 32 KiB window whatever the bits (see
    /// [`Inflater::new`](super::Inflater::new)).
    pub client_max_window_bits: u8,
    /// Messages shorter than this go out uncompressed (RSV1 clear). Default 1 KiB.
    pub threshold: usize,
}

/// The default threshold: below 1 KiB, compression rarely saves enough to pay for itself.
const DEFAULT_THRESHOLD: usize = 1024;

impl DeflateConfig {
    /// The lean mode (`compression = "on"`): no context takeover in either direction.
    ///
    /// The server asks for `client_no_context_takeover` in its answer (RFC 7692
    /// §7.1.1.2), so each direction's compressor or decompressor is borrowed per message
    /// from a per-thread pool and an idle connection holds no zlib state at all: the
    /// per-connection cost is the 88 bytes of [`Deflater`](super::Deflater) (24) and
    /// [`Inflater`](super::Inflater) (64) themselves (measured on x86-64 by the
    /// `deflate_memory` example). Each thread keeps at most one idle compressor per
    /// window size in use (about 370 KiB at 15 bits) and four idle decompressors (about
    /// 47 KiB each). Windows are 15 bits, the best ratio a single message can get.
    pub fn lean() -> Self {
        DeflateConfig {
            server_no_context_takeover: true,
            client_no_context_takeover: true,
            server_max_window_bits: 15,
            client_max_window_bits: 15,
            threshold: DEFAULT_THRESHOLD,
        }
    }

    /// Best ratio: context takeover both ways with the given window bits (9..=15), so a
    /// message can refer back to earlier ones; per-connection state.
    ///
    /// Each connection keeps its own compressor and decompressor for its lifetime
    /// (created on first use). Measured heap per connection once it has sent and
    /// received one message (`cargo run --release -p ws-controller-protocol --example
    /// deflate_memory`: 1,000 server-side `Deflater` + `Inflater` pairs, zlib-rs 0.6.8
    /// through flate2, level 6):
    ///
    /// | window bits | 9 | 10 | 11 | 12 | 13 | 14 | 15 |
    /// | --- | --- | --- | --- | --- | --- | --- | --- |
    /// | `Deflater` (KiB) | 245.3 | 247.3 | 251.3 | 259.3 | 275.3 | 307.3 | 371.3 |
    /// | `Inflater` (KiB) | 46.6 | 46.6 | 46.6 | 46.6 | 46.6 | 46.6 | 46.6 |
    /// | per connection (KiB) | 291.9 | 293.9 | 297.9 | 305.9 | 321.9 | 353.9 | 417.9 |
    ///
    /// The compressor dominates, and fewer window bits save less than one might hope:
    /// zlib-rs's hash table (128 KiB) and literal buffers (112 KiB at zlib's default
    /// memory level, which flate2 does not let one change) do not depend on the window,
    /// and its inflater always allocates a 32 KiB window. For comparison, on the same run
    /// 200 JSON-like messages of about 1 KiB compressed to 28.9% of their size in lean
    /// mode, and to 23.1% / 19.6% / 16.5% with context takeover at 9 / 12 / 15 bits.
    ///
    /// # Panics
    ///
    /// If `window_bits` is outside 9..=15.
    pub fn context_takeover(window_bits: u8) -> Self {
        assert!(
            (9..=15).contains(&window_bits),
            "permessage-deflate window bits must be within 9..=15, got {window_bits}"
        );
        DeflateConfig {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: window_bits,
            client_max_window_bits: window_bits,
            threshold: DEFAULT_THRESHOLD,
        }
    }

    /// Sets the size below which messages go out uncompressed.
    pub fn threshold(self, bytes: usize) -> Self {
        DeflateConfig {
            threshold: bytes,
            ..self
        }
    }
}

impl Default for DeflateConfig {
    /// [`DeflateConfig::lean`].
    fn default() -> Self {
        DeflateConfig::lean()
    }
}

/// What one connection agreed on (the parameters of the server's answer, RFC 7692 §7.1).
///
/// The `server_*` fields govern the server-to-client direction, the `client_*` fields the
/// client-to-server one. Window bits range over 8..=15 (8 only for the client's window:
/// see [`accept_offer`](super::accept_offer)); 15 is also what an absent parameter means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeflateParams {
    /// The server compresses each message on its own.
    pub server_no_context_takeover: bool,
    /// The client compresses each message on its own.
    pub client_no_context_takeover: bool,
    /// The largest window the server compresses with.
    pub server_max_window_bits: u8,
    /// The largest window the client compresses with.
    pub client_max_window_bits: u8,
}

impl DeflateParams {
    /// The `Sec-WebSocket-Extensions` value of the server's answer, e.g.
    /// `"permessage-deflate; server_no_context_takeover; client_no_context_takeover"`.
    ///
    /// A window of 15 bits is left out: absent, either parameter means 15, which is also
    /// the most an offer can have asked for, so the answer stays within it (and an offer
    /// without `client_max_window_bits` must not get one back, §7.1.2.2).
    pub fn response_header(&self) -> String {
        let mut header = String::from("permessage-deflate");
        if self.server_no_context_takeover {
            header.push_str("; server_no_context_takeover");
        }
        if self.client_no_context_takeover {
            header.push_str("; client_no_context_takeover");
        }
        if self.server_max_window_bits < 15 {
            // Writing into a String cannot fail.
            let _ = write!(
                header,
                "; server_max_window_bits={}",
                self.server_max_window_bits
            );
        }
        if self.client_max_window_bits < 15 {
            let _ = write!(
                header,
                "; client_max_window_bits={}",
                self.client_max_window_bits
            );
        }
        header
    }
}
