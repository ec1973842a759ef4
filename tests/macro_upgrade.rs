//! What `#[ws_controller]` generates around the serve loop, over real sockets: origin policies,
//! the upgrade hooks, settings from the attribute keys, and shutdown through a `#[hub]`.

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::response::IntoResponse;
use common::{spawn_server, within};
use futures_util::{SinkExt, StreamExt};
use http::request::Parts;
use http::{HeaderMap, HeaderValue, StatusCode};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::client::Response;
use tokio_tungstenite::tungstenite::{Error as WsError, Message as WsMessage};
use tokio_tungstenite::WebSocketStream;
use ws_controller::{ws_controller, CloseStatus, Error, Hub, Shutdown, UpgradeError};

type Client = WebSocketStream<TcpStream>;

/// Connects with extra request headers; the handshake's response or the refusal.
async fn connect(
    addr: SocketAddr,
    path: &str,
    headers: &[(&'static str, &'static str)],
) -> Result<(Client, Response), WsError> {
    let mut request = format!("ws://{addr}{path}").into_client_request().unwrap();
    for (name, value) in headers {
        request
            .headers_mut()
            .insert(*name, HeaderValue::from_static(value));
    }
    let stream = within("tcp connect", TcpStream::connect(addr))
        .await
        .unwrap();
    within(
        "handshake",
        tokio_tungstenite::client_async(request, stream),
    )
    .await
}

/// The refusal's status and body.
fn refusal(result: Result<(Client, Response), WsError>) -> (StatusCode, String) {
    match result {
        Err(WsError::Http(response)) => {
            let body = response
                .body()
                .as_ref()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default();
            (response.status(), body)
        }
        Err(other) => panic!("expected an HTTP refusal, got {other}"),
        Ok(_) => panic!("the upgrade should have been refused"),
    }
}

async fn recv(ws: &mut Client) -> WsMessage {
    loop {
        let message = within("receive", ws.next())
            .await
            .expect("stream ended")
            .expect("receive failed");
        if !matches!(message, WsMessage::Ping(_) | WsMessage::Pong(_)) {
            return message;
        }
    }
}

async fn expect_close(ws: &mut Client, code: u16, reason: &str) {
    match recv(ws).await {
        WsMessage::Close(Some(frame)) => {
            assert_eq!(u16::from(frame.code), code, "close code ({})", frame.reason);
            assert_eq!(frame.reason.as_str(), reason);
        }
        other => panic!("expected a close frame {code}, got {other:?}"),
    }
}

async fn echo_works(ws: &mut Client) {
    within("send", ws.send(WsMessage::text("ping")))
        .await
        .unwrap();
    assert_eq!(recv(ws).await, WsMessage::text("ping"));
}

// ---------------------------------------------------------------------------------------------
// Origin policies.

struct SameHost;

#[ws_controller(path = "/same")]
impl SameHost {
    #[on_text]
    async fn said(&self, text: String) -> String {
        text
    }
}

struct Listed;

#[ws_controller(path = "/listed", origin = ["https://example.com", "https://*.example.com"])]
impl Listed {
    #[on_text]
    async fn said(&self, text: String) -> String {
        text
    }
}

fn internal_only(request: &Parts) -> bool {
    request.headers.contains_key("x-internal")
}

struct Internal;

#[ws_controller(path = "/internal", origin = internal_only)]
impl Internal {
    #[on_text]
    async fn said(&self, text: String) -> String {
        text
    }
}

struct Anyone;

#[ws_controller(path = "/anyone", origin = any)]
impl Anyone {
    #[on_text]
    async fn said(&self, text: String) -> String {
        text
    }
}

async fn origin_app() -> SocketAddr {
    spawn_server(
        axum::Router::new()
            .merge(SameHost.into_router())
            .merge(Listed.into_router())
            .merge(Internal.into_router())
            .merge(Anyone.into_router()),
    )
    .await
}

#[tokio::test]
async fn same_host_is_the_default() {
    let addr = origin_app().await;
    let (mut ws, _) = connect(addr, "/same", &[]).await.unwrap();
    echo_works(&mut ws).await;
    let (status, _) = refusal(connect(addr, "/same", &[("origin", "https://evil.test")]).await);
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn origin_list() {
    let addr = origin_app().await;
    for allowed in ["https://example.com", "https://chat.example.com"] {
        let (mut ws, _) = connect(addr, "/listed", &[("origin", allowed)])
            .await
            .unwrap_or_else(|e| panic!("{allowed}: {e}"));
        echo_works(&mut ws).await;
    }
    for refused in ["http://example.com", "https://evil-example.com", "null"] {
        let (status, _) = refusal(connect(addr, "/listed", &[("origin", refused)]).await);
        assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    }
}

#[tokio::test]
async fn origin_function_and_any() {
    let addr = origin_app().await;
    let (status, _) = refusal(connect(addr, "/internal", &[]).await);
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (mut ws, _) = connect(addr, "/internal", &[("x-internal", "1")])
        .await
        .unwrap();
    echo_works(&mut ws).await;
    let (mut ws, _) = connect(addr, "/anyone", &[("origin", "https://evil.test")])
        .await
        .unwrap();
    echo_works(&mut ws).await;
}

// ---------------------------------------------------------------------------------------------
// Hooks and settings.

struct Hooked {
    refusals: Arc<Mutex<Vec<String>>>,
}

#[ws_controller(
    path = "/hooked",
    subprotocols = ["chat.v2", "chat.v1"],
    max_message_size = 16,
    debug = false
)]
impl Hooked {
    #[on_text]
    async fn said(&self, text: String) -> String {
        text
    }

    #[check_origin]
    fn origin(&self, request: &Parts) -> bool {
        request
            .headers
            .get("origin")
            .is_none_or(|o| o == "https://app.test")
    }

    #[upgrade_headers]
    fn headers(&self, _request: &Parts) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("x-controller", HeaderValue::from_static("hooked"));
        headers
    }

    #[on_upgrade_error]
    fn refused(
        &self,
        _request: &Parts,
        status: StatusCode,
        reason: &UpgradeError,
    ) -> impl IntoResponse {
        self.refusals.lock().unwrap().push(reason.to_string());
        (status, format!("refused: {reason}"))
    }
}

#[tokio::test]
async fn upgrade_hooks_and_settings() {
    let refusals = Arc::new(Mutex::new(Vec::new()));
    let addr = spawn_server(
        Hooked {
            refusals: refusals.clone(),
        }
        .into_router(),
    )
    .await;

    let (status, body) =
        refusal(connect(addr, "/hooked", &[("origin", "https://evil.test")]).await);
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body, "refused: origin not allowed");
    assert_eq!(*refusals.lock().unwrap(), ["origin not allowed"]);

    let (mut ws, response) = connect(
        addr,
        "/hooked",
        &[
            ("origin", "https://app.test"),
            ("sec-websocket-protocol", "chat.v1, chat.v2"),
        ],
    )
    .await
    .unwrap();
    assert_eq!(response.headers()["x-controller"], "hooked");
    assert_eq!(response.headers()["sec-websocket-protocol"], "chat.v2");
    echo_works(&mut ws).await;
    // max_message_size = 16
    within("send", ws.send(WsMessage::text("x".repeat(17))))
        .await
        .unwrap();
    expect_close(&mut ws, 1009, "Message too big").await;
}

// ---------------------------------------------------------------------------------------------
// Shutdown through the hub: the close handler still runs once.

struct Members {
    hub: Hub,
    closes: Arc<Mutex<Vec<String>>>,
}

#[ws_controller(path = "/members", origin = any)]
impl Members {
    #[on_open]
    async fn open(&self) -> Result<(), Error> {
        Ok(())
    }

    #[on_text]
    async fn said(&self, text: String) -> String {
        text
    }

    #[on_close]
    async fn left(&self, _session: (), status: CloseStatus, reason: &str) {
        self.closes
            .lock()
            .unwrap()
            .push(format!("{} {reason}", status.as_u16()));
    }

    #[hub]
    fn hub(&self) -> &Hub {
        &self.hub
    }
}

#[tokio::test]
async fn hub_shutdown_runs_the_close_handler() {
    let hub = Hub::new();
    let closes = Arc::new(Mutex::new(Vec::new()));
    let addr = spawn_server(
        Members {
            hub: hub.clone(),
            closes: closes.clone(),
        }
        .into_router(),
    )
    .await;
    let (mut ws, _) = connect(addr, "/members", &[]).await.unwrap();
    echo_works(&mut ws).await;
    assert_eq!(hub.count(), 1);

    let shutdown = tokio::spawn({
        let hub = hub.clone();
        async move { hub.shutdown(Shutdown::default()).await }
    });
    expect_close(&mut ws, 1001, "Server shutting down").await;
    // The client library answers the close; the server's handshake completes.
    while let Some(Ok(_)) = within("end of stream", ws.next()).await {}
    let report = within("shutdown", shutdown).await.unwrap();
    assert_eq!(report.clean, 1);
    assert_eq!(*closes.lock().unwrap(), ["1001 Server shutting down"]);

    // New upgrades are refused while the hub is shut down.
    let (status, _) = refusal(connect(addr, "/members", &[]).await);
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
}
