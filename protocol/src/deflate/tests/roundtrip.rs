//! Deflater to Inflater, both roles, every mode and window.

use super::{agree, direction, inflate_all, inflate_pieces, Rng};
use crate::deflate::{
    compress_shared, messages_compressed, DeflateConfig, DeflateParams, Deflater, Inflater,
    DEFAULT_LEVEL,
};
use crate::Role;

const ROLES: [Role; 2] = [Role::Server, Role::Client];

/// Every kind of agreement worth covering: both lean, context takeover at every window,
/// and mixed ones (one direction lean, windows differing per direction).
fn agreements() -> Vec<DeflateParams> {
    let mut all = vec![agree(&DeflateConfig::lean(), &DeflateConfig::lean())];
    for bits in 9..=15 {
        let config = DeflateConfig::context_takeover(bits);
        all.push(agree(&config, &config));
    }
    all.push(agree(
        &DeflateConfig::context_takeover(15),
        &DeflateConfig {
            server_no_context_takeover: true,
            client_max_window_bits: 10,
            ..DeflateConfig::context_takeover(12)
        },
    ));
    all.push(agree(
        &DeflateConfig {
            client_no_context_takeover: true,
            ..DeflateConfig::context_takeover(9)
        },
        &DeflateConfig::context_takeover(14),
    ));
    all
}

fn message(rng: &mut Rng, index: usize) -> Vec<u8> {
    let len = rng.below(20_000);
    match index % 8 {
        0 => Vec::new(),
        1 => rng.bytes(1),
        2 => rng.text(len % 300),
        3 => rng.text(5_000),
        4 => rng.bytes(len),
        5 => rng.text(40_000),
        6 => vec![b'a'; len],
        _ => rng.text(len),
    }
}

#[test]
fn many_messages_every_mode_both_roles() {
    let mut rng = Rng::new(1);
    for params in agreements() {
        for sender in ROLES {
            let (mut deflater, mut inflater) = direction(&params, sender);
            for index in 0..24 {
                let original = message(&mut rng, index);
                let mut payload = Vec::new();
                deflater.compress(&original, &mut payload);
                let pieces = match index % 3 {
                    0 => Vec::new(),
                    1 if payload.len() <= 3_000 => vec![1; payload.len()],
                    _ => rng.splits(payload.len(), 700),
                };
                let inflated = inflate_pieces(&mut inflater, &payload, &pieces, usize::MAX)
                    .unwrap_or_else(|e| panic!("{params:?} {sender:?} message {index}: {e}"));
                assert!(
                    inflated == original,
                    "{params:?} {sender:?} message {index}"
                );
            }
        }
    }
}

#[test]
fn context_takeover_carries_context() {
    let mut rng = Rng::new(2);
    for bits in 9..=15u8 {
        let config = DeflateConfig::context_takeover(bits);
        let params = agree(&config, &config);
        for sender in ROLES {
            let (mut deflater, mut inflater) = direction(&params, sender);
            // Small enough that a repeat lies within the window.
            let original = rng.text((1 << bits) / 3);
            let (mut first, mut second) = (Vec::new(), Vec::new());
            deflater.compress(&original, &mut first);
            deflater.compress(&original, &mut second);
            assert!(
                second.len() * 2 < first.len(),
                "{bits} bits: {} then {}",
                first.len(),
                second.len()
            );
            assert_eq!(inflate_all(&mut inflater, &first), original);
            assert_eq!(inflate_all(&mut inflater, &second), original);
            assert!(deflater.holds_state() && inflater.holds_state());
            assert_eq!(deflater.shared_window_bits(), None);
        }
    }
}

#[test]
fn lean_holds_nothing_between_messages() {
    let params = agree(&DeflateConfig::lean(), &DeflateConfig::lean());
    let original = Rng::new(3).text(10_000);
    for sender in ROLES {
        let (mut deflater, mut inflater) = direction(&params, sender);
        let (mut first, mut second) = (Vec::new(), Vec::new());
        deflater.compress(&original, &mut first);
        assert!(!deflater.holds_state());
        deflater.compress(&original, &mut second);
        assert_eq!(
            first, second,
            "no context: the same message, the same bytes"
        );
        assert_eq!(deflater.shared_window_bits(), Some(15));

        let mut out = Vec::new();
        inflater
            .inflate(&first[..10], &mut out, usize::MAX)
            .unwrap();
        assert!(
            inflater.holds_state(),
            "mid-message, the decompressor is borrowed"
        );
        inflater
            .inflate(&first[10..], &mut out, usize::MAX)
            .unwrap();
        inflater.finish(&mut out, usize::MAX).unwrap();
        assert!(!inflater.holds_state());
        assert_eq!(out, original);
        assert_eq!(inflate_all(&mut inflater, &second), original);
        assert!(!inflater.holds_state());
    }
}

#[test]
fn hello_is_the_rfc_example() {
    // RFC 7692 §7.2.3.1: "Hello" compresses to these bytes.
    for config in [DeflateConfig::lean(), DeflateConfig::context_takeover(15)] {
        let params = agree(&config, &config);
        for sender in ROLES {
            let mut payload = Vec::new();
            Deflater::new(&params, sender, 0).compress(b"Hello", &mut payload);
            assert_eq!(payload, [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]);
        }
    }
    let mut payload = Vec::new();
    compress_shared(b"", 15, DEFAULT_LEVEL, &mut payload);
    assert_eq!(payload, [0x00], "an empty message (§7.2.3.6)");
}

#[test]
fn every_level_round_trips_and_higher_levels_compress_more() {
    let original = Rng::new(9).text(20_000);
    for config in [DeflateConfig::lean(), DeflateConfig::context_takeover(15)] {
        let params = agree(&config, &config);
        let mut sizes = Vec::new();
        for level in 0..=9u8 {
            let mut deflater = Deflater::new(&params, Role::Server, 0).with_level(level);
            assert_eq!(deflater.level(), level);
            let mut inflater = Inflater::new(&params, Role::Client);
            // Twice: with context takeover the second message refers back to the first.
            for _ in 0..2 {
                let mut payload = Vec::new();
                deflater.compress(&original, &mut payload);
                assert_eq!(
                    inflate_all(&mut inflater, &payload),
                    original,
                    "level {level}"
                );
                sizes.push((level, payload.len()));
            }
        }
        let size = |level: u8| sizes.iter().find(|(l, _)| *l == level).unwrap().1;
        assert!(size(0) > original.len(), "level 0 stores: {sizes:?}");
        assert!(size(1) < size(0) && size(9) < size(1), "{sizes:?}");
    }
    let params = agree(&DeflateConfig::lean(), &DeflateConfig::lean());
    assert_eq!(
        Deflater::new(&params, Role::Server, 0).level(),
        DEFAULT_LEVEL
    );
    assert_eq!(
        Deflater::new(&params, Role::Server, 0)
            .with_level(12)
            .level(),
        9
    );
}

#[test]
fn threshold() {
    let params = agree(&DeflateConfig::lean(), &DeflateConfig::lean());
    let deflater = Deflater::new(&params, Role::Server, 1024);
    assert!(!deflater.should_compress(1023));
    assert!(deflater.should_compress(1024));
    assert!(Deflater::new(&params, Role::Server, 0).should_compress(0));
}

#[test]
fn shared_frames_match_and_inflate_everywhere_eligible() {
    let original = Rng::new(4).text(30_000);
    for bits in 8..=15u8 {
        let mut shared = Vec::new();
        let before = messages_compressed();
        compress_shared(&original, bits, DEFAULT_LEVEL, &mut shared);
        assert!(messages_compressed() > before);

        let own = DeflateParams {
            server_no_context_takeover: true,
            client_no_context_takeover: true,
            server_max_window_bits: bits,
            client_max_window_bits: bits,
        };
        let mut deflater = Deflater::new(&own, Role::Server, 0);
        assert_eq!(deflater.shared_window_bits(), Some(bits));
        let mut alone = Vec::new();
        deflater.compress(&original, &mut alone);
        assert_eq!(shared, alone, "{bits} bits");

        // Any peer window at least as large inflates it, whether it keeps its window
        // between messages or not.
        for peer_bits in bits.max(9)..=15 {
            for server_no_context_takeover in [true, false] {
                let peer = DeflateParams {
                    server_no_context_takeover,
                    server_max_window_bits: peer_bits,
                    ..own
                };
                let mut inflater = Inflater::new(&peer, Role::Client);
                for _ in 0..2 {
                    assert_eq!(inflate_all(&mut inflater, &shared), original);
                }
            }
        }
    }
}

#[test]
fn an_eight_bit_client_window_sends_stored_blocks() {
    let config = DeflateConfig::context_takeover(15);
    let answer = b"permessage-deflate; client_max_window_bits=8";
    let params = crate::deflate::accept_answer(answer, &config).unwrap();
    let (mut deflater, mut inflater) = direction(&params, Role::Client);
    assert!(!deflater.should_compress(1 << 20));
    let original = Rng::new(5).text(70_000);
    for _ in 0..3 {
        let mut payload = Vec::new();
        deflater.compress(&original, &mut payload);
        assert!(payload.len() > original.len(), "stored blocks only");
        assert_eq!(inflate_all(&mut inflater, &payload), original);
    }
}

/// Writes a fixed-Huffman DEFLATE block by hand (RFC 1951 §3.2.6), so that tests can use
/// what zlib will not produce, such as an 8-bit window's back-references.
pub(super) struct BitWriter {
    pub(super) bytes: Vec<u8>,
    bits: u32,
    used: u32,
}

impl BitWriter {
    pub(super) fn new() -> Self {
        BitWriter {
            bytes: Vec::new(),
            bits: 0,
            used: 0,
        }
    }

    /// `count` bits of `value`, least significant first (headers, extra bits).
    pub(super) fn bits(&mut self, value: u32, count: u32) {
        for i in 0..count {
            self.bits |= ((value >> i) & 1) << self.used;
            self.used += 1;
            if self.used == 8 {
                self.bytes.push(self.bits as u8);
                self.bits = 0;
                self.used = 0;
            }
        }
    }

    /// A Huffman code, most significant bit first.
    fn code(&mut self, code: u32, len: u32) {
        for i in (0..len).rev() {
            self.bits((code >> i) & 1, 1);
        }
    }

    /// A literal/length symbol of the fixed code.
    pub(super) fn symbol(&mut self, symbol: u32) {
        match symbol {
            0..=143 => self.code(0x30 + symbol, 8),
            144..=255 => self.code(0x190 + symbol - 144, 9),
            256..=279 => self.code(symbol - 256, 7),
            _ => self.code(0xc0 + symbol - 280, 8),
        }
    }

    /// Pads to a byte boundary.
    pub(super) fn finish(mut self) -> Vec<u8> {
        if self.used > 0 {
            self.bytes.push(self.bits as u8);
        }
        self.bytes
    }
}

#[test]
fn an_eight_bit_window_stream_inflates_with_nine_bits() {
    // What a peer with a 256-byte window may send: a reference exactly 256 bytes back.
    let mut w = BitWriter::new();
    w.bits(0, 1); // BFINAL
    w.bits(1, 2); // fixed Huffman
    for byte in 0..=255 {
        w.symbol(byte);
    }
    w.symbol(257); // length 3
    w.code(15, 5); // distance code 15: 193..=256, 6 extra bits
    w.bits(256 - 193, 6);
    w.symbol(256); // end of block
    w.bits(0, 3); // the sync flush's empty stored block header; TAIL completes it
    let payload = w.finish();

    let offer: &[u8] = b"permessage-deflate; client_max_window_bits=8";
    let params = crate::deflate::accept_offer([offer], &DeflateConfig::lean()).unwrap();
    assert_eq!(params.client_max_window_bits, 8);
    let mut inflater = Inflater::new(&params, Role::Server);
    let mut expected: Vec<u8> = (0..=255).collect();
    expected.extend([0, 1, 2]);
    assert_eq!(inflate_all(&mut inflater, &payload), expected);
}

#[test]
fn a_literal_rfc_receiver_stays_in_step() {
    // A receiver doing exactly RFC 7692 §7.2.2 (append 00 00 ff ff, inflate), with no
    // special case for empty payloads, must follow every mode's output.
    use flate2::{Decompress, FlushDecompress};
    let texts: Vec<Vec<u8>> = {
        let mut rng = Rng::new(6);
        vec![
            rng.text(3_000),
            Vec::new(),
            rng.text(10),
            Vec::new(),
            Vec::new(),
            rng.text(5_000),
        ]
    };
    for config in [DeflateConfig::lean(), DeflateConfig::context_takeover(12)] {
        let params = agree(&config, &config);
        for sender in ROLES {
            let mut deflater = Deflater::new(&params, sender, 0);
            let mut receiver = Decompress::new(false);
            for text in &texts {
                let mut payload = Vec::new();
                deflater.compress(text, &mut payload);
                assert!(
                    !payload.is_empty(),
                    "every message has at least one byte (§7.2.3.6)"
                );
                payload.extend_from_slice(&crate::deflate::TAIL);
                let mut out = Vec::with_capacity(text.len() + 64);
                receiver
                    .decompress_vec(&payload, &mut out, FlushDecompress::Sync)
                    .unwrap();
                assert_eq!(&out, text, "{config:?} {sender:?}");
            }
        }
    }
}
