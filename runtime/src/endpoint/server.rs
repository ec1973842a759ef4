//! [`serve`]: an HTTP/1.1 server for a router with WebSocket routes, hardened where
//! `axum::serve` is not: a client must send its request head within the handshake timeout
//! (so a client that connects and sends nothing, or drips a byte a second, cannot hold a
//! connection forever), and sockets get `TCP_NODELAY`.

use std::convert::Infallible;
use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower_service::Service;

/// Default time a client has to send its whole request head.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves `app` on `listener`. Await the returned [`Server`] (after configuring it).
///
/// Each request carries [`ConnectInfo<SocketAddr>`], so [`Sender::peer_addr`](crate::Sender::peer_addr)
/// is set.
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
}

impl Server {
    /// How long a client has to send its whole request head (10 s by default); `None`
    /// waits forever.
    pub fn handshake_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.handshake_timeout = timeout;
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
        } = self;
        let mut signal = signal.unwrap_or_else(|| Box::pin(std::future::pending()));
        // Signalled when shutting down; every connection task holds a receiver, so the
        // sender learns when the last one has finished.
        let (stop_tx, stop_rx) = watch::channel(());
        loop {
            let (tcp, peer) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(err) => {
                        // Out of file descriptors and the like: back off instead of spinning.
                        tracing::warn!(error = %err, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                () = &mut signal => break,
            };
            if nodelay {
                if let Err(err) = tcp.set_nodelay(true) {
                    tracing::debug!(error = %err, "could not set TCP_NODELAY");
                }
            }
            let router = app.clone();
            let service = hyper::service::service_fn(
                move |mut request: hyper::Request<Incoming>| {
                    request.extensions_mut().insert(ConnectInfo(peer));
                    // A router clone is one `Arc`; `call` needs it mutably.
                    let response = router.clone().call(request.map(Body::new));
                    async move { Ok::<_, Infallible>(response.await.unwrap_or_else(|e| match e {})) }
                },
            );
            let mut stop = stop_rx.clone();
            tokio::spawn(async move {
                let mut builder = hyper::server::conn::http1::Builder::new();
                builder
                    .timer(TokioTimer::new())
                    .header_read_timeout(handshake_timeout);
                let conn = builder
                    .serve_connection(TokioIo::new(tcp), service)
                    .with_upgrades();
                let mut conn = std::pin::pin!(conn);
                tokio::select! {
                    result = conn.as_mut() => log_end(result),
                    _ = stop.changed() => {
                        conn.as_mut().graceful_shutdown();
                        log_end(conn.await);
                    }
                }
            });
        }
        drop(listener);
        let _ = stop_tx.send(());
        drop(stop_rx);
        stop_tx.closed().await;
        Ok(())
    }
}

fn log_end(result: Result<(), hyper::Error>) {
    if let Err(err) = result {
        tracing::debug!(error = %err, "HTTP connection ended with an error");
    }
}

impl IntoFuture for Server {
    type Output = std::io::Result<()>;
    type IntoFuture = Pin<Box<dyn Future<Output = std::io::Result<()>> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.run())
    }
}
