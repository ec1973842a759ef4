//! Production limits over real TCP with `ws_controller::serve`: connection caps per route,
//! per server and per client address (503/429 with `Retry-After`, slots freed however a
//! connection ends), request head limits (431), upgrade bodies (400), the bounded copy of
//! the request a connection keeps, and the inbound rate limit.

mod common;

use std::future::IntoFuture;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use http::HeaderName;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use ws_controller::{Conn, Controller, Error, RateLimit, RateLimitAction, Settings};

use common::*;

/// Echoes text; "headers" answers with the names of the headers the connection kept;
/// "panic" panics.
struct Echo(Settings);

impl Controller for Echo {
    type Extract = ();

    fn settings(&self) -> Settings {
        self.0.clone()
    }

    async fn serve(&self, mut conn: Conn, _: ()) -> Result<(), Error> {
        loop {
            let message = conn.recv().await?;
            match message.as_text() {
                Some("panic") => panic!("on purpose"),
                Some("headers") => {
                    let names: Vec<_> = conn.headers().keys().map(|n| n.as_str()).collect();
                    conn.send_text(names.join(",")).await?;
                }
                _ => conn.send(message).await?,
            }
        }
    }
}

async fn serve(
    app: Router,
    server: impl FnOnce(ws_controller::Server) -> ws_controller::Server,
) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(server(ws_controller::serve(listener, app)).into_future());
    addr
}

/// A router with `settings` at `/ws`, and a receiver that gets one `()` per connection once
/// it is entirely over (its limit slots freed).
fn echo(settings: Settings) -> (Router, mpsc::UnboundedReceiver<()>) {
    with_done_signal(ws_controller::route("/ws", Echo(settings)))
}

async fn refused(addr: SocketAddr, request: &Req) -> HttpResponse {
    let response = http(addr, request).await;
    assert_ne!(response.status, 101, "upgrade accepted: {response:?}");
    response
}

#[tokio::test]
async fn the_route_cap_refuses_with_503_and_frees_a_slot_however_a_connection_ends() {
    let (app, mut done) = echo(Settings::default().max_connections(Some(2)));
    let addr = serve(app, |s| s).await;
    let mut first = connect(addr, "/ws").await;
    let mut second = connect(addr, "/ws").await;

    let response = refused(addr, &Req::upgrade("/ws")).await;
    response.assert_json_error(503, "Service Unavailable");
    assert_eq!(response.header("retry-after"), Some("5"));

    // A clean close frees a slot...
    assert_eq!(
        client_close(&mut first, 1000, "").await,
        (1000, String::new())
    );
    next_event(&mut done).await;
    let third = connect(addr, "/ws").await;
    refused(addr, &Req::upgrade("/ws"))
        .await
        .assert_json_error(503, "Service Unavailable");

    // ...and so does a panic, and a peer that vanishes.
    send_text(&mut second, "panic").await;
    assert_eq!(expect_close(&mut second).await.0, 1011);
    next_event(&mut done).await;
    let fourth = connect(addr, "/ws").await;
    drop(third);
    next_event(&mut done).await;
    let mut fifth = connect(addr, "/ws").await;
    send_text(&mut fifth, "still serving").await;
    assert_eq!(recv_text(&mut fifth).await, "still serving");
    drop(fourth);
}

#[tokio::test]
async fn the_server_cap_counts_every_route_and_the_hook_sees_the_reason() {
    let app = Router::new()
        .merge(ws_controller::route(
            "/a",
            Echo(Settings::default().debug(true)),
        ))
        .merge(ws_controller::route(
            "/b",
            Echo(Settings::default().debug(true)),
        ));
    let addr = serve(app, |s| s.max_connections(Some(1))).await;
    let _a = connect(addr, "/a").await;
    let response = refused(addr, &Req::upgrade("/b")).await;
    response.assert_json_error(503, "too many connections on this server (limit 1)");
    assert_eq!(response.header("retry-after"), Some("5"));
}

#[tokio::test]
async fn the_per_client_cap_answers_429_and_can_trust_a_proxy_header() {
    let settings = Settings::default()
        .max_connections_per_client(Some(1))
        .retry_after(Duration::from_millis(1500));
    let (app, _done) = echo(settings.clone());
    let addr = serve(app, |s| s).await;
    let _one = connect(addr, "/ws").await;
    let response = refused(addr, &Req::upgrade("/ws")).await;
    response.assert_json_error(429, "Too Many Requests");
    assert_eq!(response.header("retry-after"), Some("2"));

    // Behind a trusted proxy, clients are told apart by the header it appends.
    let header = HeaderName::from_static("x-forwarded-for");
    let (app, _done) = echo(settings.client_address_header(Some(header)));
    let addr = serve(app, |s| s).await;
    let from =
        |ip: &str| Req::upgrade("/ws").header("X-Forwarded-For", &format!("198.51.100.9, {ip}"));
    let _a = raw_upgrade(addr, &from("203.0.113.1")).await;
    let _b = raw_upgrade(addr, &from("203.0.113.2")).await;
    refused(addr, &from("203.0.113.1"))
        .await
        .assert_json_error(429, "Too Many Requests");
}

#[tokio::test]
async fn an_upgrade_with_a_body_is_refused_with_400() {
    let (app, _done) = echo(Settings::default().debug(true));
    let addr = serve(app, |s| s).await;
    let with_body = Req::upgrade("/ws").body(b"not WebSocket bytes");
    let response = refused(addr, &with_body).await;
    response.assert_json_error(400, "a WebSocket upgrade request must not have a body");
    let chunked = Req::upgrade("/ws").header("Transfer-Encoding", "chunked");
    let response = http(addr, &chunked).await;
    assert_eq!(response.status, 400, "{response:?}");
    // `Content-Length: 0` is no body.
    raw_upgrade(addr, &Req::upgrade("/ws").header("Content-Length", "0")).await;
}

#[tokio::test]
async fn request_heads_are_limited_to_16_kib_and_100_headers_by_default() {
    let (app, _done) = echo(Settings::default());
    let addr = serve(app, |s| s).await;
    let sized = |bytes: usize| Req::upgrade("/ws").header("x-filler", &"a".repeat(bytes));
    raw_upgrade(addr, &sized(15 << 10)).await;
    assert_eq!(http(addr, &sized(17 << 10)).await.status, 431);
    let many = |count: usize| {
        (0..count).fold(Req::upgrade("/ws"), |r, i| r.header(&format!("x-{i}"), "1"))
    };
    raw_upgrade(addr, &many(90)).await;
    assert_eq!(http(addr, &many(120)).await.status, 431);

    let (app, _done) = echo(Settings::default());
    let addr = serve(app, |s| s.max_request_head(64 << 10).max_headers(200)).await;
    raw_upgrade(addr, &sized(40 << 10)).await;
    raw_upgrade(addr, &many(150)).await;
}

#[tokio::test]
async fn a_connection_keeps_its_headers_only_up_to_the_budget() {
    let (app, _done) = echo(Settings::default());
    let addr = serve(app, |s| s.max_request_head(64 << 10)).await;
    let request = Req::upgrade("/ws")
        .header("x-big", &"b".repeat(10 << 10))
        .header("x-small", "1");
    let (_, mut raw) = raw_upgrade(addr, &request).await;
    raw.send_frame(&client_frame(OP_TEXT, b"headers")).await;
    let kept = raw.read_non_ping().await.unwrap();
    assert_eq!(
        std::str::from_utf8(&kept.payload).unwrap(),
        "host,connection,upgrade,sec-websocket-version,sec-websocket-key,x-small"
    );

    let (app, _done) = echo(Settings::default().kept_headers_bytes(64 << 10));
    let addr = serve(app, |s| s.max_request_head(64 << 10)).await;
    let (_, mut raw) = raw_upgrade(addr, &request).await;
    raw.send_frame(&client_frame(OP_TEXT, b"headers")).await;
    let kept = raw.read_non_ping().await.unwrap();
    assert!(std::str::from_utf8(&kept.payload)
        .unwrap()
        .contains("x-big"));
}

/// Sends `count` numbered messages in one write, then returns the echoes received before the
/// server's close frame (which the client answers after `close` when `close` is set).
async fn burst(raw: &mut RawConn, count: usize, close: bool) -> (Vec<String>, (u16, String)) {
    let mut frames = Vec::new();
    for i in 0..count {
        frames.extend(client_frame(OP_TEXT, i.to_string().as_bytes()));
    }
    if close {
        frames.extend(client_frame(OP_CLOSE, &close_payload(1000, "")));
    }
    raw.write(&frames).await;
    let mut echoes = Vec::new();
    loop {
        let frame = raw
            .read_non_ping()
            .await
            .expect("closed without a close frame");
        if frame.opcode == OP_CLOSE {
            return (echoes, frame.close());
        }
        echoes.push(String::from_utf8(frame.payload).unwrap());
    }
}

#[tokio::test]
async fn past_the_rate_limit_a_connection_is_closed_with_1008() {
    let limit = RateLimit::messages(5);
    let (app, _done) = echo(Settings::default().rate_limit(Some(limit)));
    let addr = serve(app, |s| s).await;
    let (_, mut raw) = raw_upgrade(addr, &Req::upgrade("/ws")).await;
    let (echoes, close) = burst(&mut raw, 10, false).await;
    assert_eq!(echoes, ["0", "1", "2", "3", "4"]);
    assert_eq!(close, (1008, "rate limit exceeded".to_owned()));
}

#[tokio::test]
async fn past_the_rate_limit_messages_can_be_dropped_instead() {
    let limit = RateLimit::bytes(10).action(RateLimitAction::Drop);
    let (app, _done) = echo(Settings::default().rate_limit(Some(limit)));
    let addr = serve(app, |s| s).await;
    let (_, mut raw) = raw_upgrade(addr, &Req::upgrade("/ws")).await;
    // Ten one-byte messages fill the 10-byte bucket; the rest are dropped, the connection
    // stays open, and the client's close is echoed.
    let (echoes, close) = burst(&mut raw, 30, true).await;
    let expected: Vec<String> = (0..10).map(|i| i.to_string()).collect();
    assert_eq!(echoes, expected);
    assert_eq!(close, (1000, String::new()));
}

/// The macro's rate-limit keys.
struct Limited;

#[ws_controller::ws_controller(path = "/limited", rate_limit_messages = 3, rate_limit_action = drop)]
impl Limited {
    #[on_text]
    async fn text(&self, text: String) -> String {
        text
    }
}

#[tokio::test]
async fn the_attribute_sets_a_rate_limit_that_drops() {
    let addr = serve(Limited.into_router(), |s| s).await;
    let (_, mut raw) = raw_upgrade(addr, &Req::upgrade("/limited")).await;
    let (echoes, close) = burst(&mut raw, 10, true).await;
    assert_eq!(echoes, ["0", "1", "2"]);
    assert_eq!(close, (1000, String::new()));
}
