//! [`Sender`], the cloneable write handle of a connection.

use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use http::request::Parts;
use serde::Serialize;
use tokio::sync::oneshot;

use crate::connection::close::{
    CloseCode, CloseError, CloseStatus, INTERNAL_ERROR_REASON, NORMAL_CLOSURE_REASON,
};
use crate::connection::conn::ConnId;
use crate::connection::error::ConnError;
use crate::connection::prepared::{Outgoing, PreparedMessage};
use crate::connection::queue_budget::NoRoom;
use crate::connection::shared::{duration_ms, lock, Shared};
use ws_controller_protocol::{Message, Utf8Bytes};

/// A cloneable handle that writes to a connection from any task, pings it and closes it.
///
/// Messages from all handles go through one bounded queue and are written in the order they
/// were queued. [`Sender::send`] waits while the queue is full (backpressure);
/// [`Sender::try_send`] fails instead.
#[derive(Clone)]
pub struct Sender {
    pub(crate) shared: Arc<Shared>,
}

/// Why [`Sender::try_send`] did not queue a message; the message is handed back.
#[derive(Debug, thiserror::Error)]
pub enum TrySendError {
    /// The outbound queue is full.
    #[error("outbound queue is full")]
    Full(Message),
    /// The connection is closing or closed.
    #[error("connection is closed")]
    Closed(Message),
}

impl TrySendError {
    /// The message that was not sent.
    pub fn into_message(self) -> Message {
        match self {
            Self::Full(m) | Self::Closed(m) => m,
        }
    }
}

impl Sender {
    /// Queues a message, waiting while the outbound queue is full (by count or by bytes).
    pub async fn send(&self, message: impl Into<Message>) -> Result<(), ConnError> {
        self.queue(Outgoing::Plain(message.into())).await
    }

    /// Queues a prepared message (see [`PreparedMessage`]), waiting while the queue is full.
    pub async fn send_prepared(&self, message: &PreparedMessage) -> Result<(), ConnError> {
        self.queue(Outgoing::Prepared(message.clone())).await
    }

    async fn queue(&self, message: Outgoing) -> Result<(), ConnError> {
        if self.shared.is_closing() {
            return Err(self.shared.closed_error());
        }
        let shared = &*self.shared;
        let cost = shared.queue_cost(message.message().len());
        // There is usually room: try first, without building a waiting future.
        let room = match shared.queue_room.try_take(cost) {
            Err(NoRoom::Full) => shared.queue_room.take(cost).await,
            taken => taken,
        };
        if room.is_err() {
            return Err(shared.closed_error());
        }
        shared.enqueue(message).map_err(|_| shared.closed_error())
    }

    /// Queues a text message.
    pub async fn send_text(&self, text: impl Into<Utf8Bytes>) -> Result<(), ConnError> {
        self.send(Message::Text(text.into())).await
    }

    /// Queues a binary message.
    pub async fn send_binary(&self, data: impl Into<bytes::Bytes>) -> Result<(), ConnError> {
        self.send(Message::Binary(data.into())).await
    }

    /// Serializes `value` to JSON and queues it as a text message.
    pub async fn send_json<T: Serialize + ?Sized>(&self, value: &T) -> Result<(), ConnError> {
        let text = serde_json::to_string(value).map_err(ConnError::Encode)?;
        self.send(Message::Text(text.into())).await
    }

    /// Queues a message without waiting; fails when the queue is full (by count or by
    /// bytes) or the connection is closing.
    pub fn try_send(&self, message: impl Into<Message>) -> Result<(), TrySendError> {
        self.try_queue(Outgoing::Plain(message.into()))
    }

    /// Queues a prepared message (see [`PreparedMessage`]) without waiting, as
    /// [`Sender::try_send`] does.
    pub fn try_send_prepared(&self, message: &PreparedMessage) -> Result<(), TrySendError> {
        self.try_queue(Outgoing::Prepared(message.clone()))
    }

    fn try_queue(&self, message: Outgoing) -> Result<(), TrySendError> {
        if self.shared.is_closing() {
            return Err(TrySendError::Closed(message.into_message()));
        }
        let shared = &*self.shared;
        let cost = shared.queue_cost(message.message().len());
        match shared.queue_room.try_take(cost) {
            Ok(()) => {}
            Err(NoRoom::Full) => return Err(TrySendError::Full(message.into_message())),
            Err(NoRoom::Closed) => return Err(TrySendError::Closed(message.into_message())),
        }
        shared
            .enqueue(message)
            .map_err(|message| TrySendError::Closed(message.into_message()))
    }

    /// Messages waiting in the outbound queue.
    pub fn queued_messages(&self) -> usize {
        lock(&self.shared.outbox).messages.len()
    }

    /// Payload bytes waiting in the outbound queue (each message counted up to the byte
    /// limit).
    pub fn queued_bytes(&self) -> usize {
        self.shared.queue_bytes_limit - self.shared.queue_room.available_bytes()
    }

    /// Sends a ping and resolves with the round-trip time when its pong arrives.
    ///
    /// Works while another task (the serve loop) is waiting in [`Conn::recv`](crate::Conn::recv): pongs are
    /// read by the connection's driver, not by the caller.
    pub async fn ping(&self) -> Result<Duration, ConnError> {
        let (tx, rx) = oneshot::channel();
        if self.shared.is_closing() {
            return Err(self.shared.closed_error());
        }
        {
            let mut outbox = lock(&self.shared.outbox);
            if outbox.ended {
                return Err(self.shared.closed_error());
            }
            outbox.pings.push(tx);
        }
        self.shared.wake_for_outbox();
        rx.await.map_err(|_| self.shared.closed_error())
    }

    /// Performs the close handshake: queued messages are written, then the close frame; the
    /// peer's close frame is awaited (data frames meanwhile are discarded) for at most the
    /// close timeout; then the TCP connection is closed.
    ///
    /// It needs no other task to be reading. Only the first call sends a frame; every call
    /// returns once the connection is closed. A reason longer than 123 bytes is cut at a
    /// UTF-8 boundary.
    pub async fn close(&self, code: CloseCode, reason: &str) {
        self.shared.request_close(code, reason, true);
        let limit = self.shared.close_timeout() + Duration::from_millis(250);
        if tokio::time::timeout(limit, self.closed()).await.is_err() {
            // The driver is stuck writing to a peer that does not read: drop the socket.
            self.shared.abort();
            self.closed().await;
        }
    }

    /// Closes with 1000 "Server closed connection".
    pub async fn close_normal(&self) {
        self.close(CloseCode::NORMAL_CLOSURE, NORMAL_CLOSURE_REASON)
            .await;
    }

    /// Closes with 1011 "Internal Server Error", or with the error's message (cut to 123 bytes)
    /// when the controller's debug flag is on.
    pub async fn close_with_error(&self, err: &(impl fmt::Display + ?Sized)) {
        if self.shared.debug {
            self.close(CloseCode::INTERNAL_ERROR, &err.to_string())
                .await;
        } else {
            self.close(CloseCode::INTERNAL_ERROR, INTERNAL_ERROR_REASON)
                .await;
        }
    }

    /// Resolves once the connection is closed, with the status that ended it: the code we
    /// sent, the code the peer sent, or 1006 when it vanished.
    pub async fn closed(&self) -> CloseError {
        let mut rx = self.shared.closed.clone();
        let result = match rx.wait_for(Option::is_some).await {
            Ok(status) => status.clone(),
            Err(_) => None,
        };
        result.unwrap_or_else(|| CloseError::new(CloseStatus::Abnormal, ""))
    }

    /// The final status if the connection is closed.
    pub fn close_status(&self) -> Option<CloseError> {
        self.shared.closed.borrow().clone()
    }

    /// True once a close was requested, sent or received.
    pub fn is_closed(&self) -> bool {
        // The driver marks the connection closing before it publishes the final status.
        self.shared.is_closing()
    }

    /// The close-handshake timeout of this connection.
    pub fn close_timeout(&self) -> Duration {
        self.shared.close_timeout()
    }

    /// Changes the close-handshake timeout of this connection (the controller's setting is
    /// the default).
    pub fn set_close_timeout(&self, timeout: Duration) {
        self.shared
            .close_timeout_ms
            .store(duration_ms(timeout), Ordering::Relaxed);
    }

    /// The connection's id.
    pub fn id(&self) -> ConnId {
        self.shared.id
    }

    /// The negotiated subprotocol, if any.
    pub fn subprotocol(&self) -> Option<&str> {
        self.shared.subprotocol.as_deref()
    }

    /// The peer's address, when the server was started with
    /// `into_make_service_with_connect_info::<SocketAddr>()`.
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.shared.peer_addr
    }

    /// The upgrade request (method, URI, headers, extensions), without its body.
    pub fn request(&self) -> &Parts {
        &self.shared.request
    }

    /// The upgrade request's method (always GET).
    pub fn method(&self) -> &http::Method {
        &self.shared.request.method
    }

    /// The upgrade request's URI.
    pub fn uri(&self) -> &http::Uri {
        &self.shared.request.uri
    }

    /// The upgrade request's headers.
    pub fn headers(&self) -> &http::HeaderMap {
        &self.shared.request.headers
    }

    /// The upgrade request's extensions (what middleware inserted).
    pub fn extensions(&self) -> &http::Extensions {
        &self.shared.request.extensions
    }
}

impl fmt::Debug for Sender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("id", &self.shared.id)
            .field("closed", &self.is_closed())
            .finish()
    }
}
