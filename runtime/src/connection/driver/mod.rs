//! The connection driver: the one place that reads and writes the socket.
//!
//! It runs beside the controller's `serve` future in the same task, and drives the sans-IO
//! protocol engine over the socket. It writes queued messages in order (batching what is
//! ready into one write), reads frames only when the reader has room for a message (TCP
//! backpressure instead of unbounded buffering), answers control frames, matches pongs to
//! pings, and runs the close handshake so that closing never depends on someone else
//! reading. One file per concern: [`read`] (socket to events), [`write`] (frames to the
//! socket), [`close`] (the close handshake and failing the connection), [`heartbeat`]
//! (pings and pongs), [`timers`] (when to ping, when the peer is idle).

mod close;
mod heartbeat;
mod read;
mod timers;
mod write;

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{oneshot, watch};
use tokio::time::{Instant, Sleep};
use ws_controller_protocol::deflate::{DeflateParams, Deflater, Inflater};
use ws_controller_protocol::{Decoder, Encoder, Role};

use crate::connection::close::{CloseCode, CloseError, CloseStatus};
use crate::connection::rate_limit::RateLimiter;
use crate::connection::read_buffer::ReadBuffer;
use crate::connection::settings::Settings;
use crate::connection::shared::{lock, DriverEnds, Shared};

use timers::{Due, Timers};
use write::guarded_write;

/// Messages written before one flush, so a burst from many senders costs few syscalls.
const WRITE_BATCH: usize = 64;

/// The protocol engine of one connection, as the upgrade negotiated it.
pub(crate) struct Engine {
    pub(crate) decoder: Decoder,
    pub(crate) encoder: Encoder,
    /// Socket reads take up to this many bytes at a time.
    pub(crate) read_chunk: usize,
    /// Frames gathered before a write.
    pub(crate) write_buffer: usize,
    /// The inbound rate limit, when there is one.
    pub(crate) rate_limiter: Option<Box<RateLimiter>>,
}

impl Engine {
    /// A server's engine with `settings`, compressing as `compression` says.
    pub(crate) fn server(settings: &Settings, compression: Option<&DeflateParams>) -> Self {
        let mut decoder = Decoder::new(Role::Server, settings.max_message_size.max(1));
        let mut encoder = Encoder::new(Role::Server);
        if let Some(params) = compression {
            decoder = decoder.with_inflater(Inflater::new(params, Role::Server));
            let threshold = settings.compression_threshold;
            let deflater = Deflater::new(params, Role::Server, threshold)
                .with_level(settings.compression_level);
            encoder = encoder.with_deflater(deflater);
        }
        Self {
            decoder,
            encoder,
            read_chunk: settings.read_buffer_size,
            write_buffer: settings.write_buffer_size,
            rate_limiter: settings
                .rate_limit
                .as_ref()
                .and_then(RateLimiter::new)
                .map(Box::new),
        }
    }
}

pub(crate) struct Driver<T> {
    /// The socket; dropped (closing TCP) as soon as `run` ends, even if the controller's
    /// serve future, which shares the task, goes on.
    io: Option<T>,
    decoder: Decoder,
    encoder: Encoder,
    read_buffer: ReadBuffer,
    shared: Arc<Shared>,
    closed: watch::Sender<Option<CloseError>>,
    /// Pings sent by [`Sender::ping`](crate::Sender::ping), oldest first.
    pings: VecDeque<(u64, Instant, oneshot::Sender<Duration>)>,
    next_ping: u64,
    /// Frames not yet written (see [`write`]): headers, control frames and small payloads,
    /// and the large payloads that go out without a copy, each with the offset in `out`
    /// after which it is written.
    out: Vec<u8>,
    large: Vec<(usize, Bytes)>,
    /// Bytes in `large`.
    large_bytes: usize,
    /// Frames added since the last write.
    unflushed: usize,
    write_buffer: usize,
    /// Pongs added since the last write (see [`heartbeat`]).
    pongs_batched: usize,
    /// The pong owed to the latest ping once a batch holds its share of pongs; replaced by
    /// each newer ping (RFC 6455 §5.5.3 asks only for the latest).
    latest_pong: Option<Bytes>,
    rate_limiter: Option<Box<RateLimiter>>,
}

/// Where the connection is in its life.
enum Phase {
    Open,
    /// We sent a close frame; waiting for the peer's until the deadline.
    Closing(Instant),
}

/// What the driver's loop waited for.
enum Wait {
    /// A wake-up (something queued, the reader's room, a close request), or more queued.
    Woken,
    /// The peer did not answer our close in time.
    CloseTimeout,
    Due(Due),
    /// The controller has had its turn since the last reply was queued.
    Yielded,
    Read(read::ReadResult),
}

/// Whether the loop goes on after an event.
enum Step {
    Continue,
    Done,
}

impl<T: AsyncRead + AsyncWrite + Unpin> Driver<T> {
    /// The driver of the connection on `io`.
    pub(crate) fn new(io: T, engine: Engine, ends: DriverEnds) -> Self {
        Self {
            io: Some(io),
            decoder: engine.decoder,
            encoder: engine.encoder,
            read_buffer: ReadBuffer::new(engine.read_chunk),
            shared: ends.shared,
            closed: ends.closed,
            pings: VecDeque::new(),
            next_ping: 0,
            out: Vec::new(),
            large: Vec::new(),
            large_bytes: 0,
            unflushed: 0,
            write_buffer: engine.write_buffer.max(1),
            pongs_batched: 0,
            latest_pong: None,
            rate_limiter: engine.rate_limiter,
        }
    }

    /// Drives the connection until it is closed, then publishes the final status and drops
    /// the socket (closing TCP).
    pub(crate) async fn run(&mut self) -> CloseError {
        let status = self.run_loop().await;
        self.io = None;
        // Closing before closed: `Sender::is_closed` reads only this flag.
        self.shared.mark_closing();
        // Publish the status before the reader sees its queue end, so `recv` reports it.
        let _ = self.closed.send(Some(status.clone()));
        // Nothing more will be written: wake senders waiting for queue room so they fail
        // instead of waiting forever, and fail pings not sent yet.
        self.shared.queue_room.close();
        let unsent = {
            let mut outbox = lock(&self.shared.outbox);
            outbox.ended = true;
            (
                std::mem::take(&mut outbox.messages),
                std::mem::take(&mut outbox.pings),
            )
        };
        drop(unsent);
        // End the reader's queue.
        let reader = {
            let mut inbox = lock(&self.shared.inbox);
            inbox.ended = true;
            inbox.reader.take()
        };
        if let Some(reader) = reader {
            reader.wake();
        }
        status
    }

    /// The socket, which is there until `run` ends (nothing else calls into the driver).
    fn io(&mut self) -> &mut T {
        self.io
            .as_mut()
            .expect("the driver's socket lives until `run` ends")
    }

    /// True when the reader has room for a message (a dropped reader leaves room: the
    /// message is then dropped).
    fn reader_has_room(&self) -> bool {
        !self.shared.inbox_full.load(Ordering::Acquire)
    }

    async fn run_loop(&mut self) -> CloseError {
        let shared = self.shared.clone();
        let mut phase = Phase::Open;
        // The status that ends the connection: the first close frame sent or received.
        let mut status: Option<CloseError> = None;
        let timers = Timers::new(&shared);
        tokio::pin!(timers);
        // Set when the peer sends anything (data or control); the idle check takes it.
        let mut heard = false;
        let mut was_reading = true;
        // Whether the loop has let the controller run once since the last write (see below).
        let mut yielded = false;
        // The close handshake's deadline, once we sent our close frame (boxed: rare).
        let mut closing_timer: Option<Pin<Box<Sleep>>> = None;

        loop {
            // State is checked here rather than only on a wake-up: a wake-up may be consumed
            // by `guarded_write` during a write. Each check is an atomic load; a lock is
            // taken only when there is something to take.
            if shared.aborted.load(Ordering::Acquire) {
                break;
            }
            if matches!(phase, Phase::Open) && shared.is_closing() {
                let request = lock(&shared.close_request).take();
                if let Some(request) = request {
                    status = Some(CloseError::new(request.code, request.reason.clone()));
                    phase =
                        Box::pin(self.start_close(request.code, &request.reason, request.flush))
                            .await;
                }
            }
            let open = matches!(phase, Phase::Open);
            let mut more_queued = false;
            if open && shared.queued.swap(false, Ordering::Acquire) {
                let before = self.unflushed;
                more_queued = self.feed_queued();
                if self.unflushed > before {
                    // The controller answered: it may answer more before a flush.
                    yielded = false;
                }
            }
            if let (Phase::Closing(deadline), None) = (&phase, &closing_timer) {
                closing_timer = Some(Box::pin(tokio::time::sleep_until(*deadline)));
            }
            // Data is read only when the reader has room for it (TCP backpressure), unless
            // nobody will read data any more.
            let reading =
                !open || shared.read_closed.load(Ordering::Acquire) || self.reader_has_room();
            if reading && !was_reading {
                // Silence only counts while we are reading: a peer held back by our own
                // backpressure is not idle.
                heard = true;
            } else if !reading && was_reading {
                // Held back by backpressure: hold no drained read buffer meanwhile.
                self.read_buffer.release_drained();
            }
            was_reading = reading;

            // Replies are written together: while the peer's next frames are already here,
            // or the controller has not had a turn since the last reply, they wait in `out`.
            // A pipelining peer then costs one write per burst instead of one per message; a
            // lone reply is written as soon as no frame is waiting.
            // Set when the socket was just found empty, which registered this task's waker.
            let mut read_registered = false;
            if self.unflushed > 0 {
                let mut flush = yielded
                    || more_queued
                    || self.unflushed >= WRITE_BATCH
                    || self.out.len() + self.large_bytes >= self.write_buffer
                    || !open;
                if !flush && reading {
                    match std::future::poll_fn(|cx| Poll::Ready(self.poll_event(cx))).await {
                        Poll::Ready(event) => {
                            heard = true;
                            if let Step::Done = self.on_read(event, &mut phase, &mut status).await {
                                break;
                            }
                            continue;
                        }
                        Poll::Pending => {
                            read_registered = true;
                            flush = true;
                        }
                    }
                }
                if flush {
                    // A write may wait for a slow peer: hold no drained read buffer meanwhile.
                    self.read_buffer.release_drained();
                    let write = self.write_frames();
                    if let Err(err) = guarded_write(&shared, timers.idle_left(), write).await {
                        self.peer_gone(err.into_io());
                        break;
                    }
                    yielded = false;
                }
            }

            // Waits for the first of these, in this order: what the controller asked for and
            // what time demands come before reading more, so a flooding peer cannot starve
            // them; the socket comes before writing more. One hand-written poll rather than
            // a `select!`, which would build and drop a future per source on every turn.
            let mut yield_armed = false;
            let wait = std::future::poll_fn(|cx| {
                if shared.wake.poll_woken(cx).is_ready() {
                    return Poll::Ready(Wait::Woken);
                }
                if let Some(timer) = &mut closing_timer {
                    if timer.as_mut().poll(cx).is_ready() {
                        return Poll::Ready(Wait::CloseTimeout);
                    }
                }
                if let Poll::Ready(due) =
                    timers
                        .as_mut()
                        .poll_due(&shared, &mut heard, open, open && reading)
                {
                    return Poll::Ready(Wait::Due(due));
                }
                // Right after the socket was found empty there is nothing to read: the
                // decoder is asked again only when the socket wakes the task.
                if reading && !std::mem::take(&mut read_registered) {
                    if let Poll::Ready(event) = self.poll_event(cx) {
                        return Poll::Ready(Wait::Read(event));
                    }
                }
                // More than a batch was queued: write the rest after that look at the socket.
                if more_queued {
                    return Poll::Ready(Wait::Woken);
                }
                // Let the controller answer what it was given before writing: back after
                // one turn of the task.
                if self.unflushed > 0 {
                    if yield_armed {
                        return Poll::Ready(Wait::Yielded);
                    }
                    yield_armed = true;
                    cx.waker().wake_by_ref();
                }
                Poll::Pending
            });
            match wait.await {
                Wait::Woken => {}
                Wait::CloseTimeout => break,
                Wait::Due(Due::Heartbeat) => {
                    self.send_ping(None);
                    let write = self.write_frames();
                    if let Err(err) = guarded_write(&shared, timers.idle_left(), write).await {
                        self.peer_gone(err.into_io());
                        break;
                    }
                }
                Wait::Due(Due::Idle) => {
                    tracing::debug!("closing idle connection");
                    shared.mark_closing();
                    status = Some(CloseError::new(CloseCode::GOING_AWAY, "Idle timeout"));
                    phase =
                        Box::pin(self.start_close(CloseCode::GOING_AWAY, "Idle timeout", false))
                            .await;
                }
                Wait::Yielded => yielded = true,
                Wait::Read(event) => {
                    heard = true;
                    if let Step::Done = self.on_read(event, &mut phase, &mut status).await {
                        break;
                    }
                }
            }
        }
        status.unwrap_or_else(|| CloseError::new(CloseStatus::Abnormal, ""))
    }
}
