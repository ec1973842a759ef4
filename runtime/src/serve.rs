//! The serve driver: runs a controller's `serve` on an upgraded connection and applies the
//! closing rules, whatever `serve` does (returns, fails, panics).

use std::net::SocketAddr;
use std::sync::Arc;

use http::request::Parts;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tracing::Instrument;

use crate::close::is_close_error;
use crate::driver::Driver;
use crate::{Conn, Controller, Error, ErrorKind, Settings};

/// Serves one WebSocket connection with `controller`, on a stream that has completed the
/// handshake. This is what the upgrade route runs on its own task; call it yourself to
/// serve connections accepted some other way.
///
/// - `serve` returns `Ok` → close 1000 "Server closed connection" (unless already closed);
/// - `serve` returns a close error (1000, 1001, 1005 from the peer) → a clean finish;
/// - any other error, or a panic → [`Controller::on_error`] once, then close 1011.
///
/// Returns when the connection is closed and the socket dropped.
pub async fn serve_connection<C, S, T>(
    controller: &C,
    settings: &Settings,
    stream: WebSocketStream<T>,
    request: Parts,
    extract: C::Extract,
    subprotocol: Option<String>,
    peer_addr: Option<SocketAddr>,
) where
    C: Controller<S>,
    T: AsyncRead + AsyncWrite + Unpin,
{
    let (conn, ends) = Conn::new(request, subprotocol, peer_addr, settings);
    let sender = conn.sender();
    // Runs the end hooks (registry removal) when this task ends, however it ends.
    let _ended = EndGuard(sender.clone());
    if let Some(hub) = controller.hub() {
        hub.register(&sender);
    }
    let span = tracing::debug_span!(
        "ws",
        path = %sender.uri().path(),
        peer = ?peer_addr,
        id = %sender.id(),
    );
    async move {
        let started = Instant::now();
        tracing::debug!(subprotocol = sender.subprotocol(), "connection opened");
        let driver = Driver::new(stream, ends);
        let serve = async {
            let outcome = crate::panic::catch(
                async { controller.serve(conn, extract).await },
                settings.debug,
            )
            .await;
            let error = match outcome {
                Ok(Ok(())) => None,
                Ok(Err(err)) if is_close_error(&err) => None,
                Ok(Err(err)) => Some(err),
                Err((payload, backtrace)) => Some(Error::from_panic(payload, backtrace)),
            };
            match error {
                None => sender.close_normal().await,
                Some(error) => {
                    let hook =
                        crate::panic::catch_sync(|| controller.on_error(sender.request(), &error));
                    if let Err(message) = hook {
                        tracing::error!(panic = %message, "error hook panicked");
                    }
                    sender.close_with_error(&error).await;
                }
            }
        };
        let (status, ()) = tokio::join!(driver.run(), serve);
        tracing::debug!(
            code = status.code.as_u16(),
            reason = %status.reason,
            duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            "connection closed"
        );
    }
    .instrument(span)
    .await;
}

/// The default error hook: logs with `tracing`, at `error` for server faults and at `debug`
/// for what a peer did (vanished, misbehaved, closed with an error code).
pub fn default_on_error(request: &Parts, error: &Error) {
    let path = request.uri.path();
    match error.kind() {
        ErrorKind::Handler => tracing::error!(path, error = %error, "WebSocket controller failed"),
        ErrorKind::Panic => match error.backtrace() {
            Some(backtrace) => {
                tracing::error!(path, error = %error, %backtrace, "WebSocket controller panicked")
            }
            None => tracing::error!(path, error = %error, "WebSocket controller panicked"),
        },
        _ => tracing::debug!(path, error = %error, kind = ?error.kind(), "WebSocket peer error"),
    }
}

struct EndGuard(crate::Sender);

impl Drop for EndGuard {
    fn drop(&mut self) {
        self.0.shared.run_end_hooks();
    }
}

/// Keeps the controller and its settings together for the route's handler.
pub(crate) struct Endpoint<C> {
    pub(crate) controller: C,
    pub(crate) settings: Settings,
}

pub(crate) type SharedEndpoint<C> = Arc<Endpoint<C>>;
