//! The servers under test. Each runs in its own process on a current-thread runtime (one
//! core), prints `PORT <n>` on stdout once it listens, and serves until killed.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use fastwebsockets::{FragmentCollector, OpCode, WebSocket, WebSocketError};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use ws_controller::protocol::deflate::messages_compressed;
use ws_controller::protocol::handshake::accept_key;
use ws_controller::{
    ws_controller, Compression, Conn, Controller, Error, Hub, Message, Settings, Utf8Bytes,
};

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
        "macro-deflate",
        "macro with Settings::compression(Compression::On) (lean permessage-deflate)",
    ),
    (
        "macro-ctx",
        "macro with Compression::ContextTakeover { window_bits: 15 }",
    ),
    (
        "fastwebsockets",
        "fastwebsockets 0.10 after_handshake + FragmentCollector echo (its echo example's loop), auto close/pong",
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
/// [`crate::pattern`] bytes; with a third word `text`, text messages of
/// [`crate::json_like`] instead.
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
        let text = text.ends_with(" text");
        for _ in 0..count {
            let seq = self.seq.fetch_add(1, Ordering::Relaxed);
            let message = if text {
                Message::text(crate::json_like(seq, size))
            } else {
                Message::binary(crate::payload(seq, size))
            };
            self.hub.broadcast(message).await;
        }
    }
}

/// What the harness reads inside the server process: any text message is answered with
/// `"<messages compressed> <live heap bytes>"` (the second is 0 unless counted, see
/// `alloc`).
pub struct Stats;

#[ws_controller(path = "/stats")]
impl Stats {
    #[on_text]
    async fn stats(&self, _: String) -> String {
        format!("{} {}", messages_compressed(), crate::alloc::live_bytes())
    }
}

/// A controller with other settings: the same code measured with compression on.
pub struct Tuned<C> {
    inner: C,
    settings: Settings,
}

impl<C: Controller> Tuned<C> {
    /// `WS_BENCH_DEFLATE_LEVEL` (0-9) sets the compression level (zlib's 6 otherwise).
    fn new(inner: C, compression: Compression) -> Self {
        let mut settings = inner.settings().compression(compression);
        if let Some(level) = std::env::var("WS_BENCH_DEFLATE_LEVEL")
            .ok()
            .and_then(|l| l.parse().ok())
        {
            settings = settings.compression_level(level);
        }
        Self { inner, settings }
    }
}

impl<C: Controller> Controller for Tuned<C> {
    type Extract = C::Extract;

    fn serve(
        &self,
        conn: Conn,
        extract: Self::Extract,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        self.inner.serve(conn, extract)
    }

    fn settings(&self) -> Settings {
        self.settings.clone()
    }

    fn hub(&self) -> Option<&Hub> {
        self.inner.hub()
    }
}

pub fn run(kind: &str) -> std::io::Result<()> {
    crate::alloc::check_choice().map_err(std::io::Error::other)?;
    crate::raise_fd_limit();
    crate::alloc::spawn_trimmer();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        println!("PORT {}", listener.local_addr()?.port());
        let broadcast = || Broadcast {
            hub: Hub::new(),
            seq: AtomicU64::new(0),
        };
        let tuned = |compression| {
            ws_controller::route(Echo::PATH, Tuned::new(Echo, compression))
                .merge(ws_controller::route(
                    Broadcast::PATH,
                    Tuned::new(broadcast(), compression),
                ))
                .merge(Stats.into_router())
        };
        match kind {
            "macro" | "macro-nagle" => {
                let app = Echo
                    .into_router()
                    .merge(broadcast().into_router())
                    .merge(Stats.into_router());
                ws_controller::serve(listener, app)
                    .tcp_nodelay(kind == "macro")
                    .await
            }
            "macro-deflate" => ws_controller::serve(listener, tuned(Compression::On)).await,
            "macro-ctx" => {
                let app = tuned(Compression::ContextTakeover { window_bits: 15 });
                ws_controller::serve(listener, app).await
            }
            "fastwebsockets" => fast(listener).await,
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

/// The second baseline: fastwebsockets' echo loop on a raw accepted stream. The handshake
/// is written by hand (no HTTP stack: the `upgrade` feature would bring hyper's), which
/// only makes its connection setup and idle memory cheaper than a user's would be.
async fn fast(listener: TcpListener) -> std::io::Result<()> {
    loop {
        let (mut tcp, _) = listener.accept().await?;
        tcp.set_nodelay(true)?;
        tokio::spawn(async move {
            if handshake(&mut tcp).await.is_err() {
                return;
            }
            fast_echo(tcp).await;
        });
    }
}

/// fastwebsockets' echo loop (its echo example's), on a stream whose handshake is done.
pub async fn fast_echo<S: AsyncRead + AsyncWrite + Unpin>(stream: S) {
    let mut ws = WebSocket::after_handshake(stream, fastwebsockets::Role::Server);
    ws.set_auto_close(true);
    ws.set_auto_pong(true);
    ws.set_max_message_size(16 << 20);
    let mut ws = FragmentCollector::new(ws);
    // As fastwebsockets' echo example runs its connections.
    let _ = tokio::task::unconstrained(async move {
        loop {
            let frame = ws.read_frame().await?;
            match frame.opcode {
                OpCode::Close => break,
                OpCode::Text | OpCode::Binary => ws.write_frame(frame).await?,
                _ => {}
            }
        }
        Ok::<_, WebSocketError>(())
    })
    .await;
}

/// Reads the upgrade request (the harness's clients send nothing before the answer) and
/// answers 101.
async fn handshake(tcp: &mut TcpStream) -> std::io::Result<()> {
    let mut head = [0u8; 2048];
    let mut len = 0;
    while !head[..len].windows(4).any(|w| w == b"\r\n\r\n") {
        if len == head.len() {
            return Err(std::io::Error::other("request head too long"));
        }
        match tcp.read(&mut head[len..]).await? {
            0 => return Err(std::io::Error::other("closed during the handshake")),
            n => len += n,
        }
    }
    let key = std::str::from_utf8(&head[..len])
        .ok()
        .and_then(|h| {
            h.lines().find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("sec-websocket-key")
                    .then(|| value.trim().to_owned())
            })
        })
        .ok_or_else(|| std::io::Error::other("no Sec-WebSocket-Key"))?;
    let answer = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n\r\n",
        accept_key(key.as_bytes())
    );
    tcp.write_all(answer.as_bytes()).await
}
