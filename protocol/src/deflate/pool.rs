//! Per-thread pools of idle zlib states, for the directions without context takeover.
//!
//! Without context takeover a (de)compressor is only needed while one message is being
//! processed, so connections borrow one from the current thread's pool and give it back
//! reset. An idle connection then holds no zlib state at all, and a thread holds at most
//! one idle compressor per window size and level in use, and four idle decompressors,
//! however many connections it serves.

use std::cell::RefCell;

use flate2::{Compress, Compression, Decompress};

/// zlib's compression levels: 0 (stored blocks only) to 9.
pub(super) const MAX_LEVEL: u8 = 9;

/// A level as the compressors understand it.
pub(super) fn level(level: u8) -> u8 {
    level.min(MAX_LEVEL)
}

/// Idle compressors kept per window size and thread. A compressor is borrowed only for
/// the duration of one `compress` call, so a thread never needs more than one at a time.
const IDLE_COMPRESSORS: usize = 1;

/// Idle decompressors kept per thread. A decompressor stays borrowed
/// from a message's first compressed bytes to its end, which may span several reads, so
/// a few connections of one thread can be mid-message at once; more than this many
/// returning together are dropped rather than kept forever.
const IDLE_DECOMPRESSORS: usize = 4;

/// The smallest sending window: 8 stands for "stored blocks only" (see [`new_compressor`]).
const MIN_SEND_BITS: u8 = 8;
const MAX_BITS: u8 = 15;

/// A sending window size as the compressors understand it.
pub(super) fn send_bits(bits: u8) -> u8 {
    bits.clamp(MIN_SEND_BITS, MAX_BITS)
}

/// A new raw-deflate compressor at `level` for a peer that inflates with a `bits`-bit
/// window (8..=15).
///
/// zlib's raw deflate refuses an 8-bit window (older zlib silently used 9 and produced
/// streams a 256-byte window cannot inflate, madler/zlib#171). A peer limited to 8 bits
/// still accepts stored blocks, which have no back-references at all, so that case gets
/// a level-0 compressor: valid output, never smaller than the input.
pub(super) fn new_compressor(bits: u8, level: u8) -> Compress {
    let bits = send_bits(bits);
    if bits == MIN_SEND_BITS {
        Compress::new_with_window_bits(Compression::none(), false, 9)
    } else {
        let level = Compression::new(u32::from(self::level(level)));
        Compress::new_with_window_bits(level, false, bits)
    }
}

/// A new raw-deflate decompressor, always with a 15-bit window.
///
/// A larger window inflates any stream a smaller one produced (8 bits included, which
/// zlib cannot inflate with), and a smaller one would save nothing: zlib-rs allocates a
/// 32 KiB window whatever the bits, and flate2 resets a non-15-bit zlib-rs inflater by
/// allocating a new one, which would cost every pooled message an allocation. The
/// negotiated window only binds the sender (RFC 7692 §7.1.2), so a receiver accepting
/// more than it asked for is within the protocol.
pub(super) fn new_decompressor() -> Decompress {
    Decompress::new(false)
}

/// Window sizes a compressor may have.
const WINDOWS: usize = (MAX_BITS - MIN_SEND_BITS + 1) as usize;
const LEVELS: usize = MAX_LEVEL as usize + 1;

struct Pool {
    /// Indexed by sending window bits - 8, then level.
    compressors: [[Vec<Compress>; LEVELS]; WINDOWS],
    /// Boxed as `Inflater`s hold them, so that lending one out moves a pointer.
    #[allow(clippy::vec_box)]
    decompressors: Vec<Box<Decompress>>,
}

const NO_COMPRESSORS: [Vec<Compress>; LEVELS] = [const { Vec::new() }; LEVELS];

thread_local! {
    static POOL: RefCell<Pool> = const {
        RefCell::new(Pool {
            compressors: [NO_COMPRESSORS; WINDOWS],
            decompressors: Vec::new(),
        })
    };
}

/// Runs `f` on the pool, or returns `None` when the thread is being torn down (its
/// thread-locals are gone): callers then simply allocate or drop, never panic.
fn with_pool<T>(f: impl FnOnce(&mut Pool) -> T) -> Option<T> {
    POOL.try_with(|pool| pool.try_borrow_mut().ok().map(|mut pool| f(&mut pool)))
        .ok()
        .flatten()
}

/// Borrows a compressor for a `bits`-bit window at `level` (fresh stream state).
pub(super) fn take_compressor(bits: u8, level: u8) -> Compress {
    let (bits, level) = (send_bits(bits), self::level(level));
    with_pool(|pool| idle_compressors(pool, bits, level).pop())
        .flatten()
        .unwrap_or_else(|| new_compressor(bits, level))
}

/// Returns a compressor taken with [`take_compressor`] for the same `bits` and `level`.
pub(super) fn give_compressor(bits: u8, level: u8, mut compressor: Compress) {
    let (bits, level) = (send_bits(bits), self::level(level));
    with_pool(|pool| {
        let idle = idle_compressors(pool, bits, level);
        if idle.len() < IDLE_COMPRESSORS {
            compressor.reset();
            idle.push(compressor);
        }
    });
}

fn idle_compressors(pool: &mut Pool, bits: u8, level: u8) -> &mut Vec<Compress> {
    &mut pool.compressors[usize::from(bits - MIN_SEND_BITS)][usize::from(level)]
}

/// Borrows a decompressor (fresh stream state).
pub(super) fn take_decompressor() -> Box<Decompress> {
    with_pool(|pool| pool.decompressors.pop())
        .flatten()
        .unwrap_or_else(|| Box::new(new_decompressor()))
}

/// Returns a decompressor taken with [`take_decompressor`], in any stream state.
pub(super) fn give_decompressor(mut decompressor: Box<Decompress>) {
    with_pool(|pool| {
        if pool.decompressors.len() < IDLE_DECOMPRESSORS {
            decompressor.reset(false);
            pool.decompressors.push(decompressor);
        }
    });
}
