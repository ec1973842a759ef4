//! Event controllers over real sockets: routing by event, replies with the request's id,
//! error replies that keep the connection, 1007 for non-envelopes, custom field names,
//! extractors in every handler, connection data, typed pushes and hub queries.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use common::{spawn_server, within};
use futures_util::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::WebSocketStream;
use ws_controller::{ws_controller, CloseStatus, Conn, ConnId, Error, Hub, Json, Reject};

type Client = WebSocketStream<TcpStream>;

async fn connect(addr: SocketAddr, path: &str) -> Client {
    let stream = within("connect", TcpStream::connect(addr)).await.unwrap();
    let url = format!("ws://{addr}{path}");
    let (ws, _) = within("handshake", tokio_tungstenite::client_async(url, stream))
        .await
        .expect("handshake");
    ws
}

async fn recv(ws: &mut Client) -> WsMessage {
    loop {
        let message = within("receive", ws.next())
            .await
            .expect("stream ended")
            .expect("receive");
        if !matches!(message, WsMessage::Ping(_) | WsMessage::Pong(_)) {
            return message;
        }
    }
}

async fn recv_text(ws: &mut Client) -> String {
    match recv(ws).await {
        WsMessage::Text(text) => text.as_str().to_owned(),
        other => panic!("expected text, got {other:?}"),
    }
}

async fn send(ws: &mut Client, text: &str) {
    within("send", ws.send(WsMessage::text(text)))
        .await
        .unwrap();
}

async fn expect_close(ws: &mut Client, code: u16, reason: &str) {
    match recv(ws).await {
        WsMessage::Close(Some(frame)) => {
            assert_eq!(u16::from(frame.code), code, "{}", frame.reason);
            assert_eq!(frame.reason.as_str(), reason);
        }
        other => panic!("expected close {code}, got {other:?}"),
    }
    // Reading on sends our close reply; the server then drops TCP.
    within("end of stream", async {
        while let Some(Ok(_)) = ws.next().await {}
    })
    .await;
}

/// An extractor that counts how often it runs.
#[derive(Clone)]
struct Counted(usize);

impl FromRequestParts<AppState> for Counted {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(_: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let count = state.extractions.fetch_add(1, Ordering::SeqCst) + 1;
        Ok(Counted(count))
    }
}

#[derive(Clone)]
struct AppState {
    extractions: Arc<AtomicUsize>,
    closed: Arc<AtomicUsize>,
    hub: Hub,
}

impl axum::extract::FromRef<AppState> for Hub {
    fn from_ref(state: &AppState) -> Hub {
        state.hub.clone()
    }
}

#[derive(Clone, Debug, PartialEq)]
struct User {
    id: u64,
}

#[derive(Deserialize)]
struct Bid {
    amount: u64,
}

#[derive(Serialize)]
struct Accepted {
    price: u64,
}

#[derive(Deserialize)]
struct Notify {
    user: u64,
    text: String,
}

struct Desk;

#[ws_controller(path = "/desk/{user}", debug = false)]
impl Desk {
    #[on_open]
    async fn open(
        &self,
        conn: &Conn,
        Path(user): Path<u64>,
        State(hub): State<Hub>,
    ) -> Result<u32, Error> {
        hub.register(conn);
        conn.insert(User { id: user });
        Ok(0)
    }

    /// A value is the reply; `Reject` an error reply.
    #[on_event("bid")]
    async fn bid(
        &self,
        bids: &mut u32,
        counted: Counted,
        bid: Bid,
    ) -> Result<Json<Accepted>, Reject> {
        *bids += 1;
        // Every call gets a clone of the one extraction.
        assert_eq!(counted.0, 1);
        if bid.amount == 0 {
            return Err(Reject::new("too_low", "bid more than 0"));
        }
        Ok(Json(Accepted { price: bid.amount }))
    }

    /// A `Reject` inside `Error` is still an error reply; another error ends the connection.
    #[on_event("fail")]
    async fn fail(&self, how: String) -> Result<(), Error> {
        match how.as_str() {
            "reject" => Err(Reject::new("nope", "rejected through Error").into()),
            _ => Err(Error::msg("boom")),
        }
    }

    /// No data, no reply.
    #[on_event("ping")]
    async fn ping(&self) {}

    #[on_event("whoami")]
    async fn whoami(&self, conn: &Conn) -> Json<ConnId> {
        Json(conn.id())
    }

    /// Every connection of one user, through the connection data.
    #[on_event("notify")]
    async fn notify(&self, State(hub): State<Hub>, notify: Notify) -> Result<Json<usize>, Error> {
        let found = hub.find(|user: &User| user.id == notify.user).len();
        hub.emit_where(|user: &User| user.id == notify.user, "notice", &notify.text)
            .await?;
        Ok(Json(found))
    }

    #[on_binary]
    async fn raw(&self, data: Vec<u8>) -> Vec<u8> {
        data
    }

    #[on_close]
    async fn left(
        &self,
        _bids: u32,
        State(state): State<AppState>,
        _status: CloseStatus,
        _reason: &str,
    ) {
        state.closed.fetch_add(1, Ordering::SeqCst);
    }
}

fn state() -> AppState {
    AppState {
        extractions: Arc::default(),
        closed: Arc::default(),
        hub: Hub::new(),
    }
}

async fn desk(state: &AppState) -> SocketAddr {
    spawn_server(Desk.into_router().with_state(state.clone())).await
}

#[tokio::test]
async fn replies_carry_the_event_and_the_request_id() {
    let state = state();
    let addr = desk(&state).await;
    let mut ws = connect(addr, "/desk/1").await;
    send(&mut ws, r#"{"event":"bid","data":{"amount":5},"id":7}"#).await;
    assert_eq!(
        recv_text(&mut ws).await,
        r#"{"event":"bid","id":7,"data":{"price":5}}"#
    );
    send(&mut ws, r#"{"id":"x","data":{"amount":6},"event":"bid"}"#).await;
    assert_eq!(
        recv_text(&mut ws).await,
        r#"{"event":"bid","id":"x","data":{"price":6}}"#
    );
    send(&mut ws, r#"{"event":"bid","data":{"amount":8}}"#).await;
    assert_eq!(
        recv_text(&mut ws).await,
        r#"{"event":"bid","data":{"price":8}}"#
    );
    // No reply for `()`: the next message is the binary echo.
    send(&mut ws, r#"{"event":"ping","id":1}"#).await;
    within("send", ws.send(WsMessage::binary(vec![1, 2])))
        .await
        .unwrap();
    assert_eq!(recv(&mut ws).await, WsMessage::binary(vec![1, 2]));
    // The extractor ran once, at the upgrade, although the handler took it three times.
    assert_eq!(state.extractions.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn error_replies_keep_the_connection() {
    let state = state();
    let addr = desk(&state).await;
    let mut ws = connect(addr, "/desk/1").await;
    send(&mut ws, r#"{"event":"sell","id":1}"#).await;
    assert_eq!(
        recv_text(&mut ws).await,
        r#"{"event":"sell","id":1,"error":{"code":"unknown_event","message":"no handler for event `sell`"}}"#
    );
    send(
        &mut ws,
        r#"{"event":"bid","data":{"amount":"lots"},"id":2}"#,
    )
    .await;
    assert_eq!(
        recv_text(&mut ws).await,
        r#"{"event":"bid","id":2,"error":{"code":"invalid_data","message":"invalid data for this event"}}"#
    );
    send(&mut ws, r#"{"event":"bid","id":3}"#).await;
    assert_eq!(
        recv_text(&mut ws).await,
        r#"{"event":"bid","id":3,"error":{"code":"invalid_data","message":"invalid data for this event"}}"#
    );
    send(&mut ws, r#"{"event":"bid","data":{"amount":0},"id":4}"#).await;
    assert_eq!(
        recv_text(&mut ws).await,
        r#"{"event":"bid","id":4,"error":{"code":"too_low","message":"bid more than 0"}}"#
    );
    send(&mut ws, r#"{"event":"fail","data":"reject","id":5}"#).await;
    assert_eq!(
        recv_text(&mut ws).await,
        r#"{"event":"fail","id":5,"error":{"code":"nope","message":"rejected through Error"}}"#
    );
    // Still open, still served.
    send(&mut ws, r#"{"event":"bid","data":{"amount":1},"id":6}"#).await;
    assert_eq!(
        recv_text(&mut ws).await,
        r#"{"event":"bid","id":6,"data":{"price":1}}"#
    );
    // Any other error ends it through the error path.
    send(&mut ws, r#"{"event":"fail","data":"crash","id":7}"#).await;
    expect_close(&mut ws, 1011, "Internal Server Error").await;
}

#[tokio::test]
async fn a_text_message_that_is_not_an_envelope_closes_with_1007() {
    for bad in [
        "hello",
        "[1]",
        r#"{"data":1}"#,
        r#"{"event":7}"#,
        r#"{"event":"bid","id":[1]}"#,
    ] {
        let state = state();
        let addr = desk(&state).await;
        let mut ws = connect(addr, "/desk/1").await;
        send(&mut ws, bad).await;
        expect_close(&mut ws, 1007, "Invalid event envelope").await;
        // `on_close` ran, with the `State` it took.
        within("on_close", async {
            while state.closed.load(Ordering::SeqCst) == 0 {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
        })
        .await;
    }
}

#[tokio::test]
async fn hub_queries_over_connection_data_and_conn_ids_round_trip() {
    let state = state();
    let addr = desk(&state).await;
    let mut ann_phone = connect(addr, "/desk/7").await;
    let mut ann_laptop = connect(addr, "/desk/7").await;
    let mut bob = connect(addr, "/desk/8").await;
    // Every connection is registered once `open` ran: ask each for its id.
    let mut ids = Vec::new();
    for ws in [&mut ann_phone, &mut ann_laptop, &mut bob] {
        send(ws, r#"{"event":"whoami"}"#).await;
        let reply: serde_json::Value = serde_json::from_str(&recv_text(ws).await).unwrap();
        let id: ConnId = serde_json::from_value(reply["data"].clone()).unwrap();
        assert_eq!(id.to_string().parse::<ConnId>().unwrap(), id);
        ids.push(id);
    }
    assert_eq!(
        state.hub.get(ids[2]).and_then(|s| s.get::<User>()),
        Some(User { id: 8 })
    );

    send(
        &mut bob,
        r#"{"event":"notify","data":{"user":7,"text":"hi ann"},"id":1}"#,
    )
    .await;
    assert_eq!(
        recv_text(&mut bob).await,
        r#"{"event":"notify","id":1,"data":2}"#
    );
    let notice = r#"{"event":"notice","data":"hi ann"}"#;
    assert_eq!(recv_text(&mut ann_phone).await, notice);
    assert_eq!(recv_text(&mut ann_laptop).await, notice);
}

struct Phoenix;

#[ws_controller(
    path = "/phoenix",
    event_field = "topic",
    data_field = "payload",
    id_field = "ref",
    error_field = "reason",
    debug = true
)]
impl Phoenix {
    #[on_open]
    async fn open(&self, conn: &Conn) -> Result<(), Error> {
        conn.emit("hello", &true).await?;
        Ok(())
    }

    #[on_event("add")]
    async fn add(&self, numbers: Vec<i64>) -> Json<i64> {
        Json(numbers.iter().sum())
    }
}

#[tokio::test]
async fn field_names_are_configurable() {
    let addr = spawn_server(Phoenix.into_router()).await;
    let mut ws = connect(addr, "/phoenix").await;
    assert_eq!(
        recv_text(&mut ws).await,
        r#"{"topic":"hello","payload":true}"#
    );
    send(&mut ws, r#"{"topic":"add","payload":[1,2,3],"ref":"r1"}"#).await;
    assert_eq!(
        recv_text(&mut ws).await,
        r#"{"topic":"add","ref":"r1","payload":6}"#
    );
    // With debug, `invalid_data` carries serde's message.
    send(&mut ws, r#"{"topic":"add","payload":"x","ref":2}"#).await;
    assert_eq!(
        recv_text(&mut ws).await,
        r#"{"topic":"add","ref":2,"reason":{"code":"invalid_data","message":"invalid type: string \"x\", expected a sequence"}}"#
    );
    // The default names are not envelopes here.
    send(&mut ws, r#"{"event":"add","data":[1]}"#).await;
    expect_close(&mut ws, 1007, "Invalid event envelope").await;
}

#[test]
fn route_refuses_a_path_the_controller_was_not_declared_on() {
    let mounted = std::panic::catch_unwind(|| {
        let _: axum::Router = ws_controller::route("/live", Phoenix);
    });
    let panic = mounted.expect_err("mounting on another path must panic");
    let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(
        message.contains(r#"is declared on "/phoenix""#),
        "{message}"
    );
    assert!(message.contains("into_router()"), "{message}");
    // On its own path it mounts.
    let _: axum::Router = ws_controller::route("/phoenix", Phoenix);
}
