//! The upgrade pipeline: validate the handshake (RFC 6455 §4.2.1), check the origin, run the
//! extractors, answer `101 Switching Protocols`, and serve the connection on its own task.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, MethodRouter};
use axum::Router;
use http::header::{
    HeaderName, HeaderValue, ALLOW, CONNECTION, CONTENT_TYPE, SEC_WEBSOCKET_ACCEPT,
    SEC_WEBSOCKET_EXTENSIONS, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_PROTOCOL, SEC_WEBSOCKET_VERSION,
    UPGRADE,
};
use http::request::Parts;
use http::{HeaderMap, Method, StatusCode};
use hyper_util::rt::TokioIo;
use ws_controller_protocol::deflate::{accept_offer, DeflateParams};
use ws_controller_protocol::handshake::accept_key;

use crate::endpoint::panic::catch_sync;
use crate::endpoint::serve::{connection, Endpoint, Negotiated, SharedEndpoint};
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
    Router::new().route(path, handler(controller))
}

/// The upgrade handler of `controller` as a method router, to mount with `Router::route`.
pub fn handler<C, S>(controller: C) -> MethodRouter<S>
where
    C: Controller<S>,
    S: Clone + Send + Sync + 'static,
{
    let endpoint = Arc::new(Endpoint {
        settings: controller.settings(),
        controller,
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
        Ok(Err(rejection)) => return rejection.into_response(),
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
    let response = switching_protocols(
        extra,
        &handshake.key,
        subprotocol.as_deref(),
        compression.as_ref(),
    );
    let peer_addr = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0);
    detach(&mut parts);

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
        };
        // The connection gets a task of its own, sized for serving it; this one, which
        // waited for the upgrade, ends.
        let serving = connection(endpoint, TokioIo::new(upgraded), parts, extract, negotiated);
        tokio::spawn(serving);
    });
    response
}

struct Handshake {
    key: HeaderValue,
}

/// Copies the URI and header values out of the HTTP server's read buffer.
///
/// The request head lives as long as the connection ([`Sender::request`](crate::Sender::request)),
/// and hyper parses the URI and header values as slices of its read buffer (8 KiB or more):
/// kept as they are, they would keep that whole buffer alive on every connection.
fn detach(parts: &mut Parts) {
    let mut headers = HeaderMap::with_capacity(parts.headers.len());
    for (name, value) in &parts.headers {
        let mut copy = HeaderValue::from_bytes(value.as_bytes()).unwrap_or_else(|_| value.clone());
        copy.set_sensitive(value.is_sensitive());
        headers.append(name.clone(), copy);
    }
    parts.headers = headers;
    if let Ok(uri) = http::Uri::try_from(parts.uri.to_string()) {
        parts.uri = uri;
    }
}

fn validate(parts: &Parts) -> Result<Handshake, (StatusCode, UpgradeError)> {
    if parts.method != Method::GET {
        return Err((
            StatusCode::METHOD_NOT_ALLOWED,
            UpgradeError::MethodNotGet(parts.method.clone()),
        ));
    }
    if !header_has_token(&parts.headers, &CONNECTION, "upgrade") {
        return Err((StatusCode::UPGRADE_REQUIRED, UpgradeError::ConnectionHeader));
    }
    if !header_has_token(&parts.headers, &UPGRADE, "websocket") {
        return Err((StatusCode::UPGRADE_REQUIRED, UpgradeError::UpgradeHeader));
    }
    let mut versions = parts.headers.get_all(SEC_WEBSOCKET_VERSION).iter();
    match (versions.next(), versions.next()) {
        (Some(v), None) if v.as_bytes().trim_ascii() == b"13" => {}
        _ => return Err((StatusCode::BAD_REQUEST, UpgradeError::Version)),
    }
    let mut keys = parts.headers.get_all(SEC_WEBSOCKET_KEY).iter();
    match (keys.next(), keys.next()) {
        (Some(key), None) if is_valid_key(key.as_bytes()) => Ok(Handshake { key: key.clone() }),
        _ => Err((StatusCode::BAD_REQUEST, UpgradeError::Key)),
    }
}

/// True when some value of `name` lists `token` (comma-separated, ASCII case-insensitive).
fn header_has_token(headers: &HeaderMap, name: &HeaderName, token: &str) -> bool {
    headers.get_all(name).iter().any(|value| {
        value
            .as_bytes()
            .split(|&b| b == b',')
            .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
    })
}

/// A key is the base64 encoding of 16 bytes: 22 significant characters and `==` (§4.1).
fn is_valid_key(key: &[u8]) -> bool {
    let key = key.trim_ascii();
    let is_b64 = |b: &u8| b.is_ascii_alphanumeric() || *b == b'+' || *b == b'/';
    key.len() == 24
        && key[..22].iter().all(is_b64)
        && &key[22..] == b"=="
        // The last significant character carries 2 data bits; the other 4 must be zero.
        && matches!(key[21], b'A' | b'Q' | b'g' | b'w')
}

/// The first of the server's protocols (its preference order) that the client offered.
fn select_subprotocol(headers: &HeaderMap, supported: &[String]) -> Option<String> {
    let offered: Vec<&str> = headers
        .get_all(SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    supported
        .iter()
        .find(|s| offered.iter().any(|o| o == s))
        .cloned()
}

fn switching_protocols(
    extra: HeaderMap,
    key: &HeaderValue,
    subprotocol: Option<&str>,
    compression: Option<&DeflateParams>,
) -> Response {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    // The hook's headers go first so the handshake's own always win.
    headers.extend(extra);
    headers.insert(CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
    let accept = accept_key(key.as_bytes().trim_ascii());
    if let Ok(accept) = HeaderValue::from_str(&accept) {
        headers.insert(SEC_WEBSOCKET_ACCEPT, accept);
    }
    // What the handshake negotiated is the handshake's to say, whatever the hook added.
    headers.remove(SEC_WEBSOCKET_PROTOCOL);
    if let Some(protocol) = subprotocol.and_then(|p| HeaderValue::from_str(p).ok()) {
        headers.insert(SEC_WEBSOCKET_PROTOCOL, protocol);
    }
    headers.remove(SEC_WEBSOCKET_EXTENSIONS);
    if let Some(params) = compression {
        if let Ok(value) = HeaderValue::from_str(&params.response_header()) {
            headers.insert(SEC_WEBSOCKET_EXTENSIONS, value);
        }
    }
    response
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
    let headers = response.headers_mut();
    match status {
        StatusCode::METHOD_NOT_ALLOWED => {
            headers
                .entry(ALLOW)
                .or_insert(HeaderValue::from_static("GET"));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_validation() {
        assert!(is_valid_key(b"dGhlIHNhbXBsZSBub25jZQ=="));
        assert!(is_valid_key(b" dGhlIHNhbXBsZSBub25jZQ== "));
        for bad in [
            &b""[..],
            b"dGhlIHNhbXBsZSBub25jZQ",
            b"dGhlIHNhbXBsZSBub25jZQ=",
            b"dGhlIHNhbXBsZSBub25jZR==",
            b"dGhlIHNhbXBsZSBub25j*Q==",
            b"dGhlIHNhbXBsZSBub25jZQ==AA",
            b"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        ] {
            assert!(!is_valid_key(bad), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn subprotocol_uses_server_preference() {
        let mut headers = HeaderMap::new();
        headers.append(SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static("a, b"));
        headers.append(SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static("c"));
        let supported = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            select_subprotocol(&headers, &supported(&["c", "a"])),
            Some("c".into())
        );
        assert_eq!(select_subprotocol(&headers, &supported(&["x"])), None);
        assert_eq!(
            select_subprotocol(&HeaderMap::new(), &supported(&["a"])),
            None
        );
    }

    #[test]
    fn connection_tokens() {
        let mut headers = HeaderMap::new();
        headers.insert(CONNECTION, HeaderValue::from_static("keep-alive, Upgrade"));
        assert!(header_has_token(&headers, &CONNECTION, "upgrade"));
        headers.insert(CONNECTION, HeaderValue::from_static("upgrades"));
        assert!(!header_has_token(&headers, &CONNECTION, "upgrade"));
    }
}
