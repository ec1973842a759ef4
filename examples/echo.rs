//! An echo endpoint at `/echo`.
//!
//! ```text
//! ADDR=127.0.0.1:3000 cargo run --release --example echo
//! ```
//!
//! Then connect any WebSocket client to `ws://127.0.0.1:3000/echo`: every text or binary
//! message comes back unchanged. Logs go to stderr (`RUST_LOG=debug` for connection events).

use ws_controller::{Conn, Controller, Error, Settings};

struct Echo;

impl Controller for Echo {
    type Extract = ();

    fn settings(&self) -> Settings {
        // The Autobahn testsuite sends messages of up to 16 MiB; the library default (64 KiB)
        // stays the safe choice for applications.
        Settings::default().max_message_size(16 << 20)
    }

    async fn serve(&self, mut conn: Conn, _: ()) -> Result<(), Error> {
        loop {
            let message = conn.recv().await?;
            conn.send(message).await?;
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
    tracing::info!("echo listening on ws://{}/echo", listener.local_addr()?);
    let app = ws_controller::route("/echo", Echo);
    ws_controller::serve(listener, app).await
}
