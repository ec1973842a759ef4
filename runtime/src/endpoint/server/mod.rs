//! [`serve`]: an HTTP/1.1 (and, with the `http2` feature, HTTP/2 h2c) server for a router
//! with WebSocket routes, hardened where `axum::serve` is not: a client must send its
//! request head within the handshake timeout (so a client that connects and sends nothing,
//! or drips a byte a second, cannot hold a connection forever), request heads are bounded,
//! an optional cap bounds the WebSocket connections of the whole server, `accept` failures
//! back off, and sockets get `TCP_NODELAY`.

mod accept;
mod http;
#[cfg(feature = "http2")]
pub(crate) mod prefixed;

use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::endpoint::limits::{Cap, ServerCap};

/// Default time a client has to send its whole request head.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Default limit of a request head (request line and headers), in bytes: beyond it the
/// request is answered 431.
pub const DEFAULT_MAX_REQUEST_HEAD: usize = 16 << 10;

/// Serves `app` on `listener`. Await the returned [`Server`] (after configuring it).
///
/// Each request carries [`ConnectInfo<SocketAddr>`](axum::extract::ConnectInfo), so
/// [`Sender::peer_addr`](crate::Sender::peer_addr) is set.
///
/// With the `http2` feature the server also speaks HTTP/2 with prior knowledge (h2c, told
/// apart from HTTP/1.1 by its connection preface) and advertises
/// `SETTINGS_ENABLE_CONNECT_PROTOCOL`, so WebSocket routes accept RFC 8441 extended
/// CONNECT. TLS (and with it ALPN's `h2`) is the job of a proxy in front.
///
/// ```no_run
/// # async fn run(app: axum::Router) -> std::io::Result<()> {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
/// ws_controller::serve(listener, app)
///     .handshake_timeout(Some(std::time::Duration::from_secs(5)))
///     .await
/// # }
/// ```
pub fn serve(listener: TcpListener, app: Router) -> Server {
    Server {
        listener,
        app,
        handshake_timeout: Some(DEFAULT_HANDSHAKE_TIMEOUT),
        nodelay: true,
        signal: None,
        max_connections: None,
        max_request_head: DEFAULT_MAX_REQUEST_HEAD,
        max_headers: None,
    }
}

/// A configured server; `.await` it to run.
#[must_use = "a server does nothing until awaited"]
pub struct Server {
    listener: TcpListener,
    app: Router,
    handshake_timeout: Option<Duration>,
    nodelay: bool,
    signal: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
    max_connections: Option<usize>,
    max_request_head: usize,
    max_headers: Option<usize>,
}

impl Server {
    /// How long a client has to send its whole request head (10 s by default); `None`
    /// waits forever.
    pub fn handshake_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// Most WebSocket connections open on the whole server, across routes: an upgrade
    /// beyond it is refused with 503 and `Retry-After` through the route's upgrade-error
    /// hook ([`UpgradeError::ServerFull`](crate::UpgradeError::ServerFull)). A slot is freed
    /// when its connection ends, however it ends. `None` (the default): no cap. Each
    /// controller can have its own cap too
    /// ([`Settings::max_connections`](crate::Settings::max_connections)).
    ///
    /// Keep it below the process's file descriptor limit (`ulimit -n`) with room for the
    /// HTTP requests that are refused: at the limit, nobody can even be told 503.
    pub fn max_connections(mut self, max: Option<usize>) -> Self {
        self.max_connections = max;
        self
    }

    /// Largest request head (request line and headers, or an HTTP/2 header list), in
    /// bytes; a larger one is answered 431 Request Header Fields Too Large. Default
    /// [`DEFAULT_MAX_REQUEST_HEAD`] (16 KiB).
    pub fn max_request_head(mut self, bytes: usize) -> Self {
        self.max_request_head = bytes;
        self
    }

    /// Most headers in an HTTP/1.1 request; more are answered 431. Default hyper's, 100.
    pub fn max_headers(mut self, max: usize) -> Self {
        self.max_headers = Some(max);
        self
    }

    /// Sets `TCP_NODELAY` on accepted sockets (on by default: WebSocket messages are small
    /// and latency-sensitive, and the engine already batches writes before flushing).
    pub fn tcp_nodelay(mut self, nodelay: bool) -> Self {
        self.nodelay = nodelay;
        self
    }

    /// Stops accepting when `signal` resolves, lets in-flight HTTP requests finish, then
    /// returns. Upgraded WebSocket connections are not HTTP requests any more: shut them
    /// down with a [`Hub`](crate::Hub), e.g. `hub.graceful(signal, Shutdown::default())` as
    /// the signal.
    pub fn with_graceful_shutdown<F>(mut self, signal: F) -> Self
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.signal = Some(Box::pin(signal));
        self
    }

    /// The local address of the listener.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    async fn run(self) -> std::io::Result<()> {
        let Self {
            listener,
            app,
            handshake_timeout,
            nodelay,
            signal,
            max_connections,
            max_request_head,
            max_headers,
        } = self;
        let config = http::ConnConfig {
            handshake_timeout,
            max_head: max_request_head,
            max_headers,
            cap: max_connections.map(|max| ServerCap(Cap::new(max))),
        };
        let mut signal = signal.unwrap_or_else(|| Box::pin(std::future::pending()));
        // Signalled when shutting down; every connection task holds a receiver, so the
        // sender learns when the last one has finished.
        let (stop_tx, stop_rx) = watch::channel(());
        let mut backoff = accept::Backoff::default();
        loop {
            let (tcp, peer) = tokio::select! {
                accepted = accept::accept(&listener, &mut backoff) => accepted,
                () = &mut signal => break,
            };
            if nodelay {
                if let Err(err) = tcp.set_nodelay(true) {
                    tracing::debug!(error = %err, "could not set TCP_NODELAY");
                }
            }
            let serving = http::serve_tcp(tcp, peer, app.clone(), config.clone(), stop_rx.clone());
            tokio::spawn(serving);
        }
        drop(listener);
        let _ = stop_tx.send(());
        drop(stop_rx);
        stop_tx.closed().await;
        Ok(())
    }
}

impl IntoFuture for Server {
    type Output = std::io::Result<()>;
    type IntoFuture = Pin<Box<dyn Future<Output = std::io::Result<()>> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.run())
    }
}
