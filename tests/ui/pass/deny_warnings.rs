//! The expansion is warning-free and safe in a strict crate.
#![deny(warnings)]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use http::request::Parts;
use ws_controller::{ws_controller, CloseStatus, Conn, Error};

/// An echo endpoint.
pub struct Echo;

/// The session.
pub struct Session {
    count: usize,
}

#[ws_controller(path = "/echo/{id}", origin = any, ping_interval = off, idle_timeout = "2m")]
impl Echo {
    #[on_open]
    async fn open(
        &self,
        conn: &Conn,
        axum::extract::Path(id): axum::extract::Path<u32>,
    ) -> Result<Session, Error> {
        conn.send_text(id.to_string()).await?;
        Ok(Session { count: 0 })
    }

    #[on_text]
    async fn said(&self, session: &mut Session, text: String) -> String {
        session.count += 1;
        text
    }

    #[on_binary]
    async fn data(&self, _data: Vec<u8>) {}

    #[on_close]
    async fn left(&self, conn: &Conn, session: Session, status: CloseStatus, reason: &str) {
        let _ = (conn.id(), session.count, status, reason);
    }

    #[on_error]
    fn error(&self, _request: &Parts, _error: &Error) {}
}

fn main() {
    let _app: axum::Router = Echo.into_router();
}
