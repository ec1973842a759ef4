//! What a connection keeps of its upgrade request: the method, the URI, the extensions,
//! and the headers up to [`Settings::kept_headers_bytes`](crate::Settings::kept_headers_bytes),
//! each copied out of the HTTP server's read buffer.

use http::header::HeaderValue;
use http::request::Parts;
use http::HeaderMap;

/// What a header costs against the budget: its name, its value and the `": "` and CRLF it
/// had on the wire.
fn cost(name: &http::HeaderName, value: &HeaderValue) -> usize {
    name.as_str().len() + value.len() + 4
}

/// Keeps the request's headers in order while they fit in `budget` bytes, each value
/// copied, and copies the URI.
///
/// hyper parses the URI and header values as slices of its read buffer (8 KiB or more):
/// kept as they are, they would keep that whole buffer alive on every connection. Returns
/// how many headers were dropped.
pub(crate) fn keep(parts: &mut Parts, budget: usize) -> usize {
    let mut headers = HeaderMap::new();
    let mut left = budget;
    let mut dropped = 0;
    for (name, value) in &parts.headers {
        let cost = cost(name, value);
        if cost > left {
            dropped += 1;
            // Later, smaller headers may still fit; order among kept ones is preserved.
            continue;
        }
        left -= cost;
        let mut copy = HeaderValue::from_bytes(value.as_bytes()).unwrap_or_else(|_| value.clone());
        copy.set_sensitive(value.is_sensitive());
        headers.append(name.clone(), copy);
    }
    parts.headers = headers;
    if let Ok(uri) = http::Uri::try_from(parts.uri.to_string()) {
        parts.uri = uri;
    }
    dropped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_kept_in_order_within_the_budget() {
        let (mut parts, ()) = http::Request::builder()
            .uri("/chat?room=1")
            .header("a", "1")
            .header("huge", "x".repeat(100))
            .header("b", "2")
            .header("a", "3")
            .body(())
            .unwrap()
            .into_parts();
        // "a: 1\r\n" costs 6 bytes: three of them fit in 20, the 105-byte header does not.
        assert_eq!(keep(&mut parts, 20), 1);
        let kept: Vec<_> = parts
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.to_str().unwrap()))
            .collect();
        assert_eq!(kept, [("a", "1"), ("a", "3"), ("b", "2")]);
        assert_eq!(parts.uri, "/chat?room=1");
        assert_eq!(keep(&mut parts, 0), 3);
        assert!(parts.headers.is_empty());
    }
}
