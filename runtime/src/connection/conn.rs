//! [`Conn`], the connection a controller serves, and [`Sender`], its cloneable write handle.

use std::collections::VecDeque;
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};
use std::time::Duration;

use http::request::Parts;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::{oneshot, watch, Notify, Semaphore, TryAcquireError};

use crate::connection::close::{truncate_reason, CloseCode, CloseError, CloseStatus};
use crate::connection::close::{INTERNAL_ERROR_REASON, NORMAL_CLOSURE_REASON};
use crate::connection::error::ConnError;
use crate::connection::message::Message;
use crate::connection::settings::SlowConsumer;

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

/// What senders queue for the driver: messages and ping requests.
///
/// The connection's queues live in [`Shared`] behind plain mutexes rather than in channels:
/// a channel allocates its first block of slots up front (about 2 KiB per queue for a
/// 40-byte message), which every idle connection would pay for. A `VecDeque` allocates
/// only when something is queued.
#[derive(Default)]
pub(crate) struct Outbox {
    /// Messages to send, oldest first; each holds one `queue_slots` permit and its
    /// `queue_cost` of `queue_bytes` permits.
    pub(crate) messages: VecDeque<Message>,
    /// Pings asked for by [`Sender::ping`], not yet sent.
    pub(crate) pings: Vec<oneshot::Sender<Duration>>,
    /// Set when the driver has ended: nothing is sent any more.
    pub(crate) ended: bool,
}

/// The reader's side: at most one message waits for [`Conn::recv`], and the driver reads
/// the next frame only once it is taken (TCP backpressure instead of unbounded buffering).
#[derive(Default)]
pub(crate) struct Inbox {
    pub(crate) item: Option<Result<Message, ConnError>>,
    /// The task waiting in [`Conn::recv`].
    pub(crate) reader: Option<Waker>,
    /// Nobody will call [`Conn::recv`] any more (the `Conn` was dropped, or read-closed).
    pub(crate) reader_gone: bool,
    /// The driver has ended: once `item` is taken, `recv` reports how the connection closed.
    pub(crate) ended: bool,
}

/// State shared by a connection's handles and its driver.
pub(crate) struct Shared {
    pub(crate) id: ConnId,
    pub(crate) request: Parts,
    pub(crate) subprotocol: Option<String>,
    pub(crate) peer_addr: Option<SocketAddr>,
    pub(crate) debug: bool,
    pub(crate) max_message_size: usize,
    pub(crate) ping_interval: Option<Duration>,
    pub(crate) idle_timeout: Option<Duration>,
    close_timeout_ms: AtomicU64,
    /// Set once a close is requested or received: no more data is accepted for sending.
    closing: AtomicBool,
    pub(crate) read_closed: AtomicBool,
    pub(crate) aborted: AtomicBool,
    /// Set when the close handshake completed (a close frame went each way).
    pub(crate) handshake_completed: AtomicBool,
    /// The close the application asked for; taken by the driver.
    pub(crate) close_request: Mutex<Option<CloseRequest>>,
    /// Bytes that may still be queued; a queued message holds `queue_cost(len)` permits
    /// until the driver has written it.
    pub(crate) queue_bytes: Semaphore,
    /// Messages that may still be queued (`send_queue`); a queued message holds one.
    pub(crate) queue_slots: Semaphore,
    pub(crate) outbox: Mutex<Outbox>,
    pub(crate) inbox: Mutex<Inbox>,
    pub(crate) queue_bytes_limit: usize,
    pub(crate) slow_consumer: SlowConsumer,
    /// Run once when the connection's task ends; `None` afterwards.
    end_hooks: Mutex<Option<Vec<EndHook>>>,
    /// Wakes the driver: something was queued, the reader took its message, a close was
    /// requested, or the connection was aborted.
    pub(crate) wake: Notify,
    /// An error for the reader that could not be queued behind earlier messages.
    pub(crate) pending_error: Mutex<Option<ConnError>>,
    /// The final status; `Some` once the connection is closed.
    pub(crate) closed: watch::Receiver<Option<CloseError>>,
    /// Typed per-connection data (`Sender::insert`/`get`, in `data.rs`).
    pub(crate) data: Mutex<http::Extensions>,
}

impl Shared {
    pub(crate) fn new(
        request: Parts,
        subprotocol: Option<String>,
        peer_addr: Option<SocketAddr>,
        settings: &crate::connection::settings::Settings,
        closed: watch::Receiver<Option<CloseError>>,
    ) -> Self {
        Self {
            id: ConnId::next(),
            request,
            subprotocol,
            peer_addr,
            debug: settings.debug,
            max_message_size: settings.max_message_size,
            ping_interval: settings.ping_interval.filter(|d| !d.is_zero()),
            idle_timeout: settings.idle_timeout.filter(|d| !d.is_zero()),
            close_timeout_ms: AtomicU64::new(duration_ms(settings.close_timeout)),
            closing: AtomicBool::new(false),
            read_closed: AtomicBool::new(false),
            aborted: AtomicBool::new(false),
            handshake_completed: AtomicBool::new(false),
            close_request: Mutex::new(None),
            queue_bytes: Semaphore::new(queue_limit(settings.send_queue_bytes)),
            queue_bytes_limit: queue_limit(settings.send_queue_bytes),
            queue_slots: Semaphore::new(settings.send_queue.clamp(1, Semaphore::MAX_PERMITS)),
            outbox: Mutex::new(Outbox::default()),
            inbox: Mutex::new(Inbox::default()),
            slow_consumer: settings.slow_consumer,
            end_hooks: Mutex::new(Some(Vec::new())),
            wake: Notify::new(),
            pending_error: Mutex::new(None),
            closed,
            data: Mutex::new(http::Extensions::new()),
        }
    }

    pub(crate) fn close_timeout(&self) -> Duration {
        Duration::from_millis(self.close_timeout_ms.load(Ordering::Relaxed))
    }

    /// Marks the connection as closing; true for the first caller.
    pub(crate) fn mark_closing(&self) -> bool {
        !self.closing.swap(true, Ordering::AcqRel)
    }

    pub(crate) fn is_closing(&self) -> bool {
        self.closing.load(Ordering::Acquire)
    }

    /// Asks the driver to start the close handshake (first request wins). With `flush`,
    /// queued messages are written before the close frame; without, they are dropped.
    pub(crate) fn request_close(&self, code: CloseCode, reason: &str, flush: bool) {
        if self.mark_closing() {
            *lock(&self.close_request) = Some(CloseRequest {
                code,
                reason: truncate_reason(reason).to_owned(),
                flush,
            });
            self.wake.notify_one();
        }
    }

    /// Permits a queued message of `len` bytes holds.
    pub(crate) fn queue_cost(&self, len: usize) -> u32 {
        // The limit fits in u32 (see `queue_limit`), so the cast cannot truncate.
        len.min(self.queue_bytes_limit) as u32
    }

    /// Registers `hook` to run when the connection's task ends; false (and `hook` dropped)
    /// when it has already ended.
    pub(crate) fn on_end(&self, hook: EndHook) -> bool {
        match &mut *lock(&self.end_hooks) {
            Some(hooks) => {
                hooks.push(hook);
                true
            }
            None => false,
        }
    }

    /// Runs the end hooks (once).
    pub(crate) fn run_end_hooks(&self) {
        let hooks = lock(&self.end_hooks).take();
        for hook in hooks.into_iter().flatten() {
            hook();
        }
    }

    pub(crate) fn abort(&self) {
        self.aborted.store(true, Ordering::Release);
        // Every waiter: the driver's loop, or a write of the driver blocked on the peer.
        self.wake.notify_waiters();
        self.wake.notify_one();
    }

    /// Queues a message that holds its queue permits; hands it back when the driver has
    /// ended.
    fn enqueue(
        &self,
        message: Message,
        bytes: tokio::sync::SemaphorePermit<'_>,
        slot: tokio::sync::SemaphorePermit<'_>,
    ) -> Result<(), Message> {
        let mut outbox = lock(&self.outbox);
        if outbox.ended {
            return Err(message);
        }
        outbox.messages.push_back(message);
        drop(outbox);
        // The driver gives the permits back once the message is written.
        bytes.forget();
        slot.forget();
        self.wake.notify_one();
        Ok(())
    }

    /// The reader will not read any more; with `dropped`, not even what is waiting for it.
    pub(crate) fn reader_gone(&self, dropped: bool) {
        let mut inbox = lock(&self.inbox);
        inbox.reader_gone = true;
        let item = if dropped { inbox.item.take() } else { None };
        drop(inbox);
        drop(item);
        self.wake.notify_one();
    }

    pub(crate) fn set_pending_error(&self, err: ConnError) {
        lock(&self.pending_error).get_or_insert(err);
    }

    /// The error a reader or writer gets once the connection is closing or closed.
    fn closed_error(&self) -> ConnError {
        if let Some(err) = self.closed.borrow().clone() {
            return ConnError::Closed(err);
        }
        match &*lock(&self.close_request) {
            Some(request) => {
                ConnError::Closed(CloseError::new(request.code, request.reason.clone()))
            }
            None => ConnError::Closed(CloseError::new(CloseStatus::Abnormal, "")),
        }
    }
}

/// Locks a mutex whose data stays consistent even if a holder panicked (every critical
/// section here is a single assignment or take).
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Work to do when a connection's task ends.
pub(crate) type EndHook = Box<dyn FnOnce() + Send>;

/// A close the application asked for.
pub(crate) struct CloseRequest {
    pub(crate) code: CloseCode,
    pub(crate) reason: String,
    /// Write queued messages before the close frame.
    pub(crate) flush: bool,
}

/// The byte budget of a queue, capped so a permit count always fits the semaphore's `u32`.
fn queue_limit(bytes: usize) -> usize {
    bytes.clamp(1, u32::MAX as usize)
}

fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

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
        let message = message.into();
        if self.shared.is_closing() {
            return Err(self.shared.closed_error());
        }
        let shared = &*self.shared;
        let cost = shared.queue_cost(message.len());
        // Permits are usually there: try first, without building a waiting future.
        let bytes = match shared.queue_bytes.try_acquire_many(cost) {
            Ok(permit) => Ok(permit),
            Err(TryAcquireError::NoPermits) => shared.queue_bytes.acquire_many(cost).await,
            Err(TryAcquireError::Closed) => return Err(shared.closed_error()),
        };
        let Ok(bytes) = bytes else {
            return Err(shared.closed_error());
        };
        let slot = match shared.queue_slots.try_acquire() {
            Ok(permit) => Ok(permit),
            Err(TryAcquireError::NoPermits) => shared.queue_slots.acquire().await,
            Err(TryAcquireError::Closed) => return Err(shared.closed_error()),
        };
        let Ok(slot) = slot else {
            return Err(shared.closed_error());
        };
        shared
            .enqueue(message, bytes, slot)
            .map_err(|_| shared.closed_error())
    }

    /// Queues a text message.
    pub async fn send_text(
        &self,
        text: impl Into<crate::connection::message::Utf8Bytes>,
    ) -> Result<(), ConnError> {
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
        let message = message.into();
        if self.shared.is_closing() {
            return Err(TrySendError::Closed(message));
        }
        let shared = &*self.shared;
        let cost = shared.queue_cost(message.len());
        let bytes = match shared.queue_bytes.try_acquire_many(cost) {
            Ok(permit) => permit,
            Err(TryAcquireError::NoPermits) => return Err(TrySendError::Full(message)),
            Err(TryAcquireError::Closed) => return Err(TrySendError::Closed(message)),
        };
        let slot = match shared.queue_slots.try_acquire() {
            Ok(permit) => permit,
            Err(TryAcquireError::NoPermits) => return Err(TrySendError::Full(message)),
            Err(TryAcquireError::Closed) => return Err(TrySendError::Closed(message)),
        };
        shared
            .enqueue(message, bytes, slot)
            .map_err(TrySendError::Closed)
    }

    /// Messages waiting in the outbound queue.
    pub fn queued_messages(&self) -> usize {
        lock(&self.shared.outbox).messages.len()
    }

    /// Payload bytes waiting in the outbound queue (each message counted up to the byte
    /// limit).
    pub fn queued_bytes(&self) -> usize {
        self.shared.queue_bytes_limit - self.shared.queue_bytes.available_permits()
    }

    /// Sends a ping and resolves with the round-trip time when its pong arrives.
    ///
    /// Works while another task (the serve loop) is waiting in [`Conn::recv`]: pongs are
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
        self.shared.wake.notify_one();
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
        self.shared.is_closing() || self.shared.closed.borrow().is_some()
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

/// A WebSocket connection: receive data messages, and everything [`Sender`] does (through
/// `Deref`).
///
/// Control frames are handled underneath by the connection's driver: pings are answered,
/// a peer's close is echoed with its code, and protocol violations close the connection
/// with the right code (1002, 1007, 1009) before the error reaches [`Conn::recv`].
pub struct Conn {
    sender: Sender,
}

/// What the driver of a new connection needs.
pub(crate) struct DriverEnds {
    pub(crate) shared: Arc<Shared>,
    pub(crate) closed: watch::Sender<Option<CloseError>>,
}

impl Conn {
    /// A connection and the driver's ends of its queues.
    pub(crate) fn new(
        request: Parts,
        subprotocol: Option<String>,
        peer_addr: Option<SocketAddr>,
        settings: &crate::connection::settings::Settings,
    ) -> (Self, DriverEnds) {
        let (closed_tx, closed_rx) = watch::channel(None);
        let shared = Arc::new(Shared::new(
            request,
            subprotocol,
            peer_addr,
            settings,
            closed_rx,
        ));
        let conn = Self {
            sender: Sender {
                shared: shared.clone(),
            },
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
        let shared = &*self.sender.shared;
        std::future::poll_fn(|cx| {
            let mut inbox = lock(&shared.inbox);
            if let Some(item) = inbox.item.take() {
                drop(inbox);
                // Room for the next message: the driver may read again.
                shared.wake.notify_one();
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
        .await
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
