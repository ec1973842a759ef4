//! `#[serve]` owns the connection, with extractors before the upgrade and hooks alongside.
use std::time::Duration;

use axum::extract::Query;
use axum::response::IntoResponse;
use http::request::Parts;
use http::{HeaderMap, HeaderValue, StatusCode};
use ws_controller::{ws_controller, Conn, Error, UpgradeError};

#[derive(serde::Deserialize)]
struct Every {
    ms: u64,
}

struct Ticker;

#[ws_controller(
    path = "/ticker",
    max_message_size = 1024,
    read_buffer_size = 1024,
    write_buffer_size = 8192,
    send_queue = 8,
    close_timeout = "3s",
    ping_interval = "10s",
    idle_timeout = off,
    subprotocols = ["tick.v2", "tick.v1"],
    debug = false
)]
impl Ticker {
    #[serve]
    async fn serve(&self, mut conn: Conn, Query(every): Query<Every>) -> Result<(), Error> {
        conn.close_read();
        let mut n = 0u64;
        loop {
            tokio::select! {
                _ = conn.closed() => return Ok(()),
                _ = tokio::time::sleep(Duration::from_millis(every.ms)) => {
                    n += 1;
                    conn.send_text(n.to_string()).await?;
                }
            }
        }
    }

    #[upgrade_headers]
    fn headers(&self, _request: &Parts) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("x-ticker", HeaderValue::from_static("1"));
        headers
    }

    #[on_upgrade_error]
    fn refused(
        &self,
        _request: &Parts,
        status: StatusCode,
        reason: &UpgradeError,
    ) -> impl IntoResponse {
        (status, reason.to_string())
    }
}

fn main() {
    let _app: axum::Router = Ticker.into_router();
}
