//! Property tests: whatever one role encodes, the other decodes to the same messages and
//! control frames, however the bytes are split.

use bytes::Bytes;
use ws_controller_protocol::deflate::{
    accept_offer, client_offer, DeflateConfig, DeflateParams, Deflater, Inflater,
};
use ws_controller_protocol::frame::OpCode;
use ws_controller_protocol::{Decoder, Encoder, Event, Message, Role};

/// xorshift64*: reproducible cases without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn random_text(rng: &mut Rng, len: usize) -> String {
    const PIECES: &[&str] = &["a", "Z", " ", "é", "€", "𝄞", "κόσμε", "\u{10FFFF}"];
    let mut text = String::new();
    while text.len() < len {
        text.push_str(PIECES[rng.below(PIECES.len())]);
    }
    text
}

fn random_event(rng: &mut Rng) -> Event {
    let len = match rng.below(10) {
        0 => 0,
        1..=5 => rng.below(126),
        6..=8 => rng.below(70_000),
        _ => 65_535 + rng.below(3),
    };
    match rng.below(6) {
        0 | 1 => Event::Message(Message::text(random_text(rng, len))),
        2 | 3 => Event::Message(Message::binary(
            (0..len).map(|_| rng.next() as u8).collect::<Vec<_>>(),
        )),
        4 => Event::Ping(Bytes::from(vec![7; rng.below(126)])),
        _ => Event::Pong(Bytes::from(vec![8; rng.below(126)])),
    }
}

fn encode(encoder: &mut Encoder, event: &Event, out: &mut Vec<u8>) {
    match event {
        Event::Message(message) => {
            // A separate payload follows its header on the wire: append it.
            if let ws_controller_protocol::Payload::Separate(bytes) =
                encoder.message(message, out, 1024)
            {
                out.extend_from_slice(&bytes);
            }
        }
        Event::Ping(payload) => encoder.control(OpCode::Ping, payload, out),
        Event::Pong(payload) => encoder.control(OpCode::Pong, payload, out),
        Event::Close(_) => unreachable!("not generated"),
    }
}

fn round_trip(sender: Role, seed: u64, compression: Option<(DeflateParams, usize)>) {
    let receiver = match sender {
        Role::Client => Role::Server,
        Role::Server => Role::Client,
    };
    let mut rng = Rng(seed);
    let events: Vec<Event> = (0..40).map(|_| random_event(&mut rng)).collect();
    let mut encoder = Encoder::new(sender);
    let mut decoder = Decoder::new(receiver, 1 << 20);
    if let Some((params, threshold)) = compression {
        encoder = encoder.with_deflater(Deflater::new(&params, sender, threshold));
        decoder = decoder.with_inflater(Inflater::new(&params, receiver));
    }
    let mut wire = Vec::new();
    for event in &events {
        encode(&mut encoder, event, &mut wire);
    }
    let mut got = Vec::new();
    let mut at = 0;
    while at < wire.len() {
        let span = if rng.below(4) == 0 { 16 } else { 20_000 };
        let piece = 1 + rng.below(span);
        let end = (at + piece).min(wire.len());
        let mut buf = wire[at..end].to_vec();
        let mut used = 0;
        while used < buf.len() {
            let (n, event) = decoder.decode(&mut buf[used..]);
            used += n;
            match event.expect("valid frames decode") {
                Some(event) => got.push(event),
                None => assert_eq!(used, buf.len()),
            }
        }
        at = end;
    }
    assert!(decoder.is_idle());
    assert_eq!(got, events, "seed {seed}");
}

#[test]
fn client_to_server() {
    for seed in 1..=40 {
        round_trip(Role::Client, seed, None);
    }
}

#[test]
fn server_to_client() {
    for seed in 1..=40 {
        round_trip(Role::Server, seed * 7919, None);
    }
}

/// What a server running `server` agrees on with a client offering `client`.
fn negotiate(server: &DeflateConfig, client: &DeflateConfig) -> DeflateParams {
    let offer = client_offer(client);
    accept_offer([offer.as_bytes()], server).expect("the offer is accepted")
}

#[test]
fn compressed_in_both_roles_and_modes() {
    let lean = DeflateConfig::lean();
    let takeover = |bits| DeflateConfig::context_takeover(bits);
    let modes = [
        negotiate(&lean, &lean),
        negotiate(&takeover(15), &takeover(15)),
        negotiate(&takeover(9), &takeover(9)),
    ];
    for params in modes {
        for seed in 1..=3 {
            // Threshold 0 compresses every message, empty ones included.
            for threshold in [0, 1024] {
                round_trip(
                    Role::Client,
                    seed * 31 + threshold as u64,
                    Some((params, threshold)),
                );
                round_trip(
                    Role::Server,
                    seed * 37 + threshold as u64,
                    Some((params, threshold)),
                );
            }
        }
    }
}
