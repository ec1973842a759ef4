//! An echo endpoint at `/echo`.
//!
//! ```text
//! ADDR=127.0.0.1:3000 cargo run --release --example echo
//! ```
//!
//! Then connect any WebSocket client to `ws://127.0.0.1:3000/echo`: every text or binary
//! message comes back unchanged. Logs go to stderr (`RUST_LOG=debug` for connection events).
//! `MAX_CONNECTIONS=1000` caps the open connections (unset: no limit); beyond it upgrades
//! get 503 with `Retry-After`.

use bytes::Bytes;
use ws_controller::{ws_controller, Utf8Bytes};

struct Echo;

// The Autobahn testsuite sends messages of up to 16 MiB (16_777_216 bytes); the library
// default (64 KiB) stays the safe choice for applications. Compression is on (the lean
// mode: no context takeover) so that the suite's permessage-deflate cases run, for every
// message size (threshold 0: the suite's 16-byte messages are compressed too); echoing has
// no secret to leak (see `Compression` for why it is off by default).
#[ws_controller(
    path = "/echo",
    max_message_size = 16_777_216,
    compression = on,
    compression_threshold = 0
)]
impl Echo {
    /// Text comes back as text, without a copy.
    #[on_text]
    async fn text(&self, text: Utf8Bytes) -> Utf8Bytes {
        text
    }

    /// Binary comes back as binary, without a copy.
    #[on_binary]
    async fn binary(&self, data: Bytes) -> Bytes {
        data
    }
}

/// Blocks of 128 KiB and more (the partial messages of up to 16 MiB this example accepts)
/// are mapped and unmapped on their own, so a peak of large messages is returned to the
/// system when they are freed. glibc's default raises this threshold after the first large
/// free, after which a later peak can stay resident for good (BENCHMARKS.md, "Memory after
/// a peak"). The same as `GLIBC_TUNABLES=glibc.malloc.mmap_threshold=131072`.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn return_large_blocks_to_the_system() {
    // SAFETY: mallopt takes glibc's own locks and only changes an allocator parameter.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 << 10);
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    return_large_blocks_to_the_system();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:3000".to_owned());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    tracing::info!(
        "echo listening on ws://{}{}",
        listener.local_addr()?,
        Echo::PATH
    );
    let max_connections = match std::env::var("MAX_CONNECTIONS") {
        Ok(max) => Some(max.parse().map_err(std::io::Error::other)?),
        Err(_) => None,
    };
    ws_controller::serve(listener, Echo.into_router())
        .max_connections(max_connections)
        .await
}
