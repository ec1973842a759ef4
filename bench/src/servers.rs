//! The servers under test. Each runs in its own process on a current-thread runtime (one
//! core), prints `PORT <n>` on stdout once it listens, and serves until killed.

use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use ws_controller::{ws_controller, Conn, Hub, Message, Utf8Bytes};

/// The kinds `server <kind>` accepts.
pub const KINDS: &[(&str, &str)] = &[
    (
        "macro",
        "#[ws_controller] echo (examples/echo.rs's loop through the macro) on ws_controller::serve, default settings",
    ),
    (
        "macro-nagle",
        "the same with TCP_NODELAY off (what the default is measured against)",
    ),
    (
        "tungstenite",
        "tokio-tungstenite 0.30 accept_async, default WebSocketConfig, next()/send() loop",
    ),
    (
        "tungstenite-4k",
        "the same with read_buffer_size = 4 KiB (reference point)",
    ),
];

/// The echo controller: what `examples/echo.rs` does, written with the macro.
pub struct Echo;

// Kept identical to examples/echo.rs.
#[ws_controller(path = "/echo", max_message_size = 16_777_216)]
impl Echo {
    #[on_text]
    async fn text(&self, text: Utf8Bytes) -> Utf8Bytes {
        text
    }

    #[on_binary]
    async fn binary(&self, data: Bytes) -> Bytes {
        data
    }
}

/// Broadcast endpoint: every connection joins the hub; a text message `"<count> <size>"`
/// makes the server broadcast `count` binary messages of `size` bytes (each encoded once,
/// shared by all recipients). Payload: 8-byte big-endian sequence number, then
/// [`crate::pattern`] bytes.
pub struct Broadcast {
    pub hub: Hub,
    pub seq: AtomicU64,
}

#[ws_controller(path = "/broadcast")]
impl Broadcast {
    #[on_open]
    async fn open(&self, conn: &Conn) {
        self.hub.register(conn);
    }

    #[on_text]
    async fn command(&self, text: String) {
        let mut words = text
            .split_whitespace()
            .map(|w| w.parse::<usize>().unwrap_or(0));
        let (count, size) = (words.next().unwrap_or(0), words.next().unwrap_or(64));
        for _ in 0..count {
            let seq = self.seq.fetch_add(1, Ordering::Relaxed);
            let payload = crate::payload(seq, size);
            self.hub.broadcast(Message::binary(payload)).await;
        }
    }
}

pub fn run(kind: &str) -> std::io::Result<()> {
    crate::raise_fd_limit();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        println!("PORT {}", listener.local_addr()?.port());
        match kind {
            "macro" | "macro-nagle" => {
                let broadcast = Broadcast {
                    hub: Hub::new(),
                    seq: AtomicU64::new(0),
                };
                let app = Echo.into_router().merge(broadcast.into_router());
                ws_controller::serve(listener, app)
                    .tcp_nodelay(kind == "macro")
                    .await
            }
            "tungstenite" => plain(listener, WebSocketConfig::default()).await,
            "tungstenite-4k" => {
                plain(listener, WebSocketConfig::default().read_buffer_size(4096)).await
            }
            other => Err(std::io::Error::other(format!(
                "unknown server kind {other}"
            ))),
        }
    })
}

/// The baseline: what a user writes directly on tokio-tungstenite.
async fn plain(listener: TcpListener, config: WebSocketConfig) -> std::io::Result<()> {
    loop {
        let (tcp, _) = listener.accept().await?;
        tcp.set_nodelay(true)?;
        tokio::spawn(async move {
            let Ok(mut ws) = tokio_tungstenite::accept_async_with_config(tcp, Some(config)).await
            else {
                return;
            };
            while let Some(Ok(message)) = ws.next().await {
                let reply = match message {
                    WsMessage::Text(_) | WsMessage::Binary(_) => message,
                    WsMessage::Close(_) => break,
                    _ => continue,
                };
                if ws.send(reply).await.is_err() {
                    break;
                }
            }
        });
    }
}
