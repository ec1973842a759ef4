//! The AsyncAPI documents the crate generates, checked by the official parser
//! (`@asyncapi/parser`, pinned in `tests/asyncapi/package.json`; `.ci/run` installs it with
//! `npm ci`), and their shape.

#[allow(dead_code)]
#[path = "../examples/auction.rs"]
mod auction;

#[allow(dead_code)]
#[path = "../examples/chat.rs"]
mod chat;

#[allow(dead_code)]
#[path = "../examples/feed.rs"]
mod feed;

use std::path::{Path, PathBuf};
use std::process::Command;

use axum::extract::Path as UrlPath;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use ws_controller::asyncapi::{AsyncApi, Channel, PayloadSchema, Reply};
use ws_controller::{ws_controller, Conn, Error, Json};

#[derive(Deserialize, schemars::JsonSchema)]
struct FileCommand {
    op: String,
}

#[derive(Serialize, schemars::JsonSchema)]
struct Tick {
    n: u64,
}

/// Text, binary and JSON handlers, a catch-all route.
struct Files;

#[ws_controller(path = "/files/{owner}/{*rest}", asyncapi = true, emits = [Tick])]
impl Files {
    #[on_open]
    async fn open(
        &self,
        UrlPath((owner, rest)): UrlPath<(String, String)>,
    ) -> Result<String, Error> {
        Ok(format!("{owner}/{rest}"))
    }

    #[on_json]
    async fn command(&self, file: &mut String, command: FileCommand) -> String {
        format!("{file}: {}", command.op)
    }

    #[on_binary]
    async fn raw(&self, data: Vec<u8>) -> Vec<u8> {
        data
    }
}

/// A text handler that answers with JSON.
struct Counter;

#[ws_controller(path = "/count", asyncapi = true)]
impl Counter {
    #[on_text]
    async fn count(&self, text: String) -> Json<Tick> {
        Json(Tick {
            n: text.len() as u64,
        })
    }
}

/// Custom envelope names.
struct Phoenix;

#[ws_controller(
    path = "/phoenix",
    asyncapi = true,
    event_field = "topic",
    data_field = "payload",
    id_field = "ref"
)]
impl Phoenix {
    #[on_event("join")]
    async fn join(&self, _conn: &Conn) -> Json<bool> {
        Json(true)
    }
}

fn documents() -> Vec<(&'static str, Value)> {
    let hand_written = Channel::new("Echo", "/echo")
        .receive_text(Some(Reply::Any))
        .send_text()
        .send_binary()
        .send_json(<Tick as PayloadSchema>::schema);
    let several = AsyncApi::new("Everything", "0.1.0")
        .description("Several controllers in one document.")
        .server("production", "example.com", "wss")
        .server("local", "127.0.0.1:3000", "ws")
        .controller::<Files>()
        .controller::<Phoenix>()
        .controller::<Counter>()
        .channel(hand_written)
        .to_json();
    vec![
        ("auction", auction::api().to_json()),
        ("chat", chat::api().to_json()),
        ("several", several),
        ("feed", feed::api().to_json()),
    ]
}

#[test]
fn documents_have_the_controllers_shape() {
    let docs = documents();
    let auction = &docs[0].1;
    let bid = &auction["channels"]["Auction"]["messages"]["receive_bid"]["payload"];
    assert_eq!(bid["properties"]["event"], json!({"const": "bid"}));
    assert_eq!(
        bid["properties"]["data"],
        json!({"$ref": "#/components/schemas/Bid"})
    );
    let reply = &auction["operations"]["Auction_receive_bid"]["reply"]["messages"];
    assert_eq!(
        reply,
        &json!([
            {"$ref": "#/channels/Auction/messages/reply_bid"},
            {"$ref": "#/channels/Auction/messages/error_bid"}
        ])
    );
    assert_eq!(
        auction["servers"]["local"],
        json!({"host": "127.0.0.1:3000", "protocol": "ws"})
    );

    let several = &docs[2].1;
    let files = &several["channels"]["Files"];
    assert_eq!(files["address"], "/files/{owner}/{rest}");
    assert_eq!(
        files["parameters"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        ["owner", "rest"]
    );
    assert_eq!(
        files["messages"]["receive_binary"]["contentType"],
        "application/octet-stream"
    );
    assert_eq!(
        several["channels"]["Echo"]["messages"]["receive_text"]["contentType"],
        "text/plain"
    );
    // Plain handlers' replies, from their return types.
    let reply_of = |operation: &str| {
        several["operations"][operation]["reply"]["messages"]
            .as_array()
            .map(|m| {
                m.iter()
                    .map(|r| r["$ref"].as_str().unwrap().to_owned())
                    .collect::<Vec<_>>()
            })
    };
    let json_op = files_operation(several, "receive_json_");
    assert_eq!(
        reply_of(&json_op),
        Some(vec![format!(
            "#/channels/Files/messages/{}_reply",
            json_op.trim_start_matches("Files_")
        )])
    );
    let json_reply = &files["messages"][format!("{}_reply", json_op.trim_start_matches("Files_"))];
    assert_eq!(
        json_reply["contentType"], "text/plain",
        "a String reply is text"
    );
    assert_eq!(
        files["messages"]["receive_binary_reply"]["contentType"],
        "application/octet-stream"
    );
    let counted = &several["channels"]["Counter"]["messages"]["receive_text_reply"];
    assert_eq!(counted["contentType"], "application/json");
    assert_eq!(
        counted["payload"],
        json!({"$ref": "#/components/schemas/Tick"}),
        "a Json<Tick> reply"
    );
    assert_eq!(
        reply_of("Echo_receive_text"),
        Some(vec![
            "#/channels/Echo/messages/receive_text_reply_text".to_owned(),
            "#/channels/Echo/messages/receive_text_reply_binary".to_owned(),
        ])
    );
    assert_eq!(reply_of("Echo_send_text"), None);
    let join = &several["channels"]["Phoenix"]["messages"]["reply_join"]["payload"];
    assert_eq!(join["required"], json!(["topic", "payload"]));
    assert!(join["properties"]["ref"].is_object());
}

/// The id of the `Files` operation whose id starts with `prefix` (JSON operations are
/// numbered by their place in the channel).
fn files_operation(document: &Value, prefix: &str) -> String {
    let operations = document["operations"].as_object().unwrap();
    let found = operations
        .keys()
        .find(|k| k.starts_with(&format!("Files_{prefix}")));
    found.expect("the operation").clone()
}

fn parser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/asyncapi")
}

#[test]
fn the_official_parser_accepts_every_document() {
    let dir = parser_dir();
    assert!(
        dir.join("node_modules/@asyncapi/parser").is_dir(),
        "the AsyncAPI parser is not installed: run `(cd tests/asyncapi && npm ci)` (node 20+)"
    );
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("asyncapi");
    std::fs::create_dir_all(&out).unwrap();
    let files: Vec<PathBuf> = documents()
        .into_iter()
        .map(|(name, document)| {
            let file = out.join(format!("{name}.json"));
            std::fs::write(&file, serde_json::to_string_pretty(&document).unwrap()).unwrap();
            file
        })
        .collect();
    let output = Command::new("node")
        .arg(dir.join("validate.mjs"))
        .args(&files)
        .output()
        .expect("run node");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "the AsyncAPI parser refused a document:\n{report}"
    );
    assert_eq!(
        report.matches("valid AsyncAPI 3.0.0").count(),
        files.len(),
        "{report}"
    );
}

#[test]
fn the_parser_check_can_fail() {
    // A document the parser must refuse, so a broken check cannot pass silently.
    let dir = parser_dir();
    let file = Path::new(env!("CARGO_TARGET_TMPDIR")).join("asyncapi-invalid.json");
    let mut document = documents().remove(0).1;
    document["operations"]["Auction_receive_bid"]["action"] = json!("listen");
    std::fs::write(&file, document.to_string()).unwrap();
    let output = Command::new("node")
        .arg(dir.join("validate.mjs"))
        .arg(&file)
        .output()
        .expect("run node");
    assert!(
        !output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
}
