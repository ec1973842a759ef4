//! WebSockets over HTTP/2 (RFC 8441) through `ws_controller::serve` (h2c, prior knowledge):
//! hyper's HTTP/2 client opens extended CONNECT streams and exchanges real frames, encoded
//! and decoded by the crate's own engine in the client role.
#![cfg(feature = "http2")]

mod common;

use std::future::IntoFuture;
use std::net::SocketAddr;

use axum::body::Body;
use http::{Method, Request, StatusCode};
use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use ws_controller::protocol::{Decoder, Encoder, Event, Message, Role};
use ws_controller::{ws_controller, Compression, Conn, Controller, Error, Settings};

use common::{within, RawConn, Req};

struct Echo;

impl Controller for Echo {
    type Extract = ();

    fn settings(&self) -> Settings {
        Settings::default()
            .subprotocols(["chat.v2", "chat.v1"])
            .max_connections(Some(2))
            .compression(Compression::On)
    }

    async fn serve(&self, mut conn: Conn, _: ()) -> Result<(), Error> {
        conn.send_text(format!("protocol {}", conn.subprotocol().unwrap_or("none")))
            .await?;
        loop {
            let message = conn.recv().await?;
            conn.send(message).await?;
        }
    }
}

struct Rooms;

#[ws_controller(path = "/rooms/{room}", origin = ["https://example.com"])]
impl Rooms {
    #[on_open]
    async fn open(
        &self,
        axum::extract::Path(room): axum::extract::Path<String>,
    ) -> Result<String, Error> {
        Ok(room)
    }

    #[on_text]
    async fn said(&self, room: &mut String, text: String) -> String {
        format!("{room}: {text}")
    }
}

async fn server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new()
        .merge(ws_controller::route("/ws", Echo))
        .merge(Rooms.into_router());
    tokio::spawn(ws_controller::serve(listener, app).into_future());
    addr
}

/// An HTTP/2 connection with prior knowledge; the server must allow extended CONNECT.
async fn h2(addr: SocketAddr) -> SendRequest<Body> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (send, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .expect("HTTP/2 handshake");
    tokio::spawn(conn);
    send
}

fn connect_request(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Request<Body> {
    let mut request = Request::builder()
        .method(Method::CONNECT)
        .uri(format!("http://{addr}{path}"))
        .header("sec-websocket-version", "13");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let mut request = request.body(Body::empty()).unwrap();
    request
        .extensions_mut()
        .insert(hyper::ext::Protocol::from_static("websocket"));
    request
}

/// A WebSocket client over an upgraded HTTP/2 stream.
struct Client {
    io: TokioIo<hyper::upgrade::Upgraded>,
    encoder: Encoder,
    decoder: Decoder,
    buf: Vec<u8>,
}

impl Client {
    async fn open(send: &mut SendRequest<Body>, request: Request<Body>) -> (Self, http::HeaderMap) {
        let response = within("CONNECT", send.send_request(request)).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{response:?}");
        let headers = response.headers().clone();
        let upgraded = within("upgrade", hyper::upgrade::on(response))
            .await
            .unwrap();
        let client = Self {
            io: TokioIo::new(upgraded),
            encoder: Encoder::new(Role::Client),
            decoder: Decoder::new(Role::Client, 1 << 20),
            buf: Vec::new(),
        };
        (client, headers)
    }

    async fn send(&mut self, message: Message) {
        let mut out = Vec::new();
        self.encoder.message(&message, &mut out, usize::MAX);
        self.io.write_all(&out).await.unwrap();
    }

    async fn close(&mut self, code: u16) {
        let mut out = Vec::new();
        self.encoder.close(code, "", &mut out);
        self.io.write_all(&out).await.unwrap();
    }

    async fn next(&mut self) -> Event {
        loop {
            let (used, event) = self.decoder.decode(&mut self.buf);
            self.buf.drain(..used);
            if let Some(event) = event.expect("valid frames from the server") {
                return event;
            }
            let mut chunk = [0u8; 4096];
            let n = within("read", self.io.read(&mut chunk)).await.unwrap();
            assert!(n > 0, "the stream ended");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    async fn text(&mut self) -> String {
        match self.next().await {
            Event::Message(message) => message.as_text().expect("text").to_owned(),
            other => panic!("expected text, got {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extended_connect_opens_websockets_that_exchange_frames() {
    let addr = server().await;
    let mut send = h2(addr).await;
    let request = connect_request(
        addr,
        "/ws",
        &[("sec-websocket-protocol", "chat.v1, chat.v2")],
    );
    let (mut ws, headers) = Client::open(&mut send, request).await;
    assert_eq!(headers["sec-websocket-protocol"], "chat.v2");
    assert!(!headers.contains_key("sec-websocket-accept"));
    assert!(!headers.contains_key("upgrade"));
    assert_eq!(ws.text().await, "protocol chat.v2");
    ws.send(Message::text("over h2")).await;
    assert_eq!(ws.text().await, "over h2");

    // A second stream on the same connection is a second WebSocket.
    let (mut other, _) = Client::open(&mut send, connect_request(addr, "/ws", &[])).await;
    assert_eq!(other.text().await, "protocol none");
    other.send(Message::binary(vec![7; 3000])).await;
    match other.next().await {
        Event::Message(message) => assert_eq!(message.as_bytes(), &[7; 3000][..]),
        event => panic!("expected the binary echo, got {event:?}"),
    }

    // The route's cap (2) counts HTTP/2 streams too.
    let refused = within(
        "CONNECT",
        send.send_request(connect_request(addr, "/ws", &[])),
    )
    .await
    .unwrap();
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(refused.headers()["retry-after"], "5");

    ws.close(1000).await;
    match ws.next().await {
        Event::Close(Some(frame)) => assert_eq!(frame.code, 1000),
        event => panic!("expected the close echo, got {event:?}"),
    }
}

#[tokio::test]
async fn compression_extractors_and_origin_rules_are_the_same_over_h2() {
    let addr = server().await;
    let mut send = h2(addr).await;
    let offer = [("sec-websocket-extensions", "permessage-deflate")];
    let (mut ws, headers) = Client::open(&mut send, connect_request(addr, "/ws", &offer)).await;
    assert_eq!(
        headers["sec-websocket-extensions"],
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
    );
    // Uncompressed frames are still valid with compression negotiated.
    assert_eq!(ws.text().await, "protocol none");

    let (mut room, _) = Client::open(&mut send, connect_request(addr, "/rooms/attic", &[])).await;
    room.send(Message::text("hi")).await;
    assert_eq!(room.text().await, "attic: hi");

    let foreign = [("origin", "https://evil.example")];
    let response = send
        .send_request(connect_request(addr, "/rooms/attic", &foreign))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    // A CONNECT for another protocol, and a GET, are no WebSocket handshakes over HTTP/2.
    let mut other = connect_request(addr, "/ws", &[]);
    other
        .extensions_mut()
        .insert(hyper::ext::Protocol::from_static("chat"));
    let response = send.send_request(other).await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let get = Request::get(format!("http://{addr}/ws"))
        .body(Body::empty())
        .unwrap();
    let response = send.send_request(get).await.unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.headers()["allow"], "CONNECT");
}

#[tokio::test]
async fn http1_still_works_beside_h2() {
    let addr = server().await;
    let (response, _raw) = common::raw_upgrade(addr, &Req::upgrade("/ws")).await;
    assert_eq!(response.status, 101);
    let mut raw = RawConn::connect(addr).await;
    raw.write(b"GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(raw.read_response().await.status, 404);
}
