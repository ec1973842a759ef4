//! The opening handshake's rules: an HTTP/1.1 GET upgrade (RFC 6455 §4.2.1) or an HTTP/2
//! extended CONNECT (RFC 8441 §5), the negotiation of the subprotocol, and the response
//! that accepts it.

use axum::body::Body;
use axum::response::Response;
use http::header::{
    HeaderName, HeaderValue, CONNECTION, CONTENT_LENGTH, SEC_WEBSOCKET_ACCEPT,
    SEC_WEBSOCKET_EXTENSIONS, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_PROTOCOL, SEC_WEBSOCKET_VERSION,
    TRANSFER_ENCODING, UPGRADE,
};
use http::request::Parts;
use http::{HeaderMap, Method, StatusCode, Version};
use ws_controller_protocol::deflate::DeflateParams;
use ws_controller_protocol::handshake::accept_key;

use crate::UpgradeError;

/// A valid opening handshake.
pub(crate) struct Handshake {
    /// `Sec-WebSocket-Key` of an HTTP/1.1 upgrade; `None` over HTTP/2, which has no key.
    key: Option<HeaderValue>,
}

/// Checks the request against the handshake rules of its HTTP version.
pub(crate) fn validate(parts: &Parts) -> Result<Handshake, (StatusCode, UpgradeError)> {
    let h2 = parts.version >= Version::HTTP_2;
    if h2 {
        validate_h2(parts)?;
    } else {
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
    }
    let mut versions = parts.headers.get_all(SEC_WEBSOCKET_VERSION).iter();
    match (versions.next(), versions.next()) {
        (Some(v), None) if v.as_bytes().trim_ascii() == b"13" => {}
        _ => return Err((StatusCode::BAD_REQUEST, UpgradeError::Version)),
    }
    if has_body(&parts.headers) {
        return Err((StatusCode::BAD_REQUEST, UpgradeError::Body));
    }
    if h2 {
        // RFC 8441 §5: no key, no accept.
        return Ok(Handshake { key: None });
    }
    let mut keys = parts.headers.get_all(SEC_WEBSOCKET_KEY).iter();
    match (keys.next(), keys.next()) {
        (Some(key), None) if is_valid_key(key.as_bytes()) => Ok(Handshake {
            key: Some(key.clone()),
        }),
        _ => Err((StatusCode::BAD_REQUEST, UpgradeError::Key)),
    }
}

/// RFC 8441 §4: `CONNECT` with `:protocol websocket` (which hyper hands over as an
/// extension when the server enabled the extended CONNECT protocol).
fn validate_h2(parts: &Parts) -> Result<(), (StatusCode, UpgradeError)> {
    if parts.method != Method::CONNECT {
        return Err((
            StatusCode::METHOD_NOT_ALLOWED,
            UpgradeError::MethodNotConnect(parts.method.clone()),
        ));
    }
    #[cfg(feature = "http2")]
    let websocket = parts
        .extensions
        .get::<hyper::ext::Protocol>()
        .is_some_and(|p| p.as_str().eq_ignore_ascii_case("websocket"));
    // Without hyper's HTTP/2 support no `:protocol` can be read.
    #[cfg(not(feature = "http2"))]
    let websocket = false;
    if websocket {
        Ok(())
    } else {
        Err((StatusCode::BAD_REQUEST, UpgradeError::ProtocolPseudoHeader))
    }
}

/// `Content-Length` other than 0, or any `Transfer-Encoding`: the bytes after the head
/// would be a body, not WebSocket frames.
fn has_body(headers: &HeaderMap) -> bool {
    headers.contains_key(TRANSFER_ENCODING)
        || headers
            .get_all(CONTENT_LENGTH)
            .iter()
            .any(|len| len.as_bytes().trim_ascii() != b"0")
}

/// True when some value of `name` lists `token` (comma-separated, ASCII case-insensitive).
pub(crate) fn header_has_token(headers: &HeaderMap, name: &HeaderName, token: &str) -> bool {
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
pub(crate) fn select_subprotocol(headers: &HeaderMap, supported: &[String]) -> Option<String> {
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

/// The response that accepts the handshake: `101 Switching Protocols` over HTTP/1.1, `200`
/// over HTTP/2 (RFC 8441 §5, where connection-specific headers are not allowed).
pub(crate) fn accept(
    handshake: &Handshake,
    extra: HeaderMap,
    subprotocol: Option<&str>,
    compression: Option<&DeflateParams>,
) -> Response {
    let mut response = Response::new(Body::empty());
    let headers = response.headers_mut();
    // The hook's headers go first so the handshake's own always win.
    headers.extend(extra);
    match &handshake.key {
        Some(key) => {
            *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
            let headers = response.headers_mut();
            headers.insert(CONNECTION, HeaderValue::from_static("upgrade"));
            headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
            let accept = accept_key(key.as_bytes().trim_ascii());
            if let Ok(accept) = HeaderValue::from_str(&accept) {
                headers.insert(SEC_WEBSOCKET_ACCEPT, accept);
            }
        }
        None => {
            let headers = response.headers_mut();
            for name in [CONNECTION, UPGRADE, SEC_WEBSOCKET_ACCEPT, TRANSFER_ENCODING] {
                headers.remove(name);
            }
            headers.remove("keep-alive");
            headers.remove("proxy-connection");
        }
    }
    let headers = response.headers_mut();
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

    #[test]
    fn bodies() {
        let with = |name: HeaderName, value: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert(name, HeaderValue::from_static(value));
            has_body(&headers)
        };
        assert!(!has_body(&HeaderMap::new()));
        assert!(!with(CONTENT_LENGTH, "0"));
        assert!(with(CONTENT_LENGTH, "100000"));
        assert!(with(TRANSFER_ENCODING, "chunked"));
        assert!(with(TRANSFER_ENCODING, "identity"));
    }
}
