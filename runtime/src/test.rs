//! Testing WebSocket routes (feature `test`).
//!
//! axum's `oneshot` cannot test an upgrade: the upgrade needs a connection that hyper
//! serves. [`TestServer::new`] serves the router on an in-memory duplex stream (no port, no
//! network); [`TestServer::bind`] serves it on a real socket on 127.0.0.1. Either way
//! [`TestServer::connect`] returns a [`TestClient`] with send and receive helpers.
//!
//! ```
//! use ws_controller::test::TestServer;
//! use ws_controller::{CloseCode, Conn, Controller, Error};
//!
//! struct Echo;
//! impl Controller for Echo {
//!     type Extract = ();
//!     async fn serve(&self, mut conn: Conn, _: ()) -> Result<(), Error> {
//!         let message = conn.recv().await?;
//!         conn.send(message).await?;
//!         Ok(())
//!     }
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let server = TestServer::new(ws_controller::route("/echo", Echo));
//! let mut client = server.connect("/echo").await.unwrap();
//! client.send_text("hello").await.unwrap();
//! assert_eq!(client.recv_text().await.unwrap(), "hello");
//! client.expect_close(CloseCode::NORMAL_CLOSURE, "Server closed connection").await;
//! # });
//! ```

use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

use axum::Router;
use futures_util::{SinkExt, StreamExt};
use http::StatusCode;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode as WsCloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{self, Message as WsMessage};
use tokio_tungstenite::WebSocketStream;

use crate::{CloseCode, CloseError, CloseStatus, Message};

/// How long a client operation may wait before it fails with [`TestError::Timeout`].
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// A router served for tests, in memory or on a loopback socket.
pub struct TestServer {
    transport: Transport,
}

enum Transport {
    Memory(Router),
    Tcp {
        addr: SocketAddr,
        task: tokio::task::JoinHandle<()>,
    },
}

/// What a test client operation can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TestError {
    /// The server refused the upgrade with this HTTP response.
    #[error("upgrade refused with {status}: {body}")]
    Refused {
        /// The response status.
        status: StatusCode,
        /// The response headers.
        headers: http::HeaderMap,
        /// The response body as text.
        body: String,
    },
    /// The operation did not finish within the client's timeout.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// The server closed the connection.
    #[error("connection closed: {0}")]
    Closed(CloseError),
    /// A message of the other kind arrived.
    #[error("expected a {expected} message, got {got:?}")]
    UnexpectedMessage {
        /// The kind that was expected.
        expected: &'static str,
        /// What arrived.
        got: Message,
    },
    /// A JSON message could not be encoded or decoded.
    #[error("JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The WebSocket engine failed (I/O, protocol).
    #[error(transparent)]
    WebSocket(#[from] tungstenite::Error),
    /// The transport failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl TestServer {
    /// Serves `app` in memory: each connection is a duplex stream served by hyper with
    /// upgrades, exactly as `axum::serve` would. No port is opened.
    pub fn new(app: Router) -> Self {
        Self {
            transport: Transport::Memory(app),
        }
    }

    /// Serves `app` with [`serve`](crate::serve) on a real socket on 127.0.0.1 (any free
    /// port); `Conn::peer_addr` is set.
    pub async fn bind(app: Router) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            if let Err(err) = crate::serve(listener, app).await {
                tracing::error!(error = %err, "test server failed");
            }
        });
        Ok(Self {
            transport: Transport::Tcp { addr, task },
        })
    }

    /// The socket address, for a server made with [`TestServer::bind`].
    pub fn addr(&self) -> Option<SocketAddr> {
        match &self.transport {
            Transport::Memory(_) => None,
            Transport::Tcp { addr, .. } => Some(*addr),
        }
    }

    /// Opens a WebSocket to `path`.
    pub async fn connect(&self, path: &str) -> Result<TestClient, TestError> {
        let request = format!("ws://localhost{path}").into_client_request()?;
        self.connect_with(request).await
    }

    /// Opens a WebSocket with a request you built (extra headers such as `Origin` or
    /// `Sec-WebSocket-Protocol`). Start from `"ws://localhost/path".into_client_request()`.
    pub async fn connect_with(
        &self,
        request: tungstenite::handshake::client::Request,
    ) -> Result<TestClient, TestError> {
        let stream = self.open_stream().await?;
        let handshake = tokio_tungstenite::client_async(request, stream);
        match tokio::time::timeout(DEFAULT_TIMEOUT, handshake).await {
            Err(_) => Err(TestError::Timeout(DEFAULT_TIMEOUT)),
            Ok(Err(tungstenite::Error::Http(response))) => {
                let (parts, body) = response.into_parts();
                Err(TestError::Refused {
                    status: parts.status,
                    headers: parts.headers,
                    body: String::from_utf8_lossy(&body.unwrap_or_default()).into_owned(),
                })
            }
            Ok(Err(err)) => Err(err.into()),
            Ok(Ok((ws, response))) => Ok(TestClient {
                ws,
                response,
                timeout: DEFAULT_TIMEOUT,
            }),
        }
    }

    async fn open_stream(&self) -> std::io::Result<Pin<Box<dyn Io>>> {
        match &self.transport {
            Transport::Tcp { addr, .. } => Ok(Box::pin(TcpStream::connect(addr).await?)),
            Transport::Memory(app) => {
                let (client, server) = tokio::io::duplex(64 << 10);
                let service = hyper_util::service::TowerToHyperService::new(app.clone());
                tokio::spawn(async move {
                    let io = hyper_util::rt::TokioIo::new(server);
                    let served = hyper::server::conn::http1::Builder::new()
                        .serve_connection(io, service)
                        .with_upgrades()
                        .await;
                    if let Err(err) = served {
                        tracing::debug!(error = %err, "in-memory test connection ended");
                    }
                });
                Ok(Box::pin(client))
            }
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Transport::Tcp { task, .. } = &self.transport {
            task.abort();
        }
    }
}

/// The client side's byte stream (a TCP socket or an in-memory duplex).
pub trait Io: AsyncRead + AsyncWrite + Send {}

impl<T: AsyncRead + AsyncWrite + Send> Io for T {}

/// A WebSocket client connected to a [`TestServer`]. Every operation fails with
/// [`TestError::Timeout`] instead of hanging.
pub struct TestClient {
    ws: WebSocketStream<Pin<Box<dyn Io>>>,
    response: tungstenite::handshake::client::Response,
    timeout: Duration,
}

impl TestClient {
    /// The server's `101 Switching Protocols` response.
    pub fn response(&self) -> &tungstenite::handshake::client::Response {
        &self.response
    }

    /// The subprotocol the server selected.
    pub fn subprotocol(&self) -> Option<&str> {
        self.response
            .headers()
            .get(http::header::SEC_WEBSOCKET_PROTOCOL)
            .and_then(|v| v.to_str().ok())
    }

    /// Changes how long each operation may wait (default 5 s).
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// Sends a message.
    pub async fn send(&mut self, message: impl Into<Message>) -> Result<(), TestError> {
        let message: Message = message.into();
        bounded(self.timeout, self.ws.send(message.into())).await??;
        Ok(())
    }

    /// Sends a text message.
    pub async fn send_text(&mut self, text: impl Into<crate::Utf8Bytes>) -> Result<(), TestError> {
        self.send(Message::Text(text.into())).await
    }

    /// Sends a binary message.
    pub async fn send_binary(&mut self, data: impl Into<bytes::Bytes>) -> Result<(), TestError> {
        self.send(Message::Binary(data.into())).await
    }

    /// Sends `value` as a JSON text message.
    pub async fn send_json<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), TestError> {
        let text = serde_json::to_string(value)?;
        self.send_text(text).await
    }

    /// Receives the next data message (pings are answered, pongs skipped). A close frame
    /// gives [`TestError::Closed`].
    pub async fn recv(&mut self) -> Result<Message, TestError> {
        let next = async {
            loop {
                match self.ws.next().await {
                    None => {
                        return Err(TestError::Closed(CloseError::new(
                            CloseStatus::Abnormal,
                            "",
                        )))
                    }
                    Some(Err(err)) => return Err(err.into()),
                    Some(Ok(WsMessage::Text(text))) => return Ok(Message::Text(text)),
                    Some(Ok(WsMessage::Binary(data))) => return Ok(Message::Binary(data)),
                    Some(Ok(WsMessage::Close(frame))) => {
                        return Err(TestError::Closed(close_error(frame)))
                    }
                    Some(Ok(_)) => {}
                }
            }
        };
        bounded(self.timeout, next).await?
    }

    /// Receives the next message, which must be text.
    pub async fn recv_text(&mut self) -> Result<String, TestError> {
        match self.recv().await? {
            Message::Text(text) => Ok(text.as_str().to_owned()),
            got => Err(TestError::UnexpectedMessage {
                expected: "text",
                got,
            }),
        }
    }

    /// Receives the next message, which must be binary.
    pub async fn recv_binary(&mut self) -> Result<bytes::Bytes, TestError> {
        match self.recv().await? {
            Message::Binary(data) => Ok(data),
            got => Err(TestError::UnexpectedMessage {
                expected: "binary",
                got,
            }),
        }
    }

    /// Receives the next message and decodes it from JSON.
    pub async fn recv_json<T: DeserializeOwned>(&mut self) -> Result<T, TestError> {
        let message = self.recv().await?;
        Ok(serde_json::from_slice(message.as_bytes())?)
    }

    /// Waits for the server's close frame (skipping data) and returns its status and reason.
    /// The close is answered, completing the handshake.
    pub async fn closed(&mut self) -> Result<CloseError, TestError> {
        loop {
            match self.recv().await {
                Ok(_) => {}
                Err(TestError::Closed(close)) => return Ok(close),
                Err(err) => return Err(err),
            }
        }
    }

    /// Asserts that the server closes the connection with `code` and `reason` (data that
    /// arrives first is skipped). Panics with both closes shown when they differ.
    pub async fn expect_close(&mut self, code: impl Into<CloseStatus>, reason: &str) {
        let expected = CloseError::new(code, reason);
        match self.closed().await {
            Ok(got) => assert_eq!(got, expected, "unexpected close"),
            Err(err) => panic!("expected close {expected:?}, got error: {err}"),
        }
    }

    /// Starts the close handshake with `code` and `reason` and returns the server's reply.
    pub async fn close(&mut self, code: CloseCode, reason: &str) -> Result<CloseError, TestError> {
        let frame = CloseFrame {
            code: WsCloseCode::from(code.as_u16()),
            reason: reason.into(),
        };
        bounded(self.timeout, self.ws.close(Some(frame))).await??;
        self.closed().await
    }

    /// The underlying engine stream, for tests that need raw frames.
    pub fn get_mut(&mut self) -> &mut WebSocketStream<Pin<Box<dyn Io>>> {
        &mut self.ws
    }
}

async fn bounded<F: std::future::Future>(
    timeout: Duration,
    fut: F,
) -> Result<F::Output, TestError> {
    tokio::time::timeout(timeout, fut)
        .await
        .map_err(|_| TestError::Timeout(timeout))
}

fn close_error(frame: Option<CloseFrame>) -> CloseError {
    match frame {
        None => CloseError::new(CloseStatus::NoStatusReceived, ""),
        Some(frame) => {
            let status = match CloseCode::new(u16::from(frame.code)) {
                Ok(code) => CloseStatus::Code(code),
                Err(_) => CloseStatus::Abnormal,
            };
            CloseError::new(status, frame.reason.as_str())
        }
    }
}
