//! The hub over real sockets: broadcast fan-out, slow consumers, idle peers, graceful
//! shutdown, and the registry emptying after every kind of ending.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{sleep, timeout, Instant};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode as WsCloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::WebSocketStream;
use ws_controller::test::TestServer;
use ws_controller::{
    CloseCode, Conn, Controller, Error, Hub, Settings, Shutdown, SlowConsumer, TOO_SLOW_REASON,
};

type Client = WebSocketStream<TcpStream>;

/// Joins the lobby, says "joined", then obeys commands: "bye" ends normally, "error" fails,
/// "panic" panics; anything else is broadcast to the lobby.
struct Lobby {
    hub: Hub,
    settings: Settings,
    active: Arc<AtomicUsize>,
}

struct Active(Arc<AtomicUsize>);

impl Drop for Active {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Controller for Lobby {
    type Extract = ();

    fn settings(&self) -> Settings {
        self.settings.clone()
    }

    fn hub(&self) -> Option<&Hub> {
        Some(&self.hub)
    }

    async fn serve(&self, mut conn: Conn, _: ()) -> Result<(), Error> {
        self.active.fetch_add(1, Ordering::SeqCst);
        let _active = Active(self.active.clone());
        self.hub.join(conn.id(), "lobby").await;
        conn.send_text("joined").await?;
        loop {
            let message = conn.recv().await?;
            match message.as_text() {
                Some("bye") => return Ok(()),
                Some("error") => return Err(Error::msg("boom")),
                Some("panic") => panic!("boom"),
                _ => {
                    self.hub.broadcast_room("lobby", message).await;
                }
            }
        }
    }
}

struct Fixture {
    server: TestServer,
    hub: Hub,
    active: Arc<AtomicUsize>,
}

async fn fixture(settings: Settings) -> Fixture {
    let hub = Hub::new();
    let active = Arc::new(AtomicUsize::new(0));
    let lobby = Lobby {
        hub: hub.clone(),
        settings,
        active: active.clone(),
    };
    let server = TestServer::bind(ws_controller::route("/lobby", lobby))
        .await
        .unwrap();
    Fixture {
        server,
        hub,
        active,
    }
}

/// A plain tokio-tungstenite client (not the crate's own helper) that has seen "joined".
async fn join(f: &Fixture) -> Client {
    let addr = f.server.addr().unwrap();
    let tcp = TcpStream::connect(addr).await.unwrap();
    let url = format!("ws://{addr}/lobby");
    let (mut ws, _) = timeout(
        Duration::from_secs(5),
        tokio_tungstenite::client_async(url, tcp),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(next_text(&mut ws).await, "joined");
    ws
}

async fn next(ws: &mut Client) -> WsMessage {
    loop {
        let message = timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("timed out waiting for a message")
            .expect("stream ended")
            .expect("read error");
        if !matches!(message, WsMessage::Ping(_) | WsMessage::Pong(_)) {
            return message;
        }
    }
}

async fn next_text(ws: &mut Client) -> String {
    match next(ws).await {
        WsMessage::Text(t) => t.as_str().to_owned(),
        other => panic!("expected text, got {other:?}"),
    }
}

/// Reads until a close frame, counting the text messages before it.
async fn read_to_close(ws: &mut Client) -> (Vec<String>, Option<CloseFrame>) {
    let mut texts = Vec::new();
    loop {
        match next(ws).await {
            WsMessage::Text(t) => texts.push(t.as_str().to_owned()),
            WsMessage::Close(frame) => return (texts, frame),
            other => panic!("unexpected {other:?}"),
        }
    }
}

async fn wait_until(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        sleep(Duration::from_millis(10)).await;
    }
}

fn close_of(frame: Option<CloseFrame>) -> (u16, String) {
    let frame = frame.expect("close frame without a status");
    (u16::from(frame.code), frame.reason.as_str().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_clients_each_get_every_broadcast_once_in_order() {
    let f = fixture(Settings::default()).await;
    let mut clients = Vec::new();
    for _ in 0..200 {
        clients.push(join(&f).await);
    }
    assert_eq!(f.hub.count(), 200);
    assert_eq!(f.hub.room("lobby").len(), 200);

    const MESSAGES: usize = 50;
    for i in 0..MESSAGES {
        let report = f.hub.broadcast_room("lobby", format!("m{i}")).await;
        assert_eq!(report.delivered, 200);
        assert_eq!((report.dropped, report.closed), (0, 0));
    }
    let readers = clients.into_iter().map(|mut ws| async move {
        let mut got = Vec::new();
        for _ in 0..MESSAGES {
            got.push(next_text(&mut ws).await);
        }
        ws.close(None).await.unwrap();
        got
    });
    let expected: Vec<String> = (0..MESSAGES).map(|i| format!("m{i}")).collect();
    for got in futures_util::future::join_all(readers).await {
        assert_eq!(got, expected);
    }
    wait_until("every connection left", Duration::from_secs(10), || {
        f.hub.count() == 0
    })
    .await;
    assert!(f.hub.room("lobby").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_is_closed_with_1008_and_its_queue_stays_bounded() {
    const QUEUE_BYTES: usize = 64 << 10;
    let settings = Settings::default()
        .send_queue(1024)
        .send_queue_bytes(QUEUE_BYTES)
        .close_timeout(Duration::from_secs(5));
    let f = fixture(settings).await;
    let mut slow = join(&f).await;
    let mut fast = join(&f).await;
    // Ids grow with each connection: the slow client joined first.
    let mut ids = f.hub.ids();
    ids.sort();
    let slow_sender = f.hub.get(ids[0]).unwrap();
    let fast_sender = f.hub.get(ids[1]).unwrap();

    // 4 KiB messages; the fast client reads them all while the slow one never reads.
    let payload = "x".repeat(4 << 10);
    let total = 4000; // 16 MiB: far beyond socket buffers plus the 64 KiB queue.
    let reader = tokio::spawn(async move {
        let mut n = 0;
        while n < total {
            let text = next_text(&mut fast).await;
            assert_eq!(text.len(), 4 << 10);
            n += 1;
        }
        fast
    });
    let mut closed = 0;
    let mut peak = 0;
    for _ in 0..total {
        let report = f.hub.broadcast(payload.clone()).await;
        closed += report.closed;
        peak = peak.max(slow_sender.queued_bytes());
        // Pace the broadcaster so that the fast reader is never the slow one.
        while fast_sender.queued_bytes() > QUEUE_BYTES / 2 {
            sleep(Duration::from_millis(1)).await;
        }
    }
    assert_eq!(closed, 1, "exactly the slow client was closed");
    assert!(
        peak <= QUEUE_BYTES,
        "the slow client's queue held {peak} bytes, over its {QUEUE_BYTES}-byte limit"
    );
    let mut fast = reader.await.unwrap();

    // Now the slow client reads: what the kernel buffered, then the 1008 close.
    let (texts, frame) = read_to_close(&mut slow).await;
    assert!(
        texts.len() < total,
        "the slow client cannot have received everything"
    );
    assert_eq!(
        close_of(frame),
        (1008, TOO_SLOW_REASON.to_owned()),
        "slow client close"
    );
    fast.send(WsMessage::text("bye")).await.unwrap();
    let (_, frame) = read_to_close(&mut fast).await;
    assert_eq!(
        close_of(frame),
        (1000, "Server closed connection".to_owned())
    );
    wait_until("both connections left", Duration::from_secs(10), || {
        f.hub.count() == 0
    })
    .await;
}

#[tokio::test]
async fn drop_newest_keeps_a_slow_client_open() {
    let settings = Settings::default()
        .send_queue(4)
        .slow_consumer(SlowConsumer::DropNewest);
    let f = fixture(settings).await;
    let mut slow = join(&f).await;
    let payload = "y".repeat(64 << 10);
    let mut dropped = 0;
    for _ in 0..400 {
        let report = f.hub.broadcast(payload.clone()).await;
        dropped += report.dropped;
        assert_eq!(report.closed, 0);
    }
    assert!(dropped > 0, "a client that never reads must miss messages");
    assert_eq!(f.hub.count(), 1, "the slow client stays registered");
    slow.send(WsMessage::text("bye")).await.unwrap();
    let (texts, frame) = read_to_close(&mut slow).await;
    assert_eq!(texts.len() + dropped, 400);
    assert_eq!(
        close_of(frame),
        (1000, "Server closed connection".to_owned())
    );
}

#[tokio::test]
async fn a_silent_peer_is_closed_after_the_idle_timeout() {
    let settings = Settings::default()
        .ping_interval(Some(Duration::from_millis(100)))
        .idle_timeout(Some(Duration::from_millis(400)))
        .close_timeout(Duration::from_millis(300));
    let f = fixture(settings).await;
    // A raw peer: handshake, then it neither reads nor writes, so nobody answers the pings.
    let addr = f.server.addr().unwrap();
    let mut silent = TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "GET /lobby HTTP/1.1\r\nHost: {addr}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    );
    silent.write_all(request.as_bytes()).await.unwrap();
    wait_until("the peer is registered", Duration::from_secs(5), || {
        f.hub.count() == 1
    })
    .await;
    let started = Instant::now();
    wait_until(
        "the silent connection is dropped",
        Duration::from_secs(10),
        || f.hub.count() == 0,
    )
    .await;
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(f.active.load(Ordering::SeqCst), 0, "the serve task ended");

    // What the server wrote while the peer was silent: the 101, "joined", pings, the close,
    // then end of stream.
    let mut bytes = Vec::new();
    timeout(Duration::from_secs(5), silent.read_to_end(&mut bytes))
        .await
        .unwrap()
        .unwrap();
    let head_end = bytes.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert!(bytes.starts_with(b"HTTP/1.1 101"));
    let frames = parse_server_frames(&bytes[head_end..]);
    let pings = frames.iter().filter(|(op, _)| *op == 0x9).count();
    assert!(pings >= 2, "the server pinged ({pings} pings)");
    assert_eq!(frames.first(), Some(&(0x1, b"joined".to_vec())));
    let (op, payload) = frames.last().unwrap();
    assert_eq!(*op, 0x8, "the last frame is a close");
    assert_eq!(&payload[..2], &1001u16.to_be_bytes());
    assert_eq!(&payload[2..], b"Idle timeout");
}

/// Splits unmasked server frames into (opcode, payload).
fn parse_server_frames(mut data: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut frames = Vec::new();
    while data.len() >= 2 {
        let opcode = data[0] & 0x0f;
        assert_eq!(data[1] & 0x80, 0, "server frames are not masked");
        let (len, header) = match data[1] & 0x7f {
            126 => (usize::from(u16::from_be_bytes([data[2], data[3]])), 4),
            127 => (
                usize::try_from(u64::from_be_bytes(data[2..10].try_into().unwrap())).unwrap(),
                10,
            ),
            n => (usize::from(n), 2),
        };
        frames.push((opcode, data[header..header + len].to_vec()));
        data = &data[header + len..];
    }
    assert!(data.is_empty(), "trailing bytes after the last frame");
    frames
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_flushes_queued_messages_then_closes_1001() {
    let f = fixture(Settings::default().close_timeout(Duration::from_secs(5))).await;
    let mut clients = Vec::new();
    for _ in 0..50 {
        clients.push(join(&f).await);
    }
    // Queue messages that nobody has read yet.
    const QUEUED: usize = 30;
    for i in 0..QUEUED {
        assert_eq!(f.hub.broadcast(format!("q{i}")).await.delivered, 50);
    }
    let hub = f.hub.clone();
    let shutdown = tokio::spawn(async move {
        hub.shutdown(Shutdown::default().deadline(Duration::from_secs(8)))
            .await
    });
    let readers = clients.into_iter().map(|mut ws| async move {
        let (texts, frame) = read_to_close(&mut ws).await;
        // Answer the close (tungstenite queues the reply; flush it) and wait for EOF.
        let _ = ws.flush().await;
        while let Ok(Some(Ok(_))) = timeout(Duration::from_secs(5), ws.next()).await {}
        (texts, close_of(frame))
    });
    let expected: Vec<String> = (0..QUEUED).map(|i| format!("q{i}")).collect();
    for (texts, close) in futures_util::future::join_all(readers).await {
        assert_eq!(
            texts, expected,
            "every queued message arrives before the close"
        );
        assert_eq!(close, (1001, "Server shutting down".to_owned()));
    }
    let report = timeout(Duration::from_secs(10), shutdown)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((report.clean, report.forced), (50, 0));
    assert_eq!(f.hub.count(), 0);
    assert_eq!(
        f.active.load(Ordering::SeqCst),
        0,
        "no connection task left"
    );

    // New upgrades are refused while (and after) the hub shuts down.
    match f.server.connect("/lobby").await {
        Err(ws_controller::test::TestError::Refused { status, body, .. }) => {
            assert_eq!(status, http::StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(body, r#"{"error":"Service Unavailable"}"#);
        }
        Err(other) => panic!("expected 503, got {other}"),
        Ok(_) => panic!("expected 503, got a connection"),
    }
}

#[tokio::test]
async fn shutdown_forces_a_peer_that_never_answers() {
    let f = fixture(Settings::default().close_timeout(Duration::from_secs(30))).await;
    let mut polite = join(&f).await;
    let _mute = join(&f).await; // never polled again: never answers the close
    let hub = f.hub.clone();
    let shutdown = tokio::spawn(async move {
        hub.shutdown(Shutdown::default().deadline(Duration::from_millis(500)))
            .await
    });
    let (_, frame) = read_to_close(&mut polite).await;
    assert_eq!(close_of(frame), (1001, "Server shutting down".to_owned()));
    let _ = polite.flush().await;
    let report = timeout(Duration::from_secs(5), shutdown)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((report.clean, report.forced), (1, 1));
    assert_eq!(f.hub.count(), 0);
    assert_eq!(f.active.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn registry_empties_after_every_kind_of_ending() {
    let settings = Settings::default()
        .close_timeout(Duration::from_millis(300))
        .idle_timeout(Some(Duration::from_millis(300)))
        .ping_interval(None);
    let f = fixture(settings).await;
    let empty = |f: &Fixture| f.hub.count() == 0 && f.active.load(Ordering::SeqCst) == 0;

    // The peer closes.
    let mut ws = join(&f).await;
    ws.close(Some(CloseFrame {
        code: WsCloseCode::Normal,
        reason: "".into(),
    }))
    .await
    .unwrap();
    wait_until("peer close", Duration::from_secs(5), || empty(&f)).await;

    // The server ends normally, with an error, with a panic.
    for (command, code) in [("bye", 1000u16), ("error", 1011), ("panic", 1011)] {
        let mut ws = join(&f).await;
        ws.send(WsMessage::text(command)).await.unwrap();
        let (_, frame) = read_to_close(&mut ws).await;
        assert_eq!(close_of(frame).0, code, "{command}");
        wait_until(command, Duration::from_secs(5), || empty(&f)).await;
    }

    // The peer vanishes without a close frame.
    let ws = join(&f).await;
    drop(ws);
    wait_until("peer vanished", Duration::from_secs(5), || empty(&f)).await;

    // The peer goes idle.
    let _idle = join(&f).await;
    wait_until("idle timeout", Duration::from_secs(5), || empty(&f)).await;

    // The server shuts down.
    let mut ws = join(&f).await;
    let hub = f.hub.clone();
    let shutdown = tokio::spawn(async move { hub.shutdown(Shutdown::default()).await });
    let (_, frame) = read_to_close(&mut ws).await;
    assert_eq!(close_of(frame).0, 1001);
    let _ = ws.flush().await;
    shutdown.await.unwrap();
    assert!(empty(&f));
    assert!(CloseCode::new(1001).is_ok());
}
