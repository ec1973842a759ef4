//! The state a connection's handles share with its driver: the outbound queue, the inbox of
//! at most one message, close requests and the final status.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Wake, Waker};
use std::time::Duration;

use http::request::Parts;
use tokio::sync::{oneshot, watch};

use crate::connection::close::{truncate_reason, CloseCode, CloseError, CloseStatus};
use crate::connection::conn::ConnId;
use crate::connection::error::ConnError;
use crate::connection::prepared::Outgoing;
use crate::connection::queue_budget::QueueBudget;
use crate::connection::settings::{Settings, SlowConsumer};
use crate::connection::wake::DriverWake;
use crate::metrics::ConnMetrics;

/// What senders queue for the driver: messages and ping requests.
///
/// The connection's queues live in [`Shared`] behind plain mutexes rather than in channels:
/// a channel allocates its first block of slots up front (about 2 KiB per queue for a
/// 40-byte message), which every idle connection would pay for. A `VecDeque` allocates
/// only when something is queued.
#[derive(Default)]
pub(crate) struct Outbox {
    /// Messages to send, oldest first; each holds one place of `queue_room` and its
    /// `queue_cost` in bytes.
    pub(crate) messages: VecDeque<Outgoing>,
    /// Pings asked for by [`Sender::ping`](crate::Sender::ping), not yet sent.
    pub(crate) pings: Vec<oneshot::Sender<Duration>>,
    /// Set when the driver has ended: nothing is sent any more.
    pub(crate) ended: bool,
}

/// The reader's side: at most one message waits for [`Conn::recv`](crate::Conn::recv), and the driver reads
/// the next frame only once it is taken (TCP backpressure instead of unbounded buffering).
#[derive(Default)]
pub(crate) struct Inbox {
    pub(crate) item: Option<Result<ws_controller_protocol::Message, ConnError>>,
    /// The task waiting in [`Conn::recv`](crate::Conn::recv).
    pub(crate) reader: Option<Waker>,
    /// Nobody will call [`Conn::recv`](crate::Conn::recv) any more (the `Conn` was dropped, or read-closed).
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
    pub(crate) ping_interval: Option<Duration>,
    pub(crate) idle_timeout: Option<Duration>,
    pub(crate) close_timeout_ms: AtomicU64,
    /// Set once a close is requested or received: no more data is accepted for sending.
    closing: AtomicBool,
    pub(crate) read_closed: AtomicBool,
    pub(crate) aborted: AtomicBool,
    /// Set when the close handshake completed (a close frame went each way).
    pub(crate) handshake_completed: AtomicBool,
    /// The close the application asked for; taken by the driver.
    pub(crate) close_request: Mutex<Option<CloseRequest>>,
    /// Messages (`send_queue`) and bytes (`send_queue_bytes`) that may still be queued; a
    /// queued message holds one place and `queue_cost(len)` bytes until the driver has
    /// written it.
    pub(crate) queue_room: QueueBudget,
    pub(crate) outbox: Mutex<Outbox>,
    /// Set when something was added to `outbox`: the driver looks at it (and locks it) only
    /// then.
    pub(crate) queued: AtomicBool,
    pub(crate) inbox: Mutex<Inbox>,
    /// Whether `inbox.item` holds a message, for the driver to read without the lock. Only
    /// the driver fills the inbox, so a stale `true` only delays a read until the reader's
    /// wake-up.
    pub(crate) inbox_full: AtomicBool,
    pub(crate) queue_bytes_limit: usize,
    pub(crate) slow_consumer: SlowConsumer,
    /// Run once when the connection's task ends; `None` afterwards.
    end_hooks: Mutex<Option<Vec<EndHook>>>,
    /// Wakes the driver: something was queued, the reader took its message, a close was
    /// requested, or the connection was aborted.
    pub(crate) wake: DriverWake,
    /// Set when one of the driver's timers fired (see the `Wake` impl below).
    pub(crate) timers_fired: AtomicBool,
    /// An error for the reader that could not be queued behind earlier messages.
    pub(crate) pending_error: Mutex<Option<ConnError>>,
    /// The final status; `Some` once the connection is closed.
    pub(crate) closed: watch::Receiver<Option<CloseError>>,
    /// Typed per-connection data (`Sender::insert`/`get`, in `data.rs`).
    pub(crate) data: Mutex<http::Extensions>,
    /// The connection's metric handles (nothing without the `metrics` feature).
    pub(crate) metrics: ConnMetrics,
}

impl Shared {
    pub(crate) fn new(
        request: Parts,
        subprotocol: Option<String>,
        peer_addr: Option<SocketAddr>,
        settings: &Settings,
        closed: watch::Receiver<Option<CloseError>>,
        metrics: ConnMetrics,
    ) -> Self {
        Self {
            id: ConnId::next(),
            request,
            subprotocol,
            peer_addr,
            debug: settings.debug,
            ping_interval: settings.ping_interval.filter(|d| !d.is_zero()),
            idle_timeout: settings.idle_timeout.filter(|d| !d.is_zero()),
            close_timeout_ms: AtomicU64::new(duration_ms(settings.close_timeout)),
            closing: AtomicBool::new(false),
            read_closed: AtomicBool::new(false),
            aborted: AtomicBool::new(false),
            handshake_completed: AtomicBool::new(false),
            close_request: Mutex::new(None),
            queue_room: QueueBudget::new(
                queue_limit(settings.send_queue) as u32,
                queue_limit(settings.send_queue_bytes) as u32,
            ),
            queue_bytes_limit: queue_limit(settings.send_queue_bytes),
            outbox: Mutex::new(Outbox::default()),
            queued: AtomicBool::new(false),
            inbox: Mutex::new(Inbox::default()),
            inbox_full: AtomicBool::new(false),
            slow_consumer: settings.slow_consumer,
            end_hooks: Mutex::new(Some(Vec::new())),
            wake: DriverWake::default(),
            // The timers are polled once to be set.
            timers_fired: AtomicBool::new(true),
            pending_error: Mutex::new(None),
            closed,
            data: Mutex::new(http::Extensions::new()),
            metrics,
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
            self.wake.wake();
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
        // The driver's loop, or a write of the driver blocked on the peer.
        self.wake.wake();
    }

    /// Queues a message that took its room in `queue_room` (the driver gives it back once
    /// the message is written); hands the message back, with its room given back, when
    /// the driver has ended.
    pub(crate) fn enqueue(&self, message: Outgoing) -> Result<(), Outgoing> {
        let mut outbox = lock(&self.outbox);
        if outbox.ended {
            drop(outbox);
            self.queue_room
                .give_back(1, self.queue_cost(message.message().len()));
            return Err(message);
        }
        outbox.messages.push_back(message);
        drop(outbox);
        self.wake_for_outbox();
        Ok(())
    }

    /// Queues `messages` after everything queued so far, beyond the queue's limits (they
    /// hold no permits, so later sends see the queue as it was): what a join of a room with
    /// history queues under the room's lock, where it cannot wait. False once the driver
    /// has ended.
    pub(crate) fn enqueue_unmetered(
        &self,
        messages: impl IntoIterator<Item = crate::connection::prepared::PreparedMessage>,
    ) -> bool {
        let mut outbox = lock(&self.outbox);
        if outbox.ended {
            return false;
        }
        outbox
            .messages
            .extend(messages.into_iter().map(Outgoing::Unmetered));
        drop(outbox);
        self.wake_for_outbox();
        true
    }

    /// Tells the driver that `outbox` has something new (call after adding it).
    pub(crate) fn wake_for_outbox(&self) {
        self.queued.store(true, Ordering::Release);
        self.wake.wake();
    }

    /// The reader will not read any more; with `dropped`, not even what is waiting for it.
    pub(crate) fn reader_gone(&self, dropped: bool) {
        let mut inbox = lock(&self.inbox);
        inbox.reader_gone = true;
        let item = if dropped { inbox.item.take() } else { None };
        if item.is_some() {
            self.inbox_full.store(false, Ordering::Release);
        }
        drop(inbox);
        drop(item);
        self.wake.wake();
    }

    pub(crate) fn set_pending_error(&self, err: ConnError) {
        lock(&self.pending_error).get_or_insert(err);
    }

    /// The error a reader or writer gets once the connection is closing or closed.
    pub(crate) fn closed_error(&self) -> ConnError {
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

/// The waker of the driver's timers (`driver/timers.rs`): a timer that fires marks it and
/// wakes the driver. Implemented on `Shared`, which every connection already holds in an
/// `Arc`, so that the timers need no allocation of their own.
impl Wake for Shared {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.timers_fired.store(true, Ordering::Release);
        self.wake.wake();
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

/// A queue's limit, capped so that it fits the budget's `u32` counts.
fn queue_limit(bytes: usize) -> usize {
    bytes.clamp(1, u32::MAX as usize)
}

pub(crate) fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// What the driver of a new connection needs.
pub(crate) struct DriverEnds {
    pub(crate) shared: Arc<Shared>,
    pub(crate) closed: watch::Sender<Option<CloseError>>,
}
