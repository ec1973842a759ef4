//! The JSON decode path: `<T as FromJson>::from_json` for a few shapes of `T`, and
//! `Conn::recv_json` on an in-memory connection.
//!
//! Checks: no panic (deep nesting included: serde_json's recursion limit must hold); a
//! decoded `Value` re-encodes to JSON that decodes again; and through a connection, a
//! payload that decodes is delivered (the controller echoes it re-encoded) while one that
//! does not yields `ConnError::Json` in the controller and a 1007 "Invalid JSON" close at
//! the client.
#![no_main]

#[path = "common/mod.rs"]
mod common;

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use axum::Router;
use libfuzzer_sys::fuzz_target;
use serde::Deserialize;
use ws_controller::test::{TestError, TestServer};
use ws_controller::{
    CloseCode, CloseStatus, Conn, ConnError, Controller, Error, FromJson, Message,
};

#[global_allocator]
static ALLOC: common::Watchdog = common::Watchdog;

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct Chat {
    room: String,
    text: Option<String>,
    #[serde(default)]
    mentions: Vec<u64>,
    meta: HashMap<String, serde_json::Value>,
    kind: Kind,
    ratio: f64,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[allow(dead_code)]
enum Kind {
    Join { user: String },
    Leave,
    Batch(Vec<Box<Kind>>),
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
#[allow(dead_code)]
enum Loose {
    Pair(u8, String),
    Flag(bool),
    Text(String),
    Nested(Vec<Loose>),
}

/// What the controller's last `recv_json` returned: decoded or a JSON error.
static OUTCOME: Mutex<Option<Result<(), String>>> = Mutex::new(None);

struct Decoder;

impl Controller for Decoder {
    type Extract = ();

    async fn serve(&self, mut conn: Conn, _: ()) -> Result<(), Error> {
        match conn.recv_json::<serde_json::Value>().await {
            Ok(value) => {
                *OUTCOME.lock().unwrap() = Some(Ok(()));
                conn.send_json(&value).await?;
                Ok(())
            }
            Err(ConnError::Json(err)) => {
                *OUTCOME.lock().unwrap() = Some(Err(err.to_string()));
                Err(ConnError::Json(err).into())
            }
            Err(other) => panic!("recv_json failed with {other:?}, not ConnError::Json"),
        }
    }
}

fn app() -> &'static Router {
    static APP: OnceLock<Router> = OnceLock::new();
    APP.get_or_init(|| ws_controller::route("/json", Decoder))
}

fuzz_target!(|data: &[u8]| {
    let value = <serde_json::Value as FromJson>::from_json(data);
    assert_eq!(
        value.is_ok(),
        serde_json::from_slice::<serde_json::Value>(data).is_ok()
    );
    if let Ok(value) = &value {
        let text = serde_json::to_string(value).expect("a Value always encodes");
        serde_json::from_str::<serde_json::Value>(&text).expect("re-encoded JSON decodes");
    }
    let _ = <Chat as FromJson>::from_json(data);
    let _ = <Vec<Loose> as FromJson>::from_json(data);
    let _ = <HashMap<String, Vec<Option<i64>>> as FromJson>::from_json(data);
    let _ = <(String, u16, Kind) as FromJson>::from_json(data);

    // Through a connection: one run in four (it costs a handshake).
    if data.first().is_some_and(|b| b % 4 == 0) {
        through_connection(data, value.is_ok());
    }
});

fn through_connection(data: &[u8], decodes: bool) {
    *OUTCOME.lock().unwrap() = None;
    common::run(Duration::from_secs(60), async {
        let server = TestServer::new(app().clone());
        let mut client = server.connect("/json").await.expect("handshake");
        let message = match std::str::from_utf8(data) {
            Ok(text) => Message::text(text),
            Err(_) => Message::binary(data.to_vec()),
        };
        client.send(message).await.expect("send");
        if decodes {
            let echoed = client
                .recv_text()
                .await
                .expect("the decoded value is echoed");
            // The controller sends `to_string` of what it decoded. (Comparing values after
            // a second decode would trip on serde_json's float parsing, which is not exact
            // without its `float_roundtrip` feature.)
            let original: serde_json::Value = serde_json::from_slice(data).unwrap();
            assert_eq!(echoed, serde_json::to_string(&original).unwrap());
            client
                .expect_close(CloseCode::NORMAL_CLOSURE, "Server closed connection")
                .await;
        } else {
            match client.closed().await {
                Ok(close) => {
                    assert_eq!(
                        close.code,
                        CloseStatus::Code(CloseCode::INVALID_PAYLOAD),
                        "{close:?}"
                    );
                    assert_eq!(close.reason, "Invalid JSON");
                }
                Err(TestError::Closed(close)) => panic!("no close frame: {close:?}"),
                Err(err) => panic!("client failed: {err}"),
            }
        }
        drop(client);
    });
    let outcome = OUTCOME.lock().unwrap().take().expect("the controller ran");
    assert_eq!(outcome.is_ok(), decodes, "{outcome:?}");
}
