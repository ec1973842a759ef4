//! In-process rooms: `rooms()` with member counts, `broadcast_room_except`,
//! `broadcast_room_json`, and the report of a hub without a broker.

use std::time::Duration;

use axum::extract::Path;
use tokio::time::timeout;
use ws_controller::test::{TestClient, TestServer};
use ws_controller::{BrokerStatus, Conn, Controller, Error, Hub, RemoteDelivery};

/// Joins the room of its path, says "joined", then keeps the connection open.
struct Member {
    hub: Hub,
}

impl Controller for Member {
    type Extract = Path<String>;

    fn hub(&self) -> Option<&Hub> {
        Some(&self.hub)
    }

    async fn serve(&self, mut conn: Conn, Path(room): Path<String>) -> Result<(), Error> {
        self.hub.join(conn.id(), &room).await;
        conn.send_text("joined").await?;
        loop {
            conn.recv().await?;
        }
    }
}

async fn recv(client: &mut TestClient) -> String {
    timeout(Duration::from_secs(5), client.recv_text())
        .await
        .expect("timed out")
        .unwrap()
}

#[tokio::test]
async fn rooms_list_their_members_and_room_broadcasts_reach_only_them() {
    let hub = Hub::new();
    let server = TestServer::new(ws_controller::route("/{room}", Member { hub: hub.clone() }));
    let mut a = Vec::new();
    for _ in 0..3 {
        let mut client = server.connect("/a").await.unwrap();
        assert_eq!(recv(&mut client).await, "joined");
        a.push(client);
    }
    let mut b = server.connect("/b").await.unwrap();
    assert_eq!(recv(&mut b).await, "joined");
    let mut rooms = hub.rooms();
    rooms.sort();
    assert_eq!(rooms, vec![("a".to_owned(), 3), ("b".to_owned(), 1)]);

    let first = hub.room("a").into_iter().min().unwrap();
    let report = hub
        .broadcast_room_except("a", first, "not to the first")
        .await;
    assert_eq!(
        (report.delivered, report.remote),
        (2, RemoteDelivery::Local)
    );
    let report = hub
        .broadcast_room_json("a", &serde_json::json!({"n": 1}))
        .await
        .unwrap();
    assert_eq!(report.delivered, 3);
    assert_eq!(hub.broadcast_room("b", "to b").await.delivered, 1);
    assert_eq!(hub.broadcast_room("nobody", "x").await.delivered, 0);

    // Connection ids grow: the first client is the one excluded.
    assert_eq!(recv(&mut a[0]).await, r#"{"n":1}"#);
    for client in &mut a[1..] {
        assert_eq!(recv(client).await, "not to the first");
        assert_eq!(recv(client).await, r#"{"n":1}"#);
    }
    assert_eq!(recv(&mut b).await, "to b");

    assert!(hub.leave(first, "a"));
    assert!(!hub.leave(first, "a"));
    let mut rooms = hub.rooms();
    rooms.sort();
    assert_eq!(rooms, vec![("a".to_owned(), 2), ("b".to_owned(), 1)]);
    assert_eq!(hub.broker_state().status, BrokerStatus::Local);
    drop(a);
    drop(b);
}
