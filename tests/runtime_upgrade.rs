//! The upgrade pipeline over real TCP: handshake validation (RFC 6455 §4.2.1), origin
//! policy, refusal responses and hooks, extra 101 headers, subprotocol negotiation,
//! extractors, and panics in any upgrade-time hook.

mod common;

use std::net::SocketAddr;

use axum::extract::{FromRequestParts, Query};
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use http::{HeaderMap, HeaderValue, StatusCode};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use ws_controller::{Conn, Controller, Error, OriginAllowList, Settings, UpgradeError};

use common::*;

/// What a served connection reports to the test.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Served {
    subprotocol: Option<String>,
    tag: String,
}

/// Echo controller with configurable settings; reports each served connection.
struct Echo {
    settings: Settings,
    served: mpsc::UnboundedSender<Served>,
}

impl Echo {
    fn new(settings: Settings) -> (Self, mpsc::UnboundedReceiver<Served>) {
        let (served, rx) = mpsc::unbounded_channel();
        (Self { settings, served }, rx)
    }
}

async fn echo_loop(mut conn: Conn) -> Result<(), Error> {
    loop {
        let message = conn.recv().await?;
        conn.send(message).await?;
    }
}

impl Controller for Echo {
    type Extract = ();

    fn settings(&self) -> Settings {
        self.settings.clone()
    }

    async fn serve(&self, conn: Conn, _: ()) -> Result<(), Error> {
        let _ = self.served.send(Served {
            subprotocol: conn.subprotocol().map(str::to_owned),
            tag: conn.uri().to_string(),
        });
        echo_loop(conn).await
    }
}

async fn echo_server(settings: Settings) -> (SocketAddr, mpsc::UnboundedReceiver<Served>) {
    let (echo, rx) = Echo::new(settings);
    (spawn_server(ws_controller::route("/ws", echo)).await, rx)
}

/// Asserts that a full upgrade works on `addr` and that text is echoed.
async fn assert_echo_works(addr: SocketAddr) {
    let mut ws = connect(addr, "/ws").await;
    send_text(&mut ws, "still alive").await;
    assert_eq!(recv_text(&mut ws).await, "still alive");
    assert_eq!(client_close(&mut ws, 1000, "").await, (1000, String::new()));
}

// ---------------------------------------------------------------------------------------
// Handshake validation
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn valid_handshake_answers_101_with_accept_key() {
    let (addr, mut served) = echo_server(Settings::default()).await;
    let (response, mut raw) = raw_upgrade(addr, &Req::upgrade("/ws?x=1")).await;
    assert_eq!(response.header("sec-websocket-accept"), Some(ACCEPT));
    assert_eq!(
        response.header("upgrade").map(str::to_ascii_lowercase),
        Some("websocket".into())
    );
    assert_eq!(
        response.header("connection").map(str::to_ascii_lowercase),
        Some("upgrade".into())
    );
    assert_eq!(response.header("sec-websocket-protocol"), None);
    assert_eq!(next_event(&mut served).await.tag, "/ws?x=1");

    raw.send_frame(&client_frame(OP_TEXT, b"raw hello")).await;
    let echoed = raw.read_frame().await.expect("echo");
    assert_eq!(
        (echoed.fin, echoed.rsv, echoed.opcode, echoed.masked),
        (true, 0, OP_TEXT, false)
    );
    assert_eq!(echoed.payload, b"raw hello");
    raw.send_close(1000, "").await;
    assert_eq!(raw.expect_close().await, (1000, String::new()));
    raw.expect_eof().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn header_tokens_are_case_insensitive_lists() {
    let (addr, _served) = echo_server(Settings::default()).await;
    let request = Req::upgrade("/ws")
        .set("Connection", "keep-alive, UPGRADE")
        .set("Upgrade", "WebSocket")
        .set("Sec-WebSocket-Version", " 13 ");
    let (response, _raw) = raw_upgrade(addr, &request).await;
    assert_eq!(response.header("sec-websocket-accept"), Some(ACCEPT));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_method_is_405_with_allow_get() {
    let (addr, _served) = echo_server(Settings::default()).await;
    for method in ["POST", "PUT", "DELETE"] {
        let response = http(addr, &Req::upgrade("/ws").method(method).body(b"")).await;
        response.assert_json_error(405, "Method Not Allowed");
        assert_eq!(response.header("allow"), Some("GET"), "{method}");
    }
    // Not even a WebSocket request: the method is still checked first.
    let response = http(addr, &Req::get("/ws").method("POST").body(b"x=1")).await;
    response.assert_json_error(405, "Method Not Allowed");
    assert_eq!(response.header("allow"), Some("GET"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_or_invalid_connection_is_426() {
    let (addr, _served) = echo_server(Settings::default()).await;
    for request in [
        Req::upgrade("/ws").remove("Connection"),
        Req::upgrade("/ws").set("Connection", "keep-alive"),
        Req::upgrade("/ws").set("Connection", "upgrades"),
        Req::upgrade("/ws").set("Connection", "close"),
    ] {
        let response = http(addr, &request).await;
        response.assert_json_error(426, "Upgrade Required");
        assert_eq!(response.header("upgrade"), Some("websocket"), "{request:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_or_invalid_upgrade_is_426() {
    let (addr, _served) = echo_server(Settings::default()).await;
    for request in [
        Req::upgrade("/ws").remove("Upgrade"),
        Req::upgrade("/ws").set("Upgrade", "h2c"),
        Req::upgrade("/ws").set("Upgrade", "websockets"),
    ] {
        let response = http(addr, &request).await;
        response.assert_json_error(426, "Upgrade Required");
        assert_eq!(response.header("upgrade"), Some("websocket"), "{request:?}");
    }
}

/// Goyave's "no upgrade headers → 400" test; this runtime answers 426 Upgrade Required,
/// which tells the client which protocol to upgrade to (RFC 9110 §15.5.22).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_get_without_upgrade_headers_is_426_json() {
    let (addr, _served) = echo_server(Settings::default()).await;
    let response = http(addr, &Req::get("/ws")).await;
    response.assert_json_error(426, "Upgrade Required");
    assert_eq!(response.header("upgrade"), Some("websocket"));
    assert_eq!(response.text(), r#"{"error":"Upgrade Required"}"#);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_version_is_400_with_supported_version() {
    let (addr, _served) = echo_server(Settings::default()).await;
    for request in [
        Req::upgrade("/ws").set("Sec-WebSocket-Version", "12"),
        Req::upgrade("/ws").set("Sec-WebSocket-Version", "8"),
        Req::upgrade("/ws").set("Sec-WebSocket-Version", "13x"),
        Req::upgrade("/ws").remove("Sec-WebSocket-Version"),
        Req::upgrade("/ws").header("Sec-WebSocket-Version", "13"),
    ] {
        let response = http(addr, &request).await;
        response.assert_json_error(400, "Bad Request");
        assert_eq!(
            response.header("sec-websocket-version"),
            Some("13"),
            "{request:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_key_is_400() {
    let (addr, _served) = echo_server(Settings::default()).await;
    for request in [
        Req::upgrade("/ws").remove("Sec-WebSocket-Key"),
        Req::upgrade("/ws").set("Sec-WebSocket-Key", ""),
        // Not base64.
        Req::upgrade("/ws").set("Sec-WebSocket-Key", "not base64 at all!!!!!=="),
        // Base64 of 15 bytes and of 17 bytes.
        Req::upgrade("/ws").set("Sec-WebSocket-Key", "AAAAAAAAAAAAAAAAAAAA"),
        Req::upgrade("/ws").set("Sec-WebSocket-Key", "AAAAAAAAAAAAAAAAAAAAAAA="),
        // 16 bytes whose last character has non-zero padding bits.
        Req::upgrade("/ws").set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZR=="),
        // Duplicated (even with the same valid value).
        Req::upgrade("/ws").header("Sec-WebSocket-Key", KEY),
        Req::upgrade("/ws").header("Sec-WebSocket-Key", "AAAAAAAAAAAAAAAAAAAAAA=="),
    ] {
        let response = http(addr, &request).await;
        response.assert_json_error(400, "Bad Request");
        assert_eq!(
            response.header("sec-websocket-version"),
            None,
            "{request:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http10_request_cannot_be_upgraded() {
    let (addr, _served) = echo_server(Settings::default().debug(true)).await;
    let response = http(addr, &Req::upgrade("/ws").http10()).await;
    response.assert_json_error(426, "this connection cannot be upgraded");
    assert_eq!(response.header("upgrade"), Some("websocket"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debug_body_is_the_upgrade_error_text() {
    let (addr, _served) = echo_server(Settings::default().debug(true)).await;
    let cases = [
        (
            Req::upgrade("/ws").method("POST").body(b""),
            405,
            "WebSocket upgrade requires the GET method, got POST",
        ),
        (
            Req::upgrade("/ws").remove("Connection"),
            426,
            "`Connection` header must contain the `upgrade` token",
        ),
        (
            Req::upgrade("/ws").remove("Upgrade"),
            426,
            "`Upgrade` header must contain the `websocket` token",
        ),
        (
            Req::upgrade("/ws").set("Sec-WebSocket-Version", "12"),
            400,
            "`Sec-WebSocket-Version` must be 13",
        ),
        (
            Req::upgrade("/ws").remove("Sec-WebSocket-Key"),
            400,
            "`Sec-WebSocket-Key` must be one base64-encoded 16-byte value",
        ),
        (
            Req::upgrade("/ws").header("Origin", "https://evil.example"),
            403,
            "origin not allowed",
        ),
    ];
    for (request, status, text) in cases {
        http(addr, &request).await.assert_json_error(status, text);
    }
}

// ---------------------------------------------------------------------------------------
// Origin
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_origin_policy_is_same_host() {
    let (addr, _served) = echo_server(Settings::default()).await;
    let host = addr.to_string();
    let allowed = [
        Req::upgrade("/ws").set("Host", &host),
        Req::upgrade("/ws")
            .set("Host", &host)
            .header("Origin", &format!("http://{host}")),
        Req::upgrade("/ws")
            .set("Host", "Example.COM:8080")
            .header("Origin", "https://example.com:8080"),
        Req::upgrade("/ws")
            .set("Host", "chat.example.com")
            .header("Origin", "HTTPS://CHAT.EXAMPLE.COM"),
    ];
    for request in allowed {
        let response = http(addr, &request).await;
        assert_eq!(response.status, 101, "{request:?}: {response:?}");
    }
    let refused = [
        // Another host.
        Req::upgrade("/ws")
            .set("Host", &host)
            .header("Origin", "http://evil.example"),
        // Same host, another port.
        Req::upgrade("/ws")
            .set("Host", "example.com")
            .header("Origin", "https://example.com:8443"),
        Req::upgrade("/ws")
            .set("Host", "example.com:8080")
            .header("Origin", "https://example.com"),
        // A subdomain is another host.
        Req::upgrade("/ws")
            .set("Host", "example.com")
            .header("Origin", "https://chat.example.com"),
        // Opaque and malformed origins.
        Req::upgrade("/ws")
            .set("Host", "example.com")
            .header("Origin", "null"),
        Req::upgrade("/ws")
            .set("Host", "example.com")
            .header("Origin", "example.com"),
    ];
    for request in refused {
        http(addr, &request)
            .await
            .assert_json_error(403, "Forbidden");
    }
}

/// nhooyr's cross-origin test with a real client: the handshake fails with 403.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_origin_client_gets_403() {
    let (addr, mut served) = echo_server(Settings::default()).await;
    let mut request = ws_request(addr, "/ws");
    request.headers_mut().insert(
        "origin",
        HeaderValue::from_static("https://attacker.example"),
    );
    match try_connect(addr, request).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), StatusCode::FORBIDDEN);
            assert_eq!(
                response.body().as_deref(),
                Some(&br#"{"error":"Forbidden"}"#[..])
            );
        }
        other => panic!("expected a 403, got {other:?}"),
    }
    // Same-origin works.
    let mut request = ws_request(addr, "/ws");
    let origin = HeaderValue::from_str(&format!("http://{addr}")).unwrap();
    request.headers_mut().insert("origin", origin);
    let (mut ws, _) = connect_with(addr, request).await;
    send_text(&mut ws, "hi").await;
    assert_eq!(recv_text(&mut ws).await, "hi");
    // Only the same-origin connection reached serve.
    assert_eq!(next_event(&mut served).await.tag, "/ws");
    assert_no_event(&mut served);
}

struct AllowListed {
    list: OriginAllowList,
}

impl Controller for AllowListed {
    type Extract = ();

    fn check_origin(&self, request: &Parts) -> bool {
        self.list.allows(request)
    }

    async fn serve(&self, conn: Conn, _: ()) -> Result<(), Error> {
        echo_loop(conn).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn origin_allow_list_with_wildcard() {
    let list = OriginAllowList::new([
        "https://example.com",
        "https://*.example.com",
        "http://localhost:3000",
    ])
    .unwrap();
    let addr = spawn_server(ws_controller::route("/ws", AllowListed { list })).await;
    let upgrade = |origin: Option<&str>| {
        let request = Req::upgrade("/ws").set("Host", "ws.internal");
        match origin {
            Some(origin) => request.header("Origin", origin),
            None => request,
        }
    };
    for origin in [
        None,
        Some("https://example.com"),
        Some("https://example.com:443"),
        Some("https://chat.example.com"),
        Some("https://a.b.EXAMPLE.com"),
        Some("http://localhost:3000"),
    ] {
        let response = http(addr, &upgrade(origin)).await;
        assert_eq!(response.status, 101, "{origin:?}: {response:?}");
    }
    for origin in [
        "http://example.com",
        "https://evil-example.com",
        "https://example.com.evil.com",
        "https://chat.example.com:8443",
        "http://localhost",
        "http://localhost:3001",
        "null",
        // The Host header does not matter to an allow-list.
        "http://ws.internal",
    ] {
        http(addr, &upgrade(Some(origin)))
            .await
            .assert_json_error(403, "Forbidden");
    }
}

// ---------------------------------------------------------------------------------------
// Refusal hook
// ---------------------------------------------------------------------------------------

struct CustomRefusal;

impl Controller for CustomRefusal {
    type Extract = ();

    fn on_upgrade_error(
        &self,
        request: &Parts,
        status: StatusCode,
        reason: &UpgradeError,
    ) -> Response {
        let kind = match reason {
            UpgradeError::MethodNotGet(_) => "method",
            UpgradeError::ConnectionHeader => "connection",
            UpgradeError::UpgradeHeader => "upgrade",
            UpgradeError::Version => "version",
            UpgradeError::Key => "key",
            UpgradeError::Origin => "origin",
            _ => "other",
        };
        let body = format!("{} {} refused: {kind}", request.method, request.uri.path());
        (status, [("x-refused", kind)], body).into_response()
    }

    async fn serve(&self, conn: Conn, _: ()) -> Result<(), Error> {
        echo_loop(conn).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_upgrade_error_hook_response_is_used() {
    let addr = spawn_server(ws_controller::route("/ws", CustomRefusal)).await;

    let response = http(addr, &Req::upgrade("/ws").method("POST").body(b"")).await;
    assert_eq!(response.status, 405);
    assert_eq!(response.text(), "POST /ws refused: method");
    assert_eq!(response.header("x-refused"), Some("method"));
    assert_eq!(
        response.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    // The headers the status requires are still added.
    assert_eq!(response.header("allow"), Some("GET"));

    let response = http(addr, &Req::get("/ws")).await;
    assert_eq!(response.status, 426);
    assert_eq!(response.text(), "GET /ws refused: connection");
    assert_eq!(response.header("upgrade"), Some("websocket"));

    let response = http(addr, &Req::upgrade("/ws").set("Sec-WebSocket-Version", "7")).await;
    assert_eq!(response.status, 400);
    assert_eq!(response.text(), "GET /ws refused: version");
    assert_eq!(response.header("sec-websocket-version"), Some("13"));

    let response = http(
        addr,
        &Req::upgrade("/ws").header("Origin", "https://x.test"),
    )
    .await;
    assert_eq!(response.status, 403);
    assert_eq!(response.text(), "GET /ws refused: origin");

    // A valid request is not affected by the hook.
    assert_echo_works(addr).await;
}

// ---------------------------------------------------------------------------------------
// 101 headers and subprotocols
// ---------------------------------------------------------------------------------------

struct WithHeaders;

impl Controller for WithHeaders {
    type Extract = ();

    fn upgrade_headers(&self, request: &Parts) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("x-server", HeaderValue::from_static("ws-controller-tests"));
        let path = HeaderValue::from_str(request.uri.path()).unwrap();
        headers.insert("x-path", path);
        headers.append("set-cookie", HeaderValue::from_static("a=1"));
        headers.append("set-cookie", HeaderValue::from_static("b=2"));
        // None of these may replace the handshake's own headers.
        headers.insert("sec-websocket-accept", HeaderValue::from_static("bogus"));
        headers.insert("upgrade", HeaderValue::from_static("h2c"));
        headers.insert("connection", HeaderValue::from_static("close"));
        headers.insert("sec-websocket-protocol", HeaderValue::from_static("evil"));
        headers
    }

    async fn serve(&self, conn: Conn, _: ()) -> Result<(), Error> {
        echo_loop(conn).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrade_headers_hook_adds_headers_but_cannot_override_handshake() {
    let addr = spawn_server(ws_controller::route("/ws", WithHeaders)).await;
    let (response, _raw) = raw_upgrade(addr, &Req::upgrade("/ws")).await;
    assert_eq!(response.header("x-server"), Some("ws-controller-tests"));
    assert_eq!(response.header("x-path"), Some("/ws"));
    assert_eq!(response.header_all("set-cookie"), ["a=1", "b=2"]);
    assert_eq!(response.header("sec-websocket-accept"), Some(ACCEPT));
    assert_eq!(
        response.header("upgrade").map(str::to_ascii_lowercase),
        Some("websocket".into())
    );
    assert_eq!(
        response.header("connection").map(str::to_ascii_lowercase),
        Some("upgrade".into())
    );
    assert_eq!(response.header("sec-websocket-protocol"), None);
}

/// Goyave's upgrade test: a custom header on the 101, then an echo with a real client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrade_with_custom_header_then_echo() {
    let addr = spawn_server(ws_controller::route("/ws", WithHeaders)).await;
    let (mut ws, response) = connect_with(addr, ws_request(addr, "/ws")).await;
    assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
    assert_eq!(response.headers()["x-server"], "ws-controller-tests");
    send_text(&mut ws, "hello world").await;
    assert_eq!(recv_text(&mut ws).await, "hello world");
    futures_util::SinkExt::send(&mut ws, WsMessage::binary(vec![0u8, 1, 2, 255]))
        .await
        .unwrap();
    assert_eq!(recv(&mut ws).await, WsMessage::binary(vec![0u8, 1, 2, 255]));
    assert_eq!(
        client_close(&mut ws, 1000, "done").await,
        (1000, "done".into())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subprotocol_follows_server_preference() {
    let settings = Settings::default().subprotocols(["chat.v2", "chat.v1"]);
    let (addr, mut served) = echo_server(settings).await;

    let offer = |protocols: &'static str| {
        let mut request = ws_request(addr, "/ws");
        request.headers_mut().insert(
            "sec-websocket-protocol",
            HeaderValue::from_static(protocols),
        );
        request
    };
    for (offered, selected) in [
        ("chat.v1, chat.v2", "chat.v2"),
        ("chat.v2, chat.v1", "chat.v2"),
        ("chat.v1", "chat.v1"),
        ("other, chat.v1", "chat.v1"),
    ] {
        let (mut ws, response) = connect_with(addr, offer(offered)).await;
        assert_eq!(
            response.headers()["sec-websocket-protocol"],
            selected,
            "offered {offered}"
        );
        let conn = next_event(&mut served).await;
        assert_eq!(
            conn.subprotocol.as_deref(),
            Some(selected),
            "offered {offered}"
        );
        assert_eq!(client_close(&mut ws, 1000, "").await.0, 1000);
    }

    // Offered on two header lines.
    let request = Req::upgrade("/ws")
        .header("Sec-WebSocket-Protocol", "x")
        .header("Sec-WebSocket-Protocol", "chat.v1");
    let (response, _raw) = raw_upgrade(addr, &request).await;
    assert_eq!(response.header("sec-websocket-protocol"), Some("chat.v1"));
    assert_eq!(
        next_event(&mut served).await.subprotocol.as_deref(),
        Some("chat.v1")
    );

    // No overlap (and no offer): the upgrade succeeds without the header (RFC 6455 §4.2.2).
    for request in [
        Req::upgrade("/ws").header("Sec-WebSocket-Protocol", "mqtt, chat.v3"),
        Req::upgrade("/ws"),
    ] {
        let (response, _raw) = raw_upgrade(addr, &request).await;
        assert_eq!(
            response.header("sec-websocket-protocol"),
            None,
            "{request:?}"
        );
        assert_eq!(next_event(&mut served).await.subprotocol, None);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_subprotocol_configured_ignores_offers() {
    let (addr, mut served) = echo_server(Settings::default()).await;
    let request = Req::upgrade("/ws").header("Sec-WebSocket-Protocol", "chat.v1");
    let (response, _raw) = raw_upgrade(addr, &request).await;
    assert_eq!(response.header("sec-websocket-protocol"), None);
    assert_eq!(next_event(&mut served).await.subprotocol, None);
}

// ---------------------------------------------------------------------------------------
// Panics in upgrade hooks
// ---------------------------------------------------------------------------------------

fn panic_requested(parts: &Parts, at: &str) -> bool {
    parts.headers.get_all("x-panic").iter().any(|v| v == at)
}

/// Panics in whichever hook the `x-panic` header names.
struct PanicExtract;

impl<S: Send + Sync> FromRequestParts<S> for PanicExtract {
    type Rejection = StatusCode;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, StatusCode> {
        tokio::task::yield_now().await;
        if panic_requested(parts, "extract") {
            panic!("extractor boom");
        }
        Ok(Self)
    }
}

struct Panicky {
    debug: bool,
}

impl Controller for Panicky {
    type Extract = (PanicExtract,);

    fn settings(&self) -> Settings {
        Settings::default().debug(self.debug)
    }

    fn check_origin(&self, request: &Parts) -> bool {
        if panic_requested(request, "origin") {
            panic!("origin boom");
        }
        true
    }

    fn upgrade_headers(&self, request: &Parts) -> HeaderMap {
        if panic_requested(request, "headers") {
            panic!("headers boom");
        }
        HeaderMap::new()
    }

    fn on_upgrade_error(
        &self,
        request: &Parts,
        status: StatusCode,
        reason: &UpgradeError,
    ) -> Response {
        if panic_requested(request, "refusal") {
            panic!("refusal boom");
        }
        ws_controller::default_upgrade_error_response(status, reason, self.debug)
    }

    async fn serve(&self, conn: Conn, _: (PanicExtract,)) -> Result<(), Error> {
        echo_loop(conn).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panicking_upgrade_hooks_answer_500_and_server_keeps_serving() {
    let addr = spawn_server(ws_controller::route("/ws", Panicky { debug: false })).await;
    for hook in ["origin", "headers", "extract"] {
        let response = http(addr, &Req::upgrade("/ws").header("x-panic", hook)).await;
        response.assert_json_error(500, "Internal Server Error");
        assert_echo_works(addr).await;
    }
    // The refusal hook itself panics (on a refused POST): the default 500 is sent.
    let request = Req::upgrade("/ws")
        .method("POST")
        .body(b"")
        .header("x-panic", "refusal");
    http(addr, &request)
        .await
        .assert_json_error(500, "Internal Server Error");
    // The refusal hook panics while answering another hook's panic.
    let request = Req::upgrade("/ws")
        .header("x-panic", "origin")
        .header("x-panic", "refusal");
    let response = http(addr, &request).await;
    response.assert_json_error(500, "Internal Server Error");
    assert_echo_works(addr).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panicking_upgrade_hooks_in_debug_name_the_panic() {
    let addr = spawn_server(ws_controller::route("/ws", Panicky { debug: true })).await;
    for (hook, message) in [
        ("origin", "origin boom"),
        ("headers", "headers boom"),
        ("extract", "extractor boom"),
    ] {
        let response = http(addr, &Req::upgrade("/ws").header("x-panic", hook)).await;
        response.assert_json_error(500, &format!("upgrade hook panicked: {message}"));
    }
    let request = Req::upgrade("/ws")
        .method("POST")
        .body(b"")
        .header("x-panic", "refusal");
    http(addr, &request)
        .await
        .assert_json_error(500, "upgrade hook panicked: refusal boom");
    assert_echo_works(addr).await;
}

// ---------------------------------------------------------------------------------------
// Extractors
// ---------------------------------------------------------------------------------------

#[derive(serde::Deserialize)]
struct Params {
    name: String,
}

struct Greeter {
    served: mpsc::UnboundedSender<String>,
}

impl Controller for Greeter {
    type Extract = (Query<Params>,);

    async fn serve(&self, conn: Conn, (Query(params),): (Query<Params>,)) -> Result<(), Error> {
        let _ = self.served.send(params.name.clone());
        conn.send_text(format!("hello {}", params.name)).await?;
        echo_loop(conn).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_extractor_rejection_is_the_response_and_no_upgrade() {
    let (tx, mut served) = mpsc::unbounded_channel();
    let addr = spawn_server(ws_controller::route("/ws", Greeter { served: tx })).await;

    let response = http(addr, &Req::upgrade("/ws?other=1")).await;
    assert_eq!(response.status, 400);
    assert_eq!(
        response.text(),
        "Failed to deserialize query string: missing field `name`"
    );
    assert_eq!(response.header("upgrade"), None);
    assert_eq!(response.header("sec-websocket-accept"), None);

    let mut ws = connect(addr, "/ws?name=ada").await;
    assert_eq!(recv_text(&mut ws).await, "hello ada");
    // Only the accepted request was served.
    assert_eq!(next_event(&mut served).await, "ada");
    assert_no_event(&mut served);
}

struct Token(String);

impl<S: Send + Sync> FromRequestParts<S> for Token {
    type Rejection = (StatusCode, [(&'static str, &'static str); 1], &'static str);

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        match parts.headers.get("x-token").and_then(|v| v.to_str().ok()) {
            Some(token) => Ok(Self(token.to_owned())),
            None => Err((
                StatusCode::UNAUTHORIZED,
                [("www-authenticate", "Token")],
                "missing token",
            )),
        }
    }
}

struct Authenticated {
    served: mpsc::UnboundedSender<String>,
}

impl Controller for Authenticated {
    type Extract = Token;

    async fn serve(&self, conn: Conn, token: Token) -> Result<(), Error> {
        let _ = self.served.send(token.0.clone());
        conn.send_text(format!("token {}", token.0)).await?;
        echo_loop(conn).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_extractor_rejection_is_the_response() {
    let (tx, mut served) = mpsc::unbounded_channel();
    let addr = spawn_server(ws_controller::route("/ws", Authenticated { served: tx })).await;

    let response = http(addr, &Req::upgrade("/ws")).await;
    assert_eq!(response.status, 401);
    assert_eq!(response.text(), "missing token");
    assert_eq!(response.header("www-authenticate"), Some("Token"));
    assert_eq!(response.header("sec-websocket-accept"), None);

    // The handshake is validated before extractors run.
    let response = http(addr, &Req::upgrade("/ws").remove("Sec-WebSocket-Key")).await;
    response.assert_json_error(400, "Bad Request");

    let mut request = ws_request(addr, "/ws");
    request
        .headers_mut()
        .insert("x-token", HeaderValue::from_static("s3cret"));
    let (mut ws, _) = connect_with(addr, request).await;
    assert_eq!(recv_text(&mut ws).await, "token s3cret");
    assert_eq!(next_event(&mut served).await, "s3cret");
    assert_no_event(&mut served);
}

// ---------------------------------------------------------------------------------------
// The handler does not wait for serve
// ---------------------------------------------------------------------------------------

struct NeverReturns {
    started: mpsc::UnboundedSender<ws_controller::Sender>,
}

impl Controller for NeverReturns {
    type Extract = ();

    async fn serve(&self, conn: Conn, _: ()) -> Result<(), Error> {
        let _ = self.started.send(conn.sender());
        std::future::pending::<()>().await;
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handler_returns_once_101_is_sent() {
    let (tx, mut started) = mpsc::unbounded_channel();
    let addr = spawn_server(ws_controller::route("/ws", NeverReturns { started: tx })).await;

    let mut ws = connect(addr, "/ws").await;
    let sender = next_event(&mut started).await;
    // serve never returns and never reads, yet the connection is live: control frames are
    // answered and other tasks can write.
    futures_util::SinkExt::send(&mut ws, WsMessage::Ping(b"are you there".to_vec().into()))
        .await
        .unwrap();
    match next_raw(&mut ws).await {
        Some(Ok(WsMessage::Pong(payload))) => assert_eq!(&payload[..], b"are you there"),
        other => panic!("expected a pong, got {other:?}"),
    }
    sender.send_text("from another task").await.unwrap();
    assert_eq!(recv_text(&mut ws).await, "from another task");

    // A second connection is served meanwhile.
    let mut second = connect(addr, "/ws").await;
    let second_sender = next_event(&mut started).await;
    assert_ne!(second_sender.id(), sender.id());
    second_sender.send_text("second").await.unwrap();
    assert_eq!(recv_text(&mut second).await, "second");
}

/// The client writes its first frame in the same TCP segment as the handshake: bytes read
/// past the request head must reach the WebSocket.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frame_pipelined_with_the_handshake_is_not_lost() {
    let (addr, _served) = echo_server(Settings::default()).await;
    let mut raw = RawConn::connect(addr).await;
    let mut bytes = Req::upgrade("/ws").to_bytes();
    bytes.extend_from_slice(&client_frame(OP_TEXT, b"early"));
    raw.write(&bytes).await;
    let response = raw.read_response().await;
    assert_eq!(response.status, 101);
    let frame = raw.read_frame().await.expect("echo");
    assert_eq!(
        (frame.opcode, frame.payload.as_slice()),
        (OP_TEXT, &b"early"[..])
    );
}
