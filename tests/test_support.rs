//! The `ws_controller::test` helpers, in memory and over a loopback socket.

use std::time::Duration;

use http::StatusCode;
use ws_controller::test::{TestError, TestServer};
use ws_controller::{CloseCode, Conn, Controller, Error, Settings};

/// Echoes messages and reports the peer address and subprotocol as its first message.
struct Echo;

impl Controller for Echo {
    type Extract = ();

    fn settings(&self) -> Settings {
        Settings::default().subprotocols(["v2", "v1"])
    }

    async fn serve(&self, mut conn: Conn, _: ()) -> Result<(), Error> {
        let hello = format!(
            "peer={} protocol={}",
            conn.peer_addr().is_some(),
            conn.subprotocol().unwrap_or("-")
        );
        conn.send_text(hello).await?;
        loop {
            let message = conn.recv().await?;
            if message.as_text() == Some("bye") {
                return Ok(());
            }
            conn.send(message).await?;
        }
    }
}

fn app() -> axum::Router {
    ws_controller::route("/echo", Echo)
}

async fn exercise(server: &TestServer, expect_peer: bool) {
    let mut client = server
        .request("/echo")
        .subprotocols(["v1", "v2"])
        .connect()
        .await
        .unwrap();
    assert_eq!(client.subprotocol(), Some("v2"));
    assert_eq!(
        client.recv_text().await.unwrap(),
        format!("peer={expect_peer} protocol=v2")
    );

    client.send_text("hi").await.unwrap();
    assert_eq!(client.recv_text().await.unwrap(), "hi");
    client.send_binary(vec![0u8, 255]).await.unwrap();
    assert_eq!(client.recv_binary().await.unwrap().as_ref(), &[0u8, 255]);
    client
        .send_json(&serde_json::json!({"n": 1}))
        .await
        .unwrap();
    let value: serde_json::Value = client.recv_json().await.unwrap();
    assert_eq!(value, serde_json::json!({"n": 1}));

    client.send_text("bye").await.unwrap();
    client
        .expect_close(CloseCode::NORMAL_CLOSURE, "Server closed connection")
        .await;
}

#[tokio::test]
async fn in_memory_round_trip() {
    let server = TestServer::new(app());
    assert!(server.addr().is_none());
    exercise(&server, false).await;
}

#[tokio::test]
async fn loopback_round_trip() {
    let server = TestServer::bind(app()).await.unwrap();
    assert!(server.addr().unwrap().ip().is_loopback());
    exercise(&server, true).await;
}

#[tokio::test]
async fn refused_upgrade_reports_status_and_body() {
    let server = TestServer::new(app());
    let request = server
        .request("/echo")
        .header("origin", "https://evil.example");
    match request.connect().await {
        Err(TestError::Refused { status, body, .. }) => {
            assert_eq!(status, StatusCode::FORBIDDEN);
            assert_eq!(body, r#"{"error":"Forbidden"}"#);
        }
        Err(other) => panic!("expected a refusal, got {other}"),
        Ok(_) => panic!("expected a refusal, got a connection"),
    }
}

#[tokio::test]
async fn client_close_is_echoed_and_timeouts_fire() {
    let server = TestServer::new(app());
    let mut client = server.connect("/echo").await.unwrap();
    client.recv_text().await.unwrap();
    client.set_timeout(Duration::from_millis(100));
    assert!(matches!(client.recv().await, Err(TestError::Timeout(_))));
    client.set_timeout(Duration::from_secs(5));
    let reply = client
        .close(CloseCode::new(4001).unwrap(), "done")
        .await
        .unwrap();
    assert_eq!(reply.code, CloseCode::new(4001).unwrap());
    assert_eq!(reply.reason, "done");
}

/// Registers its connections in a hub and reports the `Authorization` header it was given.
struct Members(ws_controller::Hub);

impl Controller for Members {
    type Extract = ();

    fn hub(&self) -> Option<&ws_controller::Hub> {
        Some(&self.0)
    }

    async fn serve(&self, mut conn: Conn, _: ()) -> Result<(), Error> {
        let auth = conn
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok());
        conn.send_text(format!("auth={}", auth.unwrap_or("-")))
            .await?;
        loop {
            conn.recv().await?;
        }
    }
}

#[tokio::test]
async fn expect_close_answers_the_close_so_a_shutdown_is_clean_at_once() {
    let hub = ws_controller::Hub::new();
    let server = TestServer::bind(ws_controller::route("/m", Members(hub.clone())))
        .await
        .unwrap();
    let mut headers = http::HeaderMap::new();
    headers.insert("authorization", "Bearer t0ken".parse().unwrap());
    let mut client = server.connect_with_headers("/m", headers).await.unwrap();
    assert_eq!(client.recv_text().await.unwrap(), "auth=Bearer t0ken");
    let shutdown = tokio::spawn({
        let hub = hub.clone();
        async move { hub.shutdown(ws_controller::Shutdown::default()).await }
    });
    client
        .expect_close(CloseCode::GOING_AWAY, "Server shutting down")
        .await;
    // Clean: the client answered the close (without the answer, the shutdown would wait
    // for its deadline and count the connection as forced).
    let report = shutdown.await.unwrap();
    assert_eq!((report.clean, report.forced), (1, 0));
}
