//! A hub broadcast to compressed connections is compressed once: the first recipient's
//! connection deflates it and every other lean-mode recipient sends the same frame;
//! recipients without compression get the plain bytes. Alone in its binary because the
//! count of compressions is process-wide.

use std::time::Duration;

use ws_controller::protocol::deflate::{messages_compressed, DeflateConfig};
use ws_controller::test::{TestClient, TestServer};
use ws_controller::{Compression, Conn, Controller, Error, Hub, Settings};

struct Room {
    hub: Hub,
}

impl Controller for Room {
    type Extract = ();

    fn settings(&self) -> Settings {
        Settings::default()
            .compression(Compression::On)
            .ping_interval(None)
    }

    fn hub(&self) -> Option<&Hub> {
        Some(&self.hub)
    }

    async fn serve(&self, mut conn: Conn, (): ()) -> Result<(), Error> {
        conn.send_text("joined").await?;
        loop {
            conn.recv().await?;
        }
    }
}

async fn joined(server: &TestServer, compressed: bool) -> TestClient {
    let mut request = server.request("/room");
    if compressed {
        request = request.compression(DeflateConfig::lean());
    }
    let mut client = request.connect().await.unwrap();
    assert_eq!(client.compression().is_some(), compressed);
    assert_eq!(client.recv_text().await.unwrap(), "joined");
    client
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_compression_per_broadcast() {
    let hub = Hub::new();
    let server = TestServer::bind(ws_controller::route("/room", Room { hub: hub.clone() }))
        .await
        .unwrap();
    let mut clients = Vec::new();
    for i in 0..30 {
        clients.push(joined(&server, i % 3 != 0).await);
    }
    let text: String = (0..400).map(|i| format!("{{\"n\":{i}}},")).collect();
    for round in 0..3 {
        let before = messages_compressed();
        let report = hub.broadcast(text.clone()).await;
        assert_eq!(report.delivered, 30);
        for client in &mut clients {
            client.set_timeout(Duration::from_secs(5));
            assert_eq!(client.recv_text().await.unwrap(), text, "round {round}");
        }
        // Every recipient has written it by now.
        assert_eq!(messages_compressed() - before, 1, "round {round}");
    }
}
