//! The grammar of origin patterns, `scheme://host[:port]` with an optional leading `*.` on
//! the host, in one place: `ws-controller` matches requests against it at run time and
//! `ws-controller-macros` validates `#[ws_controller(origin = [..])]` with it at compile
//! time, so the two can never disagree. Use it through `ws-controller`.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

/// A parsed origin pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pattern<'a> {
    /// The scheme, as written.
    pub scheme: &'a str,
    /// True when the host was written `*.domain`: any subdomain of `host`, not `host` itself.
    pub wildcard: bool,
    /// The host without its `*.` prefix (an IPv6 address keeps its brackets).
    pub host: &'a str,
    /// The port, when written.
    pub port: Option<u16>,
}

impl<'a> Pattern<'a> {
    /// Parses a pattern; the error says what is wrong in words a user can act on.
    ///
    /// ```
    /// use ws_controller_origin::Pattern;
    /// let p = Pattern::parse("https://*.example.com:8443").unwrap();
    /// assert_eq!((p.scheme, p.wildcard, p.host, p.port), ("https", true, "example.com", Some(8443)));
    /// assert!(Pattern::parse("example.com").is_err());
    /// ```
    pub fn parse(pattern: &'a str) -> Result<Self, &'static str> {
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
}

/// True for a URI scheme: a letter, then letters, digits, `+`, `-` or `.`.
pub fn is_scheme(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

/// True for a host: a bracketed IPv6 address, or dot-separated labels of letters, digits
/// and inner `-` (which covers domain names and IPv4 addresses).
pub fn is_host(host: &str) -> bool {
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

/// Splits `host[:port]`; the port must be 1 to 65535.
pub fn split_port(authority: &str) -> Result<(&str, Option<u16>), &'static str> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_patterns() {
        for good in [
            "https://example.com",
            "http://*.example.com:8080",
            "http://[::1]:3000",
            "http://127.0.0.1:3000",
            "chrome-extension://abc",
        ] {
            assert!(Pattern::parse(good).is_ok(), "{good}");
        }
    }

    #[test]
    fn invalid_patterns() {
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
            // Found by the `origin` fuzz target: a wildcard over an IP address can never match.
            "http://*.[::1]",
            "http://*.127.0.0.1:3000",
        ] {
            assert!(Pattern::parse(bad).is_err(), "{bad}");
        }
    }
}
