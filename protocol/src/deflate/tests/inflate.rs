//! The receiving side on its own: RFC vectors, limits, bombs, corrupt and odd input.

use flate2::{Compress, Compression, FlushCompress};

use super::roundtrip::BitWriter;
use super::{agree, inflate_all, inflate_pieces, Rng};
use crate::deflate::{
    compress_shared, DeflateConfig, DeflateParams, InflateError, Inflater, DEFAULT_LEVEL,
};
use crate::Role;

fn lean_inflater() -> Inflater {
    let params = agree(&DeflateConfig::lean(), &DeflateConfig::lean());
    Inflater::new(&params, Role::Server)
}

fn context_inflater() -> Inflater {
    let config = DeflateConfig::context_takeover(15);
    Inflater::new(&agree(&config, &config), Role::Server)
}

const HELLO: [u8; 7] = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];

#[test]
fn rfc_7692_examples() {
    let cases: &[(&str, &[u8])] = &[
        ("7.2.3.1", &HELLO),
        (
            "7.2.3.3 no compression",
            &[
                0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00,
            ],
        ),
        (
            "7.2.3.4 BFINAL",
            &[0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00],
        ),
        (
            "BFINAL without the padding octet",
            &[0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00],
        ),
        (
            "7.2.3.5 two blocks",
            &[
                0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00,
            ],
        ),
    ];
    for (name, payload) in cases {
        for mut inflater in [lean_inflater(), context_inflater()] {
            // Twice: the second proves the first left the stream in a good state.
            for round in 0..2 {
                let out = inflate_pieces(&mut inflater, payload, &[3], usize::MAX);
                assert_eq!(out.as_deref(), Ok(&b"Hello"[..]), "§{name}, round {round}");
            }
        }
    }
    // §7.2.3.2: with context takeover the second "Hello" is a back-reference.
    let second = [0xf2, 0x00, 0x11, 0x00, 0x00];
    let mut inflater = context_inflater();
    assert_eq!(inflate_all(&mut inflater, &HELLO), b"Hello");
    assert_eq!(inflate_all(&mut inflater, &second), b"Hello");
    let mut lean = lean_inflater();
    assert_eq!(inflate_all(&mut lean, &HELLO), b"Hello");
    assert!(matches!(
        inflate_pieces(&mut lean, &second, &[], usize::MAX),
        Err(InflateError::Corrupt(_))
    ));
    // §7.2.3.6: a single 00 is an empty message; so is no payload at all.
    for mut inflater in [lean_inflater(), context_inflater()] {
        assert_eq!(inflate_all(&mut inflater, &[0x00]), b"");
        assert_eq!(inflate_all(&mut inflater, &[]), b"");
        assert_eq!(inflate_all(&mut inflater, &HELLO), b"Hello");
    }
}

#[test]
fn one_byte_at_a_time_and_random_splits() {
    let mut rng = Rng::new(10);
    let original = rng.text(50_000);
    let mut payload = Vec::new();
    compress_shared(&original, 15, DEFAULT_LEVEL, &mut payload);
    let mut inflater = lean_inflater();
    let ones = vec![1; payload.len()];
    assert_eq!(
        inflate_pieces(&mut inflater, &payload, &ones, usize::MAX).unwrap(),
        original
    );
    for _ in 0..50 {
        let pieces = rng.splits(payload.len(), 64);
        let out = inflate_pieces(&mut inflater, &payload, &pieces, usize::MAX).unwrap();
        assert!(out == original);
    }
}

#[test]
fn limit_is_exact() {
    let original = Rng::new(11).text(100_000);
    let mut payload = Vec::new();
    compress_shared(&original, 15, DEFAULT_LEVEL, &mut payload);
    let mut rng = Rng::new(12);
    for pieces in [Vec::new(), rng.splits(payload.len(), 100)] {
        let mut inflater = lean_inflater();
        let at_limit = inflate_pieces(&mut inflater, &payload, &pieces, original.len());
        assert_eq!(at_limit.as_deref(), Ok(&original[..]));
        let over = inflate_pieces(&mut inflater, &payload, &pieces, original.len() - 1);
        assert_eq!(over, Err(InflateError::TooBig));
    }
}

#[test]
fn decompression_bomb_stays_within_the_limit() {
    let zeros = vec![0u8; 10 << 20];
    let mut bomb = Vec::new();
    compress_shared(&zeros, 15, DEFAULT_LEVEL, &mut bomb);
    assert!(
        bomb.len() < 12_000,
        "10 MB of zeros compress to {} bytes",
        bomb.len()
    );
    let limit = 64 << 10;
    for frame in [bomb.len(), 1024, 7] {
        let mut inflater = lean_inflater();
        let mut out = Vec::new();
        let mut result = Ok(());
        for chunk in bomb.chunks(frame) {
            result = inflater.inflate(chunk, &mut out, limit);
            assert!(out.capacity() <= limit + 1, "capacity {}", out.capacity());
            if result.is_err() {
                break;
            }
        }
        assert_eq!(result, Err(InflateError::TooBig), "frames of {frame}");
        assert!(out.len() <= limit + 1);
    }
    // A caller's buffer with more room than the limit leaves is not written past it.
    let mut out = Vec::with_capacity(1 << 20);
    let result = lean_inflater().inflate(&bomb, &mut out, limit);
    assert_eq!(result, Err(InflateError::TooBig));
    assert!(out.len() <= limit + 1 && out.capacity() <= limit + 1);
}

#[test]
fn corrupt_input_is_an_error_never_a_panic() {
    let cases: &[&[u8]] = &[
        &[0xff],                               // reserved block type
        &[0x00, 0x05, 0x00, 0x00, 0x00],       // stored block whose NLEN is wrong
        &[0x02, 0xff, 0xff],                   // fixed block, bad distance
        &[0xf2, 0x00, 0x11, 0x00, 0x00],       // a reference to a window nobody sent
        &[0x04, 0x00, 0xfe, 0xff, 0xff, 0xff], // dynamic block, broken code lengths
    ];
    for payload in cases {
        for mut inflater in [lean_inflater(), context_inflater()] {
            let result = inflate_pieces(&mut inflater, payload, &[], 1 << 20);
            assert!(
                matches!(result, Err(InflateError::Corrupt(_))),
                "{payload:02x?}: {result:?}"
            );
        }
    }
    let mut rng = Rng::new(13);
    for round in 0..3_000 {
        let len = rng.below(200);
        let mut payload = rng.bytes(len);
        if round % 2 == 0 && !payload.is_empty() {
            // Mostly-valid streams go deeper than pure noise.
            let mut valid = Vec::new();
            compress_shared(&rng.text(len * 4), 15, DEFAULT_LEVEL, &mut valid);
            let at = rng.below(valid.len());
            valid[at] ^= 1 << rng.below(8);
            payload = valid;
        }
        let limit = rng.below(4096);
        for mut inflater in [lean_inflater(), context_inflater()] {
            let pieces = rng.splits(payload.len(), 16);
            let mut out = Vec::new();
            let mut result = Ok(());
            let mut at = 0;
            for piece in pieces {
                result = inflater.inflate(&payload[at..at + piece], &mut out, limit);
                at += piece;
                if result.is_err() {
                    break;
                }
            }
            if result.is_ok() {
                result = inflater.finish(&mut out, limit);
            }
            assert!(out.len() <= limit + 1);
            if let Err(error) = result {
                assert!(!error.to_string().is_empty());
            }
        }
    }
}

#[test]
fn after_an_error() {
    let mut lean = lean_inflater();
    assert!(inflate_pieces(&mut lean, &[0xff], &[], 100).is_err());
    assert!(!lean.holds_state());
    assert_eq!(
        inflate_all(&mut lean, &HELLO),
        b"Hello",
        "lean: the next message is fresh"
    );

    let mut context = context_inflater();
    assert_eq!(inflate_all(&mut context, &HELLO), b"Hello");
    assert!(inflate_pieces(&mut context, &HELLO, &[], 3).is_err());
    assert!(!context.holds_state());
    let after = inflate_pieces(&mut context, &HELLO, &[], 100);
    assert!(
        matches!(after, Err(InflateError::Corrupt(_))),
        "the window is lost"
    );
}

/// One deflate stream ending in a final block, over `dictionary` as its window.
fn final_block(data: &[u8], dictionary: &[u8]) -> Vec<u8> {
    let mut compressor = Compress::new_with_window_bits(Compression::default(), false, 15);
    if !dictionary.is_empty() {
        compressor.set_dictionary(dictionary).unwrap();
    }
    let mut out = Vec::with_capacity(data.len() + 1024);
    compressor
        .compress_vec(data, &mut out, FlushCompress::Finish)
        .unwrap();
    out
}

#[test]
fn final_blocks_keep_the_window() {
    let mut rng = Rng::new(14);
    let first = rng.text(3_000);
    let second = first.repeat(2);

    // Within one message, a stream after a final block refers back across it.
    let mut payload = final_block(&first, &[]);
    let after = final_block(&second, &first);
    assert!(after.len() < 100, "the second stream is back-references");
    payload.extend_from_slice(&after);
    let whole = [first.clone(), second.clone()].concat();
    for mut inflater in [lean_inflater(), context_inflater()] {
        for pieces in [
            vec![],
            vec![1; payload.len()],
            rng.splits(payload.len(), 50),
        ] {
            let out = inflate_pieces(&mut inflater, &payload, &pieces, usize::MAX);
            assert_eq!(out.as_deref(), Ok(&whole[..]));
        }
    }

    // With context takeover, across messages too, message after message.
    let mut inflater = context_inflater();
    let mut window = Vec::new();
    for round in 0..4 {
        let text = if round % 2 == 0 { &first } else { &second };
        let mut payload = final_block(text, &window[window.len().saturating_sub(32 << 10)..]);
        if round == 1 {
            payload.push(0x00); // the RFC's padding octet, starting an empty stored block
        }
        assert_eq!(inflate_all(&mut inflater, &payload), *text, "round {round}");
        window.extend_from_slice(text);
    }
}

#[test]
fn a_final_block_after_sync_flushes_cannot_reach_further_back() {
    // The documented limit: the first final block comes after sync-flushed messages,
    // and the next stream refers back into them. That fails loudly, never silently.
    let config = DeflateConfig::context_takeover(15);
    let params = agree(&config, &config);
    let mut deflater = crate::deflate::Deflater::new(&params, Role::Client, 0);
    let mut inflater = Inflater::new(&params, Role::Server);
    let old = Rng::new(15).text(2_000);
    let mut payload = Vec::new();
    deflater.compress(&old, &mut payload);
    assert_eq!(inflate_all(&mut inflater, &payload), old);
    let bridge = final_block(b"x", &old);
    assert_eq!(inflate_all(&mut inflater, &bridge), b"x");
    let window = [old.clone(), b"x".to_vec()].concat();
    let refers_back = final_block(&old, &window);
    let result = inflate_pieces(&mut inflater, &refers_back, &[], usize::MAX);
    assert!(
        matches!(result, Err(InflateError::Corrupt(_))),
        "{result:?}"
    );
}

#[test]
fn final_blocks_cannot_buy_unbounded_work() {
    // `03 00`: an empty fixed block with BFINAL set, two bytes each.
    let empty_final: Vec<u8> = [0x03, 0x00].repeat(200);
    let result = inflate_pieces(&mut lean_inflater(), &empty_final, &[], usize::MAX);
    assert!(
        matches!(result, Err(InflateError::Corrupt(_))),
        "{result:?}"
    );
    let few = [0x03, 0x00].repeat(5);
    assert_eq!(inflate_all(&mut lean_inflater(), &few), b"");
}

#[test]
fn an_empty_payload_leaves_the_context_alone() {
    let config = DeflateConfig::context_takeover(12);
    let params = agree(&config, &config);
    let mut deflater = crate::deflate::Deflater::new(&params, Role::Server, 0);
    let mut inflater = Inflater::new(&params, Role::Client);
    let text = Rng::new(16).text(1_000);
    for _ in 0..3 {
        let mut payload = Vec::new();
        deflater.compress(&text, &mut payload);
        assert_eq!(inflate_all(&mut inflater, &payload), text);
        assert_eq!(inflate_all(&mut inflater, &[]), b"");
    }
}

#[test]
fn window_bits_are_clamped() {
    let wild = DeflateParams {
        server_no_context_takeover: true,
        client_no_context_takeover: false,
        server_max_window_bits: 0,
        client_max_window_bits: 200,
    };
    for role in [Role::Server, Role::Client] {
        let mut inflater = Inflater::new(&wild, role);
        assert_eq!(inflate_all(&mut inflater, &HELLO), b"Hello");
    }
    // Whatever the window bits, a stored block may write 600 bytes at once.
    let mut w = BitWriter::new();
    w.bits(0, 1);
    w.bits(0, 2);
    let mut payload = w.finish();
    payload.extend_from_slice(&[0x58, 0x02, 0xa7, 0xfd]);
    payload.extend(std::iter::repeat_n(7u8, 600));
    payload.push(0x00);
    let mut inflater = Inflater::new(&wild, Role::Client);
    assert_eq!(inflate_all(&mut inflater, &payload), vec![7u8; 600]);
}
