//! Testing WebSocket routes (feature `test`).
//!
//! axum's `oneshot` cannot test an upgrade: the upgrade needs a connection that hyper
//! serves. [`TestServer::new`] serves the router on an in-memory duplex stream (no port, no
//! network); [`TestServer::bind`] serves it on a real socket on 127.0.0.1. Either way
//! [`TestServer::connect`] returns a [`TestClient`] with send and receive helpers, and
//! [`TestServer::request`] builds a request with headers, subprotocols or compression.
//!
//! The client runs on the crate's own protocol engine in the client role, so what it
//! checks is RFC 6455 (and RFC 7692) as the engine enforces it; the crate's own test suite
//! also checks the server against an independent client.
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

mod client;
mod request;

use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

use axum::Router;
use http::StatusCode;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use ws_controller_protocol::ProtocolError;

pub use client::TestClient;
pub use request::TestRequest;

use crate::{CloseError, Message};

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
    /// The server's answer to the upgrade was not a valid WebSocket handshake.
    #[error("handshake failed: {0}")]
    Handshake(String),
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
    /// The server broke the protocol.
    #[error("protocol violation by the server: {0}")]
    Protocol(#[from] ProtocolError),
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
        self.request(path).connect().await
    }

    /// Opens a WebSocket to `path` with extra request headers (`Authorization`, `Origin`,
    /// `Sec-WebSocket-Protocol`, ...).
    pub async fn connect_with_headers(
        &self,
        path: &str,
        headers: http::HeaderMap,
    ) -> Result<TestClient, TestError> {
        self.request(path).headers(headers).connect().await
    }

    /// Starts building an upgrade request to `path`.
    pub fn request(&self, path: &str) -> TestRequest<'_> {
        TestRequest::new(self, path)
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
