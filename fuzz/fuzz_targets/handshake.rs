//! Arbitrary bytes as an HTTP/1.1 request stream to an in-memory server (hyper with
//! upgrades, as `ws_controller::serve` configures it) with a controller on `/ws`.
//!
//! Checks: no panic; every response status is one this stack may give (never 500: no hook
//! here panics); a `101` only for a request that passes every RFC 6455 §4.2.1 rule, with the
//! right `Sec-WebSocket-Accept` and a subprotocol the client offered; and a refusal from the
//! upgrade handler (its JSON body) carries the status of the first rule the request broke,
//! checked against an independent model of those rules.
#![no_main]

#[path = "common/mod.rs"]
mod common;

use std::sync::OnceLock;
use std::time::Duration;

use axum::Router;
use libfuzzer_sys::fuzz_target;
use tokio::io::AsyncWriteExt;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use ws_controller::{Conn, Controller, Error, Settings};

#[global_allocator]
static ALLOC: common::Watchdog = common::Watchdog;

/// Subprotocols the controller speaks, most preferred first.
const SUPPORTED: [&str; 2] = ["chat.v2", "chat.v1"];

struct Echo;

impl Controller for Echo {
    type Extract = ();

    fn settings(&self) -> Settings {
        Settings::default()
            .subprotocols(SUPPORTED)
            .idle_timeout(Some(Duration::from_secs(5)))
            .close_timeout(Duration::from_secs(1))
    }

    async fn serve(&self, mut conn: Conn, _: ()) -> Result<(), Error> {
        loop {
            let message = conn.recv().await?;
            conn.send(message).await?;
        }
    }
}

fn app() -> &'static Router {
    static APP: OnceLock<Router> = OnceLock::new();
    APP.get_or_init(|| ws_controller::route("/ws", Echo))
}

fuzz_target!(|data: &[u8]| {
    let mut output = Vec::new();
    common::run(Duration::from_secs(60), async {
        let client = common::connect(app());
        let (mut read_half, mut write_half) = tokio::io::split(client);
        // The request stream, then end of stream: hyper answers what it has parsed.
        let writer = async {
            let _ = write_half.write_all(data).await;
            let _ = write_half.shutdown().await;
        };
        let reader = common::read_to_end(&mut read_half, 16 << 20);
        let ((), out) = tokio::join!(writer, reader);
        output = out;
    });
    check(data, &output);
});

/// What the model of the upgrade rules expects for a request routed to `/ws`.
#[derive(Debug, PartialEq)]
enum Expect {
    Refuse(u16),
    Upgrade,
}

fn check(input: &[u8], output: &[u8]) {
    // A valid handshake is always answered. (Not every complete head is: hyper drops a
    // connection without a response for some garbage, e.g. a head that contains the
    // HTTP/2 preface, `Parse(VersionH2)`.)
    let mut headers = [httparse::EMPTY_HEADER; 100];
    let mut request = httparse::Request::new(&mut headers);
    if let Ok(httparse::Status::Complete(_)) = request.parse(input) {
        let routed = request.path == Some("/ws");
        if routed && request.version == Some(1) && model(&request) == Expect::Upgrade {
            assert!(!output.is_empty(), "no response to a valid handshake");
        }
    }
    let mut at = 0;
    let mut first = true;
    while at < output.len() {
        let head = if first {
            common::parse_response(output).unwrap_or_else(|| {
                panic!(
                    "truncated response head: {:?}",
                    String::from_utf8_lossy(output)
                )
            })
        } else {
            // A HEAD response has no body despite its Content-Length: past one, `at` may
            // point into the next head; stop there.
            match common::try_parse_response(&output[at..]) {
                Ok(Some(head)) => head,
                _ => return,
            }
        };
        assert!(
            matches!(
                head.status,
                101 | 400 | 403 | 404 | 405 | 408 | 413 | 414 | 426 | 431 | 501 | 505
            ),
            "unexpected status {} for {:?}",
            head.status,
            String::from_utf8_lossy(input)
        );
        if first {
            check_first(input, &head);
        }
        if head.status == 101 {
            // The rest is WebSocket frames.
            return;
        }
        // Later responses are only checked for their status: finding where a body ends
        // needs the request (a HEAD response has none), so stop when it is unclear.
        let Some(len) = head.content_length() else {
            return;
        };
        at += head.rest_at + len;
        first = false;
    }
}

/// Checks the first response against the model, when the first request parses.
fn check_first(input: &[u8], head: &common::ResponseHead) {
    let mut headers = [httparse::EMPTY_HEADER; 100];
    let mut request = httparse::Request::new(&mut headers);
    let Ok(httparse::Status::Complete(_)) = request.parse(input) else {
        // hyper saw something the reference parser does not accept (or a partial head).
        assert!(head.status != 101, "101 for a request that does not parse");
        return;
    };
    let refused_by_handler = head
        .header("content-type")
        .is_some_and(|v| v == b"application/json; charset=utf-8");
    let path = request
        .path
        .and_then(|p| p.parse::<http::Uri>().ok())
        .map(|uri| uri.path().to_owned());
    let routed = path.as_deref() == Some("/ws");
    if !routed {
        assert!(
            head.status != 101 && !refused_by_handler,
            "request for {path:?} reached the /ws handler"
        );
        return;
    }
    let expect = model(&request);
    if std::env::var_os("FUZZ_TRACE").is_some() {
        eprintln!(
            "status {} model {expect:?} handler {refused_by_handler}",
            head.status
        );
    }
    match head.status {
        101 => {
            assert_eq!(
                expect,
                Expect::Upgrade,
                "101 for a request the rules refuse"
            );
            let key = single(&request, "sec-websocket-key").expect("model checked the key");
            let accept = derive_accept_key(key.trim_ascii());
            assert_eq!(
                head.header("sec-websocket-accept"),
                Some(accept.as_bytes()),
                "wrong Sec-WebSocket-Accept"
            );
            assert!(head
                .header("upgrade")
                .is_some_and(|v| v.eq_ignore_ascii_case(b"websocket")));
            let selected = head.header("sec-websocket-protocol").map(|v| v.to_vec());
            assert_eq!(
                selected,
                expected_subprotocol(&request).map(|s| s.as_bytes().to_vec()),
                "wrong subprotocol"
            );
        }
        status if refused_by_handler => match expect {
            Expect::Refuse(expected) => assert_eq!(status, expected, "refusal status"),
            // hyper gives no upgrade to an HTTP/1.0 request (nor, to be safe, one with a
            // body): the handler answers 426 (not upgradable) for an otherwise valid one.
            Expect::Upgrade => {
                let framed_body = all(&request, "content-length").next().is_some()
                    || all(&request, "transfer-encoding").next().is_some();
                assert!(
                    status == 426 && (request.version == Some(0) || framed_body),
                    "valid handshake refused with {status}"
                );
            }
        },
        // hyper's own answers (parse errors, limits) come before the handler.
        _ => {}
    }
    if head.status == 405 {
        assert_eq!(head.header("allow"), Some(&b"GET"[..]));
    }
}

fn all<'a>(
    request: &'a httparse::Request<'_, '_>,
    name: &'a str,
) -> impl Iterator<Item = &'a [u8]> {
    request
        .headers
        .iter()
        .filter(move |h| h.name.eq_ignore_ascii_case(name))
        .map(|h| h.value)
}

/// The value of a header that appears exactly once.
fn single<'a>(request: &'a httparse::Request<'_, '_>, name: &'a str) -> Option<&'a [u8]> {
    let mut values = all(request, name);
    match (values.next(), values.next()) {
        (Some(v), None) => Some(v),
        _ => None,
    }
}

fn has_token(request: &httparse::Request<'_, '_>, name: &str, token: &str) -> bool {
    all(request, name).any(|v| {
        v.split(|&b| b == b',')
            .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
    })
}

/// RFC 6455 §4.2.1 and §4.1 (the key is base64 of 16 bytes), then the origin policy.
fn model(request: &httparse::Request<'_, '_>) -> Expect {
    if request.method != Some("GET") {
        return Expect::Refuse(405);
    }
    if !has_token(request, "connection", "upgrade") {
        return Expect::Refuse(426);
    }
    if !has_token(request, "upgrade", "websocket") {
        return Expect::Refuse(426);
    }
    if single(request, "sec-websocket-version").map(<[u8]>::trim_ascii) != Some(b"13") {
        return Expect::Refuse(400);
    }
    if !single(request, "sec-websocket-key").is_some_and(key_is_16_bytes) {
        return Expect::Refuse(400);
    }
    if !origin_allowed(request) {
        return Expect::Refuse(403);
    }
    Expect::Upgrade
}

/// Decodes standard base64 (with padding) and checks for exactly 16 bytes, canonically
/// encoded (the unused low bits of the last character are zero).
fn key_is_16_bytes(key: &[u8]) -> bool {
    let key = key.trim_ascii();
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    if key.len() != 24 || !key.ends_with(b"==") {
        return false;
    }
    let mut bits = 0u32;
    let mut nbits = 0;
    let mut bytes = 0;
    for &c in &key[..22] {
        let Some(v) = value(c) else { return false };
        bits = (bits << 6) | v;
        nbits += 6;
        if nbits >= 8 {
            nbits -= 8;
            bytes += 1;
            bits &= (1 << nbits) - 1;
        }
    }
    bytes == 16 && bits == 0
}

/// The default origin policy, modelled: no `Origin` passes; otherwise `scheme://` followed by
/// an authority equal (ignoring ASCII case) to `Host`, where the origin is well formed.
fn origin_allowed(request: &httparse::Request<'_, '_>) -> bool {
    // `HeaderMap::get` is the first value.
    let Some(origin) = all(request, "origin").next() else {
        return true;
    };
    // Validity of the origin's host is the origin target's business; here, compare with
    // what the library decides for the same headers.
    let mut parts = http::Request::builder().uri("/ws");
    for h in request.headers.iter() {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(h.name.as_bytes()),
            http::HeaderValue::from_bytes(h.value),
        ) {
            parts = parts.header(name, value);
        }
    }
    let Ok(req) = parts.body(()) else {
        return false;
    };
    let (parts, ()) = req.into_parts();
    let allowed = ws_controller::origin::same_host(&parts);
    if allowed {
        // Whatever the parsing details, an allowed origin names the Host's authority.
        let origin = std::str::from_utf8(origin).expect("allowed origin is text");
        let (_, authority) = origin
            .split_once("://")
            .expect("allowed origin has a scheme");
        let host = all(request, "host")
            .next()
            .expect("allowed origin needs Host");
        assert!(
            authority.as_bytes().eq_ignore_ascii_case(host),
            "{origin} vs host"
        );
    }
    allowed
}

/// The first of the server's protocols that some `Sec-WebSocket-Protocol` value offers.
fn expected_subprotocol(request: &httparse::Request<'_, '_>) -> Option<&'static str> {
    let offered: Vec<&str> = all(request, "sec-websocket-protocol")
        // `HeaderValue::to_str`: visible ASCII and spaces/tabs only.
        .filter(|v| v.iter().all(|&b| b == b'\t' || (b' '..=b'~').contains(&b)))
        .filter_map(|v| std::str::from_utf8(v).ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    SUPPORTED.into_iter().find(|s| offered.contains(s))
}
