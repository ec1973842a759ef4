//! Origin checks: browsers send `Origin` on WebSocket handshakes but apply no same-origin
//! policy to them, so without a check any page can open a socket carrying the user's cookies
//! (cross-site WebSocket hijacking).

use std::borrow::Cow;

use http::header::{HOST, ORIGIN};
use http::request::Parts;
use ws_controller_origin::{is_host, is_scheme, split_port, Pattern};

/// The default policy: a request without `Origin` (not from a browser) is allowed; otherwise
/// the origin's `host[:port]` must equal the `Host` header, ignoring ASCII case.
///
/// Unlike a plain string compare of the header, a malformed or `null` origin is refused.
pub fn same_host(request: &Parts) -> bool {
    let Some(origin) = request.headers.get(ORIGIN) else {
        return true;
    };
    let Some(origin) = origin.to_str().ok().and_then(Origin::parse) else {
        return false;
    };
    let host = request
        .headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| request.uri.authority().map(|a| a.as_str()));
    host.is_some_and(|host| host.eq_ignore_ascii_case(origin.authority))
}

/// An allow-list of origin patterns: `scheme://host[:port]`, where the host may start with
/// `*.` to allow any subdomain (not the bare domain). A port-less pattern means the scheme's
/// default port. Requests without `Origin` are allowed, as in [`same_host`].
///
/// ```
/// use ws_controller::OriginAllowList;
/// let list = OriginAllowList::new(["https://example.com", "https://*.example.com"]).unwrap();
/// assert!(list.allows_origin("https://example.com"));
/// assert!(list.allows_origin("https://chat.example.com"));
/// assert!(list.allows_origin("https://example.com:443"));
/// assert!(!list.allows_origin("http://example.com"));
/// assert!(!list.allows_origin("https://evil-example.com"));
/// ```
#[derive(Debug, Clone)]
pub struct OriginAllowList {
    patterns: Cow<'static, [&'static str]>,
    owned: Vec<String>,
}

impl OriginAllowList {
    /// Validates and stores the patterns.
    pub fn new<I, S>(patterns: I) -> Result<Self, InvalidOriginPattern>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let owned: Vec<String> = patterns.into_iter().map(Into::into).collect();
        if owned.is_empty() {
            return Err(InvalidOriginPattern {
                pattern: String::new(),
                reason: "the allow-list is empty",
            });
        }
        for p in &owned {
            validate_pattern(p)?;
        }
        Ok(Self {
            patterns: Cow::Borrowed(&[]),
            owned,
        })
    }

    /// An allow-list of patterns already validated (the `#[ws_controller]` macro checks them
    /// at compile time). Invalid patterns never match.
    pub const fn from_static(patterns: &'static [&'static str]) -> Self {
        Self {
            patterns: Cow::Borrowed(patterns),
            owned: Vec::new(),
        }
    }

    /// Checks a request: allowed without `Origin`, otherwise the origin must match a pattern.
    pub fn allows(&self, request: &Parts) -> bool {
        match request.headers.get(ORIGIN) {
            None => true,
            Some(origin) => origin.to_str().is_ok_and(|o| self.allows_origin(o)),
        }
    }

    /// Checks one `Origin` value against the patterns.
    pub fn allows_origin(&self, origin: &str) -> bool {
        let Some(origin) = Origin::parse(origin) else {
            return false;
        };
        self.patterns
            .iter()
            .copied()
            .chain(self.owned.iter().map(String::as_str))
            .filter_map(|p| Pattern::parse(p).ok())
            .any(|p| pattern_matches(&p, &origin))
    }
}

/// An origin pattern that does not have the form `scheme://host[:port]` (host optionally
/// starting with `*.`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid origin pattern `{pattern}`: {reason}")]
pub struct InvalidOriginPattern {
    /// The offending pattern.
    pub pattern: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

fn validate_pattern(pattern: &str) -> Result<(), InvalidOriginPattern> {
    Pattern::parse(pattern)
        .map(drop)
        .map_err(|reason| InvalidOriginPattern {
            pattern: pattern.to_owned(),
            reason,
        })
}

/// A parsed `Origin` header value (RFC 6454 serialisation).
struct Origin<'a> {
    scheme: &'a str,
    host: &'a str,
    port: Option<u16>,
    authority: &'a str,
}

impl<'a> Origin<'a> {
    fn parse(value: &'a str) -> Option<Self> {
        let (scheme, authority) = value.split_once("://")?;
        if !is_scheme(scheme) || authority.is_empty() {
            return None;
        }
        let (host, port) = split_port(authority).ok()?;
        if !is_host(host) {
            return None;
        }
        Some(Self {
            scheme,
            host,
            port,
            authority,
        })
    }

    fn effective_port(&self) -> Option<u16> {
        self.port.or_else(|| default_port(self.scheme))
    }
}

/// Whether `pattern` admits `origin`: same scheme, same port (default ports made explicit),
/// and the same host or, for `*.`, a subdomain of it.
fn pattern_matches(pattern: &Pattern<'_>, origin: &Origin<'_>) -> bool {
    if !pattern.scheme.eq_ignore_ascii_case(origin.scheme) {
        return false;
    }
    if pattern.port.or_else(|| default_port(pattern.scheme)) != origin.effective_port() {
        return false;
    }
    if pattern.wildcard {
        let host = origin.host.as_bytes();
        let suffix = pattern.host.as_bytes();
        host.len() > suffix.len() + 1
            && host[host.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
            && host[host.len() - suffix.len() - 1] == b'.'
    } else {
        pattern.host.eq_ignore_ascii_case(origin.host)
    }
}

fn default_port(scheme: &str) -> Option<u16> {
    if scheme.eq_ignore_ascii_case("https") || scheme.eq_ignore_ascii_case("wss") {
        Some(443)
    } else if scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("ws") {
        Some(80)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(origin: Option<&str>, host: &str) -> Parts {
        let mut b = http::Request::builder().uri("/ws").header(HOST, host);
        if let Some(o) = origin {
            b = b.header(ORIGIN, o);
        }
        b.body(()).unwrap().into_parts().0
    }

    #[test]
    fn same_host_rules() {
        assert!(same_host(&parts(None, "example.com")));
        assert!(same_host(&parts(
            Some("https://example.com"),
            "example.com"
        )));
        assert!(same_host(&parts(
            Some("https://EXAMPLE.com:8443"),
            "example.COM:8443"
        )));
        assert!(!same_host(&parts(
            Some("https://example.com:8443"),
            "example.com"
        )));
        assert!(!same_host(&parts(Some("https://evil.com"), "example.com")));
        assert!(!same_host(&parts(Some("null"), "example.com")));
        assert!(!same_host(&parts(Some("example.com"), "example.com")));
    }

    #[test]
    fn pattern_validation() {
        // The grammar has its own tests (`ws-controller-origin`); here, that the list uses it.
        let err = OriginAllowList::new(["https://example.com", "http://*.127.0.0.1"]).unwrap_err();
        assert_eq!(err.pattern, "http://*.127.0.0.1");
        assert_eq!(
            err.reason,
            "`*.` must be followed by a domain name, not an IP address"
        );
        assert!(OriginAllowList::new(Vec::<String>::new()).is_err());
        assert!(OriginAllowList::new(["https://example.com", "http://[::1]:3000"]).is_ok());
    }

    #[test]
    fn wildcard_and_ports() {
        let list =
            OriginAllowList::from_static(&["https://*.example.com", "http://localhost:3000"]);
        assert!(list.allows_origin("https://a.b.example.com"));
        assert!(!list.allows_origin("https://example.com"));
        assert!(!list.allows_origin("https://aexample.com"));
        assert!(!list.allows_origin("https://a.example.com:8443"));
        assert!(list.allows_origin("http://localhost:3000"));
        assert!(!list.allows_origin("http://localhost"));
        assert!(list.allows(&parts(None, "x")));
        assert!(!list.allows(&parts(Some("https://evil.com"), "x")));
    }
}
