//! Every RFC 6455 rule of the decoder, table-driven, each case fed whole, split at every
//! byte boundary and byte by byte.

use bytes::Bytes;
use ws_controller_protocol::{CloseFrame, Decoder, Event, Message, ProtocolError, Role};

const MASK: [u8; 4] = [0x12, 0x34, 0x56, 0x78];

/// A masked frame from a client: `b0` is FIN/RSV/opcode, as on the wire.
fn frame(b0: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![b0];
    match payload.len() {
        n if n < 126 => out.push(0x80 | n as u8),
        n if n <= 0xFFFF => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&MASK);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ MASK[i % 4]));
    out
}

fn close(code: u16, reason: &[u8]) -> Vec<u8> {
    let mut payload = code.to_be_bytes().to_vec();
    payload.extend_from_slice(reason);
    frame(0x88, &payload)
}

type Outcome = (Vec<Event>, Option<ProtocolError>);

/// A violation case: name, input, the events before the violation, the error, its code.
type Violation = (&'static str, Vec<u8>, Vec<Event>, ProtocolError, u16);

/// Decodes `input` fed in pieces at `cuts`.
fn decode_in_pieces(input: &[u8], cuts: &[usize], limit: usize) -> Outcome {
    let mut decoder = Decoder::new(Role::Server, limit);
    let mut events = Vec::new();
    let mut start = 0;
    for &end in cuts.iter().chain(std::iter::once(&input.len())) {
        let mut piece = input[start..end].to_vec();
        start = end;
        let mut at = 0;
        loop {
            let (used, result) = decoder.decode(&mut piece[at..]);
            at += used;
            match result {
                Ok(Some(event)) => events.push(event),
                Ok(None) => break,
                Err(err) => return (events, Some(err)),
            }
            if at == piece.len() {
                break;
            }
        }
        assert_eq!(at, piece.len(), "without an error every byte is consumed");
    }
    (events, None)
}

/// Asserts the outcome is the same however the input is split (for long inputs: every
/// split within the headers at either end, and every 97th byte between).
fn check(name: &str, input: &[u8], limit: usize, expected: Outcome) {
    assert_eq!(
        decode_in_pieces(input, &[], limit),
        expected,
        "{name}: whole"
    );
    let len = input.len();
    let cuts: Vec<usize> = if len <= 2048 {
        (1..len).collect()
    } else {
        (1..32)
            .chain((32..len - 32).step_by(97))
            .chain(len - 32..len)
            .collect()
    };
    for cut in cuts {
        assert_eq!(
            decode_in_pieces(input, &[cut], limit),
            expected,
            "{name}: cut at {cut}"
        );
    }
    let every: Vec<usize> = (1..input.len()).collect();
    assert_eq!(
        decode_in_pieces(input, &every, limit),
        expected,
        "{name}: byte by byte"
    );
}

fn text(s: &str) -> Event {
    Event::Message(Message::text(s.to_owned()))
}

fn binary(b: &[u8]) -> Event {
    Event::Message(Message::binary(b.to_vec()))
}

#[test]
fn valid_sequences() {
    let cases: Vec<(&str, Vec<u8>, Vec<Event>)> = vec![
        ("text", frame(0x81, b"Hello"), vec![text("Hello")]),
        ("empty text", frame(0x81, b""), vec![text("")]),
        (
            "binary",
            frame(0x82, &[0, 1, 255]),
            vec![binary(&[0, 1, 255])],
        ),
        (
            "16-bit length",
            frame(0x82, &[7; 300]),
            vec![binary(&[7; 300])],
        ),
        (
            "64-bit length",
            frame(0x82, &[9; 70_000]),
            vec![binary(&[9; 70_000])],
        ),
        (
            "fragments with a ping between",
            [
                frame(0x01, b"Hel"),
                frame(0x89, b"p"),
                frame(0x00, b"l"),
                frame(0x80, b"o"),
            ]
            .concat(),
            vec![Event::Ping(Bytes::from_static(b"p")), text("Hello")],
        ),
        (
            "empty fragments",
            [frame(0x02, b""), frame(0x00, b""), frame(0x80, b"x")].concat(),
            vec![binary(b"x")],
        ),
        (
            "multibyte character split across fragments",
            [frame(0x01, b"\xe2\x82"), frame(0x80, b"\xac")].concat(),
            vec![text("€")],
        ),
        (
            "pong",
            frame(0x8A, b"abc"),
            vec![Event::Pong(Bytes::from_static(b"abc"))],
        ),
        ("empty close", frame(0x88, b""), vec![Event::Close(None)]),
        (
            "close with reason",
            close(1001, "bye".as_bytes()),
            vec![Event::Close(Some(CloseFrame {
                code: 1001,
                reason: "bye".into(),
            }))],
        ),
        (
            "close with a private code",
            close(4999, b""),
            vec![Event::Close(Some(CloseFrame {
                code: 4999,
                reason: String::new(),
            }))],
        ),
        (
            "two messages",
            [frame(0x81, b"a"), frame(0x82, b"b")].concat(),
            vec![text("a"), binary(b"b")],
        ),
    ];
    for (name, input, events) in cases {
        check(name, &input, 1 << 20, (events, None));
    }
}

#[test]
fn violations_get_their_close_code() {
    use ProtocolError::*;
    let cases: Vec<Violation> = vec![
        (
            "RSV1 without an extension",
            frame(0xC1, b"x"),
            vec![],
            ReservedBits,
            1002,
        ),
        ("RSV2", frame(0xA1, b"x"), vec![], ReservedBits, 1002),
        ("RSV3", frame(0x91, b"x"), vec![], ReservedBits, 1002),
        (
            "RSV on a ping",
            frame(0xC9, b""),
            vec![],
            ReservedBits,
            1002,
        ),
        (
            "opcode 3",
            frame(0x83, b""),
            vec![],
            ReservedOpcode(3),
            1002,
        ),
        (
            "opcode 7",
            frame(0x87, b""),
            vec![],
            ReservedOpcode(7),
            1002,
        ),
        (
            "opcode 0xB",
            frame(0x8B, b""),
            vec![],
            ReservedOpcode(0xB),
            1002,
        ),
        (
            "opcode 0xF",
            frame(0x8F, b""),
            vec![],
            ReservedOpcode(0xF),
            1002,
        ),
        (
            "fragmented ping",
            frame(0x09, b"x"),
            vec![],
            FragmentedControl,
            1002,
        ),
        (
            "126-byte ping",
            frame(0x89, &[0; 126]),
            vec![],
            ControlTooLong,
            1002,
        ),
        (
            "unmasked",
            vec![0x81, 0x01, b'x'],
            vec![],
            UnmaskedFrame,
            1002,
        ),
        (
            "length with the top bit",
            [&[0x82u8, 0xFF, 0x80][..], &[0; 7], &MASK].concat(),
            vec![],
            InvalidLength,
            1002,
        ),
        (
            "continuation first",
            frame(0x80, b"x"),
            vec![],
            UnexpectedContinuation,
            1002,
        ),
        (
            "text inside a fragmented message",
            [frame(0x01, b"a"), frame(0x81, b"b")].concat(),
            vec![],
            ExpectedContinuation,
            1002,
        ),
        (
            "continuation after a complete message",
            [frame(0x81, b"a"), frame(0x80, b"b")].concat(),
            vec![text("a")],
            UnexpectedContinuation,
            1002,
        ),
        (
            "one-byte close",
            frame(0x88, &[3]),
            vec![],
            CloseTooShort,
            1002,
        ),
        (
            "close code 999",
            close(999, b""),
            vec![],
            InvalidCloseCode(999),
            1002,
        ),
        (
            "close code 1005",
            close(1005, b""),
            vec![],
            InvalidCloseCode(1005),
            1002,
        ),
        (
            "close code 1006",
            close(1006, b""),
            vec![],
            InvalidCloseCode(1006),
            1002,
        ),
        (
            "close code 1016",
            close(1016, b""),
            vec![],
            InvalidCloseCode(1016),
            1002,
        ),
        (
            "close code 5000",
            close(5000, b""),
            vec![],
            InvalidCloseCode(5000),
            1002,
        ),
        (
            "close reason not UTF-8",
            close(1000, b"\xff"),
            vec![],
            InvalidCloseReason,
            1007,
        ),
        (
            "invalid UTF-8",
            frame(0x81, b"ab\xff"),
            vec![],
            InvalidUtf8,
            1007,
        ),
        (
            "truncated UTF-8 at the end",
            frame(0x81, b"\xe2\x82"),
            vec![],
            InvalidUtf8,
            1007,
        ),
        (
            "invalid UTF-8 across fragments",
            [frame(0x01, b"\xce"), frame(0x80, b"a")].concat(),
            vec![],
            InvalidUtf8,
            1007,
        ),
        (
            "too big",
            frame(0x82, &[0; 101]),
            vec![],
            MessageTooBig { limit: 100 },
            1009,
        ),
        (
            "too big across fragments",
            [frame(0x02, &[0; 60]), frame(0x80, &[0; 41])].concat(),
            vec![],
            MessageTooBig { limit: 100 },
            1009,
        ),
    ];
    for (name, input, events, error, code) in cases {
        assert_eq!(error.close_code(), code, "{name}");
        check(name, &input, 100, (events, Some(error)));
    }
}

#[test]
fn exactly_the_limit_is_accepted() {
    check(
        "at the limit",
        &frame(0x82, &[1; 100]),
        100,
        (vec![binary(&[1; 100])], None),
    );
    let fragments = [frame(0x02, &[1; 50]), frame(0x80, &[1; 50])].concat();
    check(
        "fragments at the limit",
        &fragments,
        100,
        (vec![binary(&[1; 100])], None),
    );
}

#[test]
fn invalid_utf8_fails_before_the_rest_of_the_frame_arrives() {
    // Autobahn 6.4.x: a frame declaring 10,000 bytes with `\xff` in its first 20.
    let mut payload = b"valid text, then ".to_vec();
    payload.push(0xff);
    payload.resize(10_000, b'a');
    let wire = frame(0x81, &payload);
    let mut decoder = Decoder::new(Role::Server, 1 << 20);
    let mut head = wire[..8 + 20].to_vec();
    let (_, result) = decoder.decode(&mut head);
    assert_eq!(result, Err(ProtocolError::InvalidUtf8));
}

#[test]
fn a_frame_over_the_limit_fails_on_its_header_alone() {
    let mut header = vec![0x82, 0x80 | 127];
    header.extend_from_slice(&(16u64 << 20).to_be_bytes());
    header.extend_from_slice(&MASK);
    let mut decoder = Decoder::new(Role::Server, 64 << 10);
    let (_, result) = decoder.decode(&mut header);
    assert_eq!(
        result,
        Err(ProtocolError::MessageTooBig { limit: 64 << 10 })
    );
}

#[test]
fn memory_follows_the_bytes_received_not_the_declared_length() {
    let mut header = vec![0x82, 0x80 | 127];
    header.extend_from_slice(&(16u64 << 20).to_be_bytes());
    header.extend_from_slice(&MASK);
    header.extend_from_slice(&[0; 100]);
    let mut decoder = Decoder::new(Role::Server, 32 << 20);
    let (used, result) = decoder.decode(&mut header);
    assert_eq!((used, result), (header.len(), Ok(None)));
    assert_eq!(decoder.buffered(), 100);
    assert!(!decoder.is_idle());
}

#[test]
fn after_a_violation_the_decoder_stays_failed() {
    let mut decoder = Decoder::new(Role::Server, 100);
    let mut bad = frame(0x83, b"");
    assert_eq!(
        decoder.decode(&mut bad).1,
        Err(ProtocolError::ReservedOpcode(3))
    );
    let mut good = frame(0x81, b"x");
    assert_eq!(
        decoder.decode(&mut good),
        (0, Err(ProtocolError::ReservedOpcode(3)))
    );
}

#[test]
fn a_client_refuses_masked_frames() {
    let mut decoder = Decoder::new(Role::Client, 100);
    let mut masked = frame(0x81, b"x");
    assert_eq!(
        decoder.decode(&mut masked).1,
        Err(ProtocolError::MaskedFrame)
    );
}
