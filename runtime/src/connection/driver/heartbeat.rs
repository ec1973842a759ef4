//! Pings and pongs: the heartbeat, [`Sender::ping`](crate::Sender::ping)'s round trips, and
//! the answers owed to the peer's pings.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::oneshot;
use tokio::time::Instant;
use ws_controller_protocol::frame::OpCode;

use super::Driver;

impl<T: AsyncRead + AsyncWrite + Unpin> Driver<T> {
    /// Adds a ping whose payload is its id; `reply` learns the round-trip time.
    pub(super) fn send_ping(&mut self, reply: Option<oneshot::Sender<Duration>>) {
        self.next_ping += 1;
        let id = self.next_ping;
        self.control(OpCode::Ping, &id.to_be_bytes());
        if let Some(reply) = reply {
            self.pings.push_back((id, Instant::now(), reply));
        }
    }

    /// Adds the pong that answers a ping.
    pub(super) fn queue_pong(&mut self, payload: &[u8]) {
        self.control(OpCode::Pong, payload);
    }

    pub(super) fn on_pong(&mut self, payload: &[u8]) {
        let Ok(bytes) = <[u8; 8]>::try_from(payload) else {
            return; // An unsolicited pong (RFC 6455 §5.5.3): ignore it.
        };
        let id = u64::from_be_bytes(bytes);
        // A pong may answer several pings at once (§5.5.3): settle all up to its id.
        while self.pings.front().is_some_and(|(p, _, _)| *p <= id) {
            if let Some((_, sent, reply)) = self.pings.pop_front() {
                let _ = reply.send(sent.elapsed());
            }
        }
    }
}

pub(super) async fn tick(timer: &mut Option<tokio::time::Interval>) {
    match timer {
        Some(timer) => {
            timer.tick().await;
        }
        None => std::future::pending().await,
    }
}

pub(super) async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
