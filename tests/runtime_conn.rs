//! `Conn` and `Sender` over real TCP: echo, JSON helpers, concurrent writers, the bounded
//! queue, pings and heartbeats, idle timeout, write-only connections and accessors.

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Extension;
use futures_util::SinkExt;
use http::request::Parts;
use http::HeaderValue;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use ws_controller::{
    CloseCode, CloseError, Conn, ConnError, ConnId, Controller, Error, Message, Settings,
    TrySendError,
};

use common::*;

fn quiet() -> Settings {
    Settings::default().ping_interval(None).idle_timeout(None)
}

async fn echo(mut conn: Conn) -> Result<(), Error> {
    loop {
        let message = conn.recv().await?;
        conn.send(message).await?;
    }
}

// ---------------------------------------------------------------------------------------
// Echo and JSON
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echoes_text_and_binary() {
    let server = serve_script(quiet(), echo).await;
    let mut ws = connect(server.addr, "/ws").await;
    let big: Vec<u8> = (0..60_000u32).map(|i| (i % 251) as u8).collect();
    let messages = [
        WsMessage::text("hello"),
        WsMessage::text(""),
        WsMessage::text("ünïcödé ✓ 🦀"),
        WsMessage::binary(vec![0u8, 255, 1, 254]),
        WsMessage::binary(Vec::<u8>::new()),
        WsMessage::binary(big),
    ];
    for message in messages {
        within("send", ws.send(message.clone())).await.unwrap();
        assert_eq!(recv(&mut ws).await, message);
    }
    assert_eq!(client_close(&mut ws, 1000, "").await, (1000, String::new()));
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Point {
    x: i64,
    y: i64,
}

fn json_doubler(
    tx: mpsc::UnboundedSender<ConnError>,
) -> impl Fn(Conn) -> futures_util::future::BoxFuture<'static, Result<(), Error>> + Send + Sync {
    move |mut conn: Conn| {
        let tx = tx.clone();
        Box::pin(async move {
            loop {
                match conn.recv_json::<Point>().await {
                    Ok(p) => {
                        conn.send_json(&Point {
                            x: p.x * 2,
                            y: p.y * 2,
                        })
                        .await?
                    }
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
async fn json_round_trip_text_and_binary() {
    let (tx, _errors) = mpsc::unbounded_channel();
    let server = serve_script(quiet(), json_doubler(tx)).await;
    let mut ws = connect(server.addr, "/ws").await;
    send_text(&mut ws, r#"{"x":1,"y":-2}"#).await;
    assert_eq!(recv_text(&mut ws).await, r#"{"x":2,"y":-4}"#);
    // Binary payloads are decoded too; replies are always text.
    within(
        "send",
        ws.send(WsMessage::binary(br#"{"y":5,"x":0}"#.to_vec())),
    )
    .await
    .unwrap();
    assert_eq!(recv(&mut ws).await, WsMessage::text(r#"{"x":0,"y":10}"#));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_json_closes_1007_with_a_typed_error() {
    for bad in ["not json", r#"{"x":"one","y":2}"#, r#"{"x":1}"#, ""] {
        let (tx, mut errors) = mpsc::unbounded_channel();
        let server = serve_script(quiet(), json_doubler(tx)).await;
        let mut ws = connect(server.addr, "/ws").await;
        send_text(&mut ws, bad).await;
        assert_eq!(
            expect_close(&mut ws).await,
            (1007, "Invalid JSON".into()),
            "{bad:?}"
        );
        match next_event(&mut errors).await {
            ConnError::Json(err) => assert!(!err.to_string().is_empty()),
            other => panic!("{bad:?}: expected ConnError::Json, got {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_json_encode_error_sends_nothing() {
    let (tx, mut errors) = mpsc::unbounded_channel();
    let server = serve_script(quiet(), move |conn: Conn| {
        let tx = tx.clone();
        async move {
            // JSON object keys must be strings.
            let mut map = BTreeMap::new();
            map.insert(vec![1u8], 1u8);
            let err = conn.send_json(&map).await.expect_err("not encodable");
            let _ = tx.send(err);
            conn.send_json(&serde_json::json!({"still": "open"}))
                .await?;
            conn.close_normal().await;
            Ok(())
        }
    })
    .await;
    let mut ws = connect(server.addr, "/ws").await;
    assert!(matches!(
        next_event(&mut errors).await,
        ConnError::Encode(_)
    ));
    assert_eq!(recv_text(&mut ws).await, r#"{"still":"open"}"#);
    assert_eq!(
        expect_close(&mut ws).await,
        (1000, "Server closed connection".into())
    );
}

// ---------------------------------------------------------------------------------------
// Concurrent writers and the bounded queue
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_senders_deliver_everything_in_per_sender_order() {
    const TASKS: usize = 8;
    const EACH: usize = 250;
    // A small queue so writers wait on each other (backpressure).
    let server = serve_script(quiet().send_queue(4), |conn: Conn| async move {
        let mut tasks = Vec::new();
        for t in 0..TASKS {
            let sender = conn.sender();
            tasks.push(tokio::spawn(async move {
                for i in 0..EACH {
                    if i % 2 == 0 {
                        sender.send_text(format!("{t}:{i}")).await?;
                    } else {
                        sender.send_binary(format!("{t}:{i}").into_bytes()).await?;
                    }
                    if i % 50 == 0 {
                        tokio::task::yield_now().await;
                    }
                }
                Ok::<_, ConnError>(())
            }));
        }
        for task in tasks {
            task.await.expect("writer panicked")?;
        }
        Ok(())
    })
    .await;
    let mut ws = connect(server.addr, "/ws").await;
    let mut next = [0usize; TASKS];
    for _ in 0..TASKS * EACH {
        let message = recv(&mut ws).await;
        let text = match &message {
            WsMessage::Text(t) => t.as_str().to_owned(),
            WsMessage::Binary(b) => String::from_utf8(b.to_vec()).unwrap(),
            _ => unreachable!(),
        };
        let (t, i) = text.split_once(':').unwrap();
        let (t, i): (usize, usize) = (t.parse().unwrap(), i.parse().unwrap());
        assert_eq!(i, next[t], "task {t} out of order");
        assert_eq!(message.is_text(), i % 2 == 0, "{text} kept its kind");
        next[t] += 1;
    }
    assert_eq!(next, [EACH; TASKS]);
    // Everything queued was written before the normal close.
    assert_eq!(
        expect_close(&mut ws).await,
        (1000, "Server closed connection".into())
    );
}

#[derive(Debug)]
enum TryOutcome {
    Ok,
    Full(Message),
    Closed(Message),
}

fn outcome(result: Result<(), TrySendError>) -> TryOutcome {
    match result {
        Ok(()) => TryOutcome::Ok,
        Err(TrySendError::Full(m)) => TryOutcome::Full(m),
        Err(TrySendError::Closed(m)) => TryOutcome::Closed(m),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn try_send_reports_full_then_closed() {
    let (tx, mut events) = mpsc::unbounded_channel();
    let server = serve_script(quiet().send_queue(2), move |mut conn: Conn| {
        let tx = tx.clone();
        async move {
            // No await between these: the connection's driver (same task) cannot drain the
            // queue meanwhile, so the third message finds it full.
            for text in ["a", "b", "c"] {
                let _ = tx.send(outcome(conn.try_send(text)));
            }
            // Wait for the client to have read "a" and "b": the queue has room again.
            conn.recv().await?;
            let _ = tx.send(outcome(conn.try_send("d")));
            conn.close(CloseCode::new(4000).unwrap(), "closing").await;
            let _ = tx.send(outcome(conn.try_send("e")));
            let _ = tx.send(outcome(conn.sender().try_send("f")));
            Ok(())
        }
    })
    .await;
    let mut ws = connect(server.addr, "/ws").await;
    assert!(matches!(next_event(&mut events).await, TryOutcome::Ok));
    assert!(matches!(next_event(&mut events).await, TryOutcome::Ok));
    match next_event(&mut events).await {
        TryOutcome::Full(m) => assert_eq!(m, Message::text("c")),
        other => panic!("expected Full, got {other:?}"),
    }
    assert_eq!(recv_text(&mut ws).await, "a");
    assert_eq!(recv_text(&mut ws).await, "b");
    send_text(&mut ws, "go").await;
    assert!(matches!(next_event(&mut events).await, TryOutcome::Ok));
    assert_eq!(recv_text(&mut ws).await, "d");
    assert_eq!(expect_close(&mut ws).await, (4000, "closing".into()));
    for expected in ["e", "f"] {
        match next_event(&mut events).await {
            TryOutcome::Closed(m) => assert_eq!(m, Message::text(expected)),
            other => panic!("expected Closed, got {other:?}"),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Pings, heartbeat, idle timeout
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_returns_rtt_while_serve_is_blocked_in_recv() {
    let (tx, mut events) = mpsc::unbounded_channel();
    let server = serve_script(quiet(), move |mut conn: Conn| {
        let tx = tx.clone();
        async move {
            let sender = conn.sender();
            tokio::spawn(async move {
                let rtt = sender.ping().await;
                let _ = tx.send(rtt.map(|d| d < TIMEOUT).map_err(|e| e.to_string()));
                let _ = sender.send_text("pinged").await;
            });
            // The serve loop only ever waits in recv.
            loop {
                let message = conn.recv().await?;
                conn.send(message).await?;
            }
        }
    })
    .await;
    let mut ws = connect(server.addr, "/ws").await;
    // Reading lets the client answer the ping.
    assert_eq!(recv_text(&mut ws).await, "pinged");
    assert_eq!(next_event(&mut events).await, Ok(true));
    send_text(&mut ws, "echo").await;
    assert_eq!(recv_text(&mut ws).await, "echo");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_resolves_only_on_the_matching_pong() {
    let (tx, mut events) = mpsc::unbounded_channel();
    let server = serve_script(quiet(), move |conn: Conn| {
        let tx = tx.clone();
        async move {
            let result = conn.ping().await.map(|_| ()).map_err(|e| e.to_string());
            let _ = tx.send(result);
            // After the close, ping fails at once.
            conn.close_normal().await;
            let result = conn.ping().await.map(|_| ()).map_err(|e| e.to_string());
            let _ = tx.send(result);
            Ok(())
        }
    })
    .await;
    let (_, mut raw) = raw_upgrade(server.addr, &Req::upgrade("/ws")).await;
    let ping = raw.read_frame().await.expect("ping");
    assert_eq!(ping.opcode, OP_PING);
    assert!(!ping.masked);
    // Not answered yet (and an unsolicited pong does not count).
    raw.send_frame(&client_frame(OP_PONG, b"unrelated")).await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_no_event(&mut events);
    raw.send_frame(&client_frame(OP_PONG, &ping.payload)).await;
    assert_eq!(next_event(&mut events).await, Ok(()));
    assert_eq!(
        raw.expect_close().await,
        (1000, "Server closed connection".into())
    );
    raw.send_close(1000, "").await;
    assert_eq!(
        next_event(&mut events).await,
        Err("connection closed with 1000: Server closed connection".into())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pings_from_the_client_are_answered() {
    let server = serve_script(quiet(), echo).await;
    let (_, mut raw) = raw_upgrade(server.addr, &Req::upgrade("/ws")).await;
    raw.send_frame(&client_frame(OP_PING, b"abc")).await;
    let pong = raw.read_frame().await.expect("pong");
    assert_eq!(
        (pong.opcode, pong.payload.as_slice()),
        (OP_PONG, &b"abc"[..])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeat_pings_the_client() {
    let settings = quiet().ping_interval(Some(Duration::from_millis(50)));
    let server = serve_script(settings, echo).await;
    let (_, mut raw) = raw_upgrade(server.addr, &Req::upgrade("/ws")).await;
    for _ in 0..3 {
        let ping = raw.read_frame().await.expect("ping");
        assert_eq!(ping.opcode, OP_PING, "{ping:?}");
        assert_eq!(ping.payload.len(), 8);
        raw.send_frame(&client_frame(OP_PONG, &ping.payload)).await;
    }
    // Data still flows between heartbeats.
    raw.send_frame(&client_frame(OP_TEXT, b"between pings"))
        .await;
    let echoed = raw.read_non_ping().await.expect("echo");
    assert_eq!(echoed.payload, b"between pings");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_heartbeat_when_ping_interval_is_none() {
    let server = serve_script(quiet(), echo).await;
    let (_, mut raw) = raw_upgrade(server.addr, &Req::upgrade("/ws")).await;
    let read = tokio::time::timeout(Duration::from_millis(400), raw.read_frame()).await;
    assert!(read.is_err(), "unexpected frame: {read:?}");
}

/// A peer that completes the handshake and then goes silent (never answers pings) is
/// closed with 1001 "Idle timeout" and dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_timeout_closes_a_silent_peer() {
    let (tx, mut events) = mpsc::unbounded_channel();
    let settings = Settings::default()
        .ping_interval(Some(Duration::from_millis(100)))
        .idle_timeout(Some(Duration::from_millis(400)))
        .close_timeout(Duration::from_millis(300));
    let mut server = serve_script(settings, move |mut conn: Conn| {
        let tx = tx.clone();
        async move {
            let err = conn.recv().await.expect_err("idle");
            let _ = tx.send(format!("{err}"));
            Err(err.into())
        }
    })
    .await;
    let (_, mut raw) = raw_upgrade(server.addr, &Req::upgrade("/ws")).await;
    let frames = raw.read_until_eof().await;
    let (close, pings) = frames.split_last().expect("frames before EOF");
    assert!(!pings.is_empty(), "the server pinged before giving up");
    assert!(pings.iter().all(|f| f.opcode == OP_PING), "{frames:?}");
    assert_eq!(close.close(), (1001, "Idle timeout".into()));
    assert_eq!(
        next_event(&mut events).await,
        "connection closed with 1001: Idle timeout"
    );
    // 1001 is an orderly close: the error hook is not called.
    assert_eq!(server.finished().await, []);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_answering_pings_is_not_idle() {
    let settings = Settings::default()
        .ping_interval(Some(Duration::from_millis(100)))
        .idle_timeout(Some(Duration::from_millis(500)));
    let server = serve_script(settings, echo).await;
    let mut ws = connect(server.addr, "/ws").await;
    // Read (and so answer pings) for well over the idle timeout.
    let mut pings = 0;
    let until = tokio::time::Instant::now() + Duration::from_millis(1500);
    while let Ok(message) = tokio::time::timeout_at(until, next_raw(&mut ws)).await {
        match message {
            Some(Ok(WsMessage::Ping(_))) => pings += 1,
            other => panic!("expected only pings, got {other:?}"),
        }
    }
    assert!(pings >= 3, "only {pings} pings");
    send_text(&mut ws, "still here").await;
    assert_eq!(recv_text(&mut ws).await, "still here");
}

// ---------------------------------------------------------------------------------------
// Write-only connections
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_read_handles_control_frames_and_closes_1008_on_data() {
    let (tx, mut events) = mpsc::unbounded_channel();
    let server = serve_script(quiet(), move |mut conn: Conn| {
        let tx = tx.clone();
        async move {
            conn.close_read();
            conn.send_text("write-only").await?;
            let _ = tx.send(conn.closed().await);
            Ok(())
        }
    })
    .await;
    let (_, mut raw) = raw_upgrade(server.addr, &Req::upgrade("/ws")).await;
    let first = raw.read_frame().await.expect("message");
    assert_eq!(first.payload, b"write-only");
    // Control frames are still answered.
    raw.send_frame(&client_frame(OP_PING, b"p1")).await;
    let pong = raw.read_frame().await.expect("pong");
    assert_eq!(
        (pong.opcode, pong.payload.as_slice()),
        (OP_PONG, &b"p1"[..])
    );
    assert_no_event(&mut events);
    // A data message is a policy violation.
    raw.send_frame(&client_frame(OP_TEXT, b"unexpected")).await;
    assert_eq!(
        raw.expect_close().await,
        (1008, "unexpected data message".into())
    );
    raw.send_close(1008, "").await;
    raw.expect_eof().await;
    assert_eq!(
        next_event(&mut events).await,
        CloseError::new(CloseCode::POLICY_VIOLATION, "unexpected data message")
    );
}

/// nhooyr's close_read test with a real client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_read_then_peer_close_is_reported_by_closed() {
    let (tx, mut events) = mpsc::unbounded_channel();
    let server = serve_script(quiet(), move |mut conn: Conn| {
        let tx = tx.clone();
        async move {
            conn.close_read();
            let _ = tx.send(conn.closed().await);
            Ok(())
        }
    })
    .await;
    let mut ws = connect(server.addr, "/ws").await;
    assert_eq!(
        client_close(&mut ws, 1001, "leaving").await,
        (1001, "leaving".into())
    );
    assert_eq!(
        next_event(&mut events).await,
        CloseError::new(CloseCode::GOING_AWAY, "leaving")
    );
}

#[tokio::test]
async fn recv_after_close_read_waits_for_the_close_and_reports_it() {
    let (tx, mut events) = mpsc::unbounded_channel();
    let server = serve_script(quiet(), move |mut conn: Conn| {
        let tx = tx.clone();
        async move {
            conn.close_read();
            conn.send_text("ready").await?;
            let _ = tx.send(conn.recv().await.map(|_| ()).map_err(|e| e.to_string()));
            Ok(())
        }
    })
    .await;
    let mut ws = connect(server.addr, "/ws").await;
    assert_eq!(
        next_raw(&mut ws).await.unwrap().unwrap(),
        WsMessage::text("ready")
    );
    // `recv` is still waiting: the connection is open.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_no_event(&mut events);
    assert_eq!(
        client_close(&mut ws, 4000, "done").await,
        (4000, "done".into())
    );
    assert_eq!(
        next_event(&mut events).await,
        Err("connection closed with 4000: done".to_owned())
    );
}

// ---------------------------------------------------------------------------------------
// Accessors
// ---------------------------------------------------------------------------------------

#[derive(Debug)]
struct Seen {
    id: ConnId,
    peer: Option<SocketAddr>,
    subprotocol: Option<String>,
    method: String,
    uri: String,
    header: Option<String>,
    extension: Option<&'static str>,
    request_path: String,
    sender_id: ConnId,
}

struct Inspect {
    seen: mpsc::UnboundedSender<Seen>,
}

impl Controller for Inspect {
    type Extract = ();

    fn settings(&self) -> Settings {
        quiet().subprotocols(["v1"])
    }

    async fn serve(&self, conn: Conn, _: ()) -> Result<(), Error> {
        let parts: &Parts = conn.request();
        let _ = self.seen.send(Seen {
            id: conn.id(),
            peer: conn.peer_addr(),
            subprotocol: conn.subprotocol().map(str::to_owned),
            method: conn.method().to_string(),
            uri: conn.uri().to_string(),
            header: conn
                .headers()
                .get("x-custom")
                .map(|v| v.to_str().unwrap().to_owned()),
            extension: conn.extensions().get::<&'static str>().copied(),
            request_path: parts.uri.path().to_owned(),
            sender_id: conn.sender().id(),
        });
        echo(conn).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accessors_describe_the_upgrade_request() {
    let (tx, mut seen) = mpsc::unbounded_channel();
    let router =
        ws_controller::route("/ws", Inspect { seen: tx }).layer(Extension("from middleware"));
    let addr = spawn_server(router).await;

    let mut request = ws_request(addr, "/ws?room=7");
    request
        .headers_mut()
        .insert("x-custom", HeaderValue::from_static("yes"));
    request
        .headers_mut()
        .insert("sec-websocket-protocol", HeaderValue::from_static("v1"));
    let (ws, _) = connect_with(addr, request).await;
    let first = next_event(&mut seen).await;
    assert_eq!(first.peer, Some(ws.get_ref().local_addr().unwrap()));
    assert_eq!(first.subprotocol.as_deref(), Some("v1"));
    assert_eq!(first.method, "GET");
    assert_eq!(first.uri, "/ws?room=7");
    assert_eq!(first.request_path, "/ws");
    assert_eq!(first.header.as_deref(), Some("yes"));
    assert_eq!(first.extension, Some("from middleware"));
    assert_eq!(first.sender_id, first.id);

    let second_ws = connect(addr, "/ws").await;
    let second = next_event(&mut seen).await;
    assert_ne!(second.id, first.id);
    assert_eq!(second.peer, Some(second_ws.get_ref().local_addr().unwrap()));
    assert_ne!(second.peer, first.peer);
    assert_eq!(second.subprotocol, None);
    assert_eq!(second.header, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_addr_is_none_without_connect_info() {
    let (tx, mut seen) = mpsc::unbounded_channel();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = ws_controller::route("/ws", Inspect { seen: tx });
    tokio::spawn(async move { axum::serve(listener, router).await });
    let _ws = connect(addr, "/ws").await;
    assert_eq!(next_event(&mut seen).await.peer, None);
}

/// A peer that sends nothing at all *and* stops reading while the server streams data (a
/// half-open peer on a busy connection) should be freed by the idle timeout too: the
/// settings say the idle timeout closes a connection that "may send nothing at all". Once the
/// socket buffers are full the driver is inside a write, so the write itself must give up at
/// the idle deadline (otherwise the connection lives until TCP's retransmission timeout).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_timeout_frees_a_silent_peer_that_stopped_reading() {
    let (tx, mut events) = mpsc::unbounded_channel();
    let settings = Settings::default()
        .ping_interval(Some(Duration::from_millis(100)))
        .idle_timeout(Some(Duration::from_millis(500)))
        .close_timeout(Duration::from_millis(300));
    let server = serve_script(settings, move |conn: Conn| {
        let tx = tx.clone();
        async move {
            let chunk = bytes::Bytes::from(vec![1u8; 64 << 10]);
            let err = loop {
                if let Err(err) = conn.send_binary(chunk.clone()).await {
                    break err;
                }
            };
            let _ = tx.send(err.to_string());
            Ok(())
        }
    })
    .await;
    // Handshake, then silence: nothing sent, nothing read.
    let (_, _raw) = raw_upgrade(server.addr, &Req::upgrade("/ws")).await;
    // The server gives up on its own (well within the 5 s limit).
    let error = next_event(&mut events).await;
    assert!(error.starts_with("connection closed with"), "{error}");
}
