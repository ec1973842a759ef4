//! One accepted TCP connection: HTTP/1.1, or (feature `http2`) HTTP/2 with prior knowledge,
//! served by hyper under the server's limits until it ends or the server shuts down.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tower_service::Service;

use crate::endpoint::limits::ServerCap;

/// What every connection of one server is served with.
#[derive(Clone)]
pub(super) struct ConnConfig {
    pub(super) handshake_timeout: Option<Duration>,
    pub(super) max_head: usize,
    pub(super) max_headers: Option<usize>,
    pub(super) cap: Option<ServerCap>,
}

/// The request handler of one connection: the router, with the peer's address and the
/// server-wide cap in every request's extensions.
fn service(
    app: Router,
    peer: SocketAddr,
    cap: Option<ServerCap>,
    on_request: impl Fn() + Clone + Send + Sync + 'static,
) -> impl hyper::service::Service<
    hyper::Request<Incoming>,
    Response = axum::response::Response,
    Error = Infallible,
    Future = impl std::future::Future<Output = Result<axum::response::Response, Infallible>>
                 + Send
                 + 'static,
> + Clone
       + Send
       + 'static {
    hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        on_request();
        request.extensions_mut().insert(ConnectInfo(peer));
        if let Some(cap) = &cap {
            request.extensions_mut().insert(cap.clone());
        }
        // A router clone is one `Arc`; `call` needs it mutably.
        let response = app.clone().call(request.map(Body::new));
        async move { Ok::<_, Infallible>(response.await.unwrap_or_else(|e| match e {})) }
    })
}

/// Serves `tcp` until it ends; on `stop`, finishes the requests in flight and ends.
pub(super) async fn serve_tcp(
    tcp: TcpStream,
    peer: SocketAddr,
    app: Router,
    config: ConnConfig,
    mut stop: watch::Receiver<()>,
) {
    #[cfg(feature = "http2")]
    {
        let mut tcp = tcp;
        // The preface must come within the handshake timeout too.
        let sniffed = match config.handshake_timeout {
            Some(limit) => tokio::time::timeout(limit, super::prefixed::sniff(&mut tcp))
                .await
                .unwrap_or_else(|_| Err(std::io::ErrorKind::TimedOut.into())),
            None => super::prefixed::sniff(&mut tcp).await,
        };
        let (h2, read) = match sniffed {
            Ok(sniffed) => sniffed,
            Err(err) => {
                tracing::debug!(error = %err, "connection ended before its first request");
                return;
            }
        };
        let io = super::prefixed::Prefixed::new(read, tcp);
        if h2 {
            return serve_h2(io, peer, app, config, stop).await;
        }
        serve_h1(io, peer, app, config, &mut stop).await;
    }
    #[cfg(not(feature = "http2"))]
    serve_h1(tcp, peer, app, config, &mut stop).await;
}

async fn serve_h1<T>(
    io: T,
    peer: SocketAddr,
    app: Router,
    config: ConnConfig,
    stop: &mut watch::Receiver<()>,
) where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(config.handshake_timeout)
        .max_header_size(config.max_head)
        // hyper's read buffer may not be smaller than 8 KiB.
        .max_buf_size(config.max_head.max(8 << 10));
    if let Some(max) = config.max_headers {
        builder.max_headers(max);
    }
    let service = service(app, peer, config.cap, || {});
    let conn = builder
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    let mut conn = std::pin::pin!(conn);
    tokio::select! {
        result = conn.as_mut() => log_end(result),
        _ = stop.changed() => {
            conn.as_mut().graceful_shutdown();
            log_end(conn.await);
        }
    }
}

/// HTTP/2: the extended CONNECT protocol is advertised (RFC 8441 §3), and a client must
/// send its first request within the handshake timeout.
#[cfg(feature = "http2")]
async fn serve_h2<T>(
    io: T,
    peer: SocketAddr,
    app: Router,
    config: ConnConfig,
    mut stop: watch::Receiver<()>,
) where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let mut builder =
        hyper::server::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new());
    builder
        .timer(TokioTimer::new())
        .enable_connect_protocol()
        .max_header_list_size(u32::try_from(config.max_head).unwrap_or(u32::MAX));
    let (first_tx, mut first_rx) = watch::channel(false);
    let first_tx = std::sync::Arc::new(first_tx);
    let service = service(app, peer, config.cap, move || {
        first_tx.send_if_modified(|first| !std::mem::replace(first, true));
    });
    let conn = builder.serve_connection(TokioIo::new(io), service);
    let mut conn = std::pin::pin!(conn);
    let first_request = async {
        match config.handshake_timeout {
            Some(limit) => {
                let got = tokio::time::timeout(limit, first_rx.wait_for(|got| *got))
                    .await
                    .is_ok();
                if got {
                    std::future::pending::<()>().await;
                }
            }
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        result = conn.as_mut() => log_end(result),
        () = first_request => tracing::debug!("HTTP/2 connection sent no request in time"),
        _ = stop.changed() => {
            conn.as_mut().graceful_shutdown();
            log_end(conn.await);
        }
    }
}

fn log_end(result: Result<(), hyper::Error>) {
    if let Err(err) = result {
        tracing::debug!(error = %err, "HTTP connection ended with an error");
    }
}
