//! A write-only endpoint at `/ticker`: sends a tick count every second until the peer goes
//! away. It uses the `#[serve]` style: the method owns the connection.
//!
//! ```text
//! ADDR=127.0.0.1:3000 cargo run --example ticker
//! ```
//!
//! Then connect a WebSocket client to `ws://127.0.0.1:3000/ticker` (for example
//! `websocat ws://127.0.0.1:3000/ticker`): it receives `tick 1`, `tick 2`, ... once a second.
//! `ws://127.0.0.1:3000/ticker?every_ms=200` ticks faster. The connection is write-only: a
//! message from the client closes it with 1008. Closing the client ends the loop cleanly.
//!
//! Ctrl-C shuts down cleanly: every connection is in a `Hub` (the `#[hub]` hook), which sends
//! each one a 1001 "Server shutting down" close frame and waits for the handshakes before the
//! server stops. Logs go to stderr (`RUST_LOG=debug` for connection events).

use std::time::Duration;

use axum::extract::Query;
use serde::Deserialize;
use ws_controller::{ws_controller, Conn, Error, Hub, Shutdown};

#[derive(Deserialize)]
struct Options {
    /// Milliseconds between ticks; default 1000, at least 50.
    every_ms: Option<u64>,
}

struct Ticker {
    hub: Hub,
}

#[ws_controller(path = "/ticker", origin = any)]
impl Ticker {
    /// Connections join this hub, so a shutdown can close them all properly.
    #[hub]
    fn hub(&self) -> &Hub {
        &self.hub
    }

    #[serve]
    async fn serve(&self, mut conn: Conn, Query(options): Query<Options>) -> Result<(), Error> {
        // Nothing is read: control frames are still handled, and `closed()` tells when the
        // peer goes away.
        conn.close_read();
        let period = Duration::from_millis(options.every_ms.unwrap_or(1000).max(50));
        let mut interval = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        let mut count: u64 = 0;
        loop {
            tokio::select! {
                status = conn.closed() => {
                    tracing::info!(id = %conn.id(), ticks = count, %status, "peer went away");
                    return Ok(());
                }
                _ = interval.tick() => {
                    count += 1;
                    conn.send_text(format!("tick {count}")).await?;
                }
            }
        }
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
        "ticker listening on ws://{}{}",
        listener.local_addr()?,
        Ticker::PATH
    );
    let hub = Hub::new();
    let app = Ticker { hub: hub.clone() }.into_router();
    let signal = async {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down");
    };
    ws_controller::serve(listener, app)
        .with_graceful_shutdown(hub.graceful(signal, Shutdown::default()))
        .await
}
