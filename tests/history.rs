//! Room history on the in-process hub, over real sockets: numbered pushes, `$joined`,
//! recovery from `since` positions (exact, under a flood, impossible), malformed `since`,
//! bounded memory and TTL expiry.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::Path;
use common::{connect, http, recv_text, spawn_server, within, Req, Ws};
use serde_json::{json, Value};
use ws_controller::{Conn, Controller, Error, History, HistoryRules, Hub, Settings};

/// Joins the room of its path, then reads until the connection ends.
struct Member {
    hub: Hub,
}

impl Controller for Member {
    type Extract = Path<String>;

    fn hub(&self) -> Option<&Hub> {
        Some(&self.hub)
    }

    /// Room for a flood the test reads only once it is over.
    fn settings(&self) -> Settings {
        Settings::default()
            .send_queue(1 << 16)
            .send_queue_bytes(64 << 20)
    }

    async fn serve(&self, mut conn: Conn, Path(room): Path<String>) -> Result<(), Error> {
        self.hub.join(conn.id(), &room).await;
        // A direct push, and the room's first push made here: after `$joined`.
        conn.emit("hello", &room).await?;
        loop {
            conn.recv().await?;
        }
    }
}

async fn server(rules: HistoryRules) -> (Hub, SocketAddr) {
    let hub = Hub::new().with_history(rules);
    let router = ws_controller::route("/{room}", Member { hub: hub.clone() });
    (hub.clone(), spawn_server(router).await)
}

fn rules(history: History) -> HistoryRules {
    HistoryRules::new().prefix("h:", history)
}

// serde_json's `json!` sorts keys: the wire's order is spelled out instead.
fn joined(room: &str, epoch: &str, offset: u64) -> String {
    format!(
        r#"{{"event":"$joined","room":"{room}","data":{{"epoch":"{epoch}","offset":{offset}}}}}"#
    )
}

fn recovered(room: &str, epoch: &str, offset: u64, ok: bool, missed: u64) -> String {
    format!(
        r#"{{"event":"$joined","room":"{room}","data":{{"epoch":"{epoch}","offset":{offset},"recovered":{ok},"missed":{missed}}}}}"#
    )
}

fn push(room: &str, epoch: &str, offset: u64, data: &Value) -> String {
    format!(
        r#"{{"event":"post","room":"{room}","epoch":"{epoch}","offset":{offset},"data":{data}}}"#
    )
}

fn hello(room: &str) -> String {
    format!(r#"{{"event":"hello","data":"{room}"}}"#)
}

fn epoch(hub: &Hub, room: &str) -> String {
    hub.history_state(room).expect("history").epoch.to_string()
}

/// Connects and waits until the connection is in the room (its direct `hello` arrived),
/// returning what it received before.
async fn join(addr: SocketAddr, path: &str, room: &str) -> (Ws, Vec<String>) {
    let mut ws = connect(addr, path).await;
    let mut before = Vec::new();
    loop {
        let text = recv_text(&mut ws).await;
        if text == hello(room) {
            return (ws, before);
        }
        before.push(text);
    }
}

async fn emit(hub: &Hub, room: &str, n: u64) -> u64 {
    let report = hub
        .emit_room(room, "post", &json!({ "n": n }))
        .await
        .unwrap();
    report.offset.expect("numbered")
}

#[tokio::test]
async fn a_join_is_announced_then_pushes_carry_their_position() {
    let (hub, addr) = server(rules(History::size(10))).await;
    let (mut a, before) = join(addr, "/h:lobby", "h:lobby").await;
    let e = epoch(&hub, "h:lobby");
    assert!(
        e.len() >= 16
            && e.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    );
    assert_eq!(before, [joined("h:lobby", &e, 0)]);
    assert_eq!(emit(&hub, "h:lobby", 1).await, 1);
    assert_eq!(emit(&hub, "h:lobby", 2).await, 2);
    assert_eq!(
        recv_text(&mut a).await,
        push("h:lobby", &e, 1, &json!({"n": 1}))
    );
    assert_eq!(
        recv_text(&mut a).await,
        push("h:lobby", &e, 2, &json!({"n": 2}))
    );

    // A second member is told the latest offset; a room without history is as before.
    let (_b, before) = join(addr, "/h:lobby", "h:lobby").await;
    assert_eq!(before, [joined("h:lobby", &e, 2)]);
    let (mut plain, before) = join(addr, "/chat", "chat").await;
    assert!(before.is_empty(), "{before:?}");
    let report = hub.emit_room("chat", "post", &1).await.unwrap();
    assert_eq!((report.delivered, report.offset), (1, None));
    assert_eq!(recv_text(&mut plain).await, r#"{"event":"post","data":1}"#);
    assert!(hub.history_state("chat").is_none());
}

#[tokio::test]
async fn recovery_replays_exactly_the_missed_pushes_then_goes_live() {
    let (hub, addr) = server(rules(History::size(10))).await;
    let (mut live, _) = join(addr, "/h:r", "h:r").await;
    for n in 1..=5 {
        emit(&hub, "h:r", n).await;
    }
    let mut seen = Vec::new();
    for _ in 0..5 {
        seen.push(recv_text(&mut live).await);
    }
    let e = epoch(&hub, "h:r");
    let (mut back, before) = join(addr, &format!("/h:r?since={e}%3A2%3Ah%3Ar"), "h:r").await;
    let mut expected = seen[2..].to_vec();
    expected.push(recovered("h:r", &e, 5, true, 3));
    assert_eq!(before, expected, "replay byte-identical to the live pushes");
    emit(&hub, "h:r", 6).await;
    assert_eq!(
        recv_text(&mut back).await,
        push("h:r", &e, 6, &json!({"n": 6}))
    );

    // Up to date: recovered with nothing missed. The position is consumed by the first
    // join only; `+` is a space in the query, as in form encoding.
    let (_c, before) = join(addr, &format!("/h:r?since={e}:6:h:r"), "h:r").await;
    assert_eq!(before, [recovered("h:r", &e, 6, true, 0)]);
    emit(&hub, "h:a b", 1).await;
    let spaced = epoch(&hub, "h:a b");
    let (_d, before) = join(addr, &format!("/h:a%20b?since={spaced}:0:h:a+b"), "h:a b").await;
    let first = push("h:a b", &spaced, 1, &json!({"n": 1}));
    assert_eq!(before, [first, recovered("h:a b", &spaced, 1, true, 1)]);
}

#[tokio::test]
async fn impossible_recoveries_replay_nothing_and_say_so() {
    let (hub, addr) = server(rules(History::size(3))).await;
    for n in 1..=10 {
        emit(&hub, "h:x", n).await;
    }
    let e = epoch(&hub, "h:x");
    for since in [
        "other:9:h:x".to_owned(), // another epoch
        format!("{e}:6:h:x"),     // 7 is no longer kept (8, 9, 10 are)
        format!("{e}:11:h:x"),    // the future
    ] {
        let (_ws, before) = join(addr, &format!("/h:x?since={since}"), "h:x").await;
        assert_eq!(before, [recovered("h:x", &e, 10, false, 0)], "{since}");
    }
    let (_ws, before) = join(addr, &format!("/h:x?since={e}:7:h:x"), "h:x").await;
    assert_eq!(
        before.len(),
        4,
        "the oldest recoverable position: {before:?}"
    );
}

#[tokio::test]
async fn a_malformed_since_is_refused_with_400_before_the_upgrade() {
    let (_hub, addr) = server(rules(History::size(3))).await;
    for query in [
        "since=e1",
        "since=e1:x:h:r",
        "since=e1:1:",
        "since=e1:1:%zz",
        "since=a:1:r&since=b:2:r",
    ] {
        let response = http(addr, &Req::upgrade(&format!("/h:r?{query}"))).await;
        response.assert_json_error(400, "Bad Request");
    }
}

#[tokio::test]
async fn rooms_have_independent_epochs_and_offsets() {
    let (hub, _addr) = server(rules(History::size(3))).await;
    assert_eq!(emit(&hub, "h:a", 1).await, 1);
    assert_eq!(emit(&hub, "h:a", 2).await, 2);
    assert_eq!(emit(&hub, "h:b", 1).await, 1);
    assert_ne!(epoch(&hub, "h:a"), epoch(&hub, "h:b"));
    // A new hub is a new epoch: continuity is lost.
    let other = Hub::new().with_history(rules(History::size(3)));
    emit(&other, "h:a", 1).await;
    assert_ne!(epoch(&hub, "h:a"), epoch(&other, "h:a"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_during_joins_loses_nothing_and_repeats_nothing() {
    // The flood runs until every client has joined, then 500 pushes more: every join
    // happens while the room is busy.
    let (hub, addr) = server(rules(History::size(100_000))).await;
    let joined_all = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flood = {
        let (hub, joined_all) = (hub.clone(), joined_all.clone());
        tokio::spawn(async move {
            let (mut n, mut after) = (0, 0);
            while after < 500 && n < 90_000 {
                n += 1;
                emit(&hub, "h:busy", n).await;
                if joined_all.load(std::sync::atomic::Ordering::Acquire) {
                    after += 1;
                }
                tokio::task::yield_now().await;
            }
            n
        })
    };
    let mut clients = Vec::new();
    for i in 0..6u64 {
        // Half reconnect from a position seen just now, half join fresh.
        let position = hub.history_state("h:busy").filter(|_| i % 2 == 0);
        let since = position
            .as_ref()
            .map(|s| format!("?since={}:{}:h:busy", s.epoch, s.offset))
            .unwrap_or_default();
        let ws = connect(addr, &format!("/h:busy{since}")).await;
        clients.push((ws, position.map(|s| s.offset)));
    }
    // Each client is in the room once its direct `hello` is queued: wait for the members.
    within("joins", async {
        while hub.room("h:busy").len() < clients.len() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await;
    joined_all.store(true, std::sync::atomic::Ordering::Release);
    let pushes = within("flood", flood).await.unwrap();
    let mut mid_flood = 0;
    for (mut ws, from) in clients {
        let mut next = None;
        let mut announced = false;
        while next != Some(pushes + 1) {
            let message: Value = serde_json::from_str(&recv_text(&mut ws).await).unwrap();
            match message["event"].as_str() {
                Some("$joined") => {
                    assert!(!announced, "one $joined");
                    announced = true;
                    let offset = message["data"]["offset"].as_u64().unwrap();
                    if offset > 0 && offset < pushes {
                        mid_flood += 1;
                    }
                    if let Some(from) = from {
                        assert_eq!(message["data"]["recovered"], true);
                        assert_eq!(
                            next.unwrap_or(from + 1),
                            offset + 1,
                            "replay reaches $joined"
                        );
                        assert_eq!(message["data"]["missed"].as_u64().unwrap(), offset - from);
                    }
                    next = Some(offset + 1);
                }
                Some("post") => {
                    let offset = message["offset"].as_u64().unwrap();
                    match (next, from) {
                        (Some(next), _) => assert_eq!(offset, next, "contiguous, no duplicate"),
                        (None, Some(from)) => {
                            assert_eq!(offset, from + 1, "replay starts after since")
                        }
                        (None, None) => panic!("a live push before $joined"),
                    }
                    assert_eq!(message["data"]["n"], offset);
                    next = Some(offset + 1);
                }
                _ => {}
            }
        }
        assert!(announced);
    }
    assert!(mid_flood >= 5, "joins during the flood: {mid_flood}");
}

#[tokio::test]
async fn history_memory_is_bounded_by_its_size() {
    let (hub, addr) = server(rules(History::size(100))).await;
    let (_ws, _) = join(addr, "/h:big", "h:big").await;
    // The one member would fall behind a tight loop: it leaves first.
    hub.leave(hub.room("h:big")[0], "h:big");
    let mut last = Vec::new();
    for n in 1..=100_000u64 {
        emit(&hub, "h:big", n).await;
        if n > 99_900 {
            last.push(push("h:big", &epoch(&hub, "h:big"), n, &json!({ "n": n })).len());
        }
    }
    let state = hub.history_state("h:big").unwrap();
    assert_eq!((state.offset, state.kept), (100_000, 100));
    assert_eq!(state.bytes, last.iter().sum::<usize>());
    assert_eq!(hub.history_bytes(), state.bytes);
}

#[tokio::test]
async fn expired_pushes_cannot_be_recovered() {
    // Long enough for the first join to land within it on a loaded machine.
    let ttl = Duration::from_secs(2);
    let (hub, addr) = server(rules(History::size(100).ttl(ttl))).await;
    for n in 1..=3 {
        emit(&hub, "h:t", n).await;
    }
    let e = epoch(&hub, "h:t");
    let (_a, before) = join(addr, &format!("/h:t?since={e}:1:h:t"), "h:t").await;
    assert_eq!(before.len(), 3, "kept within the TTL: {before:?}");
    tokio::time::sleep(ttl + Duration::from_millis(100)).await;
    let (_b, before) = join(addr, &format!("/h:t?since={e}:1:h:t"), "h:t").await;
    assert_eq!(before, [recovered("h:t", &e, 3, false, 0)]);
    let (_c, before) = join(addr, &format!("/h:t?since={e}:3:h:t"), "h:t").await;
    assert_eq!(
        before,
        [recovered("h:t", &e, 3, true, 0)],
        "nothing was missed"
    );
    let state = hub.history_state("h:t").unwrap();
    assert_eq!((state.kept, state.bytes, hub.history_bytes()), (0, 0, 0));
}

#[tokio::test]
async fn the_number_of_histories_is_bounded() {
    let hub = Hub::new().with_history(rules(History::size(5)).max_rooms(2));
    for room in ["h:1", "h:2", "h:3"] {
        emit(&hub, room, 1).await;
    }
    assert_eq!(hub.history_rooms(), 2);
    assert!(
        hub.history_state("h:1").is_none(),
        "the least recently pushed room went"
    );
    assert!(hub.history_state("h:3").is_some());
}
