//! The receiving side: one connection's decompressor, bounded by the message size limit.

use flate2::{Decompress, DecompressError, FlushDecompress, Status};

use super::params::DeflateParams;
use super::pool;
use super::TAIL;
use crate::Role;

/// Why a compressed message could not be inflated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InflateError {
    /// The inflated message would exceed the size limit (close code 1009).
    #[error("the inflated message exceeds the size limit")]
    TooBig,
    /// The compressed data is not a valid DEFLATE stream for this connection (close code
    /// 1007): zlib's reason, or this module's.
    #[error("invalid compressed data: {0}")]
    Corrupt(String),
}

/// The LZ77 window a deflate stream may refer back into (at most 32 KiB, RFC 1951).
const WINDOW: usize = 1 << 15;

/// The least output space added at a time; more when the message or the input is big.
const MIN_STEP: usize = 1024;

/// Final DEFLATE blocks (RFC 7692 §7.2.3.4) allowed in one message before the
/// allowance below applies. Each one costs a reset and a window copy of up to 32 KiB, so
/// two bytes of input (`03 00`) could otherwise buy that work over and over.
const FREE_RESTARTS: usize = 8;
/// One more final block is allowed per this many compressed bytes of the message.
const BYTES_PER_RESTART: usize = 256;

/// Inflates one connection's incoming compressed messages (a server's with the
/// `client_*` parameters, a client's with the `server_*` ones).
///
/// Feed a message's compressed bytes to [`Inflater::inflate`] as they arrive, then call
/// [`Inflater::finish`] once. After an error the connection must be failed; an inflater
/// with context takeover refuses all further input, having lost its window.
#[derive(Debug)]
pub struct Inflater {
    context_takeover: bool,
    /// Without context takeover: borrowed from the pool for the current message only.
    /// Boxed, so that an idle lean connection's `Inflater` stays small.
    state: Option<Box<Decompress>>,
    message: MessageProgress,
    /// The current deflate stream ended with a final block; the next compressed byte
    /// starts a new stream over the same LZ77 window.
    stream_ended: bool,
    /// The window a new stream starts over, when the peer uses final blocks: the tail of
    /// the output up to the part of the current message not yet copied in. Empty unless
    /// needed.
    history: Vec<u8>,
    /// Context takeover with a peer that has ended a stream with a final block: keep
    /// `history` up to date at the end of every message.
    tracking: bool,
    failed: bool,
}

/// What the inflater knows about the message being received.
#[derive(Debug, Default)]
struct MessageProgress {
    /// Compressed bytes consumed.
    consumed: usize,
    /// Inflated bytes not yet copied into `history`.
    unfolded: usize,
    /// Deflate streams restarted after a final block.
    restarts: usize,
}

impl Inflater {
    /// An inflater for `role`'s receiving direction of a connection that agreed on
    /// `params`.
    ///
    /// It inflates with a 32 KiB window whatever the agreed window bits: a larger window
    /// decodes any stream a smaller one produced (a peer's 8-bit one included), and with
    /// zlib-rs a smaller one would not save memory.
    pub fn new(params: &DeflateParams, role: Role) -> Self {
        let no_context_takeover = match role {
            Role::Server => params.client_no_context_takeover,
            Role::Client => params.server_no_context_takeover,
        };
        Inflater {
            context_takeover: !no_context_takeover,
            state: None,
            message: MessageProgress::default(),
            stream_ended: false,
            history: Vec::new(),
            tracking: false,
            failed: false,
        }
    }

    /// Inflates the next compressed bytes of the current message (a message may come in
    /// many frames, and each frame in many pieces), appending to `out`.
    ///
    /// `out` is meant to accumulate the whole message, and `limit` bounds `out.len()`:
    /// fails with [`InflateError::TooBig`] as soon as it would exceed `limit`, so inflated
    /// bytes count against the message size limit as they are produced. `out` grows in
    /// steps (doubling, from 1 KiB, never past `limit + 1` bytes of capacity, the extra
    /// byte telling "exactly `limit`" from "more"), and when it has more free capacity
    /// than that it is shrunk first: a decompression bomb never costs more memory than
    /// the limit. On error `out`'s content is unspecified.
    ///
    /// Without context takeover, the decompressor is taken from a per-thread pool at the
    /// message's first compressed byte and given back by [`Inflater::finish`].
    pub fn inflate(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        limit: usize,
    ) -> Result<(), InflateError> {
        if self.failed {
            return Err(lost_context());
        }
        if input.is_empty() {
            return Ok(());
        }
        let mut state = self.state.take().unwrap_or_else(|| self.new_state());
        let result = self.run(&mut state, input, out, limit);
        self.state = Some(state);
        result.inspect_err(|_| self.fail())
    }

    /// Ends the message: feeds the `00 00 ff ff` tail (RFC 7692 §7.2.2) under the same
    /// `limit`, and without context takeover resets the decompressor and returns it to
    /// the per-thread pool.
    ///
    /// A message with no compressed bytes at all is an empty message and leaves the
    /// stream as it was (RFC 7692 §7.2.3.6 has senders write a single `00` for one, but
    /// an empty payload has no other meaning). So does a message whose deflate stream
    /// ended with a final block, which needs no flush.
    pub fn finish(&mut self, out: &mut Vec<u8>, limit: usize) -> Result<(), InflateError> {
        if self.failed {
            return Err(lost_context());
        }
        let Some(mut state) = self.state.take() else {
            self.message = MessageProgress::default();
            return Ok(());
        };
        if self.message.consumed > 0 && !self.stream_ended {
            if let Err(error) = self.run(&mut state, &TAIL, out, limit) {
                self.fail();
                return Err(error);
            }
        }
        if self.context_takeover {
            // A peer that flushed with a final block may refer back across it into this
            // message: keep what it may need while `out` still holds it.
            if self.stream_ended || self.tracking {
                self.fold(out);
                self.tracking = true;
            }
            self.state = Some(state);
        } else {
            pool::give_decompressor(state);
            self.stream_ended = false;
            self.history = Vec::new();
        }
        self.message = MessageProgress::default();
        Ok(())
    }

    /// Whether this inflater currently owns decompression state (zlib's, or a copy of
    /// the window): with context takeover once it has inflated a message; without, only
    /// while a message is in progress.
    pub fn holds_state(&self) -> bool {
        self.state.is_some() || self.history.capacity() > 0
    }

    fn new_state(&self) -> Box<Decompress> {
        if self.context_takeover {
            Box::new(pool::new_decompressor())
        } else {
            pool::take_decompressor()
        }
    }

    /// Inflates all of `input` into `out`, within `limit`.
    fn run(
        &mut self,
        state: &mut Decompress,
        mut input: &[u8],
        out: &mut Vec<u8>,
        limit: usize,
    ) -> Result<(), InflateError> {
        loop {
            if self.stream_ended {
                if input.is_empty() {
                    return Ok(());
                }
                self.restart(state, out)?;
            }
            make_room(out, limit, input.len());
            let (total_in, len) = (state.total_in(), out.len());
            let status = state
                .decompress_vec(input, out, FlushDecompress::None)
                .map_err(corrupt)?;
            // Bounded by the slice given, so it fits in usize.
            let used = (state.total_in() - total_in) as usize;
            let produced = out.len() - len;
            input = &input[used..];
            self.message.consumed += used;
            self.message.unfolded += produced;
            if out.len() > limit {
                return Err(InflateError::TooBig);
            }
            match status {
                Status::StreamEnd => self.stream_ended = true,
                Status::Ok | Status::BufError if out.len() < out.capacity() => {
                    if input.is_empty() {
                        return Ok(());
                    }
                    if used == 0 && produced == 0 {
                        return Err(InflateError::Corrupt("inflate made no progress".into()));
                    }
                }
                // Output space ran out: grow it (or find the message too big) and go on.
                Status::Ok | Status::BufError => {}
            }
        }
    }

    /// Starts a new deflate stream after a final block, over the same window.
    ///
    /// RFC 7692 §7.2.3.4 lets a sender flush with a final block ("BFINAL" set); the next
    /// block follows the padding, in the same message or the next, and may still refer
    /// back into the window. zlib cannot continue past a final block, so the window is
    /// handed to a reset decompressor as a preset dictionary, taken from `out` (which
    /// holds this message) and `history` (the messages before, when tracked). A reference
    /// further back than that gets zlib's "invalid distance too far back", never
    /// wrong bytes: this can only happen with context takeover, for a peer whose first
    /// final block comes after sync-flushed messages it then refers back into.
    fn restart(&mut self, state: &mut Decompress, out: &[u8]) -> Result<(), InflateError> {
        self.message.restarts += 1;
        if self.message.restarts > FREE_RESTARTS + self.message.consumed / BYTES_PER_RESTART {
            return Err(InflateError::Corrupt(
                "too many final DEFLATE blocks in one message".into(),
            ));
        }
        self.fold(out);
        state.reset(false);
        if !self.history.is_empty() {
            state.set_dictionary(&self.history).map_err(corrupt)?;
        }
        self.stream_ended = false;
        if self.context_takeover {
            self.tracking = true;
        }
        Ok(())
    }

    /// Appends the output not yet in `history` to it, keeping the last window's worth.
    fn fold(&mut self, out: &[u8]) {
        let unfolded = self.message.unfolded.min(out.len());
        if unfolded < self.message.unfolded {
            // `out` no longer holds everything since the last fold: only a contiguous
            // tail is a correct window.
            self.history.clear();
        }
        let part = &out[out.len() - unfolded..];
        self.history
            .extend_from_slice(&part[part.len().saturating_sub(WINDOW)..]);
        let excess = self.history.len().saturating_sub(WINDOW);
        self.history.drain(..excess);
        self.message.unfolded = 0;
    }

    /// Drops all state after an error. The message is lost either way; without context
    /// takeover the next one can start afresh, with it the window is gone for good.
    fn fail(&mut self) {
        self.state = None;
        self.history = Vec::new();
        self.message = MessageProgress::default();
        self.stream_ended = false;
        self.failed = self.context_takeover;
    }
}

/// Ensures `out` has free capacity, but never more than the one byte past `limit` that
/// detects an oversized message: decompression writes into all of the free capacity.
fn make_room(out: &mut Vec<u8>, limit: usize, input_len: usize) {
    let room = limit.saturating_sub(out.len()).saturating_add(1);
    let spare = out.capacity() - out.len();
    if spare > room {
        out.shrink_to(out.len() + room);
    } else if spare == 0 {
        let step = out
            .len()
            .max(input_len.saturating_mul(4))
            .max(MIN_STEP)
            .min(room);
        out.reserve_exact(step);
    }
}

fn corrupt(error: DecompressError) -> InflateError {
    InflateError::Corrupt(error.message().unwrap_or("invalid deflate data").to_owned())
}

fn lost_context() -> InflateError {
    InflateError::Corrupt("the compression context was lost to an earlier error".into())
}
