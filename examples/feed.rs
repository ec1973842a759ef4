//! A feed per channel with room history: a client that reconnects gets what it missed.
//!
//! ```text
//! ADDR=127.0.0.1:3000 HISTORY_SIZE=100 cargo run --example feed
//! ```
//!
//! `GET /feed/{channel}?name=NAME[&since=EPOCH:OFFSET:CHANNEL ...]` joins the room
//! `{channel}`, which keeps its last `HISTORY_SIZE` posts (default 100) for 5 minutes. The
//! wire is the crate's event protocol with room positions:
//!
//! ```text
//! <- {"event":"$joined","room":"rust","data":{"epoch":"E","offset":41}}          on join
//! -> {"event":"post","data":{"text":"hi"},"id":1}
//! <- {"event":"post","room":"rust","epoch":"E","offset":42,"data":{"author":"ann","text":"hi"}}
//!                                                           to every member, the poster too
//! <- {"event":"post","id":1,"data":{"offset":42}}                                 the reply
//! ```
//!
//! Reconnecting with `?name=ann&since=E%3A40%3Arust` first replays the posts after 40
//! (byte-identical), then `$joined` says `"recovered":true,"missed":2`; when the history
//! cannot cover it (another epoch, too old), `"recovered":false,"missed":0`. The AsyncAPI
//! document is at `/asyncapi.json`; `/` is a page using the TypeScript client
//! (`clients/typescript`, built with `npm run build`), read from disk at run time.

use std::time::Duration;

use axum::extract::{Path, Query};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use ws_controller::asyncapi::{AsyncApi, DescribeChannel};
use ws_controller::{ws_controller, Conn, Error, History, HistoryRules, Hub, Json, Shutdown};

/// How long a post is kept for reconnecting clients.
pub const HISTORY_TTL: Duration = Duration::from_secs(300);

struct Feed {
    hub: Hub,
}

#[derive(Deserialize)]
struct Join {
    name: String,
}

struct Member {
    channel: String,
    name: String,
}

#[derive(Deserialize, JsonSchema)]
struct NewPost {
    text: String,
}

/// Pushed to every member of the channel.
#[derive(Serialize, JsonSchema)]
struct Post {
    author: String,
    text: String,
}

/// The reply to a post: its offset in the channel's history.
#[derive(Serialize, JsonSchema)]
struct Posted {
    offset: u64,
}

#[ws_controller(path = "/feed/{channel}", asyncapi = true, emits = ["post": Post])]
impl Feed {
    #[hub]
    fn hub(&self) -> &Hub {
        &self.hub
    }

    /// Joins the channel: replay (with `since`), then `$joined`, then live posts.
    #[on_open]
    async fn open(
        &self,
        conn: &Conn,
        Path(channel): Path<String>,
        Query(join): Query<Join>,
    ) -> Result<Member, Error> {
        self.hub.join(conn.id(), &channel).await;
        Ok(Member {
            channel,
            name: join.name,
        })
    }

    #[on_event("post")]
    async fn post(&self, member: &mut Member, post: NewPost) -> Result<Json<Posted>, Error> {
        let push = Post {
            author: member.name.clone(),
            text: post.text,
        };
        let report = self.hub.emit_room(&member.channel, "post", &push).await?;
        // Every channel keeps a history, so every post is numbered.
        let offset = report.offset.unwrap_or_default();
        Ok(Json(Posted { offset }))
    }
}

/// The hub: every channel keeps its last `size` posts for [`HISTORY_TTL`].
pub fn hub(size: usize) -> Hub {
    Hub::new().with_history(HistoryRules::new().prefix("", History::size(size).ttl(HISTORY_TTL)))
}

/// The AsyncAPI document: the `post` push with its room/epoch/offset, and `$joined`.
pub fn api() -> AsyncApi {
    AsyncApi::new("Feed", "1.0.0")
        .description("Posts per channel, kept in the channel's history for reconnecting clients.")
        .server("local", "127.0.0.1:3000", "ws")
        .channel(Feed::describe_channel().room_history())
}

/// The feed's routes: the controller, its AsyncAPI document and the page.
pub fn app(hub: Hub) -> axum::Router {
    Feed { hub }
        .into_router()
        .merge(api().into_router("/asyncapi.json"))
        .route(
            "/",
            axum::routing::get(|| async { Html(include_str!("feed.html")) }),
        )
        .route("/client/{file}", axum::routing::get(client_file))
}

/// The answer for a client module that is not there.
pub const CLIENT_NOT_BUILT: &str =
    "not found: build the TypeScript client (cd clients/typescript && npm ci && npm run build)\n";

/// A module of the built TypeScript client, read at run time.
async fn client_file(Path(file): Path<String>) -> Response {
    let safe = file.ends_with(".js")
        && file
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
        && !file.starts_with('.');
    let dist = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("clients/typescript/dist");
    let body = match safe {
        // Small files, read off the async workers.
        true => tokio::task::spawn_blocking(move || std::fs::read(dist.join(file)))
            .await
            .ok()
            .and_then(Result::ok),
        false => None,
    };
    match body {
        Some(body) => ([(header::CONTENT_TYPE, "text/javascript")], body).into_response(),
        None => (StatusCode::NOT_FOUND, CLIENT_NOT_BUILT).into_response(),
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let size = match std::env::var("HISTORY_SIZE") {
        Ok(size) => size.parse().map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "HISTORY_SIZE must be a number",
            )
        })?,
        Err(_) => 100,
    };
    let hub = hub(size);
    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:3000".to_owned());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    let bound = listener.local_addr()?;
    tracing::info!("feed on ws://{bound}/feed/{{channel}}?name=NAME, page on http://{bound}/");
    let signal = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    ws_controller::serve(listener, app(hub.clone()))
        .with_graceful_shutdown(hub.graceful(signal, Shutdown::default()))
        .await
}
