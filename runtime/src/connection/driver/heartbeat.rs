//! Pings and pongs: the heartbeat, [`Sender::ping`](crate::Sender::ping)'s round trips, and
//! the answers owed to the peer's pings.

use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::oneshot;
use tokio::time::Instant;
use ws_controller_protocol::frame::OpCode;

use super::Driver;

/// Most pongs written together (see [`Driver::queue_pong`]).
pub(super) const PONGS_PER_BATCH: usize = 16;

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

    /// Answers a ping. Pongs go out with the batched replies: the first
    /// [`PONGS_PER_BATCH`] - 1 pings of a batch get one each (so a few pings sent together
    /// are all answered), later ones share one slot that holds the latest ping's pong, so a
    /// flood costs at most [`PONGS_PER_BATCH`] pongs per write, whatever its rate.
    pub(super) fn queue_pong(&mut self, payload: Bytes) {
        if self.pongs_batched + 1 < PONGS_PER_BATCH {
            self.pongs_batched += 1;
            self.control(OpCode::Pong, &payload);
        } else if self.latest_pong.replace(payload).is_none() {
            self.unflushed += 1;
        }
    }

    /// Adds the pong of the latest ping, if one is owed, to the frames to write: before a
    /// write, and before a close frame (nothing may follow that).
    pub(super) fn add_latest_pong(&mut self) {
        if let Some(payload) = self.latest_pong.take() {
            self.encoder.control(OpCode::Pong, &payload, &mut self.out);
        }
        self.pongs_batched = 0;
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

pub(super) async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
