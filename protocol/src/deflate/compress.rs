//! The sending side: one connection's compressor, and compress-once for many connections.

use std::sync::atomic::{AtomicU64, Ordering};

use flate2::{Compress, FlushCompress};

use super::params::DeflateParams;
use super::pool;
use super::TAIL;
use crate::Role;

static MESSAGES_COMPRESSED: AtomicU64 = AtomicU64::new(0);

/// How many messages this process has compressed ([`Deflater::compress`] and
/// [`compress_shared`] calls), a relaxed counter: a broadcast compressed once for any
/// number of connections counts one.
pub fn messages_compressed() -> u64 {
    MESSAGES_COMPRESSED.load(Ordering::Relaxed)
}

/// Compresses one connection's outgoing messages (a server's with the `server_*`
/// parameters, a client's with the `client_*` ones).
#[derive(Debug)]
pub struct Deflater {
    /// The largest window this direction may compress with, 8..=15 (8: stored blocks).
    window_bits: u8,
    /// zlib's level, 0..=9.
    level: u8,
    context_takeover: bool,
    threshold: usize,
    /// With context takeover only: the stream every message continues, made on first use
    /// (boxed, so that a lean connection's `Deflater` stays a few words).
    state: Option<Box<Compress>>,
}

impl Deflater {
    /// A deflater for `role`'s sending direction of a connection that agreed on `params`.
    ///
    /// Messages shorter than `threshold` bytes are not to be compressed (see
    /// [`Deflater::should_compress`]). Window bits outside 8..=15 are clamped into it. The
    /// level is zlib's default, [`DEFAULT_LEVEL`]; see [`Deflater::with_level`].
    pub fn new(params: &DeflateParams, role: Role, threshold: usize) -> Self {
        let (no_context_takeover, window_bits) = match role {
            Role::Server => (
                params.server_no_context_takeover,
                params.server_max_window_bits,
            ),
            Role::Client => (
                params.client_no_context_takeover,
                params.client_max_window_bits,
            ),
        };
        Deflater {
            window_bits: pool::send_bits(window_bits),
            level: DEFAULT_LEVEL,
            context_takeover: !no_context_takeover,
            threshold,
            state: None,
        }
    }

    /// Compresses at zlib's `level`: 0 (stored blocks, no compression) to 9 (smallest,
    /// slowest); higher values mean 9. The level is the sender's choice alone: the peer
    /// inflates any of them.
    ///
    /// Measured with zlib-rs on this project's machine (one message compressed from a
    /// fresh state, as in the lean mode): JSON-like text of 1 KiB took 5 µs at level 1 to
    /// 34% of its size, 13 µs at levels 3 and 6 to 26%; of 16 KiB, 22 µs (29%), 57 µs
    /// (19%) and 175 µs (18%) at levels 1, 3 and 6.
    pub fn with_level(mut self, level: u8) -> Self {
        self.level = pool::level(level);
        self
    }

    /// The level this deflater compresses at.
    pub fn level(&self) -> u8 {
        self.level
    }

    /// Whether a payload of this length is compressed at all (at least the threshold).
    ///
    /// Always `false` when the peer's window is 8 bits, which zlib cannot compress for
    /// (RFC 7692 lets a sender leave any message uncompressed, §6).
    pub fn should_compress(&self, len: usize) -> bool {
        len >= self.threshold && self.window_bits > 8
    }

    /// Compresses one whole message and appends the frame payload to `out`: raw deflate,
    /// sync flush, trailing `00 00 ff ff` removed (RFC 7692 §7.2.1). The frames carrying
    /// it have RSV1 set on the first one.
    ///
    /// Without context takeover in this direction, the compressor is borrowed from a
    /// per-thread pool for the duration of the call and reset and returned afterwards, so
    /// an idle connection holds no compressor; the output is then the same bytes as
    /// [`compress_shared`] with [`Deflater::shared_window_bits`]. With context takeover
    /// the compressor lives in the `Deflater` (made on first use) and each message may
    /// refer back to the previous ones.
    ///
    /// Any message can be compressed; [`Deflater::should_compress`] is only the policy.
    pub fn compress(&mut self, payload: &[u8], out: &mut Vec<u8>) {
        if self.context_takeover {
            let (bits, level) = (self.window_bits, self.level);
            let compressor = self
                .state
                .get_or_insert_with(|| Box::new(pool::new_compressor(bits, level)));
            deflate_message(compressor, payload, out);
            MESSAGES_COMPRESSED.fetch_add(1, Ordering::Relaxed);
        } else {
            compress_shared(payload, self.window_bits, self.level, out);
        }
    }

    /// `Some(window_bits)` when this connection's peer can inflate a message compressed
    /// without context with at most that window, i.e. there is no context takeover in
    /// this sending direction: such a connection can be sent a frame made once for many
    /// by [`compress_shared`]. `None` with context takeover (a message the compressor did
    /// not see would desynchronize its window from the peer's).
    pub fn shared_window_bits(&self) -> Option<u8> {
        (!self.context_takeover).then_some(self.window_bits)
    }

    /// Whether this deflater currently owns zlib state: only with context takeover, once
    /// it has compressed a message. A lean connection never does between calls.
    pub fn holds_state(&self) -> bool {
        self.state.is_some()
    }
}

/// zlib's default compression level, which [`Deflater::new`] uses.
pub const DEFAULT_LEVEL: u8 = 6;

/// Compresses `payload` once, statelessly, with a `window_bits` window at `level` (as
/// [`Deflater::with_level`]), appending the frame payload to `out` like
/// [`Deflater::compress`].
///
/// The result (sent with RSV1 set) is valid for every connection whose
/// [`Deflater::shared_window_bits`] is `Some(b)` with `b >= window_bits`: its peer
/// inflates with a window of at least `b` bits, and a message compressed from a fresh
/// state refers to nothing outside itself, so the peer's own window (kept or not) does
/// not matter, nor does the level its own `Deflater` would have used. It is byte for byte
/// what such a connection's `compress` would give when `b == window_bits` at the same
/// level. Connections with context takeover (`None`) must compress on their
/// own. Whether to compress at all stays each connection's call
/// ([`Deflater::should_compress`]); the compressor comes from the per-thread pool.
/// `window_bits` is clamped into 8..=15; 8 gives stored (uncompressed) deflate blocks,
/// the only output a peer with an 8-bit window can take from zlib.
pub fn compress_shared(payload: &[u8], window_bits: u8, level: u8, out: &mut Vec<u8>) {
    let mut compressor = pool::take_compressor(window_bits, level);
    deflate_message(&mut compressor, payload, out);
    pool::give_compressor(window_bits, level, compressor);
    MESSAGES_COMPRESSED.fetch_add(1, Ordering::Relaxed);
}

/// Output space kept free for each compression call: zlib asks for more than 6 bytes
/// with a sync flush, or it may end the flush twice (harmless, but longer).
const MIN_SPARE: usize = 64;

/// One message through `compressor`: sync flush, then the empty stored block's
/// `00 00 ff ff` taken off the end (RFC 7692 §7.2.1).
fn deflate_message(compressor: &mut Compress, payload: &[u8], out: &mut Vec<u8>) {
    if payload.is_empty() {
        // An empty stored block's first octet, which the receiver's 00 00 ff ff completes
        // (§7.2.3.6). Asking zlib instead would give nothing at all right after another
        // sync flush (no input, same flush: Z_BUF_ERROR), and a receiver that appends
        // the tail to an empty payload would then be left inside a stored block header.
        out.push(0x00);
        return;
    }
    let start = out.len();
    let mut consumed = 0;
    loop {
        if out.capacity() - out.len() < MIN_SPARE {
            // A guess for text; the Vec grows geometrically when it is wrong.
            out.reserve((payload.len() - consumed) / 4 + MIN_SPARE);
        }
        let before = compressor.total_in();
        // zlib's deflate fails only on a corrupted stream state or invalid parameters,
        // neither of which this module can produce.
        compressor
            .compress_vec(&payload[consumed..], out, FlushCompress::Sync)
            .expect("deflate of a valid stream cannot fail");
        // Bounded by the slice given, so it fits in usize.
        consumed += (compressor.total_in() - before) as usize;
        // The flush is complete once zlib stops with output space left over.
        if consumed == payload.len() && out.len() < out.capacity() {
            break;
        }
    }
    if out[start..].ends_with(&TAIL) {
        out.truncate(out.len() - TAIL.len());
    }
}
