//! Typed JSON requests and replies with per-connection state, at `/json`.
//!
//! ```text
//! ADDR=127.0.0.1:3000 cargo run --example json
//! ```
//!
//! Then, with any WebSocket client (for example `websocat ws://127.0.0.1:3000/json`), send:
//!
//! ```text
//! {"op":"add","n":5}        -> {"total":5,"requests":1}
//! {"op":"add","n":-2}       -> {"total":3,"requests":2}
//! {"op":"get"}              -> {"total":3,"requests":3}
//! {"op":"reset"}            -> {"total":0,"requests":4}
//! {"op":"bye"}              -> the server closes with 1000 "bye"
//! not json                  -> the server closes with 1007 "Invalid JSON"
//! ```
//!
//! Each connection has its own total (the session, created by `#[on_open]`). Logs go to stderr
//! (`RUST_LOG=debug` for connection events).

use serde::{Deserialize, Serialize};
use ws_controller::{ws_controller, CloseCode, CloseStatus, Conn, Error, Json};

/// A request: `{"op": "add", "n": 5}`, `{"op": "get"}`, `{"op": "reset"}`, `{"op": "bye"}`.
#[derive(Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum Request {
    Add { n: i64 },
    Get,
    Reset,
    Bye,
}

/// The reply to every request but `bye`.
#[derive(Serialize)]
struct Reply {
    total: i64,
    requests: u64,
}

/// Per-connection state.
struct Session {
    total: i64,
    requests: u64,
}

struct Counter;

#[ws_controller(path = "/json", origin = any)]
impl Counter {
    #[on_open]
    async fn open(&self, conn: &Conn) -> Result<Session, Error> {
        tracing::info!(id = %conn.id(), "connection opened");
        Ok(Session {
            total: 0,
            requests: 0,
        })
    }

    #[on_json]
    async fn request(
        &self,
        conn: &Conn,
        session: &mut Session,
        request: Request,
    ) -> Option<Json<Reply>> {
        session.requests += 1;
        match request {
            Request::Add { n } => session.total = session.total.saturating_add(n),
            Request::Get => {}
            Request::Reset => session.total = 0,
            Request::Bye => {
                conn.close(CloseCode::NORMAL_CLOSURE, "bye").await;
                return None;
            }
        }
        Some(Json(Reply {
            total: session.total,
            requests: session.requests,
        }))
    }

    #[on_close]
    async fn closed(&self, conn: &Conn, session: Session, status: CloseStatus, reason: &str) {
        tracing::info!(
            id = %conn.id(),
            total = session.total,
            requests = session.requests,
            %status,
            reason,
            "connection closed"
        );
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:3000".to_owned());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    tracing::info!(
        "json listening on ws://{}{}",
        listener.local_addr()?,
        Counter::PATH
    );
    axum::serve(listener, Counter.into_router()).await
}
