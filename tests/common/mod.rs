//! Shared helpers for the runtime integration tests: a real axum server on an ephemeral port,
//! a raw HTTP/1.1 client, raw WebSocket frame codec, and a tokio-tungstenite client.
//!
//! Every helper that waits on the network does so under [`TIMEOUT`], so a regression fails a
//! test instead of hanging it.
#![allow(dead_code)]

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::Request;
use axum::middleware::Next;
use axum::Router;
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::client::{
    Request as WsRequest, Response as WsResponse,
};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode as WsCloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error as WsError, Message as WsMessage};
use tokio_tungstenite::WebSocketStream;

/// Upper bound for any single network wait.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// The sample key of RFC 6455 §1.3 and its accept value.
pub const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
pub const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

/// Awaits `fut` for at most [`TIMEOUT`], panicking with `what` otherwise.
pub async fn within<F: Future>(what: &str, fut: F) -> F::Output {
    within_for(TIMEOUT, what, fut).await
}

/// Awaits `fut` for at most `limit`, panicking with `what` otherwise.
pub async fn within_for<F: Future>(limit: Duration, what: &str, fut: F) -> F::Output {
    match tokio::time::timeout(limit, fut).await {
        Ok(out) => out,
        Err(_) => panic!("timed out after {limit:?}: {what}"),
    }
}

/// Receives the next event from a test channel, under [`TIMEOUT`].
pub async fn next_event<T>(rx: &mut mpsc::UnboundedReceiver<T>) -> T {
    within("waiting for an event", rx.recv())
        .await
        .expect("event channel closed")
}

/// Asserts that no event is pending on `rx` right now.
pub fn assert_no_event<T: std::fmt::Debug>(rx: &mut mpsc::UnboundedReceiver<T>) {
    if let Ok(event) = rx.try_recv() {
        panic!("unexpected event: {event:?}");
    }
}

/// A controller that echoes every data message, with default settings.
pub struct Echo;

impl ws_controller::Controller for Echo {
    type Extract = ();

    async fn serve(
        &self,
        mut conn: ws_controller::Conn,
        _: (),
    ) -> Result<(), ws_controller::Error> {
        loop {
            let message = conn.recv().await?;
            conn.send(message).await?;
        }
    }
}

/// Serves `router` on 127.0.0.1:0 with connect info, returning the bound address.
pub async fn spawn_server(router: Router) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .expect("server failed");
    });
    addr
}

/// Dropped when the connection that carried it is entirely finished.
#[derive(Clone)]
pub struct DoneGuard(Arc<DoneInner>);

struct DoneInner(mpsc::UnboundedSender<()>);

impl Drop for DoneInner {
    fn drop(&mut self) {
        let _ = self.0.send(());
    }
}

/// Puts a fresh [`DoneGuard`] into every request's extensions. The upgrade route keeps the
/// request parts for the life of the connection (after `serve` returns, through the error
/// hook and the close handshake), so the returned receiver gets one `()` per request once
/// everything about it is over: the signal to check that a hook was *not* called.
pub fn with_done_signal(router: Router) -> (Router, mpsc::UnboundedReceiver<()>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let router = router.layer(axum::middleware::from_fn(
        move |mut request: Request, next: Next| {
            let tx = tx.clone();
            async move {
                request
                    .extensions_mut()
                    .insert(DoneGuard(Arc::new(DoneInner(tx))));
                next.run(request).await
            }
        },
    ));
    (router, rx)
}

// ---------------------------------------------------------------------------------------
// Raw HTTP
// ---------------------------------------------------------------------------------------

/// A raw HTTP/1.x request, written byte for byte.
#[derive(Debug, Clone)]
pub struct Req {
    method: String,
    target: String,
    version: &'static str,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Req {
    /// A valid WebSocket upgrade request for `target` (no `Origin`).
    pub fn upgrade(target: &str) -> Self {
        Self::get(target)
            .header("Connection", "Upgrade")
            .header("Upgrade", "websocket")
            .header("Sec-WebSocket-Version", "13")
            .header("Sec-WebSocket-Key", KEY)
    }

    /// A plain GET with only `Host`.
    pub fn get(target: &str) -> Self {
        Self {
            method: "GET".into(),
            target: target.into(),
            version: "HTTP/1.1",
            headers: vec![("Host".into(), "localhost".into())],
            body: Vec::new(),
        }
    }

    pub fn method(mut self, method: &str) -> Self {
        self.method = method.into();
        self
    }

    pub fn http10(mut self) -> Self {
        self.version = "HTTP/1.0";
        self
    }

    /// Appends a header (a repeated name makes a repeated header line).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Replaces every header called `name` with one line.
    pub fn set(self, name: &str, value: &str) -> Self {
        self.remove(name).header(name, value)
    }

    /// Removes every header called `name`.
    pub fn remove(mut self, name: &str) -> Self {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self
    }

    pub fn body(mut self, body: &[u8]) -> Self {
        self.body = body.to_vec();
        self.set("Content-Length", &body.len().to_string())
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = format!("{} {} {}\r\n", self.method, self.target, self.version);
        for (name, value) in &self.headers {
            out.push_str(&format!("{name}: {value}\r\n"));
        }
        out.push_str("\r\n");
        let mut out = out.into_bytes();
        out.extend_from_slice(&self.body);
        out
    }
}

/// A parsed HTTP response.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The only value of `name`; panics when it is repeated.
    pub fn header(&self, name: &str) -> Option<&str> {
        let all = self.header_all(name);
        assert!(all.len() <= 1, "header {name} repeated: {all:?}");
        all.first().copied()
    }

    pub fn header_all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn text(&self) -> &str {
        std::str::from_utf8(&self.body).expect("body is not UTF-8")
    }

    /// Asserts the default refusal: `status`, the JSON content type and `{"error": <error>}`.
    #[track_caller]
    pub fn assert_json_error(&self, status: u16, error: &str) {
        assert_eq!(self.status, status, "status; response: {self:?}");
        assert_eq!(
            self.header("content-type"),
            Some("application/json; charset=utf-8"),
            "content-type; response: {self:?}"
        );
        let expected = serde_json::json!({ "error": error }).to_string();
        assert_eq!(self.text(), expected, "body; response: {self:?}");
    }
}

/// A TCP connection with a read buffer, for raw HTTP and raw WebSocket frames.
pub struct RawConn {
    pub stream: TcpStream,
    pub buf: Vec<u8>,
}

impl RawConn {
    pub async fn connect(addr: SocketAddr) -> Self {
        let stream = within("connect", TcpStream::connect(addr))
            .await
            .expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        Self {
            stream,
            buf: Vec::new(),
        }
    }

    pub async fn write(&mut self, bytes: &[u8]) {
        within("write", self.stream.write_all(bytes))
            .await
            .expect("write");
    }

    /// Reads more bytes into the buffer; false at EOF (or reset).
    async fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 8192];
        match within("read", self.stream.read(&mut chunk)).await {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
        }
    }

    async fn take(&mut self, n: usize) -> Option<Vec<u8>> {
        while self.buf.len() < n {
            if !self.fill().await {
                return None;
            }
        }
        Some(self.buf.drain(..n).collect())
    }

    /// Reads one HTTP response. The body is read for `Content-Length` or chunked encoding;
    /// a `101` has none (what follows stays in the buffer).
    pub async fn read_response(&mut self) -> HttpResponse {
        let end = loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i;
            }
            assert!(
                self.fill().await,
                "connection closed before the response head; got {:?}",
                String::from_utf8_lossy(&self.buf)
            );
        };
        let head: Vec<u8> = self.buf.drain(..end + 4).collect();
        let head = String::from_utf8(head).expect("response head is not UTF-8");
        let mut lines = head.split("\r\n");
        let status_line = lines.next().expect("status line");
        let mut parts = status_line.splitn(3, ' ');
        assert!(
            parts.next().unwrap_or("").starts_with("HTTP/1."),
            "bad status line {status_line:?}"
        );
        let status: u16 = parts
            .next()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
        let headers: Vec<(String, String)> = lines
            .filter(|l| !l.is_empty())
            .map(|l| {
                let (n, v) = l.split_once(':').expect("header line");
                (n.trim().to_owned(), v.trim().to_owned())
            })
            .collect();
        let mut response = HttpResponse {
            status,
            headers,
            body: Vec::new(),
        };
        if status == 101 || status == 204 || status == 304 {
            return response;
        }
        if let Some(len) = response.header("content-length") {
            let len: usize = len.parse().expect("content-length");
            response.body = self.take(len).await.expect("truncated body");
        } else if response
            .header("transfer-encoding")
            .is_some_and(|t| t.eq_ignore_ascii_case("chunked"))
        {
            loop {
                let line = self.take_line().await;
                let size = usize::from_str_radix(line.split(';').next().unwrap().trim(), 16)
                    .expect("chunk size");
                if size == 0 {
                    let _ = self.take_line().await;
                    break;
                }
                let chunk = self.take(size).await.expect("truncated chunk");
                response.body.extend_from_slice(&chunk);
                let _ = self.take_line().await;
            }
        } else {
            // Read to EOF.
            while self.fill().await {}
            response.body = std::mem::take(&mut self.buf);
        }
        response
    }

    async fn take_line(&mut self) -> String {
        loop {
            if let Some(i) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line: Vec<u8> = self.buf.drain(..i + 2).collect();
                return String::from_utf8_lossy(&line[..i]).into_owned();
            }
            assert!(self.fill().await, "connection closed mid-line");
        }
    }

    /// Sends one raw WebSocket frame.
    pub async fn send_frame(&mut self, frame: &[u8]) {
        self.write(frame).await;
    }

    /// Reads the next frame; `None` at EOF (TCP closed).
    pub async fn read_frame(&mut self) -> Option<Frame> {
        let head = self.take(2).await?;
        let (fin, rsv, opcode) = (head[0] & 0x80 != 0, (head[0] >> 4) & 0x07, head[0] & 0x0f);
        let masked = head[1] & 0x80 != 0;
        let len = match head[1] & 0x7f {
            126 => u16::from_be_bytes(self.take(2).await?.try_into().unwrap()) as usize,
            127 => u64::from_be_bytes(self.take(8).await?.try_into().unwrap()) as usize,
            n => n as usize,
        };
        let mask = if masked {
            Some(self.take(4).await?)
        } else {
            None
        };
        let mut payload = self.take(len).await?;
        if let Some(mask) = mask {
            for (i, b) in payload.iter_mut().enumerate() {
                *b ^= mask[i % 4];
            }
        }
        Some(Frame {
            fin,
            rsv,
            opcode,
            masked,
            payload,
        })
    }

    /// Reads the next frame that is not a ping (pings are not answered).
    pub async fn read_non_ping(&mut self) -> Option<Frame> {
        loop {
            let frame = self.read_frame().await?;
            if frame.opcode != OP_PING {
                return Some(frame);
            }
        }
    }

    /// Reads frames until TCP is closed; returns them all.
    pub async fn read_until_eof(&mut self) -> Vec<Frame> {
        let mut frames = Vec::new();
        while let Some(frame) = self.read_frame().await {
            frames.push(frame);
        }
        frames
    }

    /// Expects the next non-ping frame to be a close; returns `(code, reason)`.
    pub async fn expect_close(&mut self) -> (u16, String) {
        let frame = self
            .read_non_ping()
            .await
            .expect("connection closed without a close frame");
        assert_eq!(
            frame.opcode, OP_CLOSE,
            "expected a close frame, got {frame:?}"
        );
        frame.close()
    }

    /// Answers a close frame with `code` (masked, as a client must).
    pub async fn send_close(&mut self, code: u16, reason: &str) {
        self.send_frame(&client_frame(OP_CLOSE, &close_payload(code, reason)))
            .await;
    }

    /// Asserts the server closes TCP (no more frames, EOF) within [`TIMEOUT`].
    pub async fn expect_eof(&mut self) {
        let rest = self.read_until_eof().await;
        assert!(rest.is_empty(), "frames after the close: {rest:?}");
    }
}

/// Writes `request` on a new connection and reads the response.
pub async fn http(addr: SocketAddr, request: &Req) -> HttpResponse {
    let mut conn = RawConn::connect(addr).await;
    conn.write(&request.to_bytes()).await;
    conn.read_response().await
}

/// Writes an upgrade request and expects `101`; returns the response and the connection,
/// ready for raw frames.
pub async fn raw_upgrade(addr: SocketAddr, request: &Req) -> (HttpResponse, RawConn) {
    let mut conn = RawConn::connect(addr).await;
    conn.write(&request.to_bytes()).await;
    let response = conn.read_response().await;
    assert_eq!(response.status, 101, "upgrade refused: {response:?}");
    (response, conn)
}

// ---------------------------------------------------------------------------------------
// Raw frames
// ---------------------------------------------------------------------------------------

pub const OP_CONT: u8 = 0x0;
pub const OP_TEXT: u8 = 0x1;
pub const OP_BINARY: u8 = 0x2;
pub const OP_CLOSE: u8 = 0x8;
pub const OP_PING: u8 = 0x9;
pub const OP_PONG: u8 = 0xA;

/// The masking key the raw client uses.
pub const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// A received frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub fin: bool,
    pub rsv: u8,
    pub opcode: u8,
    pub masked: bool,
    pub payload: Vec<u8>,
}

impl Frame {
    /// `(code, reason)` of a close frame (1005 and "" when its payload is empty).
    pub fn close(&self) -> (u16, String) {
        assert_eq!(self.opcode, OP_CLOSE, "not a close frame: {self:?}");
        if self.payload.is_empty() {
            return (1005, String::new());
        }
        assert!(self.payload.len() >= 2, "1-byte close payload");
        let code = u16::from_be_bytes([self.payload[0], self.payload[1]]);
        let reason = String::from_utf8(self.payload[2..].to_vec()).expect("reason is not UTF-8");
        (code, reason)
    }
}

/// XORs `payload` with `mask` (RFC 6455 §5.3).
pub fn mask_payload(payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
    payload
        .iter()
        .enumerate()
        .map(|(i, b)| b ^ mask[i % 4])
        .collect()
}

/// Encodes a frame: `rsv` is the 3 RSV bits (0..=7), `mask` masks the payload when given.
pub fn frame(fin: bool, rsv: u8, opcode: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut out = vec![(u8::from(fin) << 7) | ((rsv & 0x07) << 4) | (opcode & 0x0f)];
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => out.push(mask_bit | n as u8),
        n if n <= u16::MAX as usize => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    match mask {
        Some(mask) => {
            out.extend_from_slice(&mask);
            out.extend_from_slice(&mask_payload(payload, mask));
        }
        None => out.extend_from_slice(payload),
    }
    out
}

/// A final, masked client frame.
pub fn client_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    frame(true, 0, opcode, payload, Some(MASK))
}

/// The payload of a close frame.
pub fn close_payload(code: u16, reason: &str) -> Vec<u8> {
    let mut out = code.to_be_bytes().to_vec();
    out.extend_from_slice(reason.as_bytes());
    out
}

// ---------------------------------------------------------------------------------------
// WebSocket client (tokio-tungstenite)
// ---------------------------------------------------------------------------------------

pub type Ws = WebSocketStream<TcpStream>;

/// A client request for `ws://addr{path}`; add headers before connecting.
pub fn ws_request(addr: SocketAddr, path: &str) -> WsRequest {
    format!("ws://{addr}{path}")
        .into_client_request()
        .expect("client request")
}

/// Connects with `request`; the handshake result as tungstenite reports it.
pub async fn try_connect(
    addr: SocketAddr,
    request: WsRequest,
) -> Result<(Ws, WsResponse), WsError> {
    let stream = within("connect", TcpStream::connect(addr))
        .await
        .expect("connect");
    within(
        "client handshake",
        tokio_tungstenite::client_async(request, stream),
    )
    .await
}

/// Connects to `path`, expecting the upgrade to succeed.
pub async fn connect(addr: SocketAddr, path: &str) -> Ws {
    connect_with(addr, ws_request(addr, path)).await.0
}

pub async fn connect_with(addr: SocketAddr, request: WsRequest) -> (Ws, WsResponse) {
    try_connect(addr, request)
        .await
        .expect("WebSocket handshake failed")
}

/// The next message of any kind (pings included), under [`TIMEOUT`]; `None` when the stream
/// ended.
pub async fn next_raw(ws: &mut Ws) -> Option<Result<WsMessage, WsError>> {
    within("reading from the WebSocket", ws.next()).await
}

/// The next data message (pings and pongs skipped); panics on a close or an error.
pub async fn recv(ws: &mut Ws) -> WsMessage {
    loop {
        match next_raw(ws).await {
            Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_))) => continue,
            Some(Ok(message @ (WsMessage::Text(_) | WsMessage::Binary(_)))) => return message,
            other => panic!("expected a data message, got {other:?}"),
        }
    }
}

/// The next data message as text.
pub async fn recv_text(ws: &mut Ws) -> String {
    match recv(ws).await {
        WsMessage::Text(text) => text.as_str().to_owned(),
        other => panic!("expected text, got {other:?}"),
    }
}

pub async fn send_text(ws: &mut Ws, text: &str) {
    within("sending", ws.send(WsMessage::text(text)))
        .await
        .expect("send");
}

/// Expects the next non-control message to be a close frame; then keeps reading (which
/// writes the client's reply) until the server ends the stream. Returns `(code, reason)`,
/// `(1005, "")` for a close frame without a status.
pub async fn expect_close(ws: &mut Ws) -> (u16, String) {
    let frame = loop {
        match next_raw(ws).await {
            Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_))) => continue,
            Some(Ok(WsMessage::Close(frame))) => break frame,
            other => panic!("expected a close frame, got {other:?}"),
        }
    };
    drain(ws).await;
    match frame {
        Some(CloseFrame { code, reason }) => (u16::from(code), reason.as_str().to_owned()),
        None => (1005, String::new()),
    }
}

/// Reads until the stream ends (or fails), under [`TIMEOUT`]; returns data messages seen.
pub async fn drain(ws: &mut Ws) -> Vec<WsMessage> {
    let mut seen = Vec::new();
    while let Some(Ok(message)) = next_raw(ws).await {
        if matches!(message, WsMessage::Text(_) | WsMessage::Binary(_)) {
            seen.push(message);
        }
    }
    seen
}

/// Starts the close handshake from the client with `code`/`reason`; returns the server's
/// reply frame.
pub async fn client_close(ws: &mut Ws, code: u16, reason: &str) -> (u16, String) {
    within(
        "sending close",
        ws.close(Some(CloseFrame {
            code: WsCloseCode::from(code),
            reason: reason.into(),
        })),
    )
    .await
    .expect("close");
    expect_close(ws).await
}

// ---------------------------------------------------------------------------------------
// A controller made of a closure
// ---------------------------------------------------------------------------------------

/// One call of the error hook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookCall {
    pub kind: ws_controller::ErrorKind,
    /// The error's `Display` text.
    pub message: String,
    pub backtrace: Option<String>,
}

/// A controller whose `serve` is a closure; its error hook reports every call (and panics
/// afterwards when `panic_in_hook` is set).
pub struct Script<F> {
    pub settings: ws_controller::Settings,
    pub serve: F,
    pub hook: mpsc::UnboundedSender<HookCall>,
    pub panic_in_hook: bool,
}

impl<F, Fut> ws_controller::Controller for Script<F>
where
    F: Fn(ws_controller::Conn) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), ws_controller::Error>> + Send,
{
    type Extract = ();

    fn settings(&self) -> ws_controller::Settings {
        self.settings.clone()
    }

    fn serve(
        &self,
        conn: ws_controller::Conn,
        _: (),
    ) -> impl Future<Output = Result<(), ws_controller::Error>> + Send {
        (self.serve)(conn)
    }

    fn on_error(&self, _request: &http::request::Parts, error: &ws_controller::Error) {
        let _ = self.hook.send(HookCall {
            kind: error.kind(),
            message: error.to_string(),
            backtrace: error.backtrace().map(str::to_owned),
        });
        if self.panic_in_hook {
            panic!("the error hook panicked");
        }
    }
}

/// A running server for a [`Script`] at `/ws`.
pub struct ScriptServer {
    pub addr: SocketAddr,
    /// The error hook's calls.
    pub hook: mpsc::UnboundedReceiver<HookCall>,
    /// One `()` per request once it is entirely finished (see [`with_done_signal`]).
    pub done: mpsc::UnboundedReceiver<()>,
}

impl ScriptServer {
    /// Waits until a connection is entirely finished, then returns the hook calls made for
    /// it so far.
    pub async fn finished(&mut self) -> Vec<HookCall> {
        next_event(&mut self.done).await;
        let mut calls = Vec::new();
        while let Ok(call) = self.hook.try_recv() {
            calls.push(call);
        }
        calls
    }
}

/// Serves a [`Script`] with `settings` and `serve` at `/ws`.
pub async fn serve_script<F, Fut>(settings: ws_controller::Settings, serve: F) -> ScriptServer
where
    F: Fn(ws_controller::Conn) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), ws_controller::Error>> + Send + 'static,
{
    serve_script_with(settings, false, serve).await
}

pub async fn serve_script_with<F, Fut>(
    settings: ws_controller::Settings,
    panic_in_hook: bool,
    serve: F,
) -> ScriptServer
where
    F: Fn(ws_controller::Conn) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), ws_controller::Error>> + Send + 'static,
{
    let (hook_tx, hook) = mpsc::unbounded_channel();
    let script = Script {
        settings,
        serve,
        hook: hook_tx,
        panic_in_hook,
    };
    let (router, done) = with_done_signal(ws_controller::route("/ws", script));
    let addr = spawn_server(router).await;
    ScriptServer { addr, hook, done }
}

/// A field of this process's `/proc/self/status` in KiB (`"VmRSS:"`, `"VmSize:"`); 0 where
/// there is no such file.
pub fn status_kib(field: &str) -> usize {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(field))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}
