//! The [`Controller`] trait: what a WebSocket endpoint is. `#[ws_controller]` implements it;
//! a hand-written impl can do everything the macro does.

use std::future::Future;

use axum::extract::FromRequestParts;
use axum::response::Response;
use http::request::Parts;
use http::{HeaderMap, StatusCode};

use crate::{Conn, Error, Settings, UpgradeError};

/// A WebSocket endpoint: how to accept an upgrade and how to serve the connection.
///
/// `S` is the axum router state the extractors in [`Controller::Extract`] read from.
///
/// Everything but [`Controller::Extract`] and [`Controller::serve`] has a safe default.
///
/// ```
/// use ws_controller::{Conn, Controller, Error, Message};
///
/// struct Echo;
///
/// impl Controller for Echo {
///     type Extract = ();
///
///     async fn serve(&self, mut conn: Conn, _: ()) -> Result<(), Error> {
///         loop {
///             let message: Message = conn.recv().await?;
///             conn.send(message).await?;
///         }
///     }
/// }
///
/// let app: axum::Router = ws_controller::route("/echo", Echo);
/// ```
pub trait Controller<S = ()>: Send + Sync + Sized + 'static {
    /// Extracted from the upgrade request **before** the handshake is accepted, with axum's
    /// [`FromRequestParts`] (a tuple for several; `()` for none). A rejection is sent as the
    /// HTTP response and no WebSocket is opened.
    type Extract: FromRequestParts<S> + Send + 'static;

    /// The route this controller was declared on (`#[ws_controller(path = ..)]` sets it):
    /// [`route`](crate::route) refuses to mount it anywhere else, where its `Path`
    /// extractors could not work. `None` (the default) mounts anywhere.
    const DECLARED_PATH: Option<&'static str> = None;

    /// Owns the connection until it returns.
    ///
    /// - `Ok(())`: the connection is closed with 1000 "Server closed connection" (unless it
    ///   is already closed).
    /// - An error that [`is_close_error`](crate::is_close_error) (the peer closed with 1000,
    ///   1001 or 1005): a clean finish, the error hook is not called.
    /// - Any other error, or a panic: [`Controller::on_error`] is called once, then the
    ///   connection is closed with 1011.
    fn serve(
        &self,
        conn: Conn,
        extract: Self::Extract,
    ) -> impl Future<Output = Result<(), Error>> + Send;

    /// Settings for this controller's connections; read once, when the route is built.
    fn settings(&self) -> Settings {
        Settings::default()
    }

    /// The hub this controller's connections join. While it shuts down, new upgrades are
    /// refused with 503. `None` (the default) registers nothing; a connection can still
    /// join a hub with [`Hub::register`](crate::Hub::register).
    fn hub(&self) -> Option<&crate::Hub> {
        None
    }

    /// Decides whether the request's `Origin` is acceptable. A refusal answers 403.
    ///
    /// The default is [`same_host`](crate::endpoint::origin::same_host). Check origins carefully: a
    /// WebSocket handshake carries the user's cookies from any page.
    fn check_origin(&self, request: &Parts) -> bool {
        crate::endpoint::origin::same_host(request)
    }

    /// Extra headers for the `101 Switching Protocols` response. They cannot replace the
    /// handshake's own headers.
    fn upgrade_headers(&self, request: &Parts) -> HeaderMap {
        let _ = request;
        HeaderMap::new()
    }

    /// The response for a refused upgrade. The default is
    /// [`default_upgrade_error_response`](crate::default_upgrade_error_response) with this
    /// controller's debug setting.
    fn on_upgrade_error(
        &self,
        request: &Parts,
        status: StatusCode,
        reason: &UpgradeError,
    ) -> Response {
        let _ = request;
        crate::endpoint::upgrade::default_upgrade_error_response(
            status,
            reason,
            self.settings().debug,
        )
    }

    /// Called once for each error or panic that ends a connection, except orderly closes.
    /// The default logs with `tracing`: at `error` level for handler errors and panics, at
    /// `debug` level when the peer vanished or misbehaved (not a server fault, and a hostile
    /// client must not be able to flood the logs).
    fn on_error(&self, request: &Parts, error: &Error) {
        crate::endpoint::serve::default_on_error(request, error);
    }
}
