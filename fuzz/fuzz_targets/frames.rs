//! After a valid in-memory handshake (offering permessage-deflate in one input of two, to
//! a server with compression on, lean or with context takeover), arbitrary bytes, frames
//! built from parts, or valid messages (compressed with the agreed parameters or not,
//! fragmented anywhere) as the client's frame stream to an echo controller
//! (`max_message_size` 64 KiB).
//!
//! Checks: no panic; the server ends the connection (close frame or EOF) and every task
//! ends within a bounded virtual time, whether or not the client ends its stream; the
//! server answers exactly the extension `accept_offer` picks for the offer; what it writes
//! is well-formed (unmasked, RSV1 only on a compressed data frame when compression was
//! agreed, known opcodes, control frames ≤ 125 bytes and unfragmented), decodes without
//! error with the client's `Decoder` and `Inflater` (so text is UTF-8, compressed echoes
//! inflate, messages ≤ 64 KiB), with at most one close frame, last, carrying a sendable
//! code and a UTF-8 reason of ≤ 123 bytes; the echoed messages are, in order, the first
//! messages the codec decodes from the client's stream (before any close or error), and
//! when that stream breaks a rule, the server's close code is the one for that violation;
//! no single allocation above 4 MiB (a header claiming 2^63 bytes must not allocate) and a
//! bounded heap peak.
#![no_main]

#[path = "common/mod.rs"]
mod common;

use std::fmt::Write as _;
use std::sync::OnceLock;
use std::time::Duration;

use arbitrary::{Arbitrary, Unstructured};
use axum::Router;
use libfuzzer_sys::fuzz_target;
use tokio::io::AsyncWriteExt;
use ws_controller::protocol::deflate::{accept_offer, DeflateParams, Deflater, Inflater};
use ws_controller::protocol::{Decoder, Event, Message, ProtocolError, Role};
use ws_controller::{Compression, Conn, Controller, Error, Settings};

use common::spec::{FrameSpec, MessageSpec};

#[global_allocator]
static ALLOC: common::Watchdog = common::Watchdog;

const MAX_MESSAGE: usize = 64 << 10;

/// The server's compression modes, `Off` first; the echoes of messages of at least 64
/// bytes are compressed, so both kinds of frame go back.
const MODES: [Compression; 4] = [
    Compression::Off,
    Compression::On,
    Compression::ContextTakeover { window_bits: 9 },
    Compression::ContextTakeover { window_bits: 15 },
];
const THRESHOLD: usize = 64;

struct Echo(Compression);

impl Controller for Echo {
    type Extract = ();

    fn settings(&self) -> Settings {
        Settings::default()
            .max_message_size(MAX_MESSAGE)
            .idle_timeout(Some(Duration::from_secs(5)))
            .ping_interval(Some(Duration::from_secs(2)))
            .close_timeout(Duration::from_secs(2))
            .compression(self.0)
            .compression_threshold(THRESHOLD)
    }

    async fn serve(&self, mut conn: Conn, _: ()) -> Result<(), Error> {
        loop {
            let message = conn.recv().await?;
            conn.send(message).await?;
        }
    }
}

fn app(mode: usize) -> &'static Router {
    static APPS: OnceLock<Vec<Router>> = OnceLock::new();
    &APPS.get_or_init(|| {
        MODES
            .iter()
            .map(|&mode| ws_controller::route("/ws", Echo(mode)))
            .collect()
    })[mode]
}

const HANDSHAKE: &str = "GET /ws HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\n\
Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";

/// How the client sends its bytes.
#[derive(Debug, Arbitrary)]
struct Plan<'a> {
    /// Offer permessage-deflate (to a server with compression on).
    offer: Option<Offer>,
    /// Keep the write side open after the last byte (the server must end the connection
    /// on its own: close handshake timeout, idle timeout).
    keep_open: bool,
    /// Write in pieces of this many bytes (0: all at once), yielding between them.
    piece: u8,
    stream: Stream<'a>,
}

/// A permessage-deflate offer; window bits mapped into 8..=15 (8 is declined for the
/// server's window: zlib cannot compress with it).
#[derive(Debug, Arbitrary)]
struct Offer {
    /// Which of the compressing modes the server runs.
    mode: u8,
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    server_max_window_bits: Option<u8>,
    /// `Some(None)`: the parameter without a value.
    client_max_window_bits: Option<Option<u8>>,
}

impl Offer {
    fn header(&self) -> String {
        let mut header = String::from("permessage-deflate");
        if self.server_no_context_takeover {
            header.push_str("; server_no_context_takeover");
        }
        if self.client_no_context_takeover {
            header.push_str("; client_no_context_takeover");
        }
        if let Some(bits) = self.server_max_window_bits {
            let _ = write!(header, "; server_max_window_bits={}", 8 + bits % 8);
        }
        match self.client_max_window_bits {
            Some(Some(bits)) => {
                let _ = write!(header, "; client_max_window_bits={}", 8 + bits % 8);
            }
            Some(None) => header.push_str("; client_max_window_bits"),
            None => {}
        }
        header
    }
}

#[derive(Debug, Arbitrary)]
enum Stream<'a> {
    /// Raw bytes after the handshake.
    Raw(&'a [u8]),
    /// Frames built from parts, so frames that pass the first checks come up often.
    Frames(Vec<FrameSpec<'a>>),
    /// Valid messages (compressed when agreed and asked), then the raw tail.
    Messages(Vec<MessageSpec<'a>>, &'a [u8]),
}

fuzz_target!(|data: &[u8]| {
    let Ok(plan) = Plan::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    let mut handshake = String::from(HANDSHAKE);
    // What the server must agree on: `accept_offer` under the controller's own config
    // (negotiation itself is tested in the protocol crate); this checks that the upgrade
    // answers it and that the driver then compresses and inflates with it.
    let (mode, params) = match &plan.offer {
        None => (0, None),
        Some(offer) => {
            let mode = 1 + usize::from(offer.mode) % (MODES.len() - 1);
            let header = offer.header();
            let _ = write!(handshake, "Sec-WebSocket-Extensions: {header}\r\n");
            let config = Echo(MODES[mode]).settings().deflate_config();
            let params = config.and_then(|config| accept_offer([header.as_bytes()], &config));
            (mode, params)
        }
    };
    handshake.push_str("\r\n");
    let bytes = match &plan.stream {
        Stream::Raw(b) => b.to_vec(),
        Stream::Frames(frames) => {
            let mut out = Vec::new();
            for f in frames.iter().take(64) {
                f.encode(&mut out, true);
            }
            out
        }
        Stream::Messages(messages, tail) => {
            let mut deflater = params.map(|params| Deflater::new(&params, Role::Client, 0));
            let mut out = Vec::new();
            for m in messages.iter().take(64) {
                m.encode(&mut out, true, deflater.as_mut());
            }
            out.extend_from_slice(tail);
            out
        }
    };
    let mut output = Vec::new();
    let baseline = common::peak_reset();
    common::run(Duration::from_secs(30), async {
        let client = common::connect(app(mode));
        let (mut read_half, mut write_half) = tokio::io::split(client);
        let writer = async {
            if write_half.write_all(handshake.as_bytes()).await.is_err() {
                return;
            }
            if plan.piece == 0 {
                let _ = write_half.write_all(&bytes).await;
            } else {
                for piece in bytes.chunks(plan.piece as usize) {
                    if write_half.write_all(piece).await.is_err() {
                        return;
                    }
                    tokio::task::yield_now().await;
                }
            }
            if !plan.keep_open {
                let _ = write_half.shutdown().await;
            }
        };
        let writer = async {
            writer.await;
            // Hold the client (and, with `keep_open`, its write side) until the server has
            // closed the connection.
            std::future::pending::<std::convert::Infallible>().await
        };
        let reader = common::read_to_end(&mut read_half, 64 << 20);
        tokio::select! {
            out = reader => output = out,
            never = writer => match never {},
        }
    });
    let peak = common::peak_since(baseline);
    assert!(
        peak <= (32 << 20) + 4 * bytes.len(),
        "heap peak {peak} bytes for {} input bytes",
        bytes.len()
    );
    check(&output, params.as_ref(), &bytes);
});

fn check(output: &[u8], params: Option<&DeflateParams>, sent: &[u8]) {
    let trace = std::env::var_os("FUZZ_TRACE").is_some();
    if trace {
        eprintln!(
            "output {:?}",
            String::from_utf8_lossy(&output[..output.len().min(300)])
        );
    }
    let head = common::parse_response(output).expect("a response to the handshake");
    assert_eq!(head.status, 101, "the fixed handshake is valid");
    let answer = head.header("sec-websocket-extensions");
    let expected = params.map(DeflateParams::response_header);
    assert_eq!(
        answer,
        expected.as_deref().map(str::as_bytes),
        "extension answer"
    );
    let wire = &output[head.rest_at..];
    let frames = match common::parse_frames(wire) {
        Ok(frames) => frames,
        Err(frames) => panic!(
            "server wrote a truncated frame after {} frames",
            frames.len()
        ),
    };
    let mut closed = false;
    for frame in &frames {
        assert!(!closed, "a frame after the close frame");
        assert!(!frame.masked, "server frames are never masked");
        let compressed = frame.rsv == 0x4 && matches!(frame.opcode, 0x1 | 0x2);
        assert!(
            frame.rsv == 0 || (compressed && params.is_some()),
            "RSV {:#x} on opcode {:#x}",
            frame.rsv,
            frame.opcode
        );
        match frame.opcode {
            0x1 | 0x2 | 0x0 => {}
            0x8 | 0x9 | 0xA => {
                assert!(frame.fin, "fragmented control frame");
                assert!(frame.payload.len() <= 125, "control frame too long");
                if frame.opcode == 0x8 {
                    closed = true;
                    check_close_payload(&frame.payload);
                }
            }
            op => panic!("server sent opcode {op:#x}"),
        }
    }

    // The server's stream as a client decodes it: no violation, compressed echoes
    // inflate, and every message within the limit.
    let (echoes, server_error) = decode(wire, Role::Client, params);
    assert_eq!(server_error, None, "the server's frames break a rule");
    let echoes = messages(&echoes);
    // The client's stream as the server's codec sees it: the echoes are its first
    // messages, and a violation (before any close from the client) is what the server
    // closes for.
    let (received, client_error) = decode(sent, Role::Server, params);
    let received = messages(&received);
    assert!(
        received.starts_with(&echoes),
        "echoes are not the messages received ({} echoes, {} received)",
        echoes.len(),
        received.len()
    );
    let close_code = frames
        .iter()
        .find(|f| f.opcode == 0x8)
        .and_then(|f| f.payload.get(..2))
        .map(|c| u16::from_be_bytes([c[0], c[1]]));
    // `decode` stops at the client's close, so an error here came before any.
    if let (Some(error), Some(code)) = (&client_error, close_code) {
        assert_eq!(code, error.close_code(), "close code for {error:?}");
    }
    if trace {
        let close = frames.iter().find(|f| f.opcode == 0x8).map(|f| {
            (
                f.payload.get(..2).map(|c| u16::from_be_bytes([c[0], c[1]])),
                String::from_utf8_lossy(f.payload.get(2..).unwrap_or_default()).into_owned(),
            )
        });
        let compressed = frames.iter().filter(|f| f.rsv == 0x4).count();
        eprintln!(
            "frames {} ({compressed} compressed) close {close:?} deflate {params:?} echoes {} of {} received, client error {client_error:?}",
            frames.len(),
            echoes.len(),
            received.len()
        );
    }
}

/// Decodes a whole stream as `role` would with the agreed compression: the events up to
/// the first close (included) and the error that ended it, if any.
fn decode(
    stream: &[u8],
    role: Role,
    params: Option<&DeflateParams>,
) -> (Vec<Event>, Option<ProtocolError>) {
    let mut decoder = Decoder::new(role, MAX_MESSAGE);
    if let Some(params) = params {
        decoder = decoder.with_inflater(Inflater::new(params, role));
    }
    let mut input = stream.to_vec();
    let mut at = 0;
    let mut events = Vec::new();
    loop {
        let (used, result) = decoder.decode(&mut input[at..]);
        at += used;
        match result {
            Ok(Some(event)) => {
                let close = matches!(event, Event::Close(_));
                events.push(event);
                if close {
                    return (events, None);
                }
            }
            Ok(None) => return (events, None),
            Err(error) => return (events, Some(error)),
        }
    }
}

fn messages(events: &[Event]) -> Vec<&Message> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Message(m) => Some(m),
            _ => None,
        })
        .collect()
}

fn check_close_payload(payload: &[u8]) {
    if payload.is_empty() {
        return;
    }
    assert!(payload.len() >= 2, "one-byte close payload");
    let code = u16::from_be_bytes([payload[0], payload[1]]);
    assert!(
        common::sendable_close_code(code),
        "server sent close code {code}"
    );
    let reason = &payload[2..];
    assert!(
        reason.len() <= 123,
        "close reason of {} bytes",
        reason.len()
    );
    assert!(
        std::str::from_utf8(reason).is_ok(),
        "close reason is not UTF-8"
    );
}
