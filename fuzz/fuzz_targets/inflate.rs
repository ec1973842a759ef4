//! `ws_controller_protocol::deflate::Inflater` with arbitrary parameters, messages, splits
//! and limits: raw bytes as compressed data, and valid messages from a model peer (the
//! crate's own `Deflater` or `compress_shared`, or flate2 streams ending in a final block,
//! RFC 7692 §7.2.3.4), optionally corrupted or truncated.
//!
//! Checks: no panic; after every call `out.len() <= limit + 1` and the buffer never grows
//! past `limit + 1` bytes of capacity (nor past what the caller gave it); the heap peak
//! while inflating stays within the limit plus the decompression state; while the
//! receiver is in step with the model peer, a valid message inflates to exactly its text
//! when it fits the limit and fails `TooBig` when it does not (with one documented
//! exception, where `Corrupt` is also allowed but wrong bytes never are); and an inflater
//! with context takeover that failed once keeps failing with `Corrupt`.
#![no_main]

#[path = "common/mod.rs"]
mod common;

use arbitrary::{Arbitrary, Unstructured};
use flate2::{Compress, Compression, FlushCompress, Status};
use libfuzzer_sys::fuzz_target;
use ws_controller_protocol::deflate::{
    compress_shared, DeflateParams, Deflater, InflateError, Inflater,
};
use ws_controller_protocol::Role;

#[global_allocator]
static ALLOC: common::Watchdog = common::Watchdog;

/// Plaintext per input, all messages together: keeps executions fast.
const MAX_PLAINTEXT: usize = 1 << 20;
/// Heap the inflater may use beyond `out`: its zlib state (~47 KiB) and, for peers that
/// use final blocks, a copy of the window (up to 64 KiB while it is updated).
const STATE_ALLOWANCE: usize = 256 << 10;
const WINDOW: usize = 32 << 10;

#[derive(Arbitrary, Debug)]
struct Plan {
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    server_max_window_bits: u8,
    client_max_window_bits: u8,
    /// The inflating end is the server (else the client).
    server: bool,
    limit: Limit,
    /// The sender's compression level (above 9 means 9).
    level: u8,
    messages: Vec<Message>,
}

#[derive(Arbitrary, Debug)]
enum Limit {
    Small(u8),
    Medium(u16),
    Large(u32),
}

impl Limit {
    fn bytes(&self) -> usize {
        match *self {
            Limit::Small(n) => usize::from(n),
            Limit::Medium(n) => usize::from(n),
            Limit::Large(n) => n as usize % (4 << 20),
        }
    }
}

#[derive(Arbitrary, Debug)]
struct Message {
    payload: Payload,
    /// Piece lengths the payload is fed in (the rest goes in one last piece).
    splits: Vec<u16>,
    /// Initial capacity of the output buffer, in 256-byte units.
    reserve: u8,
}

#[derive(Arbitrary, Debug)]
enum Payload {
    /// Taken as compressed bytes as they are.
    Raw(Vec<u8>),
    /// The model peer's next message: `text` repeated `repeat + 1` times.
    Valid {
        text: Vec<u8>,
        repeat: u8,
        /// Through `compress_shared` rather than the `Deflater` (lean peers only).
        shared: bool,
        /// A deflate stream ending in a final block instead of a sync flush, with the
        /// RFC's padding octet after it or not.
        final_block: Option<bool>,
        /// Flip one bit (byte index, bit), or cut the payload short.
        damage: Option<Damage>,
    },
}

#[derive(Arbitrary, Debug)]
enum Damage {
    Flip(u16, u8),
    Truncate(u16),
}

/// The sending end, kept in step with what the receiver has seen.
enum Peer {
    /// The crate's deflater, until a final block desynchronizes its window.
    Ours(Deflater),
    /// Context takeover after a final block: flate2 over the window so far.
    Flate(Compress),
}

fuzz_target!(|data: &[u8]| {
    let Ok(plan) = Plan::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    run(plan);
});

fn run(plan: Plan) {
    let params = DeflateParams {
        server_no_context_takeover: plan.server_no_context_takeover,
        client_no_context_takeover: plan.client_no_context_takeover,
        server_max_window_bits: plan.server_max_window_bits,
        client_max_window_bits: plan.client_max_window_bits,
    };
    let (receiver, sender) = if plan.server {
        (Role::Server, Role::Client)
    } else {
        (Role::Client, Role::Server)
    };
    let context = if plan.server {
        !params.client_no_context_takeover
    } else {
        !params.server_no_context_takeover
    };
    let deflater = Deflater::new(&params, sender, 0).with_level(plan.level);
    let shared_bits = deflater.shared_window_bits();
    let limit = plan.limit.bytes();

    // Every payload is made before measuring, with what each one should inflate to while
    // the receiver is still in step with the peer (None once it may not be).
    let mut peer = Peer::Ours(deflater);
    let mut window: Vec<u8> = Vec::new();
    let mut in_step = true;
    // The one case the Inflater documents as unsupported: a first final block after
    // sync-flushed messages, then references back past it. Corrupt is allowed after it.
    let mut gap = false;
    let mut sent_sync = false;
    let mut plaintext = 0;
    let mut messages = Vec::new();
    for message in &plan.messages {
        let (payload, expected) = match &message.payload {
            Payload::Raw(bytes) => {
                // An empty payload is an empty message and leaves the stream alone.
                if !bytes.is_empty() && context {
                    in_step = false;
                }
                (bytes.clone(), in_step.then(Vec::new).filter(|_| bytes.is_empty()))
            }
            Payload::Valid { text, repeat, shared, final_block, damage } => {
                let text = text.repeat(usize::from(*repeat) + 1);
                plaintext += text.len();
                if plaintext > MAX_PLAINTEXT {
                    break;
                }
                let mut payload = Vec::new();
                match final_block {
                    Some(padding) => {
                        let dictionary = if context { tail(&window) } else { &[] };
                        payload = finished(&text, dictionary, *padding);
                        if context {
                            gap |= sent_sync;
                            window.extend_from_slice(&text);
                            peer = Peer::Flate(flate_over(tail(&window)));
                        }
                    }
                    None => {
                        match &mut peer {
                            Peer::Ours(deflater) => match shared_bits {
                                Some(bits) if *shared => compress_shared(&text, bits, plan.level, &mut payload),
                                _ => deflater.compress(&text, &mut payload),
                            },
                            Peer::Flate(compressor) => sync_flush(compressor, &text, &mut payload),
                        }
                        sent_sync |= matches!(peer, Peer::Ours(_));
                        if context {
                            window.extend_from_slice(&text);
                        }
                    }
                }
                if window.len() > 2 * WINDOW {
                    window.drain(..window.len() - WINDOW);
                }
                let damaged = match damage {
                    Some(Damage::Flip(at, bit)) if !payload.is_empty() => {
                        let at = usize::from(*at) % payload.len();
                        payload[at] ^= 1 << (bit % 8);
                        true
                    }
                    Some(Damage::Truncate(len)) if usize::from(*len) < payload.len() => {
                        payload.truncate(usize::from(*len));
                        true
                    }
                    _ => false,
                };
                if damaged && context {
                    in_step = false;
                }
                let expected = (in_step && !damaged).then_some(text);
                (payload, expected)
            }
        };
        messages.push((message, payload, expected));
    }

    let baseline = common::peak_reset();
    let mut inflater = Inflater::new(&params, receiver);
    let mut failed = false;
    let mut largest_reserve = 0;
    for (message, payload, expected) in messages {
        let reserve = usize::from(message.reserve) * 256;
        largest_reserve = largest_reserve.max(reserve);
        let mut out = Vec::with_capacity(reserve);
        let ceiling = out.capacity().max(limit + 1);
        let check = |out: &Vec<u8>| {
            assert!(out.len() <= limit + 1, "out.len() {} > limit {limit} + 1", out.len());
            assert!(out.capacity() <= ceiling, "capacity {} > {ceiling}", out.capacity());
        };
        let mut result = Ok(());
        let mut at = 0usize;
        let pieces = message.splits.iter().map(|&split| usize::from(split));
        for piece in pieces.chain([usize::MAX]) {
            let end = at.saturating_add(piece).min(payload.len());
            result = inflater.inflate(&payload[at..end], &mut out, limit);
            check(&out);
            at = end;
            if result.is_err() || at == payload.len() {
                break;
            }
        }
        if result.is_ok() {
            result = inflater.finish(&mut out, limit);
            check(&out);
        }
        if let Ok(()) = result {
            assert!(out.len() <= limit);
        }

        if failed && context {
            assert!(
                matches!(result, Err(InflateError::Corrupt(_))),
                "a failed inflater with context takeover must keep failing: {result:?}"
            );
        } else if let Some(text) = &expected {
            match &result {
                Ok(()) => assert!(out == *text, "wrong bytes for a valid message"),
                Err(InflateError::TooBig) => assert!(text.len() > limit, "TooBig within the limit"),
                Err(InflateError::Corrupt(why)) => assert!(gap, "a valid message is corrupt: {why}"),
            }
            if result.is_ok() {
                assert!(text.len() <= limit, "{} bytes accepted under limit {limit}", text.len());
            }
        }
        failed |= result.is_err();
        if !context {
            assert!(!inflater.holds_state(), "a lean inflater holds state between messages");
        }
    }
    let peak = common::peak_since(baseline);
    let bound = largest_reserve.max(limit + 1) + STATE_ALLOWANCE;
    assert!(peak <= bound, "heap peak {peak} > {bound}");
}

/// The last window's worth of `window`.
fn tail(window: &[u8]) -> &[u8] {
    &window[window.len().saturating_sub(WINDOW)..]
}

/// A raw deflate compressor whose window starts as `dictionary`.
fn flate_over(dictionary: &[u8]) -> Compress {
    let mut compressor = Compress::new_with_window_bits(Compression::default(), false, 15);
    if !dictionary.is_empty() {
        compressor.set_dictionary(dictionary).expect("dictionary");
    }
    compressor
}

/// `text` as one deflate stream ending in a final block, over `dictionary`.
fn finished(text: &[u8], dictionary: &[u8], padding: bool) -> Vec<u8> {
    let mut compressor = flate_over(dictionary);
    let mut out = Vec::new();
    loop {
        out.reserve(text.len() / 2 + 1024);
        let consumed = compressor.total_in() as usize;
        let status = compressor
            .compress_vec(&text[consumed..], &mut out, FlushCompress::Finish)
            .expect("compress");
        if status == Status::StreamEnd {
            break;
        }
    }
    if padding {
        // RFC 7692 §7.2.3.4: an octet starting an empty stored block, which the
        // receiver's 00 00 ff ff completes.
        out.push(0x00);
    }
    out
}

/// `text` as the next sync-flushed message of `compressor`'s stream (RFC 7692 §7.2.1).
fn sync_flush(compressor: &mut Compress, text: &[u8], out: &mut Vec<u8>) {
    if text.is_empty() {
        // What zlib gives right after another sync flush: nothing. The Inflater takes an
        // empty payload as an empty message.
        return;
    }
    let start = compressor.total_in();
    loop {
        out.reserve(text.len() / 2 + 1024);
        let consumed = (compressor.total_in() - start) as usize;
        compressor
            .compress_vec(&text[consumed..], out, FlushCompress::Sync)
            .expect("compress");
        if (compressor.total_in() - start) as usize == text.len() && out.len() < out.capacity() {
            break;
        }
    }
    assert!(out.ends_with(&[0, 0, 0xff, 0xff]));
    out.truncate(out.len() - 4);
}
