//! After a valid in-memory handshake, arbitrary bytes as the client's frame stream to an
//! echo controller (`max_message_size` 64 KiB).
//!
//! Checks: no panic; the server ends the connection (close frame or EOF) and every task
//! ends within a bounded virtual time, whether or not the client ends its stream; what the
//! server writes is well-formed (unmasked, RSV 0, known opcodes, control frames ≤ 125 bytes
//! and unfragmented, text is UTF-8, messages ≤ 64 KiB), with at most one close frame, last,
//! carrying a sendable code and a UTF-8 reason of ≤ 123 bytes; no single allocation above
//! 4 MiB (a header claiming 2^63 bytes must not allocate) and a bounded heap peak.
#![no_main]

#[path = "common/mod.rs"]
mod common;

use std::sync::OnceLock;
use std::time::Duration;

use arbitrary::{Arbitrary, Unstructured};
use axum::Router;
use libfuzzer_sys::fuzz_target;
use tokio::io::AsyncWriteExt;
use ws_controller::{Conn, Controller, Error, Settings};

#[global_allocator]
static ALLOC: common::Watchdog = common::Watchdog;

const MAX_MESSAGE: usize = 64 << 10;

struct Echo;

impl Controller for Echo {
    type Extract = ();

    fn settings(&self) -> Settings {
        Settings::default()
            .max_message_size(MAX_MESSAGE)
            .idle_timeout(Some(Duration::from_secs(5)))
            .ping_interval(Some(Duration::from_secs(2)))
            .close_timeout(Duration::from_secs(2))
    }

    async fn serve(&self, mut conn: Conn, _: ()) -> Result<(), Error> {
        loop {
            let message = conn.recv().await?;
            conn.send(message).await?;
        }
    }
}

fn app() -> &'static Router {
    static APP: OnceLock<Router> = OnceLock::new();
    APP.get_or_init(|| ws_controller::route("/ws", Echo))
}

const HANDSHAKE: &[u8] = b"GET /ws HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\n\
Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";

/// How the client sends its bytes.
#[derive(Debug, Arbitrary)]
struct Plan<'a> {
    /// Keep the write side open after the last byte (the server must end the connection
    /// on its own: close handshake timeout, idle timeout).
    keep_open: bool,
    /// Write in pieces of this many bytes (0: all at once), yielding between them.
    piece: u8,
    stream: Stream<'a>,
}

#[derive(Debug, Arbitrary)]
enum Stream<'a> {
    /// Raw bytes after the handshake.
    Raw(&'a [u8]),
    /// Frames built from parts, so frames that pass the first checks come up often.
    Frames(Vec<FrameSpec<'a>>),
}

#[derive(Debug, Arbitrary)]
struct FrameSpec<'a> {
    fin: bool,
    rsv: u8,
    opcode: u8,
    unmasked: bool,
    key: [u8; 4],
    length: Length,
    payload: Payload<'a>,
}

#[derive(Debug, Arbitrary)]
enum Length {
    /// The payload's length, in the shortest form.
    Exact,
    /// The payload's length in the 16-bit or 64-bit form (non-minimal encodings).
    Long16,
    Long64,
    /// A length that is not the payload's.
    Claim(u64),
}

#[derive(Debug, Arbitrary)]
enum Payload<'a> {
    Bytes(&'a [u8]),
    /// A close payload: code and reason.
    Close(u16, &'a str),
    /// `n` KiB of filler, to reach the size limit without a large input.
    Filler(u8),
}

impl FrameSpec<'_> {
    fn encode(&self, out: &mut Vec<u8>) {
        let payload: Vec<u8> = match &self.payload {
            Payload::Bytes(b) => b.to_vec(),
            Payload::Close(code, reason) => {
                let mut p = code.to_be_bytes().to_vec();
                p.extend_from_slice(reason.as_bytes());
                p
            }
            Payload::Filler(k) => vec![b'x'; (*k as usize) << 10],
        };
        out.push((u8::from(self.fin) << 7) | ((self.rsv & 0x7) << 4) | (self.opcode & 0x0f));
        let mask_bit = if self.unmasked { 0 } else { 0x80 };
        let len = payload.len() as u64;
        match self.length {
            Length::Exact if len < 126 => out.push(mask_bit | len as u8),
            Length::Exact if len <= 0xffff => {
                out.push(mask_bit | 126);
                out.extend_from_slice(&(len as u16).to_be_bytes());
            }
            Length::Exact | Length::Long64 => {
                out.push(mask_bit | 127);
                out.extend_from_slice(&len.to_be_bytes());
            }
            Length::Long16 => {
                out.push(mask_bit | 126);
                out.extend_from_slice(&(len as u16).to_be_bytes());
            }
            Length::Claim(claim) => {
                out.push(mask_bit | 127);
                out.extend_from_slice(&claim.to_be_bytes());
            }
        }
        if !self.unmasked {
            out.extend_from_slice(&self.key);
        }
        let at = out.len();
        out.extend_from_slice(&payload);
        if !self.unmasked {
            for (i, b) in out[at..].iter_mut().enumerate() {
                *b ^= self.key[i % 4];
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(plan) = Plan::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    let bytes = match &plan.stream {
        Stream::Raw(b) => b.to_vec(),
        Stream::Frames(frames) => {
            let mut out = Vec::new();
            for f in frames.iter().take(64) {
                f.encode(&mut out);
            }
            out
        }
    };
    let mut output = Vec::new();
    let baseline = common::peak_reset();
    common::run(Duration::from_secs(30), async {
        let client = common::connect(app());
        let (mut read_half, mut write_half) = tokio::io::split(client);
        let writer = async {
            if write_half.write_all(HANDSHAKE).await.is_err() {
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
    check(&output);
});

fn check(output: &[u8]) {
    if std::env::var_os("FUZZ_TRACE").is_some() {
        eprintln!(
            "output {:?}",
            String::from_utf8_lossy(&output[..output.len().min(300)])
        );
    }
    let head = common::parse_response(output).expect("a response to the handshake");
    assert_eq!(head.status, 101, "the fixed handshake is valid");
    let frames = match common::parse_frames(&output[head.rest_at..]) {
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
        assert_eq!(frame.rsv, 0, "no extension was negotiated");
        match frame.opcode {
            0x1 | 0x2 | 0x0 => {
                assert!(frame.payload.len() <= MAX_MESSAGE, "echo above the limit");
                if frame.opcode == 0x1 && frame.fin {
                    assert!(
                        std::str::from_utf8(&frame.payload).is_ok(),
                        "text is not UTF-8"
                    );
                }
            }
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
    if std::env::var_os("FUZZ_TRACE").is_some() {
        let close = frames.iter().find(|f| f.opcode == 0x8).map(|f| {
            (
                f.payload.get(..2).map(|c| u16::from_be_bytes([c[0], c[1]])),
                String::from_utf8_lossy(f.payload.get(2..).unwrap_or_default()).into_owned(),
            )
        });
        eprintln!("frames {} close {close:?}", frames.len());
    }
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
