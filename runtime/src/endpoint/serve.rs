//! The serve driver: runs a controller's `serve` on an upgraded connection and applies the
//! closing rules, whatever `serve` does (returns, fails, panics).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use http::request::Parts;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;
use tracing::Instrument;
use ws_controller_protocol::deflate::DeflateParams;

use crate::connection::close::is_close_error;
use crate::connection::driver::{Driver, Engine};
use crate::endpoint::limits::{Admission, RouteLimits};
use crate::endpoint::together::together;
use crate::metrics::ConnMetrics;
use crate::{Conn, Controller, Error, ErrorKind, Settings};

/// What the opening handshake agreed on, for [`serve_connection`].
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Negotiated {
    /// The selected subprotocol.
    pub subprotocol: Option<String>,
    /// permessage-deflate's parameters, when it was negotiated (see
    /// [`protocol::deflate::accept_offer`](crate::protocol::deflate::accept_offer)).
    pub compression: Option<DeflateParams>,
    /// The peer's address, when known.
    pub peer_addr: Option<SocketAddr>,
    /// The parent of the connection's `ws` span: the upgrade request's span, so what a
    /// request-level layer (`tower_http::trace::TraceLayer`, a request id) recorded follows
    /// the connection. `None`: the span current when the connection is set up.
    pub span: Option<tracing::Span>,
}

impl Negotiated {
    /// Sets [`Negotiated::subprotocol`].
    pub fn subprotocol(mut self, subprotocol: impl Into<String>) -> Self {
        self.subprotocol = Some(subprotocol.into());
        self
    }

    /// Sets [`Negotiated::compression`].
    pub fn compression(mut self, params: DeflateParams) -> Self {
        self.compression = Some(params);
        self
    }

    /// Sets [`Negotiated::peer_addr`].
    pub fn peer_addr(mut self, addr: SocketAddr) -> Self {
        self.peer_addr = Some(addr);
        self
    }

    /// Sets [`Negotiated::span`].
    pub fn span(mut self, span: tracing::Span) -> Self {
        self.span = Some(span);
        self
    }
}

/// Serves one WebSocket connection with `controller`, on a stream whose opening handshake
/// is complete (the `101` response has been sent). This is what the upgrade route runs on
/// its own task; call it yourself to serve connections accepted some other way.
///
/// - `serve` returns `Ok` → close 1000 "Server closed connection" (unless already closed);
/// - `serve` returns a close error (1000, 1001, 1005 from the peer) → a clean finish;
/// - any other error, or a panic → [`Controller::on_error`] once, then close 1011.
///
/// The connection is set up (and joins the controller's hub) when this is called; the
/// returned future serves it and resolves when the connection is closed and the socket
/// dropped.
pub fn serve_connection<'a, C, S, T>(
    controller: &'a C,
    settings: &'a Settings,
    stream: T,
    request: Parts,
    extract: C::Extract,
    negotiated: Negotiated,
) -> impl Future<Output = ()> + 'a
where
    C: Controller<S>,
    S: 'a,
    T: AsyncRead + AsyncWrite + Unpin + 'a,
{
    connection(
        Borrowed(controller, settings, C::DECLARED_PATH),
        stream,
        request,
        extract,
        negotiated,
        Admission::default(),
    )
}

/// Where a connection finds its controller and settings: borrowed, or shared with the route.
pub(crate) trait EndpointRef<C> {
    fn controller(&self) -> &C;
    fn settings(&self) -> &Settings;
    /// The `route` label of the connection's metrics.
    fn route(&self, request: &Parts) -> Arc<str>;
}

/// The controller, its settings and its declared route.
struct Borrowed<'a, C>(&'a C, &'a Settings, Option<&'static str>);

impl<C> EndpointRef<C> for Borrowed<'_, C> {
    fn controller(&self) -> &C {
        self.0
    }
    fn settings(&self) -> &Settings {
        self.1
    }
    fn route(&self, request: &Parts) -> Arc<str> {
        route_label(self.2.map(Arc::from).as_ref(), request)
    }
}

impl<C> EndpointRef<C> for SharedEndpoint<C> {
    fn controller(&self) -> &C {
        &self.controller
    }
    fn settings(&self) -> &Settings {
        &self.settings
    }
    fn route(&self, request: &Parts) -> Arc<str> {
        route_label(self.route.as_ref(), request)
    }
}

/// The route template: the one the route was built with, else the one axum matched, else
/// `unknown` (never the concrete path: labels must stay few).
pub(crate) fn route_label(route: Option<&Arc<str>>, request: &Parts) -> Arc<str> {
    if let Some(route) = route {
        return route.clone();
    }
    match request.extensions.get::<axum::extract::MatchedPath>() {
        Some(matched) => Arc::from(matched.as_str()),
        None => Arc::from("unknown"),
    }
}

/// Sets a connection up and returns the future that serves it.
///
/// Not an `async fn`: an `async fn` keeps its arguments for its whole life, beside what they
/// were moved into, and this future is most of what an idle connection costs. Everything is
/// moved into its final place here, before the future exists.
pub(crate) fn connection<C, S, T, E>(
    endpoint: E,
    stream: T,
    request: Parts,
    extract: C::Extract,
    negotiated: Negotiated,
    admission: Admission,
) -> impl Future<Output = ()>
where
    C: Controller<S>,
    T: AsyncRead + AsyncWrite + Unpin,
    E: EndpointRef<C>,
{
    let Negotiated {
        subprotocol,
        compression,
        peer_addr,
        span: parent,
    } = negotiated;
    let mut request = request;
    let since = request.extensions.remove::<crate::SincePositions>();
    let engine = Engine::server(endpoint.settings(), compression.as_ref());
    let (metrics, active) = ConnMetrics::open(endpoint.route(&request));
    let (conn, ends) = Conn::new(
        request,
        subprotocol,
        peer_addr,
        endpoint.settings(),
        metrics,
    );
    let sender = conn.sender();
    if let Some(since) = since {
        sender.insert(since);
    }
    // Runs the end hooks (registry removal) when the future ends or is dropped.
    let ended = EndGuard(sender.clone());
    if let Some(hub) = endpoint.controller().hub() {
        hub.register(&sender);
    }
    let parent = parent.unwrap_or_else(tracing::Span::current);
    let span = tracing::debug_span!(
        parent: &parent,
        "ws",
        path = %sender.uri().path(),
        peer = ?peer_addr,
        id = %sender.id(),
    );
    drop(parent);
    let mut driver = Driver::new(stream, engine, ends);
    async move {
        // Dropped with this future however it ends: the limits' slots, then the gauge.
        let _held = (admission, active);
        let _ended = ended;
        let controller = endpoint.controller();
        let settings = endpoint.settings();
        let started = Instant::now();
        tracing::debug!(subprotocol = sender.subprotocol(), "connection opened");
        let serve = async {
            let outcome =
                crate::endpoint::panic::catch(controller.serve(conn, extract), settings.debug)
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
                    match error.kind() {
                        ErrorKind::Handler => sender.shared.metrics.handler_error("error"),
                        ErrorKind::Panic => sender.shared.metrics.handler_error("panic"),
                        _ => {}
                    }
                    let hook = crate::endpoint::panic::catch_sync(|| {
                        controller.on_error(sender.request(), &error)
                    });
                    if let Err(message) = hook {
                        tracing::error!(panic = %message, "error hook panicked");
                    }
                    sender.close_with_error(&error).await;
                }
            }
        };
        let (status, ()) = together(driver.run(), serve).await;
        sender.shared.metrics.closed(status.code.as_u16());
        tracing::debug!(
            code = status.code.as_u16(),
            reason = %status.reason,
            duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            "connection closed"
        );
    }
    .instrument(span)
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
    pub(crate) limits: RouteLimits,
    /// The route template the route was built with, when known.
    pub(crate) route: Option<Arc<str>>,
}

pub(crate) type SharedEndpoint<C> = Arc<Endpoint<C>>;
