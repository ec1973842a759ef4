//! `examples/auction.rs` over real sockets: the pushes, replies and rooms the example's docs
//! promise, and its AsyncAPI route.

mod common;

#[allow(dead_code)]
#[path = "../examples/auction.rs"]
mod auction;

use std::net::SocketAddr;
use std::time::Duration;

use common::{spawn_server, within};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::WebSocketStream;
use ws_controller::Hub;

type Client = WebSocketStream<TcpStream>;

async fn join(addr: SocketAddr, path: &str) -> Client {
    let stream = within("connect", TcpStream::connect(addr)).await.unwrap();
    let (ws, _) = within(
        "handshake",
        tokio_tungstenite::client_async(format!("ws://{addr}{path}"), stream),
    )
    .await
    .expect("handshake");
    ws
}

async fn recv(ws: &mut Client) -> String {
    loop {
        match within("receive", ws.next())
            .await
            .expect("stream ended")
            .expect("receive")
        {
            WsMessage::Text(text) => return text.as_str().to_owned(),
            WsMessage::Ping(_) | WsMessage::Pong(_) => {}
            other => panic!("expected text, got {other:?}"),
        }
    }
}

async fn send(ws: &mut Client, text: &str) {
    within("send", ws.send(WsMessage::text(text)))
        .await
        .unwrap();
}

async fn http_get(addr: SocketAddr, path: &str) -> String {
    let mut stream = within("connect", TcpStream::connect(addr)).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    within("response", stream.read_to_string(&mut response))
        .await
        .unwrap();
    response
}

#[tokio::test]
async fn bids_reply_and_push_the_price_to_the_lot_only() {
    let addr = spawn_server(auction::app(Hub::new())).await;
    let mut ann = join(addr, "/auction/vase?name=ann").await;
    let mut bob = join(addr, "/auction/vase?name=bob").await;
    let mut carl = join(addr, "/auction/clock?name=carl").await;
    let fresh = r#"{"event":"state","data":{"lot":"vase","price":0,"leader":null}}"#;
    assert_eq!(recv(&mut ann).await, fresh);
    assert_eq!(recv(&mut bob).await, fresh);
    assert_eq!(
        recv(&mut carl).await,
        r#"{"event":"state","data":{"lot":"clock","price":0,"leader":null}}"#
    );

    send(&mut ann, r#"{"event":"bid","data":{"amount":5},"id":1}"#).await;
    let pushed = r#"{"event":"price","data":{"price":5,"leader":"ann"}}"#;
    // The bidder hears the push (queued by the handler) before its reply.
    assert_eq!(recv(&mut ann).await, pushed);
    assert_eq!(
        recv(&mut ann).await,
        r#"{"event":"bid","id":1,"data":{"accepted":true,"price":5}}"#
    );
    assert_eq!(recv(&mut bob).await, pushed);

    // Not above the price: refused in the reply, nobody is told.
    send(&mut bob, r#"{"event":"bid","data":{"amount":5},"id":"b1"}"#).await;
    assert_eq!(
        recv(&mut bob).await,
        r#"{"event":"bid","id":"b1","data":{"accepted":false,"price":5}}"#
    );

    // The other lot heard none of it: its first message after the state is its own bid's push.
    send(&mut carl, r#"{"event":"bid","data":{"amount":1}}"#).await;
    assert_eq!(
        recv(&mut carl).await,
        r#"{"event":"price","data":{"price":1,"leader":"carl"}}"#
    );
    assert_eq!(
        recv(&mut carl).await,
        r#"{"event":"bid","data":{"accepted":true,"price":1}}"#
    );
    // ... and the vase's bidders heard nothing of the clock.
    let quiet = tokio::time::timeout(Duration::from_millis(200), ann.next()).await;
    assert!(quiet.is_err(), "ann received {quiet:?}");

    // A late bidder sees the lot as it stands.
    let mut dave = join(addr, "/auction/vase?name=dave").await;
    assert_eq!(
        recv(&mut dave).await,
        r#"{"event":"state","data":{"lot":"vase","price":5,"leader":"ann"}}"#
    );
}

#[tokio::test]
async fn a_bidder_needs_a_name() {
    let addr = spawn_server(auction::app(Hub::new())).await;
    let stream = TcpStream::connect(addr).await.unwrap();
    let refused =
        tokio_tungstenite::client_async(format!("ws://{addr}/auction/vase"), stream).await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 400)
        }
        other => panic!("expected a 400, got {other:?}"),
    }
}

#[tokio::test]
async fn serves_its_asyncapi_document() {
    let addr = spawn_server(auction::app(Hub::new())).await;
    let response = http_get(addr, "/asyncapi.json").await;
    let (head, body) = response.split_once("\r\n\r\n").expect("a response");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{head}"
    );
    let document: serde_json::Value = serde_json::from_str(body).expect("JSON");
    assert_eq!(document["asyncapi"], "3.0.0");
    assert_eq!(document["channels"]["Auction"]["address"], "/auction/{lot}");
    let operations = document["operations"].as_object().unwrap();
    let mut names: Vec<&str> = operations.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "Auction_push_price",
            "Auction_push_state",
            "Auction_receive_bid"
        ]
    );
    assert_eq!(operations["Auction_receive_bid"]["action"], "receive");
    assert!(document["components"]["schemas"]["BidResult"].is_object());
}
