//! `ws_controller_protocol::Decoder` driven directly (no socket, no runtime): either role,
//! with or without an `Inflater` (parameters from the input: lean, context takeover, any
//! window bits), any size limit, fed a stream of raw bytes, frames built from parts, valid
//! messages (compressed or not, fragmented anywhere, a ping between fragments) and control
//! frames, split into pieces at arbitrary points.
//!
//! Checks, on every `decode` call: no panic; `used` never past the input, `Ok(None)` only
//! once all of it is used, every byte used when no error; after an error the same error
//! for any input, consuming nothing, with no bytes kept; `buffered()` at most the limit
//! plus one control frame's payload, 0 when idle or right after a message, and without an
//! inflater never more than the bytes consumed since the last message; the heap grows by
//! at most twice the bytes held and received (plus the limit and zlib state when
//! inflating), and no single allocation above 4 MiB: memory follows the traffic, never a
//! declared length. On every event: messages within the limit, text UTF-8, control
//! payloads ≤ 125 bytes, close codes sendable and reasons ≤ 123 bytes. Then: the same
//! events and error whether the input is split or fed at once; exactly the messages and
//! control frames a model expects while the stream is made of valid pieces only (and the
//! expected error for an oversized message or a bad close frame); and every event,
//! re-encoded by an `Encoder` of the other role (compressing when agreed), decodes to
//! itself.
#![no_main]

#[path = "common/mod.rs"]
mod common;

use arbitrary::{Arbitrary, Unstructured};
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use ws_controller_protocol::close::{is_sendable_code, MAX_REASON_LEN};
use ws_controller_protocol::deflate::{DeflateParams, Deflater, Inflater};
use ws_controller_protocol::frame::{OpCode, MAX_CONTROL_PAYLOAD};
use ws_controller_protocol::{
    CloseFrame, Decoder, Encoder, Event, Message, Payload, ProtocolError, Role,
};

use common::spec::{write_frame, FrameSpec, MessageSpec};

#[global_allocator]
static ALLOC: common::Watchdog = common::Watchdog;

/// Wire bytes and plaintext built per input: keeps executions fast.
const MAX_INPUT: usize = 2 << 20;
const MAX_PLAINTEXT: usize = 8 << 20;
/// Decoded message bytes kept per run: a stream of small compressed bombs could
/// otherwise inflate to gigabytes of events. Both runs stop after the same event.
const MAX_DECODED: usize = 16 << 20;
/// Heap an inflating decoder may use beyond its message: zlib state (~47 KiB, the pool's
/// first one included) and, for peers that use final blocks, a copy of the window.
const STATE_ALLOWANCE: usize = 256 << 10;
/// Small allocations a call may make besides the payload: an event's `Arc`, a close
/// reason, an error's text.
const SLACK: usize = 4 << 10;
/// Most `decode` calls per run: a byte-at-a-time split of a large input is slowed to
/// pieces of `input / MAX_CALLS` bytes.
const MAX_CALLS: usize = 1 << 14;

#[derive(Arbitrary, Debug)]
struct Plan<'a> {
    /// The decoder is the server (expects masked frames), else the client.
    server: bool,
    limit: Limit,
    compression: Option<Params>,
    /// Round trip: the re-encoding peer compresses messages of at least this many bytes.
    threshold: u16,
    /// Piece lengths the input is fed in, then pieces of `every` bytes (0: the rest at
    /// once).
    splits: Vec<u16>,
    every: u8,
    pieces: Vec<Piece<'a>>,
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
            // Below the watchdog's 4 MiB ceiling on one allocation.
            Limit::Large(n) => n as usize % (4 << 20),
        }
    }
}

/// permessage-deflate as agreed; window bits mapped into the negotiable 8..=15, 0 to 15
/// (the fuzzer's favourite byte gets real compression; 8 gives stored blocks).
#[derive(Arbitrary, Debug)]
struct Params {
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    server_max_window_bits: u8,
    client_max_window_bits: u8,
}

#[derive(Arbitrary, Debug)]
enum Piece<'a> {
    Raw(&'a [u8]),
    Frame(FrameSpec<'a>),
    Message(MessageSpec<'a>),
    Control(Control<'a>),
}

#[derive(Arbitrary, Debug)]
enum Control<'a> {
    Ping(&'a [u8], [u8; 4]),
    Pong(&'a [u8], [u8; 4]),
    /// Code and reason, or an empty payload.
    Close(Option<(u16, &'a str)>, [u8; 4]),
}

/// What the model expects of the whole stream.
enum Expect {
    /// Valid pieces so far: exactly these events, and no error.
    Events(Vec<Event>),
    /// These events (the stream may add some before failing, e.g. the ping inside an
    /// oversized message), then this error.
    Fails(Vec<Event>, ProtocolError),
    /// Raw bytes or free-form frames: no prediction.
    Unknown,
}

impl Expect {
    fn push(&mut self, event: Event) {
        if let Expect::Events(events) = self {
            events.push(event);
        }
    }

    fn fail(&mut self, error: ProtocolError) {
        if let Expect::Events(events) = self {
            *self = Expect::Fails(std::mem::take(events), error);
        }
    }

    fn unknown(&mut self) {
        if let Expect::Events(_) = self {
            *self = Expect::Unknown;
        }
    }
}

struct Setup {
    role: Role,
    limit: usize,
    params: Option<DeflateParams>,
}

impl Setup {
    fn decoder(&self) -> Decoder {
        let decoder = Decoder::new(self.role, self.limit);
        match &self.params {
            Some(params) => decoder.with_inflater(Inflater::new(params, self.role)),
            None => decoder,
        }
    }

    fn peer(&self) -> Role {
        match self.role {
            Role::Server => Role::Client,
            Role::Client => Role::Server,
        }
    }
}

#[derive(Debug, Default)]
struct Outcome {
    events: Vec<Event>,
    error: Option<ProtocolError>,
    /// Stopped at `MAX_DECODED` before the end of the input.
    cut_short: bool,
}

fuzz_target!(|data: &[u8]| {
    let Ok(plan) = Plan::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    let setup = Setup {
        role: if plan.server {
            Role::Server
        } else {
            Role::Client
        },
        limit: plan.limit.bytes(),
        params: plan.compression.as_ref().map(|p| DeflateParams {
            server_no_context_takeover: p.server_no_context_takeover,
            client_no_context_takeover: p.client_no_context_takeover,
            server_max_window_bits: 15 - p.server_max_window_bits % 8,
            client_max_window_bits: 15 - p.client_max_window_bits % 8,
        }),
    };
    let (input, expect) = build(&plan, &setup);
    if std::env::var_os("FUZZ_TRACE").is_some() {
        eprintln!("{plan:?}\ninput {input:02x?}");
    }
    let piece = usize::from(plan.every).max(input.len() / MAX_CALLS);
    let rest: Box<dyn Iterator<Item = usize>> = if plan.every == 0 {
        Box::new(std::iter::once(usize::MAX))
    } else {
        Box::new(std::iter::repeat(piece))
    };
    let cuts = plan.splits.iter().map(|&n| usize::from(n)).chain(rest);

    common::guarded(|| {
        let whole = drive(&setup, &input, std::iter::once(usize::MAX));
        let split = drive(&setup, &input, cuts);
        assert_eq!(whole.events, split.events, "split changed the events");
        assert_eq!(
            whole.error.as_ref().map(same_kind),
            split.error.as_ref().map(same_kind),
            "split changed the error"
        );
        assert_eq!(whole.cut_short, split.cut_short);
        if std::env::var_os("FUZZ_TRACE").is_some() {
            let model = match &expect {
                Expect::Events(_) => "events",
                Expect::Fails(..) => "fails",
                Expect::Unknown => "unknown",
            };
            eprintln!(
                "{:?} limit {} deflate {:?}: {} input bytes, {} events, error {:?}, model {model}",
                setup.role,
                setup.limit,
                setup.params,
                input.len(),
                whole.events.len(),
                whole.error
            );
        }
        if !whole.cut_short {
            match &expect {
                Expect::Events(events) => {
                    assert_eq!(&whole.events, events, "valid stream, wrong events");
                    assert_eq!(whole.error, None, "valid stream, error");
                }
                Expect::Fails(events, error) => {
                    assert!(
                        whole.events.starts_with(events),
                        "wrong events before the expected error"
                    );
                    assert_eq!(whole.error.as_ref(), Some(error), "wrong error");
                }
                Expect::Unknown => {}
            }
        }
        round_trip(&setup, &whole.events, usize::from(plan.threshold));
    });
});

/// The wire bytes of the plan's pieces, and what a decoder must make of them.
fn build(plan: &Plan, setup: &Setup) -> (Vec<u8>, Expect) {
    let masked = setup.role == Role::Server;
    let limit = setup.limit;
    // The peer's compressor, in step with the decoder's inflater message after message.
    let mut deflater = setup
        .params
        .as_ref()
        .map(|params| Deflater::new(params, setup.peer(), 0));
    let mut input = Vec::new();
    let mut expect = Expect::Events(Vec::new());
    let mut plaintext = 0;
    for piece in &plan.pieces {
        if input.len() > MAX_INPUT || plaintext > MAX_PLAINTEXT {
            break;
        }
        match piece {
            Piece::Raw(bytes) => {
                input.extend_from_slice(bytes);
                expect.unknown();
            }
            Piece::Frame(frame) => {
                frame.encode(&mut input, masked);
                expect.unknown();
            }
            Piece::Message(spec) => {
                let payload = spec.payload();
                plaintext += payload.len();
                let ping = spec.encode(&mut input, masked, deflater.as_mut());
                if payload.len() > limit {
                    expect.fail(ProtocolError::MessageTooBig { limit });
                    continue;
                }
                if let Some(ping) = ping {
                    expect.push(Event::Ping(Bytes::copy_from_slice(ping)));
                }
                expect.push(Event::Message(if spec.text {
                    Message::text(payload)
                } else {
                    Message::binary(payload.into_bytes())
                }));
            }
            Piece::Control(control) => {
                let (opcode, payload, key, event) = match control {
                    Control::Ping(p, key) => {
                        (0x9, p.to_vec(), key, Event::Ping(Bytes::copy_from_slice(p)))
                    }
                    Control::Pong(p, key) => {
                        (0xA, p.to_vec(), key, Event::Pong(Bytes::copy_from_slice(p)))
                    }
                    Control::Close(None, key) => (0x8, Vec::new(), key, Event::Close(None)),
                    Control::Close(Some((code, reason)), key) => {
                        let mut payload = code.to_be_bytes().to_vec();
                        payload.extend_from_slice(reason.as_bytes());
                        let frame = CloseFrame {
                            code: *code,
                            reason: (*reason).to_owned(),
                        };
                        if !is_sendable_code(*code) && payload.len() <= MAX_CONTROL_PAYLOAD {
                            expect.fail(ProtocolError::InvalidCloseCode(*code));
                        }
                        (0x8, payload, key, Event::Close(Some(frame)))
                    }
                };
                write_frame(&mut input, 0x80 | opcode, masked.then_some(*key), &payload);
                if payload.len() > MAX_CONTROL_PAYLOAD {
                    expect.fail(ProtocolError::ControlTooLong);
                }
                expect.push(event);
            }
        }
    }
    (input, expect)
}

/// Decodes `input` fed in pieces of the lengths `cuts` gives, checking every call.
fn drive(setup: &Setup, input: &[u8], mut cuts: impl Iterator<Item = usize>) -> Outcome {
    let limit = setup.limit;
    let mut decoder = setup.decoder();
    let mut outcome = Outcome::default();
    let mut start: usize = 0;
    let mut consumed = 0;
    // Bytes consumed since the last message ended: all an uncompressed decoder may hold.
    let mut since_message = 0;
    let mut decoded = 0;
    loop {
        let end = cuts
            .next()
            .map_or(input.len(), |n| start.saturating_add(n).min(input.len()));
        let mut piece = input[start..end].to_vec();
        start = end;
        let mut at = 0;
        loop {
            let before = decoder.buffered();
            let baseline = common::peak_reset();
            let (used, result) = decoder.decode(&mut piece[at..]);
            let growth = common::peak_since(baseline);
            assert!(
                used <= piece.len() - at,
                "used {used} of {}",
                piece.len() - at
            );
            at += used;
            consumed += used;
            since_message += used;
            let buffered = decoder.buffered();
            let mut bound = 2 * (before + used) + SLACK;
            if setup.params.is_some() {
                bound += limit + 1 + STATE_ALLOWANCE;
            }
            assert!(
                growth <= bound,
                "heap grew {growth} > {bound} (held {before}, used {used})"
            );
            assert!(
                buffered <= limit + MAX_CONTROL_PAYLOAD,
                "buffered {buffered} > limit {limit} + {MAX_CONTROL_PAYLOAD}"
            );
            if setup.params.is_none() {
                assert!(
                    buffered <= since_message,
                    "buffered {buffered} > {since_message} bytes received for it"
                );
            }
            if decoder.is_idle() {
                assert_eq!(buffered, 0, "an idle decoder holds bytes");
            }
            match result {
                Err(error) => {
                    assert_eq!(buffered, 0, "a failed decoder holds bytes");
                    let again = decoder.decode(&mut piece[at..]);
                    assert_eq!(again, (0, Err(error.clone())), "error not sticky");
                    let again = decoder.decode(&mut [0x81, 0x80, 0, 0, 0, 0, b'a']);
                    assert_eq!(again, (0, Err(error.clone())), "error not sticky");
                    outcome.error = Some(error);
                    return outcome;
                }
                Ok(None) => {
                    assert_eq!(at, piece.len(), "Ok(None) with input left");
                    break;
                }
                Ok(Some(event)) => {
                    check_event(&event, limit);
                    if let Event::Message(message) = &event {
                        assert_eq!(buffered, 0, "bytes kept after a message");
                        since_message = 0;
                        decoded += message.len();
                    }
                    outcome.events.push(event);
                    if decoded > MAX_DECODED {
                        outcome.cut_short = true;
                        return outcome;
                    }
                    if at == piece.len() {
                        break;
                    }
                }
            }
        }
        if start == input.len() {
            break;
        }
    }
    assert_eq!(
        consumed,
        input.len(),
        "bytes left unconsumed without an error"
    );
    outcome
}

/// The error with zlib's text left out: zlib-rs words one corrupt stream differently
/// depending on how much of it one call sees (its fast path reports "invalid distance too
/// far back" as "repeated call with bad state"), and the text is only informative.
fn same_kind(error: &ProtocolError) -> ProtocolError {
    match error {
        ProtocolError::Compression(_) => ProtocolError::Compression(String::new()),
        other => other.clone(),
    }
}

fn check_event(event: &Event, limit: usize) {
    match event {
        Event::Message(message) => {
            assert!(
                message.len() <= limit,
                "{} bytes > limit {limit}",
                message.len()
            );
            if message.is_text() {
                assert!(std::str::from_utf8(message.as_bytes()).is_ok());
            }
        }
        Event::Ping(payload) | Event::Pong(payload) => {
            assert!(
                payload.len() <= MAX_CONTROL_PAYLOAD,
                "control payload {}",
                payload.len()
            );
        }
        Event::Close(None) => {}
        Event::Close(Some(frame)) => {
            assert!(is_sendable_code(frame.code), "close code {}", frame.code);
            assert!(
                frame.reason.len() <= MAX_REASON_LEN,
                "reason {}",
                frame.reason.len()
            );
        }
    }
}

/// Every event re-encoded by the other role decodes to itself, one at a time (the
/// compressor's window and the inflater's stay in step across messages).
fn round_trip(setup: &Setup, events: &[Event], threshold: usize) {
    let mut encoder = Encoder::new(setup.peer());
    if let Some(params) = &setup.params {
        encoder = encoder.with_deflater(Deflater::new(params, setup.peer(), threshold));
    }
    let mut decoder = setup.decoder();
    for event in events {
        let mut wire = Vec::new();
        match event {
            Event::Message(message) => {
                let payload = encoder.message(message, &mut wire, usize::MAX);
                assert_eq!(payload, Payload::Inline, "no inline limit");
            }
            Event::Ping(payload) => encoder.control(OpCode::Ping, payload, &mut wire),
            Event::Pong(payload) => encoder.control(OpCode::Pong, payload, &mut wire),
            Event::Close(None) => encoder.close_empty(&mut wire),
            Event::Close(Some(frame)) => encoder.close(frame.code, &frame.reason, &mut wire),
        }
        let (used, result) = decoder.decode(&mut wire);
        assert_eq!(result.as_ref(), Ok(&Some(event.clone())), "round trip");
        assert_eq!(used, wire.len(), "round trip left bytes");
        assert!(decoder.is_idle(), "round trip left the decoder mid-frame");
    }
}
