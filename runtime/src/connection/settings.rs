//! Per-controller settings, read once when the controller is turned into a route.

use std::time::Duration;

use http::HeaderName;
use ws_controller_protocol::deflate::{DeflateConfig, DEFAULT_LEVEL};

pub use crate::connection::rate_limit::{RateLimit, RateLimitAction};

/// permessage-deflate (RFC 7692): whether and how messages are compressed.
///
/// Off by default, as in gorilla/websocket, coder/websocket, Node's `ws`, uWebSockets and
/// Phoenix, for two reasons:
///
/// - **It costs CPU** on both ends for every message it compresses.
/// - **It can leak secrets.** Compressing a secret (a token, a session id, private data)
///   in the same message — or, with context takeover, the same *connection* — as data an
///   attacker chooses lets the attacker guess the secret byte by byte from the compressed
///   sizes (the CRIME and BREACH attacks). Turn compression on only for traffic where no
///   secret shares a message (or a context) with attacker-influenced content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Compression {
    /// No compression: offers are declined.
    #[default]
    Off,
    /// The lean mode: no context takeover in either direction (the server asks for
    /// `client_no_context_takeover` in its answer). Compressor and decompressor state is
    /// per thread and pooled, so an idle compressed connection costs no more memory than
    /// an uncompressed one, and a [`Hub`](crate::Hub) broadcast is compressed once for
    /// every compressed recipient. Messages shorter than
    /// [`Settings::compression_threshold`] go out uncompressed.
    On,
    /// Context takeover both ways with windows of `window_bits` (9 to 15): the best ratio
    /// for streams of similar messages, at the cost of compressor and decompressor state
    /// kept by every connection for its life (see
    /// [`DeflateConfig::context_takeover`] for the measured figure).
    ContextTakeover {
        /// The LZ77 window, 2^bits bytes: 9 to 15.
        window_bits: u8,
    },
}

/// What a broadcast does for a connection whose outbound queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SlowConsumer {
    /// Close the connection with 1008 "connection too slow", dropping what it has not been
    /// sent yet: one slow client never holds back the others, and its memory is freed.
    #[default]
    Close,
    /// Drop the new message for this connection and keep it open (volatile data such as
    /// positions or prices, where the next update replaces the missed one).
    DropNewest,
    /// Wait until the connection has room: the broadcaster slows down to the slowest
    /// recipient (backpressure for callers that want it).
    Wait,
}

/// Settings of a controller's connections. Start from [`Settings::default`] and change what
/// you need:
///
/// ```
/// use std::time::Duration;
/// use ws_controller::Settings;
///
/// let settings = Settings::default()
///     .max_message_size(1 << 20)
///     .close_timeout(Duration::from_secs(3))
///     .subprotocols(["chat.v2", "chat.v1"]);
/// assert_eq!(settings.max_message_size, 1 << 20);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Settings {
    /// Largest accepted message (and frame), in bytes. A larger one closes the connection with
    /// 1009. Default 64 KiB.
    pub max_message_size: usize,
    /// How many bytes a connection reads from the socket at a time while data flows. The
    /// buffer is borrowed from a small per-thread pool only while it holds unread bytes, so an
    /// idle connection holds none (the WebSocket engine keeps a 1 KiB buffer of its own).
    /// Default 64 KiB: large messages take few system calls.
    pub read_buffer_size: usize,
    /// How many bytes of frames a connection gathers before it writes them to the socket:
    /// the replies that are ready go out together in one write, up to this much (payloads
    /// larger than 1 KiB are written from their own buffers and count here without being
    /// copied). Default 128 KiB.
    pub write_buffer_size: usize,
    /// How many outbound messages may wait in a connection's queue before `send` waits and
    /// `try_send` fails. Default 64.
    pub send_queue: usize,
    /// How many payload bytes may wait in a connection's queue (a larger message counts as
    /// this many). Default 1 MiB.
    pub send_queue_bytes: usize,
    /// What a [`Hub`](crate::Hub) broadcast does when this connection's queue is full.
    /// Default [`SlowConsumer::Close`].
    pub slow_consumer: SlowConsumer,
    /// How long the close handshake may take (writing our close frame and waiting for the
    /// peer's) before the TCP connection is dropped. Default 10 s.
    pub close_timeout: Duration,
    /// How often the server pings an open connection; `None` turns pings off. Default 30 s.
    pub ping_interval: Option<Duration>,
    /// How long a connection may send nothing at all (no data, no pong, no ping) before the
    /// server closes it with 1001 "Idle timeout"; `None` turns the check off. This is what
    /// frees a half-open peer. Default 60 s.
    ///
    /// The check runs every quarter of the timeout (so that no clock is read per message):
    /// a silent peer is closed between the timeout and a quarter after it. Time the driver
    /// spends not reading because the application has not taken the last message does not
    /// count as silence.
    pub idle_timeout: Option<Duration>,
    /// Subprotocols the server speaks, most preferred first. The first one the client also
    /// offers is selected. Empty by default (no subprotocol).
    pub subprotocols: Vec<String>,
    /// permessage-deflate. Default [`Compression::Off`] (read its docs before turning it on).
    pub compression: Compression,
    /// Messages shorter than this are sent uncompressed even when compression is on: below
    /// about 1 KiB deflate saves little and costs a call. Default 1 KiB.
    pub compression_threshold: usize,
    /// zlib's compression level for what this server sends, 0 (stored, no compression) to
    /// 9 (smallest, slowest); higher values mean 9. Default 6, zlib's default.
    ///
    /// Measured on JSON-like text compressed from a fresh state (the `on` mode): 1 KiB took
    /// 5 µs to 34% of its size at level 1 and 13 µs to 26% at levels 3 and 6; 16 KiB took
    /// 22 µs (29%) at 1, 57 µs (19%) at 3 and 175 µs (18%) at 6. Level 1 or 3 saves most
    /// of compression's CPU when the link is not the bottleneck. A hub broadcast is
    /// compressed once, at the level of the first connection that sends it.
    pub compression_level: u8,
    /// Puts error details in upgrade-error responses and close reasons, and captures panic
    /// backtraces. Off by default: error text can leak internals to clients.
    pub debug: bool,
    /// Most open connections of this controller (one route); an upgrade beyond it is refused
    /// with 503 and `Retry-After` ([`UpgradeError::TooManyConnections`](crate::UpgradeError::TooManyConnections)).
    /// A slot is taken when the upgrade is accepted and freed when the connection's task
    /// ends, however it ends. `None` (the default): no limit. `ws_controller::serve` has a
    /// server-wide cap too ([`Server::max_connections`](crate::Server::max_connections)).
    pub max_connections: Option<usize>,
    /// Most open connections of this controller from one client address (IP, any port);
    /// beyond it the upgrade is refused with 429 and `Retry-After`
    /// ([`UpgradeError::TooManyFromClient`](crate::UpgradeError::TooManyFromClient)). `None`
    /// (the default): no limit.
    ///
    /// **Behind a proxy** every client has the proxy's address, so this cap would limit the
    /// proxy: set [`Settings::client_address_header`] to the header the proxy writes. The
    /// limit needs the peer address: `ws_controller::serve` provides it, `axum::serve` does
    /// with `into_make_service_with_connect_info::<SocketAddr>()`; without one the cap does
    /// not apply.
    pub max_connections_per_client: Option<usize>,
    /// A header set by a **trusted** reverse proxy that carries the client's address
    /// (`x-forwarded-for`, `x-real-ip`): its last comma-separated entry, which is the one
    /// the nearest proxy appended, is the client address for
    /// [`Settings::max_connections_per_client`]. Only set it when every request comes
    /// through that proxy: a client that reaches the server directly can write any address
    /// there. A missing or unparsable value counts as the peer's address. Default `None`.
    pub client_address_header: Option<HeaderName>,
    /// The `Retry-After` a refused upgrade (503 or 429 for a limit) carries. Default 5 s.
    pub retry_after: Duration,
    /// How many bytes of the upgrade request's headers (names and values) a connection
    /// keeps for its life ([`Sender::headers`](crate::Sender::headers)): headers are kept
    /// in request order while they fit, the rest dropped. The extractors and hooks that run
    /// before the upgrade see every header. Method, URI and extensions are always kept.
    /// Default 8 KiB: without a bound, 2,000 connections with 360 KB of headers each kept
    /// 700 MB.
    pub kept_headers_bytes: usize,
    /// Inbound rate limit of each connection (messages and bytes per second, token
    /// buckets); `None` (the default): no limit.
    pub rate_limit: Option<RateLimit>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            max_message_size: 64 << 10,
            read_buffer_size: 64 << 10,
            write_buffer_size: 128 << 10,
            send_queue: 64,
            send_queue_bytes: 1 << 20,
            slow_consumer: SlowConsumer::Close,
            close_timeout: Duration::from_secs(10),
            ping_interval: Some(Duration::from_secs(30)),
            idle_timeout: Some(Duration::from_secs(60)),
            subprotocols: Vec::new(),
            compression: Compression::Off,
            compression_threshold: 1 << 10,
            compression_level: DEFAULT_LEVEL,
            debug: false,
            max_connections: None,
            max_connections_per_client: None,
            client_address_header: None,
            retry_after: Duration::from_secs(5),
            kept_headers_bytes: 8 << 10,
            rate_limit: None,
        }
    }
}

impl Settings {
    /// Sets [`Settings::max_message_size`].
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// Sets [`Settings::read_buffer_size`].
    pub fn read_buffer_size(mut self, bytes: usize) -> Self {
        self.read_buffer_size = bytes;
        self
    }

    /// Sets [`Settings::write_buffer_size`].
    pub fn write_buffer_size(mut self, bytes: usize) -> Self {
        self.write_buffer_size = bytes;
        self
    }

    /// Sets [`Settings::send_queue`].
    pub fn send_queue(mut self, messages: usize) -> Self {
        self.send_queue = messages;
        self
    }

    /// Sets [`Settings::send_queue_bytes`].
    pub fn send_queue_bytes(mut self, bytes: usize) -> Self {
        self.send_queue_bytes = bytes;
        self
    }

    /// Sets [`Settings::slow_consumer`].
    pub fn slow_consumer(mut self, policy: SlowConsumer) -> Self {
        self.slow_consumer = policy;
        self
    }

    /// Sets [`Settings::close_timeout`].
    pub fn close_timeout(mut self, timeout: Duration) -> Self {
        self.close_timeout = timeout;
        self
    }

    /// Sets [`Settings::ping_interval`].
    pub fn ping_interval(mut self, interval: Option<Duration>) -> Self {
        self.ping_interval = interval;
        self
    }

    /// Sets [`Settings::idle_timeout`].
    pub fn idle_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// Sets [`Settings::subprotocols`], most preferred first.
    pub fn subprotocols<I, S>(mut self, protocols: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.subprotocols = protocols.into_iter().map(Into::into).collect();
        self
    }

    /// Sets [`Settings::debug`].
    pub fn debug(mut self, debug: bool) -> Self {
        self.debug = debug;
        self
    }

    /// Sets [`Settings::compression`].
    pub fn compression(mut self, compression: Compression) -> Self {
        self.compression = compression;
        self
    }

    /// Sets [`Settings::compression_threshold`].
    pub fn compression_threshold(mut self, bytes: usize) -> Self {
        self.compression_threshold = bytes;
        self
    }

    /// Sets [`Settings::compression_level`] (clamped to 0..=9).
    pub fn compression_level(mut self, level: u8) -> Self {
        self.compression_level = level.min(9);
        self
    }

    /// Sets [`Settings::max_connections`].
    pub fn max_connections(mut self, max: Option<usize>) -> Self {
        self.max_connections = max;
        self
    }

    /// Sets [`Settings::max_connections_per_client`].
    pub fn max_connections_per_client(mut self, max: Option<usize>) -> Self {
        self.max_connections_per_client = max;
        self
    }

    /// Sets [`Settings::client_address_header`] (read its warning first).
    pub fn client_address_header(mut self, header: Option<HeaderName>) -> Self {
        self.client_address_header = header;
        self
    }

    /// Sets [`Settings::retry_after`].
    pub fn retry_after(mut self, after: Duration) -> Self {
        self.retry_after = after;
        self
    }

    /// Sets [`Settings::kept_headers_bytes`].
    pub fn kept_headers_bytes(mut self, bytes: usize) -> Self {
        self.kept_headers_bytes = bytes;
        self
    }

    /// Sets [`Settings::rate_limit`].
    pub fn rate_limit(mut self, limit: Option<RateLimit>) -> Self {
        self.rate_limit = limit;
        self
    }

    /// What the upgrade offers to negotiate, `None` when compression is off.
    pub fn deflate_config(&self) -> Option<DeflateConfig> {
        let config = match self.compression {
            Compression::Off => return None,
            Compression::On => DeflateConfig::lean(),
            Compression::ContextTakeover { window_bits } => {
                DeflateConfig::context_takeover(window_bits.clamp(9, 15))
            }
        };
        Some(config.threshold(self.compression_threshold))
    }
}
