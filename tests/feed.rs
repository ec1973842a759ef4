//! `examples/feed.rs` over real sockets: the wire its docs promise (`$joined`, numbered
//! posts to every member, the reply with the offset, recovery on reconnect), its AsyncAPI
//! document and its page.

mod common;

#[allow(dead_code)]
#[path = "../examples/feed.rs"]
mod feed;

use std::net::SocketAddr;

use common::{connect, http, recv_text, send_text, spawn_server, Req, Ws};
use serde_json::Value;
use ws_controller::Hub;

async fn start(size: usize) -> (Hub, SocketAddr) {
    let hub = feed::hub(size);
    (hub.clone(), spawn_server(feed::app(hub)).await)
}

fn epoch(hub: &Hub, channel: &str) -> String {
    hub.history_state(channel).unwrap().epoch.to_string()
}

fn post(channel: &str, epoch: &str, offset: u64, author: &str, text: &str) -> String {
    format!(
        r#"{{"event":"post","room":"{channel}","epoch":"{epoch}","offset":{offset},"data":{{"author":"{author}","text":"{text}"}}}}"#
    )
}

async fn say(ws: &mut Ws, id: u64, text: &str) {
    send_text(
        ws,
        &format!(r#"{{"event":"post","data":{{"text":"{text}"}},"id":{id}}}"#),
    )
    .await;
}

#[tokio::test]
async fn posts_are_numbered_pushed_to_every_member_and_answered_with_their_offset() {
    let (hub, addr) = start(100).await;
    let mut ann = connect(addr, "/feed/rust?name=ann").await;
    let first = recv_text(&mut ann).await;
    let e = epoch(&hub, "rust");
    assert_eq!(
        first,
        format!(r#"{{"event":"$joined","room":"rust","data":{{"epoch":"{e}","offset":0}}}}"#)
    );
    let mut bob = connect(addr, "/feed/rust?name=bob").await;
    recv_text(&mut bob).await;
    let mut carl = connect(addr, "/feed/go?name=carl").await;
    recv_text(&mut carl).await;

    say(&mut ann, 1, "hi").await;
    assert_eq!(recv_text(&mut ann).await, post("rust", &e, 1, "ann", "hi"));
    assert_eq!(
        recv_text(&mut ann).await,
        r#"{"event":"post","id":1,"data":{"offset":1}}"#
    );
    assert_eq!(recv_text(&mut bob).await, post("rust", &e, 1, "ann", "hi"));
    say(&mut bob, 7, "yo").await;
    assert_eq!(recv_text(&mut bob).await, post("rust", &e, 2, "bob", "yo"));
    assert_eq!(
        recv_text(&mut bob).await,
        r#"{"event":"post","id":7,"data":{"offset":2}}"#
    );
    assert_eq!(recv_text(&mut ann).await, post("rust", &e, 2, "bob", "yo"));

    // Another channel has its own history; `$`-events are the protocol's, not handlers'.
    say(&mut carl, 1, "gopher").await;
    let go = epoch(&hub, "go");
    assert_eq!(
        recv_text(&mut carl).await,
        post("go", &go, 1, "carl", "gopher")
    );
    recv_text(&mut carl).await;
    send_text(&mut carl, r#"{"event":"$joined","id":2}"#).await;
    assert_eq!(
        recv_text(&mut carl).await,
        r#"{"event":"$joined","id":2,"error":{"code":"unknown_event","message":"no handler for event `$joined`"}}"#
    );
}

#[tokio::test]
async fn a_reconnect_gets_what_it_missed_or_is_told_it_is_lost() {
    let (hub, addr) = start(3).await;
    let mut ann = connect(addr, "/feed/news?name=ann").await;
    recv_text(&mut ann).await;
    for (id, text) in [(1, "a"), (2, "b"), (3, "c"), (4, "d")] {
        say(&mut ann, id, text).await;
        recv_text(&mut ann).await;
        recv_text(&mut ann).await;
    }
    let e = epoch(&hub, "news");
    let mut back = connect(addr, &format!("/feed/news?name=bob&since={e}%3A2%3Anews")).await;
    assert_eq!(recv_text(&mut back).await, post("news", &e, 3, "ann", "c"));
    assert_eq!(recv_text(&mut back).await, post("news", &e, 4, "ann", "d"));
    assert_eq!(
        recv_text(&mut back).await,
        format!(
            r#"{{"event":"$joined","room":"news","data":{{"epoch":"{e}","offset":4,"recovered":true,"missed":2}}}}"#
        )
    );
    // Post 1 is no longer kept (size 3).
    let mut old = connect(addr, &format!("/feed/news?name=bob&since={e}:0:news")).await;
    assert_eq!(
        recv_text(&mut old).await,
        format!(
            r#"{{"event":"$joined","room":"news","data":{{"epoch":"{e}","offset":4,"recovered":false,"missed":0}}}}"#
        )
    );
    let response = http(addr, &Req::upgrade("/feed/news?name=bob&since=nope")).await;
    response.assert_json_error(400, "Bad Request");
}

#[tokio::test]
async fn the_asyncapi_document_describes_positions_and_joined() {
    let (_hub, addr) = start(3).await;
    let response = http(addr, &Req::get("/asyncapi.json")).await;
    assert_eq!(response.status, 200);
    let document: Value = serde_json::from_str(response.text()).unwrap();
    let messages = &document["channels"]["Feed"]["messages"];
    let push = &messages["push_post"]["payload"]["properties"];
    assert_eq!(push["offset"]["type"], "integer");
    assert_eq!(push["epoch"]["pattern"], "^[A-Za-z0-9_-]+$");
    assert_eq!(push["room"]["type"], "string");
    let joined = &messages["push_joined"];
    assert_eq!(joined["name"], "$joined");
    let data = &joined["payload"]["properties"]["data"];
    assert_eq!(data["required"], serde_json::json!(["epoch", "offset"]));
    assert_eq!(data["properties"]["recovered"]["type"], "boolean");
    assert_eq!(document["operations"]["Feed_push_joined"]["action"], "send");
}

#[tokio::test]
async fn the_page_uses_the_typescript_client_from_disk() {
    let (_hub, addr) = start(3).await;
    let page = http(addr, &Req::get("/")).await;
    assert_eq!(page.status, 200);
    assert!(page
        .text()
        .contains(r#"import { connect } from "/client/index.js""#));
    let built = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("clients/typescript/dist/index.js")
        .exists();
    let client = http(addr, &Req::get("/client/index.js")).await;
    if built {
        assert_eq!(client.status, 200);
        assert_eq!(client.header("content-type"), Some("text/javascript"));
    } else {
        assert_eq!(
            (client.status, client.text()),
            (404, feed::CLIENT_NOT_BUILT)
        );
    }
    for path in [
        "/client/..%2FCargo.toml",
        "/client/.hidden.js",
        "/client/index.ts",
    ] {
        let refused = http(addr, &Req::get(path)).await;
        assert_eq!(
            (refused.status, refused.text()),
            (404, feed::CLIENT_NOT_BUILT),
            "{path}"
        );
    }
}
