//! Origin checks: `OriginAllowList::new(patterns)` / `allows_origin(origin)` and
//! `origin::same_host` with arbitrary `Origin` and `Host`.
//!
//! Checks: no panic, and
//! - a valid pattern without wildcard allows exactly its own origin (any ASCII case, with
//!   the scheme's default port written or not), and only origins naming that host;
//! - a wildcard pattern `scheme://*.domain` never allows the bare domain, allows a
//!   subdomain, and every origin it allows ends in `.domain`;
//! - an allowed origin is a bare `scheme://host[:port]` (no userinfo, path, query, space);
//! - `from_static` and `new` agree; `allows` on a request agrees with `allows_origin`;
//! - `same_host` allows only an origin whose authority equals `Host`, ignoring ASCII case.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use http::header::{HOST, ORIGIN};
use libfuzzer_sys::fuzz_target;
use ws_controller::OriginAllowList;

/// Text built from parts, so the interesting shapes come up often.
#[derive(Debug, Arbitrary)]
enum Text<'a> {
    Raw(&'a str),
    Built {
        scheme: Scheme<'a>,
        wildcard: bool,
        labels: Vec<Label<'a>>,
        port: Option<Port<'a>>,
        suffix: Option<&'a str>,
    },
}

#[derive(Debug, Arbitrary)]
enum Scheme<'a> {
    Http,
    Https,
    Ws,
    Wss,
    Upper,
    Raw(&'a str),
}

#[derive(Debug, Arbitrary)]
enum Label<'a> {
    Example,
    Com,
    Digits(u8),
    V6,
    Raw(&'a str),
}

#[derive(Debug, Arbitrary)]
enum Port<'a> {
    Default,
    Number(u16),
    Raw(&'a str),
}

impl Text<'_> {
    fn render(&self) -> String {
        match self {
            Text::Raw(s) => (*s).to_owned(),
            Text::Built {
                scheme,
                wildcard,
                labels,
                port,
                suffix,
            } => {
                let scheme = match scheme {
                    Scheme::Http => "http",
                    Scheme::Https => "https",
                    Scheme::Ws => "ws",
                    Scheme::Wss => "wss",
                    Scheme::Upper => "HTTPS",
                    Scheme::Raw(s) => s,
                };
                let mut out = format!("{scheme}://");
                if *wildcard {
                    out.push_str("*.");
                }
                let labels: Vec<String> = labels
                    .iter()
                    .map(|l| match l {
                        Label::Example => "example".to_owned(),
                        Label::Com => "com".to_owned(),
                        Label::Digits(n) => n.to_string(),
                        Label::V6 => "[::1]".to_owned(),
                        Label::Raw(s) => (*s).to_owned(),
                    })
                    .collect();
                out.push_str(&labels.join("."));
                match port {
                    None => {}
                    Some(Port::Default) => out.push_str(if scheme.eq_ignore_ascii_case("https") {
                        ":443"
                    } else {
                        ":80"
                    }),
                    Some(Port::Number(n)) => out.push_str(&format!(":{n}")),
                    Some(Port::Raw(s)) => {
                        out.push(':');
                        out.push_str(s);
                    }
                }
                if let Some(s) = suffix {
                    out.push_str(s);
                }
                out
            }
        }
    }
}

#[derive(Debug, Arbitrary)]
struct Input<'a> {
    patterns: Vec<Text<'a>>,
    origin: Text<'a>,
    host: &'a [u8],
    origin_bytes: &'a [u8],
    host_in_uri: bool,
}

fuzz_target!(|data: &[u8]| {
    let Ok(input) = Input::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    let patterns: Vec<String> = input.patterns.iter().take(8).map(Text::render).collect();
    let origin = input.origin.render();

    for pattern in &patterns {
        check_pattern(pattern, &origin);
    }
    if let Ok(list) = OriginAllowList::new(patterns.iter().cloned()) {
        let allowed = list.allows_origin(&origin);
        with_static(&patterns, |leaked| {
            assert_eq!(
                OriginAllowList::from_static(leaked).allows_origin(&origin),
                allowed
            );
        });
        if allowed {
            assert_origin_shape(&origin);
            assert!(
                patterns.iter().any(|p| model_allows(p, &origin)),
                "{origin:?} allowed by {patterns:?} but no pattern names it"
            );
        }
        if let Ok(value) = http::HeaderValue::from_str(&origin) {
            let parts = request(Some(value), None, false);
            assert_eq!(list.allows(&parts), allowed);
        }
        assert!(
            list.allows(&request(None, None, false)),
            "no Origin is allowed"
        );
    }

    check_same_host(&origin, input.origin_bytes, input.host, input.host_in_uri);
});

fn check_pattern(pattern: &str, origin: &str) {
    let Ok(list) = OriginAllowList::new([pattern]) else {
        // A pattern the list refuses never matches through `from_static` either.
        with_static(&[pattern.to_owned()], |leaked| {
            assert!(!OriginAllowList::from_static(leaked).allows_origin(origin));
            assert!(!OriginAllowList::from_static(leaked).allows_origin(pattern));
        });
        return;
    };
    let (scheme, authority) = pattern.split_once("://").expect("valid pattern has ://");
    assert_origin_shape(&format!(
        "{scheme}://{}",
        authority.trim_start_matches("*.")
    ));
    let default_port = match scheme.to_ascii_lowercase().as_str() {
        "https" | "wss" => Some(443),
        "http" | "ws" => Some(80),
        _ => None,
    };
    if let Some(bare) = authority.strip_prefix("*.") {
        let bare_origin = format!("{scheme}://{bare}");
        assert!(
            !list.allows_origin(&bare_origin),
            "{pattern} allows its bare domain"
        );
        let sub = format!("{scheme}://a.{bare}");
        let (host, _) = split_port(bare);
        if host.len() + 2 <= 253 {
            assert!(list.allows_origin(&sub), "{pattern} does not allow {sub}");
        }
        // No dot before the domain: not a subdomain.
        assert!(!list.allows_origin(&format!("{scheme}://a{bare}")));
    } else {
        assert!(
            list.allows_origin(pattern),
            "{pattern} does not allow itself"
        );
        assert!(list.allows_origin(&pattern.to_ascii_uppercase()));
        assert!(list.allows_origin(&pattern.to_ascii_lowercase()));
        let (host, port) = split_port(authority);
        if let Some(default) = default_port {
            match port {
                None => assert!(list.allows_origin(&format!("{pattern}:{default}"))),
                Some(p) if p == default.to_string() => {
                    assert!(list.allows_origin(&format!("{scheme}://{host}")))
                }
                Some(_) => assert!(!list.allows_origin(&format!("{scheme}://{host}"))),
            }
        }
        // Attacker-controlled look-alikes.
        for evil in [
            format!("{pattern}.evil.com"),
            format!("{scheme}://evil.{host}.evil.com"),
            format!("{scheme}://{host}@evil.com"),
            format!("{scheme}://evil.com@{host}"),
            format!("{pattern}/"),
            format!("{pattern} "),
            format!("x{pattern}"),
        ] {
            assert!(!list.allows_origin(&evil), "{pattern} allows {evil}");
        }
    }
    if list.allows_origin(origin) {
        assert_origin_shape(origin);
        assert!(model_allows(pattern, origin), "{pattern} allows {origin}");
    }
}

/// Calls `f` with `patterns` as `&'static` (what `from_static` takes), then frees them.
fn with_static(patterns: &[String], f: impl FnOnce(&'static [&'static str])) {
    let strs: Vec<*mut str> = patterns
        .iter()
        .map(|p| Box::into_raw(p.clone().into_boxed_str()))
        .collect();
    // SAFETY: the pointers come from `Box::into_raw` just above and stay valid until freed
    // below.
    let refs: Vec<&'static str> = strs.iter().map(|&p| unsafe { &*p }).collect();
    let slice: *mut [&'static str] = Box::into_raw(refs.into_boxed_slice());
    // SAFETY: as above.
    f(unsafe { &*slice });
    // SAFETY: `f` has returned and the lists it built were dropped inside it (an
    // `OriginAllowList` is not `'static`-stored anywhere), so nothing borrows these any more.
    unsafe {
        drop(Box::from_raw(slice));
        for p in strs {
            drop(Box::from_raw(p));
        }
    }
}

/// `host[:port]`, splitting at the last `:` outside brackets.
fn split_port(authority: &str) -> (&str, Option<&str>) {
    match authority.rfind(':') {
        Some(i) if !authority[i..].contains(']') => (&authority[..i], Some(&authority[i + 1..])),
        _ => (authority, None),
    }
}

/// An allowed origin is `scheme://` then only host, port and IPv6 characters.
fn assert_origin_shape(origin: &str) {
    let (scheme, authority) = origin.split_once("://").expect("allowed origin has ://");
    assert!(
        !scheme.is_empty()
            && scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
    );
    assert!(!authority.is_empty());
    assert!(
        authority
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b)),
        "allowed origin {origin:?} has a character no origin has"
    );
}

/// A loose model of one pattern: same scheme (ASCII case-insensitive), host equal
/// (no wildcard) or ending in `.domain` (wildcard), same port once defaults are applied.
fn model_allows(pattern: &str, origin: &str) -> bool {
    let (Some((ps, pa)), Some((os, oa))) = (pattern.split_once("://"), origin.split_once("://"))
    else {
        return false;
    };
    if !ps.eq_ignore_ascii_case(os) {
        return false;
    }
    let default = match ps.to_ascii_lowercase().as_str() {
        "https" | "wss" => Some(443u16),
        "http" | "ws" => Some(80),
        _ => None,
    };
    let port = |p: Option<&str>| match p {
        None => default,
        Some(p) => p.parse::<u16>().ok(),
    };
    let (ph, pp) = split_port(pa);
    let (oh, op) = split_port(oa);
    if port(pp) != port(op) {
        return false;
    }
    let (oh, ph) = (oh.to_ascii_lowercase(), ph.to_ascii_lowercase());
    match ph.strip_prefix("*.") {
        Some(domain) => oh.ends_with(&format!(".{domain}")) && oh.len() > domain.len() + 1,
        None => oh == ph,
    }
}

fn request(
    origin: Option<http::HeaderValue>,
    host: Option<http::HeaderValue>,
    uri: bool,
) -> http::request::Parts {
    let mut builder = http::Request::builder();
    if uri {
        if let Some(h) = host.as_ref().and_then(|h| h.to_str().ok()) {
            if let Ok(u) = format!("http://{h}/ws").parse::<http::Uri>() {
                builder = builder.uri(u);
            }
        }
    } else {
        builder = builder.uri("/ws");
        if let Some(h) = host.clone() {
            builder = builder.header(HOST, h);
        }
    }
    if let Some(o) = origin {
        builder = builder.header(ORIGIN, o);
    }
    builder.body(()).expect("request").into_parts().0
}

fn check_same_host(origin: &str, origin_bytes: &[u8], host: &[u8], host_in_uri: bool) {
    let host = http::HeaderValue::from_bytes(host).ok();
    for candidate in [
        http::HeaderValue::from_str(origin).ok(),
        http::HeaderValue::from_bytes(origin_bytes).ok(),
    ]
    .into_iter()
    .flatten()
    {
        let parts = request(Some(candidate.clone()), host.clone(), host_in_uri);
        let allowed = ws_controller::origin::same_host(&parts);
        if allowed {
            let origin = candidate.to_str().expect("allowed origin is visible ASCII");
            assert_origin_shape(origin);
            let (_, authority) = origin.split_once("://").unwrap();
            let host = parts
                .headers
                .get(HOST)
                .map(|h| h.to_str().unwrap().to_owned())
                .or_else(|| parts.uri.authority().map(|a| a.as_str().to_owned()))
                .expect("allowed origin needs a host");
            assert!(authority.eq_ignore_ascii_case(&host), "{origin} vs {host}");
        }
        if candidate.as_bytes() == b"null" {
            assert!(!allowed, "the null origin is allowed");
        }
        // A same-host origin also passes an allow-list made of itself.
        if allowed && !host_in_uri {
            let origin = candidate.to_str().unwrap();
            if let Ok(list) = OriginAllowList::new([origin]) {
                assert!(list.allows_origin(origin));
            }
        }
    }
    assert!(ws_controller::origin::same_host(&request(
        None,
        host,
        host_in_uri
    )));
}
