//! Hostile input that the other suites do not cover: oversized and garbage request heads,
//! a frame header claiming 2^63 bytes, invalid UTF-8 early in a long frame, and panicking
//! handlers under load (the ping flood is
//! in `ping_flood.rs`, alone in its process so that its memory figure means something).
//! Each test ends by checking that the server still serves a well-behaved client.

mod common;

use std::future::IntoFuture;
use std::net::SocketAddr;

use common::{within, RawConn, Req};
use futures_util::{SinkExt, StreamExt};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use ws_controller::{Conn, Controller, Error, Settings};

/// Echoes text; "panic" panics, "bye" ends normally.
struct Echo;

impl Controller for Echo {
    type Extract = ();

    fn settings(&self) -> Settings {
        Settings::default().max_message_size(64 << 10)
    }

    async fn serve(&self, mut conn: Conn, _: ()) -> Result<(), Error> {
        loop {
            let message = conn.recv().await?;
            match message.as_text() {
                Some("panic") => panic!("handler panicked on purpose"),
                Some("bye") => return Ok(()),
                _ => conn.send(message).await?,
            }
        }
    }
}

/// Serves the echo controller with `ws_controller::serve` (the hardened HTTP server).
async fn server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(ws_controller::serve(listener, ws_controller::route("/ws", Echo)).into_future());
    addr
}

/// A well-behaved client still gets its echo.
async fn assert_still_serving(addr: SocketAddr) {
    let (mut ws, _) = (common::connect(addr, "/ws").await, ());
    ws.send(WsMessage::text("still here")).await.unwrap();
    let echoed = within("echo", ws.next()).await.unwrap().unwrap();
    assert_eq!(echoed, WsMessage::text("still here"));
}

async fn status_of(addr: SocketAddr, bytes: &[u8]) -> u16 {
    let mut conn = RawConn::connect(addr).await;
    // The server may answer (and close) before it has read everything.
    let _ = conn.stream.write_all(bytes).await;
    conn.read_response().await.status
}

#[tokio::test]
async fn garbage_and_oversized_request_heads_get_4xx() {
    let addr = server().await;
    assert_eq!(status_of(addr, b"HELLO WORLD\r\n\r\n").await, 400);
    assert_eq!(
        status_of(addr, b"GET /ws HTTP/1.1\r\nHost\r\n\r\n").await,
        400
    );

    let mut many = Req::upgrade("/ws");
    for i in 0..200 {
        many = many.header(&format!("x-filler-{i}"), "1");
    }
    assert_eq!(status_of(addr, &many.to_bytes()).await, 431);

    let huge = Req::upgrade("/ws").header("x-huge", &"a".repeat(1 << 20));
    assert_eq!(status_of(addr, &huge.to_bytes()).await, 431);

    // Duplicated handshake headers are refused, not merged.
    let twice = Req::upgrade("/ws").header("sec-websocket-key", common::KEY);
    assert_eq!(status_of(addr, &twice.to_bytes()).await, 400);
    let versions = Req::upgrade("/ws").header("sec-websocket-version", "13");
    assert_eq!(status_of(addr, &versions.to_bytes()).await, 400);

    assert_still_serving(addr).await;
}

/// A frame header (masked, binary, FIN) announcing `len` payload bytes, without the payload.
fn header_claiming(len: u64) -> Vec<u8> {
    let mut frame = vec![0x82, 0x80 | 127];
    frame.extend_from_slice(&len.to_be_bytes());
    frame.extend_from_slice(&common::MASK);
    frame
}

#[tokio::test]
async fn a_frame_claiming_huge_lengths_is_refused_without_allocating() {
    let addr = server().await;
    // 2^63 - 1 bytes: legal framing, far over the limit. The refusal comes from the header
    // alone; allocating it would abort the process and fail every test here.
    let (_, mut raw) = common::raw_upgrade(addr, &Req::upgrade("/ws")).await;
    raw.write(&header_claiming(u64::MAX >> 1)).await;
    assert_eq!(raw.expect_close().await, (1009, "Message too big".into()));

    // 2^63: the length's top bit must be 0 (RFC 6455 §5.2), and it is over the limit anyway.
    let (_, mut raw) = common::raw_upgrade(addr, &Req::upgrade("/ws")).await;
    raw.write(&header_claiming(1 << 63)).await;
    let (code, _) = raw.expect_close().await;
    assert!(matches!(code, 1002 | 1009), "closed with {code}");

    assert_still_serving(addr).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panicking_handlers_under_load_leave_the_others_unharmed() {
    let addr = server().await;
    let clients = (0..60).map(|i| async move {
        let (mut ws, _) = (common::connect(addr, "/ws").await, ());
        for n in 0..20 {
            let text = format!("{i}:{n}");
            ws.send(WsMessage::text(text.clone())).await.unwrap();
            let echoed = within("echo", ws.next()).await.unwrap().unwrap();
            assert_eq!(echoed, WsMessage::text(text));
            if n == 10 && i % 3 == 0 {
                ws.send(WsMessage::text("panic")).await.unwrap();
                break;
            }
        }
        if i % 3 != 0 {
            ws.send(WsMessage::text("bye")).await.unwrap();
        }
        match within("close", ws.next()).await {
            Some(Ok(WsMessage::Close(Some(frame)))) => {
                (i, u16::from(frame.code), frame.reason.as_str().to_owned())
            }
            other => panic!("client {i}: expected a close, got {other:?}"),
        }
    });
    for (i, code, reason) in futures_util::future::join_all(clients).await {
        if i % 3 == 0 {
            assert_eq!(
                (code, reason.as_str()),
                (1011, "Internal Server Error"),
                "client {i}"
            );
        } else {
            assert_eq!(
                (code, reason.as_str()),
                (1000, "Server closed connection"),
                "client {i}"
            );
        }
    }
    assert_still_serving(addr).await;
}

#[tokio::test]
async fn invalid_utf8_fails_before_the_rest_of_its_frame_arrives() {
    // Autobahn 6.4.x: a text frame declares 10,000 bytes; `\xff` is among its first 20.
    let addr = server().await;
    let (_, mut raw) = common::raw_upgrade(addr, &Req::upgrade("/ws")).await;
    let mut payload = b"all fine until \xff".to_vec();
    payload.resize(10_000, b'a');
    let frame = common::client_frame(common::OP_TEXT, &payload);
    // The header (8 bytes with the mask) and 20 bytes of payload; the rest is never sent.
    raw.stream.write_all(&frame[..8 + 20]).await.unwrap();
    assert_eq!(raw.expect_close().await, (1007, "Invalid UTF-8".into()));
    assert_still_serving(addr).await;
}
