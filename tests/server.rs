//! `ws_controller::serve`: handshake timeout against slow clients, connect info, graceful
//! shutdown.

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{sleep, timeout, Instant};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use ws_controller::{Conn, Controller, Error};

mod common;
use common::{client_frame, RawConn, Req, OP_TEXT};

/// Sends the peer address it sees, then echoes one message.
struct Peer;

impl Controller for Peer {
    type Extract = ();

    async fn serve(&self, mut conn: Conn, _: ()) -> Result<(), Error> {
        let peer = conn.peer_addr().map(|a| a.to_string()).unwrap_or_default();
        conn.send_text(peer).await?;
        let message = conn.recv().await?;
        conn.send(message).await?;
        Ok(())
    }
}

async fn start(
    handshake_timeout: Duration,
) -> (
    SocketAddr,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = ws_controller::serve(listener, ws_controller::route("/peer", Peer))
        .handshake_timeout(Some(handshake_timeout))
        .with_graceful_shutdown(async {
            let _ = stopped.await;
        });
    (
        addr,
        stop,
        tokio::spawn(std::future::IntoFuture::into_future(server)),
    )
}

/// Reads until the server closes the connection; returns what it sent.
async fn read_until_closed(tcp: &mut TcpStream, limit: Duration) -> Vec<u8> {
    let mut received = Vec::new();
    let mut buf = [0u8; 1024];
    let deadline = Instant::now() + limit;
    loop {
        match timeout(deadline - Instant::now(), tcp.read(&mut buf)).await {
            Err(_) => panic!("the server did not close the connection within {limit:?}"),
            Ok(Ok(0)) | Ok(Err(_)) => return received,
            Ok(Ok(n)) => received.extend_from_slice(&buf[..n]),
        }
    }
}

#[tokio::test]
async fn a_client_that_sends_nothing_is_dropped_after_the_handshake_timeout() {
    let (addr, _stop, _server) = start(Duration::from_millis(300)).await;
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let started = Instant::now();
    read_until_closed(&mut tcp, Duration::from_secs(5)).await;
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "closed before the timeout"
    );
}

#[tokio::test]
async fn a_client_that_drips_its_request_is_dropped_after_the_handshake_timeout() {
    let (addr, _stop, _server) = start(Duration::from_millis(500)).await;
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "GET /peer HTTP/1.1\r\nHost: {addr}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    );
    let started = Instant::now();
    let mut closed = false;
    for byte in request.as_bytes() {
        if tcp.write_all(&[*byte]).await.is_err() {
            closed = true;
            break;
        }
        sleep(Duration::from_millis(100)).await;
        if started.elapsed() > Duration::from_secs(5) {
            break;
        }
    }
    if !closed {
        read_until_closed(&mut tcp, Duration::from_secs(5)).await;
    }
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(450),
        "closed before the timeout: {elapsed:?}"
    );
    assert!(
        elapsed < Duration::from_secs(5),
        "a dripping client held the connection for {elapsed:?}"
    );
}

#[tokio::test]
async fn upgrades_carry_the_peer_address_and_shutdown_stops_the_server() {
    let (addr, stop, server) = start(Duration::from_secs(5)).await;
    let tcp = TcpStream::connect(addr).await.unwrap();
    let local = tcp.local_addr().unwrap();
    let (mut ws, _) = tokio_tungstenite::client_async(format!("ws://{addr}/peer"), tcp)
        .await
        .unwrap();
    let first = timeout(Duration::from_secs(5), ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(first, WsMessage::text(local.to_string()));
    ws.send(WsMessage::text("ping")).await.unwrap();
    let echoed = timeout(Duration::from_secs(5), ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(echoed, WsMessage::text("ping"));

    stop.send(()).unwrap();
    timeout(Duration::from_secs(5), server)
        .await
        .expect("the server stops after the signal")
        .unwrap()
        .unwrap();
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "the listener is closed"
    );
}

/// The client writes its first frames in the same segment as the handshake: on this
/// server the connection runs on the TCP stream itself, and the bytes hyper read past the
/// request must come first.
#[tokio::test]
async fn frames_pipelined_with_the_handshake_come_first() {
    let (addr, _stop, _server) = start(Duration::from_secs(5)).await;
    let mut raw = RawConn::connect(addr).await;
    let mut bytes = Req::upgrade("/peer").to_bytes();
    bytes.extend_from_slice(&client_frame(OP_TEXT, b"early"));
    raw.write(&bytes).await;
    assert_eq!(raw.read_response().await.status, 101);
    let peer = raw.read_frame().await.expect("the peer address");
    let local = raw.stream.local_addr().unwrap().to_string();
    assert_eq!(peer.payload, local.as_bytes());
    let echo = raw.read_frame().await.expect("the echo");
    assert_eq!(
        (echo.opcode, echo.payload.as_slice()),
        (OP_TEXT, &b"early"[..])
    );
    assert_eq!(
        raw.expect_close().await,
        (1000, "Server closed connection".into())
    );
}
