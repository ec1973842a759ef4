//! [`Conn`], the connection a controller serves, and [`ConnId`].

use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::Poll;

use http::request::Parts;
use serde::de::DeserializeOwned;
use tokio::sync::watch;

use crate::connection::close::CloseCode;
use crate::connection::error::ConnError;
use crate::connection::sender::Sender;
use crate::connection::shared::{lock, DriverEnds, Shared};
use ws_controller_protocol::Message;

/// A process-unique connection id, for logs and registries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(u64);

impl ConnId {
    pub(crate) fn next() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        Self(NEXT.fetch_add(1, Ordering::Relaxed))
    }

    /// The id with this number (what [`ConnId::get`] returned); see `conn_id.rs`.
    pub(crate) fn from_u64(id: u64) -> Self {
        Self(id)
    }

    /// The id as a number.
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A WebSocket connection: receive data messages, and everything [`Sender`] does (through
/// `Deref`).
///
/// Control frames are handled underneath by the connection's driver: pings are answered,
/// a peer's close is echoed with its code, and protocol violations close the connection
/// with the right code (1002, 1007, 1009) before the error reaches [`Conn::recv`].
pub struct Conn {
    sender: Sender,
    /// When `recv` last returned a message: the next call ends its handling.
    #[cfg(feature = "metrics")]
    taken: Option<std::time::Instant>,
}

impl Conn {
    /// A connection and the driver's ends of its queues.
    pub(crate) fn new(
        request: Parts,
        subprotocol: Option<String>,
        peer_addr: Option<SocketAddr>,
        settings: &crate::connection::settings::Settings,
        metrics: crate::metrics::ConnMetrics,
    ) -> (Self, DriverEnds) {
        let (closed_tx, closed_rx) = watch::channel(None);
        let shared = Arc::new(Shared::new(
            request,
            subprotocol,
            peer_addr,
            settings,
            closed_rx,
            metrics,
        ));
        let conn = Self {
            sender: Sender {
                shared: shared.clone(),
            },
            #[cfg(feature = "metrics")]
            taken: None,
        };
        let ends = DriverEnds {
            shared,
            closed: closed_tx,
        };
        (conn, ends)
    }

    /// Receives the next data message.
    ///
    /// Errors: [`ConnError::Closed`] once the connection is closed (with the close frame's
    /// code and reason), [`ConnError::PeerGone`] when the peer vanished, and the violation
    /// that made the connection close ([`ConnError::MessageTooBig`], ...).
    pub async fn recv(&mut self) -> Result<Message, ConnError> {
        #[cfg(feature = "metrics")]
        if let Some(taken) = self.taken.take() {
            self.sender.shared.metrics.handled(taken.elapsed());
        }
        let shared = &*self.sender.shared;
        let received = std::future::poll_fn(|cx| {
            let mut inbox = lock(&shared.inbox);
            if let Some(item) = inbox.item.take() {
                shared.inbox_full.store(false, Ordering::Release);
                drop(inbox);
                // Room for the next message: the driver may read again.
                shared.wake.wake();
                return Poll::Ready(item);
            }
            // After `close_read` (the only way a live `Conn` has no reader) this waits for
            // the end of the connection and reports how it ended.
            if inbox.ended {
                drop(inbox);
                return Poll::Ready(Err(lock(&shared.pending_error)
                    .take()
                    .unwrap_or_else(|| shared.closed_error())));
            }
            match &mut inbox.reader {
                Some(waker) => waker.clone_from(cx.waker()),
                None => inbox.reader = Some(cx.waker().clone()),
            }
            Poll::Pending
        })
        .await;
        #[cfg(feature = "metrics")]
        if received.is_ok() {
            self.taken = Some(std::time::Instant::now());
        }
        received
    }

    /// Receives the next message and decodes it from JSON (text or binary).
    ///
    /// A message that is not valid JSON for `T` starts the close handshake with 1007 and
    /// returns [`ConnError::Json`].
    pub async fn recv_json<T: DeserializeOwned>(&mut self) -> Result<T, ConnError> {
        let message = self.recv().await?;
        serde_json::from_slice(message.as_bytes()).map_err(|err| {
            self.sender
                .shared
                .request_close(CloseCode::INVALID_PAYLOAD, "Invalid JSON", true);
            ConnError::Json(err)
        })
    }

    /// Declares the connection write-only: control frames keep being handled, and a data
    /// message from the peer closes the connection with 1008. [`Conn::recv`] then waits until
    /// the connection is closed and reports how it ended; [`Sender::closed`] does the same
    /// from any task.
    pub fn close_read(&mut self) {
        self.sender
            .shared
            .read_closed
            .store(true, Ordering::Release);
        self.sender.shared.reader_gone(false);
    }

    /// A cloneable handle for writing from other tasks.
    pub fn sender(&self) -> Sender {
        self.sender.clone()
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        // The last message's handling ended here (the handler failed, panicked or returned).
        #[cfg(feature = "metrics")]
        if let Some(taken) = self.taken.take() {
            self.sender.shared.metrics.handled(taken.elapsed());
        }
        self.sender.shared.reader_gone(true);
    }
}

impl std::ops::Deref for Conn {
    type Target = Sender;

    fn deref(&self) -> &Sender {
        &self.sender
    }
}

impl fmt::Debug for Conn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Conn")
            .field("id", &self.sender.shared.id)
            .field("closed", &self.sender.is_closed())
            .finish()
    }
}
