//! Closing over real TCP: the close handshake started by the server or the peer, reasons,
//! timeouts, and the closes the runtime sends for violations (1002, 1007, 1009).

mod common;

use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use ws_controller::{
    CloseCode, CloseError, CloseStatus, Conn, ConnError, Error, ErrorKind, Message, Settings,
    INTERNAL_ERROR_REASON, NORMAL_CLOSURE_REASON,
};

use common::*;

fn code(n: u16) -> CloseCode {
    CloseCode::new(n).unwrap()
}

/// Settings that keep background pings out of raw-frame tests.
fn quiet() -> Settings {
    Settings::default().ping_interval(None).idle_timeout(None)
}

/// [`quiet`] with a short close timeout, for tests that never answer a close frame.
fn failing() -> Settings {
    quiet().close_timeout(Duration::from_millis(300))
}

// ---------------------------------------------------------------------------------------
// Server-initiated close
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_waits_for_the_peer_then_closes_tcp() {
    let (tx, mut events) = mpsc::unbounded_channel();
    let server = serve_script(quiet(), move |mut conn: Conn| {
        let tx = tx.clone();
        async move {
            conn.close(code(4000), "done").await;
            let _ = tx.send(("returned", conn.close_status()));
            let after = conn.recv().await;
            assert!(
                matches!(&after, Err(ConnError::Closed(e)) if *e == CloseError::new(code(4000), "done")),
                "{after:?}"
            );
            let _ = tx.send(("recv checked", Some(conn.closed().await)));
            Ok(())
        }
    })
    .await;
    let (_, mut raw) = raw_upgrade(server.addr, &Req::upgrade("/ws")).await;
    assert_eq!(raw.expect_close().await, (4000, "done".into()));
    // close() is still waiting for our close frame.
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_no_event(&mut events);
    raw.send_close(4000, "done").await;
    let expected = Some(CloseError::new(code(4000), "done"));
    assert_eq!(
        next_event(&mut events).await,
        ("returned", expected.clone())
    );
    assert_eq!(next_event(&mut events).await, ("recv checked", expected));
    // serve returned Ok after the close: nothing more is sent, TCP is closed.
    raw.expect_eof().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_is_idempotent_and_sends_one_frame() {
    let (tx, mut events) = mpsc::unbounded_channel();
    let server = serve_script(quiet(), move |conn: Conn| {
        let tx = tx.clone();
        async move {
            let other = conn.sender();
            tokio::join!(
                conn.close(code(4000), "first"),
                other.close(code(4001), "second")
            );
            conn.close(code(4002), "third").await;
            conn.close_normal().await;
            conn.close_with_error("ignored").await;
            let _ = tx.send(conn.closed().await);
            Ok(())
        }
    })
    .await;
    let (_, mut raw) = raw_upgrade(server.addr, &Req::upgrade("/ws")).await;
    let first = raw.read_frame().await.expect("close frame");
    assert_eq!(first.close(), (4000, "first".into()));
    raw.send_close(4000, "first").await;
    let rest = raw.read_until_eof().await;
    assert!(rest.is_empty(), "more frames after the close: {rest:?}");
    assert_eq!(
        next_event(&mut events).await,
        CloseError::new(code(4000), "first")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_reason_is_cut_at_a_utf8_boundary() {
    let reasons = [
        // 200 bytes of 2-byte chars → 61 chars (122 bytes).
        ("é".repeat(100), "é".repeat(61)),
        // 1 + 150 bytes of 3-byte chars → 1 + 40 chars (121 bytes).
        (
            format!("a{}", "€".repeat(50)),
            format!("a{}", "€".repeat(40)),
        ),
        // 4-byte chars: 31 × 4 = 124 → 30 chars (120 bytes).
        ("🦀".repeat(31), "🦀".repeat(30)),
        // Exactly 123 bytes is kept.
        ("b".repeat(123), "b".repeat(123)),
    ];
    for (reason, expected) in reasons {
        let sent = reason.clone();
        let server = serve_script(quiet(), move |conn: Conn| {
            let sent = sent.clone();
            async move {
                conn.close(code(4000), &sent).await;
                Ok(())
            }
        })
        .await;
        let (_, mut raw) = raw_upgrade(server.addr, &Req::upgrade("/ws")).await;
        let frame = raw.read_frame().await.expect("close frame");
        assert!(frame.payload.len() <= 125, "control frame too big");
        let (got_code, got_reason) = frame.close();
        assert_eq!(got_code, 4000);
        assert_eq!(got_reason, expected, "reason {} bytes", reason.len());
        raw.send_close(4000, "").await;
        raw.expect_eof().await;
    }
}

/// nhooyr's long-reason test with a real client: the frame stays valid.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_reason_reaches_a_real_client_intact() {
    let server = serve_script(quiet(), |conn: Conn| async move {
        conn.close(code(4321), &"ж".repeat(200)).await;
        Ok(())
    })
    .await;
    let mut ws = connect(server.addr, "/ws").await;
    assert_eq!(expect_close(&mut ws).await, (4321, "ж".repeat(61)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_normal_is_1000_server_closed_connection() {
    let server = serve_script(quiet(), |conn: Conn| async move {
        conn.send_text("bye soon").await?;
        conn.close_normal().await;
        Ok(())
    })
    .await;
    let mut ws = connect(server.addr, "/ws").await;
    assert_eq!(recv_text(&mut ws).await, "bye soon");
    assert_eq!(
        expect_close(&mut ws).await,
        (1000, "Server closed connection".into())
    );
    assert_eq!(NORMAL_CLOSURE_REASON, "Server closed connection");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_with_error_hides_the_error_unless_debug() {
    let serve = |conn: Conn| async move {
        conn.close_with_error("database password is hunter2").await;
        Ok(())
    };
    let server = serve_script(quiet(), serve).await;
    let mut ws = connect(server.addr, "/ws").await;
    assert_eq!(
        expect_close(&mut ws).await,
        (1011, "Internal Server Error".into())
    );
    assert_eq!(INTERNAL_ERROR_REASON, "Internal Server Error");

    let server = serve_script(quiet().debug(true), serve).await;
    let mut ws = connect(server.addr, "/ws").await;
    assert_eq!(
        expect_close(&mut ws).await,
        (1011, "database password is hunter2".into())
    );

    // A long error message is cut to 123 bytes on a character boundary.
    let server = serve_script(quiet().debug(true), |conn: Conn| async move {
        let message = format!("xx{}", "€".repeat(60));
        conn.close_with_error(&message).await;
        Ok(())
    })
    .await;
    let mut ws = connect(server.addr, "/ws").await;
    assert_eq!(
        expect_close(&mut ws).await,
        (1011, format!("xx{}", "€".repeat(40)))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_messages_are_written_before_the_close_frame() {
    let server = serve_script(quiet().send_queue(64), |conn: Conn| async move {
        for i in 0..50 {
            conn.try_send(format!("m{i}")).expect("queue has room");
        }
        conn.close(code(4000), "after fifty").await;
        Ok(())
    })
    .await;
    let mut ws = connect(server.addr, "/ws").await;
    for i in 0..50 {
        assert_eq!(recv_text(&mut ws).await, format!("m{i}"));
    }
    assert_eq!(expect_close(&mut ws).await, (4000, "after fifty".into()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_during_the_close_handshake_is_discarded() {
    let (tx, mut events) = mpsc::unbounded_channel();
    let server = serve_script(quiet(), move |conn: Conn| {
        let tx = tx.clone();
        async move {
            conn.close(code(4000), "closing").await;
            let _ = tx.send(conn.closed().await);
            Ok(())
        }
    })
    .await;
    let (_, mut raw) = raw_upgrade(server.addr, &Req::upgrade("/ws")).await;
    assert_eq!(raw.expect_close().await, (4000, "closing".into()));
    raw.send_frame(&client_frame(OP_TEXT, b"late data")).await;
    raw.send_frame(&client_frame(OP_PING, b"late ping")).await;
    raw.send_close(4000, "").await;
    // No echo, no pong after our close... only TCP close.
    raw.expect_eof().await;
    assert_eq!(
        next_event(&mut events).await,
        CloseError::new(code(4000), "closing")
    );
}

// ---------------------------------------------------------------------------------------
// Close timeouts
// ---------------------------------------------------------------------------------------

/// A peer that never answers our close frame: TCP is dropped after the close timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_handshake_timeout_drops_a_silent_peer() {
    let timeout = Duration::from_millis(300);
    let (tx, mut events) = mpsc::unbounded_channel();
    let server = serve_script(quiet().close_timeout(timeout), move |conn: Conn| {
        let tx = tx.clone();
        async move {
            let started = Instant::now();
            conn.close_normal().await;
            let _ = tx.send((started.elapsed(), conn.closed().await));
            Ok(())
        }
    })
    .await;
    let (_, mut raw) = raw_upgrade(server.addr, &Req::upgrade("/ws")).await;
    assert_eq!(
        raw.expect_close().await,
        (1000, "Server closed connection".into())
    );
    // Never answer: the server closes TCP by itself (well before the 5 s test limit, while
    // the default close timeout is 10 s).
    raw.expect_eof().await;
    let (waited, status) = next_event(&mut events).await;
    assert!(waited >= timeout, "close() returned after {waited:?}");
    assert_eq!(
        status,
        CloseError::new(CloseCode::NORMAL_CLOSURE, "Server closed connection")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_close_timeout_applies_to_one_connection() {
    let (tx, mut events) = mpsc::unbounded_channel();
    // The controller's timeout (20 s) is far beyond the test's limit.
    let settings = quiet().close_timeout(Duration::from_secs(20));
    let server = serve_script(settings, move |conn: Conn| {
        let tx = tx.clone();
        async move {
            let before = conn.close_timeout();
            conn.set_close_timeout(Duration::from_millis(250));
            let _ = tx.send((before, conn.close_timeout()));
            conn.close(code(4000), "quick").await;
            Ok(())
        }
    })
    .await;
    let (_, mut raw) = raw_upgrade(server.addr, &Req::upgrade("/ws")).await;
    assert_eq!(
        next_event(&mut events).await,
        (Duration::from_secs(20), Duration::from_millis(250))
    );
    assert_eq!(raw.expect_close().await, (4000, "quick".into()));
    raw.expect_eof().await;
}

/// The peer stops reading entirely (its receive window fills up): close still returns and
/// TCP is dropped, within the close timeout plus the runtime's margin.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_returns_when_the_peer_stops_reading() {
    let (tx, mut events) = mpsc::unbounded_channel();
    let settings = quiet()
        .close_timeout(Duration::from_millis(300))
        .send_queue(4);
    let server = serve_script(settings, move |conn: Conn| {
        let tx = tx.clone();
        async move {
            let chunk = vec![7u8; 64 << 10];
            // Fill the socket buffers until a send has to wait.
            loop {
                let sent = tokio::time::timeout(
                    Duration::from_millis(300),
                    conn.send_binary(chunk.clone()),
                )
                .await;
                if sent.is_err() {
                    break;
                }
            }
            conn.close_normal().await;
            let _ = tx.send(conn.closed().await.code);
            Ok(())
        }
    })
    .await;
    // Connect and never read.
    let (_, _raw) = raw_upgrade(server.addr, &Req::upgrade("/ws")).await;
    let status = next_event(&mut events).await;
    // Our close frame may or may not have made it into the buffers before the abort.
    assert!(
        status == CloseCode::NORMAL_CLOSURE || status == CloseStatus::Abnormal,
        "{status:?}"
    );
}

// ---------------------------------------------------------------------------------------
// Peer-initiated close
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_close_is_echoed_with_its_code_and_reason() {
    let (tx, mut events) = mpsc::unbounded_channel();
    let server = serve_script(quiet(), move |mut conn: Conn| {
        let tx = tx.clone();
        async move {
            let err = conn.recv().await.expect_err("peer closed");
            let _ = tx.send(err);
            // A send after the peer's close fails with the same status.
            let _ = tx.send(conn.send_text("too late").await.expect_err("closed"));
            Ok(())
        }
    })
    .await;
    let mut ws = connect(server.addr, "/ws").await;
    assert_eq!(
        client_close(&mut ws, 4001, "bye").await,
        (4001, "bye".into())
    );
    let expected = CloseError::new(code(4001), "bye");
    for _ in 0..2 {
        match next_event(&mut events).await {
            ConnError::Closed(err) => assert_eq!(err, expected),
            other => panic!("expected Closed, got {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_close_gets_exactly_one_echo() {
    // serve ends the connection itself right after the peer's close (Ok and Err paths).
    for fails in [false, true] {
        let server = serve_script(quiet(), move |mut conn: Conn| async move {
            let err = conn.recv().await.expect_err("peer closed");
            if fails {
                return Err(err.into());
            }
            Ok(())
        })
        .await;
        let (_, mut raw) = raw_upgrade(server.addr, &Req::upgrade("/ws")).await;
        raw.send_close(4001, "bye").await;
        let frames = raw.read_until_eof().await;
        assert_eq!(frames.len(), 1, "fails={fails}: {frames:?}");
        assert_eq!(frames[0].close(), (4001, "bye".into()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_close_without_status_is_1005() {
    let (tx, mut events) = mpsc::unbounded_channel();
    let server = serve_script(quiet(), move |mut conn: Conn| {
        let tx = tx.clone();
        async move {
            let _ = tx.send(conn.recv().await.expect_err("closed"));
            Ok(())
        }
    })
    .await;
    let (_, mut raw) = raw_upgrade(server.addr, &Req::upgrade("/ws")).await;
    raw.send_frame(&client_frame(OP_CLOSE, b"")).await;
    let frames = raw.read_until_eof().await;
    assert_eq!(frames.len(), 1, "{frames:?}");
    assert_eq!(frames[0].opcode, OP_CLOSE);
    assert!(frames[0].payload.is_empty(), "echo carries no status");
    match next_event(&mut events).await {
        ConnError::Closed(err) => {
            assert_eq!(err, CloseError::new(CloseStatus::NoStatusReceived, ""))
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_close_with_a_reserved_code_is_answered_with_1002() {
    for bad in [999u16, 1004, 1005, 1006, 1015, 2000, 5000] {
        let (tx, mut events) = mpsc::unbounded_channel();
        let server = serve_script(quiet(), move |mut conn: Conn| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(conn.recv().await.expect_err("closed"));
                Ok(())
            }
        })
        .await;
        let (_, mut raw) = raw_upgrade(server.addr, &Req::upgrade("/ws")).await;
        raw.send_close(bad, "x").await;
        assert_eq!(
            raw.expect_close().await,
            (1002, "Protocol error".into()),
            "code {bad}"
        );
        raw.expect_eof().await;
        match next_event(&mut events).await {
            ConnError::Protocol(violation) => {
                assert_eq!(violation, format!("invalid close code {bad}"))
            }
            other => panic!("code {bad}: {other:?}"),
        }
    }
}

/// Goyave: closing after the TCP connection is gone neither hangs nor sends anything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_after_the_peer_vanished_returns_at_once() {
    let (tx, mut events) = mpsc::unbounded_channel();
    // A long close timeout: close() must not wait for it when there is no peer.
    let settings = quiet().close_timeout(Duration::from_secs(20));
    let server = serve_script(settings, move |mut conn: Conn| {
        let tx = tx.clone();
        async move {
            let err = conn.recv().await.expect_err("peer gone");
            let _ = tx.send(format!("recv: {}", err.is_peer_gone()));
            conn.close(code(4000), "nobody listens").await;
            conn.close_normal().await;
            let _ = tx.send(format!("status: {}", conn.closed().await.code));
            let sent = conn.send_text("x").await.expect_err("gone");
            let _ = tx.send(format!("send: {sent}"));
            Ok(())
        }
    })
    .await;
    let (_, raw) = raw_upgrade(server.addr, &Req::upgrade("/ws")).await;
    drop(raw);
    assert_eq!(next_event(&mut events).await, "recv: true");
    assert_eq!(next_event(&mut events).await, "status: 1006");
    assert_eq!(
        next_event(&mut events).await,
        "send: connection closed with 1006"
    );
}

// ---------------------------------------------------------------------------------------
// Violations: 1009, 1007, 1002
// ---------------------------------------------------------------------------------------

/// Reports what the serve loop's `recv` failed with, echoing until then.
fn reporting_echo(
    tx: mpsc::UnboundedSender<ConnError>,
) -> impl Fn(Conn) -> futures_util::future::BoxFuture<'static, Result<(), Error>> + Send + Sync {
    move |mut conn: Conn| {
        let tx = tx.clone();
        Box::pin(async move {
            loop {
                match conn.recv().await {
                    Ok(message) => conn.send(message).await?,
                    Err(err) => {
                        let _ = tx.send(err);
                        return Ok(());
                    }
                }
            }
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_over_the_limit_is_1009() {
    let (tx, mut errors) = mpsc::unbounded_channel();
    let server = serve_script(quiet().max_message_size(1024), reporting_echo(tx)).await;
    let mut ws = connect(server.addr, "/ws").await;
    // Exactly at the limit is fine.
    let at_limit = "a".repeat(1024);
    send_text(&mut ws, &at_limit).await;
    assert_eq!(recv_text(&mut ws).await, at_limit);
    // One byte more is not.
    send_text(&mut ws, &"a".repeat(1025)).await;
    assert_eq!(
        expect_close(&mut ws).await,
        (1009, "Message too big".into())
    );
    match next_event(&mut errors).await {
        ConnError::MessageTooBig { limit } => assert_eq!(limit, 1024),
        other => panic!("expected MessageTooBig, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fragmented_message_over_the_limit_is_1009() {
    let (tx, mut errors) = mpsc::unbounded_channel();
    let server = serve_script(quiet().max_message_size(1024), reporting_echo(tx)).await;
    let (_, mut raw) = raw_upgrade(server.addr, &Req::upgrade("/ws")).await;
    let part = [b'x'; 400];
    raw.send_frame(&frame(false, 0, OP_BINARY, &part, Some(MASK)))
        .await;
    raw.send_frame(&frame(false, 0, OP_CONT, &part, Some(MASK)))
        .await;
    raw.send_frame(&frame(true, 0, OP_CONT, &part, Some(MASK)))
        .await;
    assert_eq!(raw.expect_close().await, (1009, "Message too big".into()));
    assert!(matches!(
        next_event(&mut errors).await,
        ConnError::MessageTooBig { limit: 1024 }
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_utf8_text_is_1007() {
    let (tx, mut errors) = mpsc::unbounded_channel();
    let server = serve_script(failing(), reporting_echo(tx)).await;
    let (_, mut raw) = raw_upgrade(server.addr, &Req::upgrade("/ws")).await;
    // A character split across fragments is valid.
    let euro = "€".as_bytes();
    raw.send_frame(&frame(false, 0, OP_TEXT, &euro[..1], Some(MASK)))
        .await;
    raw.send_frame(&frame(true, 0, OP_CONT, &euro[1..], Some(MASK)))
        .await;
    let echoed = raw.read_frame().await.expect("echo");
    assert_eq!((echoed.opcode, echoed.payload.as_slice()), (OP_TEXT, euro));
    // A lone continuation byte is not.
    raw.send_frame(&client_frame(OP_TEXT, &[b'o', b'k', 0x80]))
        .await;
    // Failing the connection: the close frame, then TCP closes without our reply being
    // needed (the short close timeout bounds the wait if the server did wait for it).
    let frames = raw.read_until_eof().await;
    assert_eq!(frames.len(), 1, "{frames:?}");
    assert_eq!(frames[0].close(), (1007, "Invalid UTF-8".into()));
    assert!(matches!(
        next_event(&mut errors).await,
        ConnError::InvalidUtf8
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protocol_violations_are_1002() {
    let long_ping = [0u8; 126];
    let violations: Vec<(&str, Vec<Vec<u8>>)> = vec![
        ("unmasked frame", vec![frame(true, 0, OP_TEXT, b"hi", None)]),
        (
            "reserved data opcode",
            vec![frame(true, 0, 0x3, b"hi", Some(MASK))],
        ),
        (
            "reserved control opcode",
            vec![frame(true, 0, 0xB, b"", Some(MASK))],
        ),
        (
            "RSV1 bit",
            vec![frame(true, 0b100, OP_TEXT, b"hi", Some(MASK))],
        ),
        (
            "RSV3 bit",
            vec![frame(true, 0b001, OP_BINARY, b"hi", Some(MASK))],
        ),
        (
            "fragmented ping",
            vec![frame(false, 0, OP_PING, b"hi", Some(MASK))],
        ),
        (
            "control frame over 125 bytes",
            vec![frame(true, 0, OP_PING, &long_ping, Some(MASK))],
        ),
        (
            "continuation without a start",
            vec![frame(true, 0, OP_CONT, b"hi", Some(MASK))],
        ),
        (
            "new message inside a fragmented one",
            vec![
                frame(false, 0, OP_TEXT, b"a", Some(MASK)),
                frame(true, 0, OP_TEXT, b"b", Some(MASK)),
            ],
        ),
        (
            "1-byte close payload",
            vec![frame(true, 0, OP_CLOSE, &[0x03], Some(MASK))],
        ),
    ];
    for (name, frames) in violations {
        let (tx, mut errors) = mpsc::unbounded_channel();
        let server = serve_script(failing(), reporting_echo(tx)).await;
        let (_, mut raw) = raw_upgrade(server.addr, &Req::upgrade("/ws")).await;
        for bytes in &frames {
            raw.send_frame(bytes).await;
        }
        // A close frame, then TCP closes; no reply is sent (RFC 6455 §7.1.7: a failed
        // connection processes no more data).
        let frames = raw.read_until_eof().await;
        assert_eq!(frames.len(), 1, "{name}: {frames:?}");
        assert_eq!(frames[0].close(), (1002, "Protocol error".into()), "{name}");
        match next_event(&mut errors).await {
            ConnError::Protocol(_) => {}
            other => panic!("{name}: expected Protocol, got {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn violations_reach_the_error_hook_as_peer_violations() {
    let mut server = serve_script(quiet().max_message_size(16), |mut conn: Conn| async move {
        loop {
            let message: Message = conn.recv().await?;
            conn.send(message).await?;
        }
    })
    .await;
    let mut ws = connect(server.addr, "/ws").await;
    send_text(&mut ws, &"z".repeat(17)).await;
    assert_eq!(
        expect_close(&mut ws).await,
        (1009, "Message too big".into())
    );
    let calls = server.finished().await;
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].kind, ErrorKind::PeerViolation);
    assert_eq!(calls[0].message, "message exceeds the 16-byte limit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_before_the_peer_close_are_delivered_first() {
    let (tx, mut events) = mpsc::unbounded_channel();
    let server = serve_script(quiet(), move |mut conn: Conn| {
        let tx = tx.clone();
        async move {
            // Let everything arrive before reading.
            tokio::time::sleep(Duration::from_millis(100)).await;
            loop {
                match conn.recv().await {
                    Ok(message) => {
                        let _ = tx.send(Ok(message));
                    }
                    Err(err) => {
                        let _ = tx.send(Err(err.to_string()));
                        return Ok(());
                    }
                }
            }
        }
    })
    .await;
    let (_, mut raw) = raw_upgrade(server.addr, &Req::upgrade("/ws")).await;
    let mut burst = client_frame(OP_TEXT, b"one");
    burst.extend(client_frame(OP_BINARY, b"two"));
    burst.extend(client_frame(OP_CLOSE, &close_payload(1000, "after two")));
    raw.write(&burst).await;
    assert_eq!(next_event(&mut events).await, Ok(Message::text("one")));
    assert_eq!(
        next_event(&mut events).await,
        Ok(Message::binary(b"two".to_vec()))
    );
    assert_eq!(
        next_event(&mut events).await,
        Err("connection closed with 1000: after two".into())
    );
    assert_eq!(raw.expect_close().await, (1000, "after two".into()));
    raw.expect_eof().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_limit_applies_to_received_messages_only() {
    let server = serve_script(quiet().max_message_size(1024), |conn: Conn| async move {
        conn.send_binary(vec![9u8; 10_000]).await?;
        conn.close_normal().await;
        Ok(())
    })
    .await;
    let mut ws = connect(server.addr, "/ws").await;
    assert_eq!(recv(&mut ws).await, WsMessage::binary(vec![9u8; 10_000]));
    assert_eq!(
        expect_close(&mut ws).await,
        (1000, "Server closed connection".into())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_close_reason_that_is_not_utf8_fails_the_connection() {
    let (tx, mut errors) = mpsc::unbounded_channel();
    let server = serve_script(failing(), reporting_echo(tx)).await;
    let (_, mut raw) = raw_upgrade(server.addr, &Req::upgrade("/ws")).await;
    let mut payload = 1000u16.to_be_bytes().to_vec();
    payload.extend_from_slice(&[b'o', 0xff]);
    raw.send_frame(&client_frame(OP_CLOSE, &payload)).await;
    // Failing the connection (RFC 6455 §7.1.7): a close frame, then TCP is closed.
    let frames = raw.read_until_eof().await;
    assert_eq!(frames.len(), 1, "{frames:?}");
    assert_eq!(frames[0].close(), (1007, "Invalid UTF-8".into()));
    assert!(matches!(
        next_event(&mut errors).await,
        ConnError::InvalidUtf8
    ));
}

/// A `send` waiting for room in the outbound queue (the peer stopped reading) must fail, not
/// wait forever, once the peer vanishes: otherwise `serve` never returns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_blocked_on_a_full_queue_fails_when_the_peer_vanishes() {
    let (tx, mut events) = mpsc::unbounded_channel();
    let settings = failing().send_queue_bytes(256 << 10);
    let server = serve_script(settings, move |conn: Conn| {
        let tx = tx.clone();
        async move {
            let chunk = bytes::Bytes::from(vec![1u8; 64 << 10]);
            let mut sent = 0usize;
            let err = loop {
                match conn.send_binary(chunk.clone()).await {
                    Ok(()) => sent += 1,
                    Err(err) => break err,
                }
                let _ = tx.send(format!("sent {sent}"));
            };
            let _ = tx.send(format!("send failed: {err}"));
            Ok(())
        }
    })
    .await;
    let (_, raw) = raw_upgrade(server.addr, &Req::upgrade("/ws")).await;
    // Wait until the server is stuck: no progress for 300 ms.
    while let Ok(progress) =
        tokio::time::timeout(Duration::from_millis(300), next_event(&mut events)).await
    {
        assert!(progress.starts_with("sent "), "{progress}");
    }
    drop(raw);
    let outcome = next_event(&mut events).await;
    assert_eq!(outcome, "send failed: connection closed with 1006");
}

/// While our close waits for the peer's answer, the idle check is off: a peer that never
/// answers gets one close frame, and the close timeout (not a second, "Idle timeout",
/// close) ends the connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closing_connection_gets_no_idle_close_on_top() {
    let settings = quiet()
        .idle_timeout(Some(Duration::from_millis(400)))
        .close_timeout(Duration::from_millis(1500));
    let server = serve_script(settings, |conn: Conn| async move {
        // Silent for most of the idle timeout, then our close.
        tokio::time::sleep(Duration::from_millis(250)).await;
        conn.close(CloseCode::NORMAL_CLOSURE, "bye").await;
        Ok(())
    })
    .await;
    let (_, mut raw) = raw_upgrade(server.addr, &Req::upgrade("/ws")).await;
    let frames = raw.read_until_eof().await;
    let closes: Vec<_> = frames.iter().map(|f| f.close()).collect();
    assert_eq!(closes, [(1000, "bye".to_owned())], "{frames:?}");
}
