//! The upgrade pipeline: validate the handshake (RFC 6455 §4.2.1), check the origin, run the
//! extractors, answer `101 Switching Protocols`, and serve the connection on its own task.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, MethodRouter};
use axum::Router;
use http::header::{
    HeaderValue, ALLOW, CONNECTION, CONTENT_TYPE, RETRY_AFTER, SEC_WEBSOCKET_EXTENSIONS,
    SEC_WEBSOCKET_VERSION, UPGRADE,
};
use http::request::Parts;
use http::StatusCode;
use ws_controller_protocol::deflate::accept_offer;

use crate::endpoint::handshake::{accept, select_subprotocol, validate};
use crate::endpoint::limits::RouteLimits;
use crate::endpoint::panic::catch_sync;
use crate::endpoint::request::keep;
use crate::endpoint::serve::{connection, route_label, Endpoint, Negotiated, SharedEndpoint};
use crate::endpoint::upgraded::UpgradedStream;
use crate::{Controller, UpgradeError};

/// A router with `controller` at `path` (any method reaches it, so a wrong method gets 405
/// through the upgrade-error hook). Compose it with `merge`, `nest`, `with_state` and layers.
///
/// ```
/// # use ws_controller::{Conn, Controller, Error};
/// # struct Echo;
/// # impl Controller for Echo {
/// #     type Extract = ();
/// #     async fn serve(&self, _: Conn, _: ()) -> Result<(), Error> { Ok(()) }
/// # }
/// let app = axum::Router::new()
///     .merge(ws_controller::route("/echo", Echo))
///     .route("/health", axum::routing::get(|| async { "ok" }));
/// # let _: axum::Router = app;
/// ```
///
/// A `#[ws_controller]` controller has its route already: mount it with its
/// `into_router()`.
///
/// # Panics
///
/// When `path` is not the controller's [`Controller::DECLARED_PATH`] (a controller declared
/// on `/auction/{lot}` mounted on `/live` could never extract its `lot`), and, as
/// `axum::Router::route` does, when `path` is not a valid route.
pub fn route<C, S>(path: &str, controller: C) -> Router<S>
where
    C: Controller<S>,
    S: Clone + Send + Sync + 'static,
{
    if let Some(declared) = C::DECLARED_PATH {
        assert!(
            declared == path,
            "ws_controller::route({path:?}, ..): `{}` is declared on {declared:?} by \
             #[ws_controller(path = ..)]; mount it with its `into_router()`, or change its `path`",
            std::any::type_name::<C>(),
        );
    }
    Router::new().route(path, handler_at(controller, Some(path)))
}

/// The upgrade handler of `controller` as a method router, to mount with `Router::route`.
pub fn handler<C, S>(controller: C) -> MethodRouter<S>
where
    C: Controller<S>,
    S: Clone + Send + Sync + 'static,
{
    handler_at(controller, C::DECLARED_PATH)
}

/// [`handler`], for the route template `route` (the metrics' `route` label).
fn handler_at<C, S>(controller: C, route: Option<&str>) -> MethodRouter<S>
where
    C: Controller<S>,
    S: Clone + Send + Sync + 'static,
{
    let settings = controller.settings();
    let endpoint = Arc::new(Endpoint {
        limits: RouteLimits::new(&settings),
        settings,
        controller,
        route: route.map(Arc::from),
    });
    any(move |State(state): State<S>, request: Request| {
        let endpoint = endpoint.clone();
        async move { upgrade(endpoint, state, request).await }
    })
}

/// The response for a refused upgrade: JSON `{"error": "<status text>"}` (with debug on, the
/// reason instead) and `content-type: application/json; charset=utf-8`.
pub fn default_upgrade_error_response(
    status: StatusCode,
    reason: &UpgradeError,
    debug: bool,
) -> Response {
    let message = if debug {
        reason.to_string()
    } else {
        status.canonical_reason().unwrap_or("Error").to_owned()
    };
    let body = serde_json::json!({ "error": message }).to_string();
    (
        status,
        [(
            CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        )],
        body,
    )
        .into_response()
}

async fn upgrade<C, S>(endpoint: SharedEndpoint<C>, state: S, request: Request) -> Response
where
    C: Controller<S>,
    S: Send + Sync + 'static,
{
    // The request's span (a `TraceLayer`'s, with its request id) becomes the parent of the
    // connection's.
    let span = tracing::Span::current();
    let (mut parts, _body) = request.into_parts();
    let handshake = match validate(&parts) {
        Ok(handshake) => handshake,
        Err((status, reason)) => return refuse(&endpoint, &parts, status, reason),
    };
    if endpoint
        .controller
        .hub()
        .is_some_and(crate::Hub::is_shutting_down)
    {
        return refuse(
            &endpoint,
            &parts,
            StatusCode::SERVICE_UNAVAILABLE,
            UpgradeError::ShuttingDown,
        );
    }
    if endpoint
        .controller
        .hub()
        .is_some_and(crate::Hub::has_history)
    {
        match crate::SincePositions::from_query(parts.uri.query().unwrap_or_default()) {
            Ok(since) if since.is_empty() => {}
            // Moved into the connection's data when it opens, for `Hub::join`.
            Ok(since) => {
                parts.extensions.insert(since);
            }
            Err(invalid) => {
                return refuse(
                    &endpoint,
                    &parts,
                    StatusCode::BAD_REQUEST,
                    UpgradeError::InvalidSince(invalid),
                );
            }
        }
    }
    match catch_sync(|| endpoint.controller.check_origin(&parts)) {
        Ok(true) => {}
        Ok(false) => {
            return refuse(
                &endpoint,
                &parts,
                StatusCode::FORBIDDEN,
                UpgradeError::Origin,
            )
        }
        Err(panic) => return refuse_panic(&endpoint, &parts, panic),
    }
    let peer_addr = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0);
    // Slots are taken before the extractors run, and held until the connection ends.
    let admission = match endpoint.limits.admit(&parts, peer_addr) {
        Ok(admission) => admission,
        Err(reason) => {
            let status = match reason {
                UpgradeError::TooManyFromClient { .. } => StatusCode::TOO_MANY_REQUESTS,
                _ => StatusCode::SERVICE_UNAVAILABLE,
            };
            return refuse(&endpoint, &parts, status, reason);
        }
    };
    let Some(on_upgrade) = parts.extensions.remove::<hyper::upgrade::OnUpgrade>() else {
        return refuse(
            &endpoint,
            &parts,
            StatusCode::UPGRADE_REQUIRED,
            UpgradeError::NotUpgradable,
        );
    };
    let extracted = crate::endpoint::panic::catch(
        C::Extract::from_request_parts(&mut parts, &state),
        endpoint.settings.debug,
    )
    .await;
    let extract = match extracted {
        Ok(Ok(extract)) => extract,
        Ok(Err(rejection)) => {
            let response = rejection.into_response();
            refused(&endpoint, &parts, response.status());
            return response;
        }
        Err((payload, _)) => {
            let message = crate::endpoint::panic::payload_message(payload.as_ref());
            return refuse_panic(&endpoint, &parts, message);
        }
    };
    let extra = match catch_sync(|| endpoint.controller.upgrade_headers(&parts)) {
        Ok(headers) => headers,
        Err(panic) => return refuse_panic(&endpoint, &parts, panic),
    };
    let subprotocol = select_subprotocol(&parts.headers, &endpoint.settings.subprotocols);
    let compression = endpoint.settings.deflate_config().and_then(|config| {
        let offers = parts.headers.get_all(SEC_WEBSOCKET_EXTENSIONS);
        accept_offer(offers.iter().map(HeaderValue::as_bytes), &config)
    });
    let response = accept(
        &handshake,
        extra,
        subprotocol.as_deref(),
        compression.as_ref(),
    );
    let dropped = keep(&mut parts, endpoint.settings.kept_headers_bytes);
    if dropped > 0 {
        tracing::debug!(
            dropped,
            "upgrade request headers beyond `kept_headers_bytes` are not kept"
        );
    }

    tokio::spawn(async move {
        let upgraded = match on_upgrade.await {
            Ok(upgraded) => upgraded,
            Err(err) => {
                tracing::debug!(error = %err, "WebSocket upgrade did not complete");
                return;
            }
        };
        let negotiated = Negotiated {
            subprotocol,
            compression,
            peer_addr,
            span: Some(span),
        };
        // The connection gets a task of its own, sized for serving it; this one, which
        // waited for the upgrade, ends.
        let serving = connection(
            endpoint,
            UpgradedStream::new(upgraded),
            parts,
            extract,
            negotiated,
            admission,
        );
        tokio::spawn(serving);
    });
    response
}

/// Counts a refused upgrade.
fn refused<C>(endpoint: &Endpoint<C>, parts: &Parts, status: StatusCode) {
    let route = route_label(endpoint.route.as_ref(), parts);
    crate::metrics::upgrade_refused(&route, status.as_u16());
}

/// Builds the refusal with the hook, then adds the headers the status requires.
fn refuse<C: Controller<S>, S>(
    endpoint: &Endpoint<C>,
    parts: &Parts,
    status: StatusCode,
    reason: UpgradeError,
) -> Response {
    let mut response =
        match catch_sync(|| endpoint.controller.on_upgrade_error(parts, status, &reason)) {
            Ok(response) => response,
            Err(panic) => {
                tracing::error!(panic = %panic, "upgrade-error hook panicked");
                let reason = UpgradeError::HookPanicked(panic);
                default_upgrade_error_response(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    &reason,
                    endpoint.settings.debug,
                )
            }
        };
    let status = response.status();
    refused(endpoint, parts, status);
    let headers = response.headers_mut();
    if let UpgradeError::TooManyConnections { .. }
    | UpgradeError::ServerFull { .. }
    | UpgradeError::TooManyFromClient { .. } = reason
    {
        let seconds = endpoint.settings.retry_after.as_secs_f64().ceil().max(1.0);
        headers
            .entry(RETRY_AFTER)
            .or_insert(HeaderValue::from(seconds as u64));
    }
    match status {
        StatusCode::METHOD_NOT_ALLOWED => {
            let allow = if parts.version >= http::Version::HTTP_2 {
                "CONNECT"
            } else {
                "GET"
            };
            headers
                .entry(ALLOW)
                .or_insert(HeaderValue::from_static(allow));
        }
        StatusCode::UPGRADE_REQUIRED => {
            headers
                .entry(UPGRADE)
                .or_insert(HeaderValue::from_static("websocket"));
            headers
                .entry(CONNECTION)
                .or_insert(HeaderValue::from_static("upgrade"));
        }
        StatusCode::BAD_REQUEST if matches!(reason, UpgradeError::Version) => {
            headers
                .entry(SEC_WEBSOCKET_VERSION)
                .or_insert(HeaderValue::from_static("13"));
        }
        _ => {}
    }
    response
}

fn refuse_panic<C: Controller<S>, S>(
    endpoint: &Endpoint<C>,
    parts: &Parts,
    panic: String,
) -> Response {
    tracing::error!(panic = %panic, "WebSocket upgrade hook panicked");
    refuse(
        endpoint,
        parts,
        StatusCode::INTERNAL_SERVER_ERROR,
        UpgradeError::HookPanicked(panic),
    )
}
