//! A chat server with rooms: `/chat/{room}?name=alice`, and a page at `/` to try it.
//!
//! ```text
//! ADDR=127.0.0.1:3000 cargo run --example chat
//! ```
//!
//! Open <http://127.0.0.1:3000/> in two browser tabs, pick names, and talk. Any WebSocket
//! client can join: connect to `ws://127.0.0.1:3000/chat/lobby?name=bob`, send text, and
//! receive JSON events:
//!
//! ```text
//! {"type":"join","name":"bob"}
//! {"type":"message","name":"bob","text":"hello"}
//! {"type":"leave","name":"bob"}
//! ```
//!
//! With `REDIS_URL` set (and the `redis` feature), the hub spans every process using that
//! Redis server: run two nodes on two ports and chat across them.
//!
//! ```text
//! REDIS_URL=redis://127.0.0.1:6379 ADDR=127.0.0.1:3000 cargo run --features redis --example chat
//! REDIS_URL=redis://127.0.0.1:6379 ADDR=127.0.0.1:3001 cargo run --features redis --example chat
//! ```
//!
//! The protocol's AsyncAPI document is at <http://127.0.0.1:3000/asyncapi.json>. With the
//! `metrics` feature, <http://127.0.0.1:3000/metrics> serves the connection, message and hub
//! metrics in Prometheus' text format:
//!
//! ```text
//! ADDR=127.0.0.1:3000 cargo run --features metrics --example chat
//! curl http://127.0.0.1:3000/metrics
//! ```
//!
//! Ctrl-C or SIGTERM shuts down gracefully: every client gets what was queued for it, then a
//! 1001 close frame, before the process exits.

use axum::extract::{Path, Query};
use axum::response::Html;
use axum::routing::get;
use serde::{Deserialize, Serialize};
use ws_controller::asyncapi::AsyncApi;
use ws_controller::{ws_controller, CloseStatus, Conn, Error, Hub, Shutdown};

struct Chat {
    hub: Hub,
}

#[derive(Deserialize)]
struct Join {
    name: String,
}

/// Who a connection is: its per-connection state.
struct Member {
    room: String,
    name: String,
}

#[derive(Serialize, schemars::JsonSchema)]
#[serde(tag = "type", rename_all = "lowercase")]
enum Event<'a> {
    Join { name: &'a str },
    Message { name: &'a str, text: &'a str },
    Leave { name: &'a str },
}

// Same-host origins only (the default): the page served at `/` may connect, other sites may not.
#[ws_controller(path = "/chat/{room}", asyncapi = true, emits = [Event<'static>])]
impl Chat {
    /// Every connection joins the hub: it is in the rooms, and the shutdown closes it.
    #[hub]
    fn hub(&self) -> &Hub {
        &self.hub
    }

    /// Extracted before the upgrade: without `?name=` the client gets a 400 and no socket.
    #[on_open]
    async fn join(
        &self,
        conn: &Conn,
        Path(room): Path<String>,
        Query(join): Query<Join>,
    ) -> Result<Member, Error> {
        let name: String = join.name.trim().chars().take(32).collect();
        let name = if name.is_empty() {
            "anonymous".to_owned()
        } else {
            name
        };
        self.hub.join(conn.id(), &room).await;
        self.hub
            .broadcast_room(&room, json(&Event::Join { name: &name })?)
            .await;
        Ok(Member { room, name })
    }

    /// Each text message goes to everyone in the room, with the sender's name.
    #[on_text]
    async fn said(&self, member: &mut Member, text: String) -> Result<(), Error> {
        let event = Event::Message {
            name: &member.name,
            text: &text,
        };
        self.hub.broadcast_room(&member.room, json(&event)?).await;
        Ok(())
    }

    /// Runs once whatever ended the connection (the hub drops it from its rooms by itself).
    #[on_close]
    async fn left(&self, member: Member, _status: CloseStatus, _reason: &str) -> Result<(), Error> {
        let event = Event::Leave { name: &member.name };
        self.hub.broadcast_room(&member.room, json(&event)?).await;
        Ok(())
    }
}

/// Encodes an event once; the hub shares the bytes among the room's members.
fn json(event: &Event<'_>) -> Result<String, Error> {
    Ok(serde_json::to_string(event)?)
}

/// The AsyncAPI document of the chat's protocol.
pub fn api() -> AsyncApi {
    AsyncApi::new("Chat", "1.0.0").controller::<Chat>()
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    tracing::info!("shutting down");
}

/// In-process, or over Redis when `REDIS_URL` is set.
fn hub() -> std::io::Result<Hub> {
    let Ok(url) = std::env::var("REDIS_URL") else {
        return Ok(Hub::new());
    };
    #[cfg(feature = "redis")]
    {
        tracing::info!(%url, "rooms shared over Redis");
        Hub::redis(&url).map_err(std::io::Error::other)
    }
    #[cfg(not(feature = "redis"))]
    {
        Err(std::io::Error::other(format!(
            "REDIS_URL={url} needs the redis feature: cargo run --features redis --example chat"
        )))
    }
}

/// `/metrics`: installs the Prometheus recorder, which the crate's metrics then feed.
#[cfg(feature = "metrics")]
fn metrics() -> std::io::Result<axum::Router> {
    let handle = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .map_err(std::io::Error::other)?;
    // Histograms are summarised by the upkeep, which `install_recorder` leaves to us.
    let upkeep = handle.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(5));
        loop {
            every.tick().await;
            upkeep.run_upkeep();
        }
    });
    let render = move || std::future::ready(handle.render());
    Ok(axum::Router::new().route("/metrics", get(render)))
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let hub = hub()?;
    let app = axum::Router::new()
        .route("/", get(|| async { Html(include_str!("chat.html")) }))
        .merge(Chat { hub: hub.clone() }.into_router())
        .merge(api().into_router("/asyncapi.json"));
    #[cfg(feature = "metrics")]
    let app = app.merge(metrics()?);

    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:3000".to_owned());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    tracing::info!("chat on http://{}/", listener.local_addr()?);
    ws_controller::serve(listener, app)
        .with_graceful_shutdown(hub.graceful(shutdown_signal(), Shutdown::default()))
        .await
}
