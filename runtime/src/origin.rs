//! Origin checks: browsers send `Origin` on WebSocket handshakes but apply no same-origin
//! policy to them, so without a check any page can open a socket carrying the user's cookies
//! (cross-site WebSocket hijacking).

use std::borrow::Cow;

use http::header::{HOST, ORIGIN};
use http::request::Parts;

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
            .filter_map(Pattern::parse)
            .any(|p| p.matches(&origin))
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
    Pattern::parse_detailed(pattern)
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

struct Pattern<'a> {
    scheme: &'a str,
    wildcard: bool,
    host: &'a str,
    port: Option<u16>,
}

impl<'a> Pattern<'a> {
    fn parse(pattern: &'a str) -> Option<Self> {
        Self::parse_detailed(pattern).ok()
    }

    fn parse_detailed(pattern: &'a str) -> Result<Self, &'static str> {
        let (scheme, authority) = pattern
            .split_once("://")
            .ok_or("expected `scheme://host[:port]`")?;
        if !is_scheme(scheme) {
            return Err(
                "the scheme must be letters, digits, `+`, `-` or `.`, starting with a letter",
            );
        }
        let (host, port) = split_port(authority)?;
        let (wildcard, host) = match host.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, host),
        };
        if !is_host(host) {
            return Err(
                "the host must be a domain name, an IP address, or `*.` followed by a domain",
            );
        }
        // An IP address has no subdomains: such a pattern could never match (found by the
        // `origin` fuzz target).
        if wildcard && (host.starts_with('[') || host.parse::<std::net::Ipv4Addr>().is_ok()) {
            return Err("`*.` must be followed by a domain name, not an IP address");
        }
        Ok(Self {
            scheme,
            wildcard,
            host,
            port,
        })
    }

    fn matches(&self, origin: &Origin<'_>) -> bool {
        if !self.scheme.eq_ignore_ascii_case(origin.scheme) {
            return false;
        }
        if self.port.or_else(|| default_port(self.scheme)) != origin.effective_port() {
            return false;
        }
        if self.wildcard {
            let host = origin.host.as_bytes();
            let suffix = self.host.as_bytes();
            host.len() > suffix.len() + 1
                && host[host.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
                && host[host.len() - suffix.len() - 1] == b'.'
        } else {
            self.host.eq_ignore_ascii_case(origin.host)
        }
    }
}

fn is_scheme(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

fn is_host(host: &str) -> bool {
    if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return v6.parse::<std::net::Ipv6Addr>().is_ok();
    }
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

fn split_port(authority: &str) -> Result<(&str, Option<u16>), &'static str> {
    let port_at = match authority.rfind(':') {
        Some(i) if !authority[i..].contains(']') => i,
        _ => return Ok((authority, None)),
    };
    let port = &authority[port_at + 1..];
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err("the port must be a number from 1 to 65535");
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok((&authority[..port_at], Some(p))),
        _ => Err("the port must be a number from 1 to 65535"),
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
        for bad in [
            "example.com",
            "https://",
            "https://exa mple.com",
            "https://example.com:0",
            "https://example.com:99999",
            "https://*.",
            "https://a.*.com",
            "1http://example.com",
            "https://example.com/path",
            // Found by the `origin` fuzz target: a wildcard over an IP address was accepted
            // although no origin can match it.
            "http://*.[::1]",
            "http://*.127.0.0.1:3000",
        ] {
            assert!(OriginAllowList::new([bad]).is_err(), "{bad}");
        }
        assert!(OriginAllowList::new(Vec::<String>::new()).is_err());
        for good in [
            "https://example.com",
            "http://*.example.com:8080",
            "http://[::1]:3000",
        ] {
            assert!(OriginAllowList::new([good]).is_ok(), "{good}");
        }
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
