//! A hub node for the broker tests: a test server whose connections obey a few text
//! commands (see [`Member`]), and helpers that wait under [`LIMIT`].
#![allow(dead_code)]

use std::time::Duration;

use axum::extract::Path;
use tokio::time::{sleep, timeout, Instant};
use ws_controller::test::{TestClient, TestServer};
use ws_controller::{Conn, Controller, Error, Hub, RemoteDelivery};

pub const LIMIT: Duration = Duration::from_secs(10);

/// Joins the room of its path (none for `-`: it waits for the broker instead), says
/// "joined", then obeys "leave:<room>" (answering "ok" once the broker confirmed),
/// "join:<room>" (answering "ok" when the join returns) and "say:<text>" (broadcast to its
/// room but itself).
pub struct Member {
    pub hub: Hub,
}

impl Controller for Member {
    type Extract = Path<String>;

    fn hub(&self) -> Option<&Hub> {
        Some(&self.hub)
    }

    async fn serve(&self, mut conn: Conn, Path(room): Path<String>) -> Result<(), Error> {
        if room != "-" {
            self.hub.join(conn.id(), &room).await;
        } else {
            self.hub.broker_synced().await;
        }
        conn.send_text("joined").await?;
        loop {
            let message = conn.recv().await?;
            let text = message.as_text().unwrap_or_default();
            if let Some(room) = text.strip_prefix("leave:") {
                self.hub.leave(conn.id(), room);
                self.hub.broker_synced().await;
            } else if let Some(room) = text.strip_prefix("join:") {
                self.hub.join(conn.id(), room).await;
            } else if let Some(said) = text.strip_prefix("say:") {
                self.hub
                    .broadcast_room_except(&room, conn.id(), said.to_owned())
                    .await;
                continue;
            }
            conn.send_text("ok").await?;
        }
    }
}

pub struct Node {
    pub hub: Hub,
    pub server: TestServer,
}

impl Node {
    /// Serves [`Member`] on `hub`, once the hub has subscribed.
    pub async fn start(hub: Hub) -> Self {
        let app = ws_controller::route("/{room}", Member { hub: hub.clone() });
        let server = TestServer::bind(app).await.unwrap();
        within("the hub subscribes", hub.broker_synced()).await;
        Node { hub, server }
    }
}

pub async fn within<F: std::future::Future>(what: &str, fut: F) -> F::Output {
    match timeout(LIMIT, fut).await {
        Ok(out) => out,
        Err(_) => panic!("timed out after {LIMIT:?}: {what}"),
    }
}

/// Polls a condition the hub exposes no event for (the broker's view of it), every 10 ms.
pub async fn wait_until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + LIMIT;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        sleep(Duration::from_millis(10)).await;
    }
}

pub async fn join(node: &Node, room: &str) -> TestClient {
    let mut client = node.server.connect(&format!("/{room}")).await.unwrap();
    assert_eq!(recv(&mut client).await, "joined");
    client
}

pub async fn recv(client: &mut TestClient) -> String {
    within("a message", client.recv_text()).await.unwrap()
}

/// Sends a command to a client's controller and waits for its "ok".
pub async fn tell(client: &mut TestClient, command: &str) {
    client.send_text(command.to_owned()).await.unwrap();
    assert_eq!(recv(client).await, "ok");
}

/// The race a join used to lose: two of node b's members join a new room at once (the
/// second finds the room's subscription still in flight) and node a broadcasts to it as
/// soon as both joins returned, `rooms` times.
pub async fn broadcast_right_after_joins(a: &Node, b: &Node, rooms: usize) {
    let (mut first, mut second) = (join(b, "-").await, join(b, "-").await);
    for i in 0..rooms {
        let room = format!("r{i}");
        for client in [&mut first, &mut second] {
            client.send_text(format!("join:{room}")).await.unwrap();
        }
        for client in [&mut first, &mut second] {
            assert_eq!(recv(client).await, "ok");
        }
        let report = a.hub.broadcast_room(&room, format!("m{i}")).await;
        // The broker counted b's subscription when it received the message.
        let published = RemoteDelivery::Published { nodes: 1 };
        assert_eq!(report.remote, published, "room {room}");
        for client in [&mut first, &mut second] {
            assert_eq!(recv(client).await, format!("m{i}"));
        }
    }
    assert_eq!(b.hub.broker_state().join_timeouts, 0);
    assert_eq!(b.hub.rooms().len(), rooms);
}
