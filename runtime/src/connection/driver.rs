//! The connection driver: the one place that reads and writes the socket.
//!
//! It runs beside the controller's `serve` future in the same task. It writes queued
//! messages in order (batching what is ready into one flush), reads frames only when the
//! reader has room for a message (TCP backpressure instead of unbounded buffering),
//! answers control frames, matches pongs to pings, and runs the close handshake so that
//! closing never depends on someone else reading.

use std::collections::VecDeque;
use std::io::IoSlice;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::error::{CapacityError, Error as WsError, ProtocolError};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode as WsCloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::WebSocketStream;

use crate::connection::close::{CloseCode, CloseError, CloseStatus};
use crate::connection::conn::{lock, DriverEnds, Shared};
use crate::connection::error::ConnError;
use crate::connection::message::Message;

/// Messages written before one flush, so a burst from many senders costs few syscalls.
const WRITE_BATCH: usize = 64;

pub(crate) struct Driver<T> {
    /// The socket; dropped (closing TCP) as soon as `run` ends, even if the controller's
    /// serve future, which shares the task, goes on.
    stream: Option<WebSocketStream<T>>,
    shared: Arc<Shared>,
    closed: watch::Sender<Option<CloseError>>,
    /// Pings sent by [`Sender::ping`](crate::Sender::ping), oldest first.
    pings: VecDeque<(u64, Instant, oneshot::Sender<Duration>)>,
    next_ping: u64,
    /// When the peer last sent anything (data or control).
    last_seen: Instant,
    /// Data frames not yet written (see [`Driver::write_frames`]): headers and small
    /// payloads, and the large payloads that go out without a copy, each with the offset
    /// in `out` after which it is written.
    out: Vec<u8>,
    large: Vec<(usize, bytes::Bytes)>,
}

/// Payloads up to this size are copied next to their header; larger ones are written
/// from the message's own buffer.
const INLINE_PAYLOAD: usize = 1 << 10;

/// The write buffer is freed after a write when it grew beyond this (idle connections
/// keep no large buffer).
const KEEP_OUT_CAPACITY: usize = 4 << 10;

/// Where the connection is in its life.
enum Phase {
    Open,
    /// We sent a close frame; waiting for the peer's until the deadline.
    Closing(Instant),
}

/// Whether the loop goes on after a frame.
enum Step {
    Continue,
    Done,
}

impl<T: AsyncRead + AsyncWrite + Unpin> Driver<T> {
    /// The driver of `ws`.
    pub(crate) fn new(ws: WebSocketStream<T>, ends: DriverEnds) -> Self {
        Self {
            stream: Some(ws),
            shared: ends.shared,
            closed: ends.closed,
            pings: VecDeque::new(),
            next_ping: 0,
            last_seen: Instant::now(),
            out: Vec::new(),
            large: Vec::new(),
        }
    }

    /// Drives the connection until it is closed, then publishes the final status and drops
    /// the socket (closing TCP).
    pub(crate) async fn run(&mut self) -> CloseError {
        let status = self.run_loop().await;
        self.stream = None;
        // Publish the status before the reader sees its queue end, so `recv` reports it.
        let _ = self.closed.send(Some(status.clone()));
        // Nothing more will be written: wake senders waiting for queue room so they fail
        // instead of waiting forever, and fail pings not sent yet.
        self.shared.queue_bytes.close();
        self.shared.queue_slots.close();
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
    fn ws(&mut self) -> &mut WebSocketStream<T> {
        self.stream
            .as_mut()
            .expect("the driver's stream lives until `run` ends")
    }

    /// True when the reader has room for a message, or will not read any more.
    fn reader_has_room(&self) -> bool {
        let inbox = lock(&self.shared.inbox);
        inbox.item.is_none() || inbox.reader_gone
    }

    async fn run_loop(&mut self) -> CloseError {
        let shared = self.shared.clone();
        let mut phase = Phase::Open;
        // The status that ends the connection: the first close frame sent or received.
        let mut status: Option<CloseError> = None;
        let mut heartbeat = shared.ping_interval.map(|period| {
            let mut timer = tokio::time::interval_at(Instant::now() + period, period);
            timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            timer
        });
        // One wake-up future and one idle timer for the connection's life: creating them
        // on every turn of the loop would register and unregister them every message.
        let woken = shared.wake.notified();
        tokio::pin!(woken);
        let idle_timer = tokio::time::sleep_until(
            self.last_seen + shared.idle_timeout.unwrap_or(Duration::from_secs(86_400)),
        );
        tokio::pin!(idle_timer);
        let mut was_reading = true;
        // Data frames taken since the last write, and whether the loop has let the
        // controller run once since (see below).
        let mut unflushed = 0;
        let mut yielded = false;

        loop {
            // State is checked here rather than only on a wake-up: a wake-up may be consumed
            // by `guarded_write` during a write.
            if shared.aborted.load(Ordering::Acquire) {
                break;
            }
            if let Phase::Open = phase {
                let request = lock(&shared.close_request).take();
                if let Some(request) = request {
                    status = Some(CloseError::new(request.code, request.reason.clone()));
                    phase = Box::pin(self.start_close(request.code, request.reason, request.flush))
                        .await;
                }
            }
            let open = matches!(phase, Phase::Open);
            let mut more_queued = false;
            if open {
                match guarded_write(&shared, self.last_seen, self.feed_queued()).await {
                    Ok((fed, more)) => {
                        unflushed += fed;
                        more_queued = more;
                        if fed > 0 {
                            // The controller answered: it may answer more before a flush.
                            yielded = false;
                        }
                    }
                    Err(err) => {
                        self.peer_gone(io_error(err));
                        break;
                    }
                }
            }
            let deadline = match phase {
                Phase::Closing(d) => Some(d),
                Phase::Open => None,
            };
            // Data is read only when the reader has room for it (TCP backpressure), unless
            // nobody will read data any more.
            let reading =
                !open || shared.read_closed.load(Ordering::Acquire) || self.reader_has_room();
            if reading && !was_reading {
                // Silence only counts while we are reading: a peer held back by our own
                // backpressure is not idle.
                self.last_seen = Instant::now();
            }
            was_reading = reading;
            let idle_check = open && reading && shared.idle_timeout.is_some();

            // Replies are flushed together: while the peer's next frames are already here,
            // or the controller has not had a turn since the last reply, they wait in the
            // engine's buffer. A pipelining peer then costs one write per burst instead of
            // one per message; a lone reply is flushed as soon as no frame is waiting.
            // Set when the socket was just found empty, which registered this task's waker.
            let mut read_registered = false;
            if unflushed > 0 {
                let mut flush = yielded || more_queued || unflushed >= WRITE_BATCH || !open;
                if !flush && reading {
                    let ws = self.ws();
                    match std::future::poll_fn(|cx| Poll::Ready(ws.poll_next_unpin(cx))).await {
                        Poll::Ready(frame) => {
                            self.last_seen = Instant::now();
                            let step = match frame {
                                Some(frame) => self.on_frame(frame, &mut phase, &mut status).await,
                                None => self.fail_gone(None, &status),
                            };
                            if let Step::Done = step {
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
                    let seen = self.last_seen;
                    if let Err(err) = guarded_write(&shared, seen, self.write_frames()).await {
                        self.peer_gone(io_error(err));
                        break;
                    }
                    unflushed = 0;
                    yielded = false;
                }
            }

            tokio::select! {
                () = &mut woken => woken.set(shared.wake.notified()),

                // More than a batch was queued: write the rest after a look at the socket.
                () = std::future::ready(()), if more_queued => {}

                // Let the controller answer what it was given before flushing.
                () = tokio::task::yield_now(), if unflushed > 0 => yielded = true,

                // Right after the socket was found empty there is nothing to read: the
                // engine is asked again only when the socket wakes the task.
                frame = after_wake(read_registered, self.ws().next()), if reading => {
                    self.last_seen = Instant::now();
                    let step = match frame {
                        Some(frame) => self.on_frame(frame, &mut phase, &mut status).await,
                        None => self.fail_gone(None, &status),
                    };
                    if let Step::Done = step {
                        break;
                    }
                }

                () = sleep_until(deadline), if deadline.is_some() => break,

                _ = tick(&mut heartbeat), if open && heartbeat.is_some() => {
                    if let Err(err) = guarded_write(&shared, self.last_seen, self.send_ping(None, true)).await {
                        self.peer_gone(io_error(err));
                        break;
                    }
                }

                () = &mut idle_timer, if idle_check => {
                    let due = self.last_seen + shared.idle_timeout.unwrap_or_default();
                    if due > Instant::now() {
                        // The peer spoke since the timer was set: wait for the rest.
                        idle_timer.as_mut().reset(due);
                    } else {
                        tracing::debug!("closing idle connection");
                        shared.mark_closing();
                        status = Some(CloseError::new(CloseCode::GOING_AWAY, "Idle timeout"));
                        phase = Box::pin(self.start_close(
                            CloseCode::GOING_AWAY,
                            "Idle timeout".into(),
                            false,
                        ))
                        .await;
                    }
                }
            }
        }
        status.unwrap_or_else(|| CloseError::new(CloseStatus::Abnormal, ""))
    }

    /// Handles one read result.
    async fn on_frame(
        &mut self,
        frame: Result<WsMessage, WsError>,
        phase: &mut Phase,
        status: &mut Option<CloseError>,
    ) -> Step {
        let shared = self.shared.clone();
        let message = match frame {
            Ok(WsMessage::Text(text)) => Message::Text(text),
            Ok(WsMessage::Binary(data)) => Message::Binary(data),
            Ok(WsMessage::Ping(_)) => {
                // The engine queued the pong; send it now rather than with the next read.
                return match guarded_write(&shared, self.last_seen, self.ws().flush()).await {
                    Ok(()) => Step::Continue,
                    Err(err) => self.fail_gone(io_error(err), status),
                };
            }
            Ok(WsMessage::Pong(payload)) => {
                self.on_pong(&payload);
                return Step::Continue;
            }
            // The closing paths run once per connection: boxed, so that the connection's
            // task does not carry their room (timers, close writes) for its whole life.
            Ok(WsMessage::Close(frame)) => {
                return Box::pin(self.on_close_frame(frame, phase, status)).await
            }
            Ok(WsMessage::Frame(_)) => return Step::Continue,
            Err(err) => return Box::pin(self.on_error(err, phase, status)).await,
        };
        match phase {
            // Data during our close handshake is discarded (RFC 6455 §1.4).
            Phase::Closing(_) => Step::Continue,
            Phase::Open if shared.read_closed.load(Ordering::Acquire) => {
                self.deliver_error(ConnError::UnexpectedMessage);
                *status = Some(CloseError::new(
                    CloseCode::POLICY_VIOLATION,
                    "unexpected data message",
                ));
                *phase = Box::pin(self.start_close(
                    CloseCode::POLICY_VIOLATION,
                    "unexpected data message".into(),
                    false,
                ))
                .await;
                Step::Continue
            }
            Phase::Open => {
                // Frames are read only when the reader has room, or is gone (then nobody will
                // read this message).
                let _ = self.deliver(Ok(message));
                Step::Continue
            }
        }
    }

    async fn on_close_frame(
        &mut self,
        frame: Option<CloseFrame>,
        phase: &mut Phase,
        status: &mut Option<CloseError>,
    ) -> Step {
        if let Phase::Closing(_) = phase {
            // The peer answered our close: the handshake is complete.
            self.shared
                .handshake_completed
                .store(true, Ordering::Release);
            return Step::Done;
        }
        self.shared.mark_closing();
        let received = match frame {
            None => CloseError::new(CloseStatus::NoStatusReceived, ""),
            Some(frame) => match CloseCode::new(u16::from(frame.code)) {
                Ok(code) => CloseError::new(code, frame.reason.as_str()),
                // The engine already answered an invalid code with 1002.
                Err(_) => CloseError::new(CloseCode::PROTOCOL_ERROR, frame.reason.as_str()),
            },
        };
        *status = Some(received);
        // The engine queued the echo of the peer's close; write it, then drop TCP (the
        // server closes TCP first, RFC 6455 §7.1.1).
        let timeout = self.shared.close_timeout();
        let echo = async {
            // Replies taken before the peer's close go out before the echo of it.
            self.write_frames().await?;
            self.ws().flush().await
        };
        if let Ok(Ok(())) = tokio::time::timeout(timeout, echo).await {
            self.shared
                .handshake_completed
                .store(true, Ordering::Release);
        }
        Step::Done
    }

    async fn on_error(
        &mut self,
        err: WsError,
        phase: &mut Phase,
        status: &mut Option<CloseError>,
    ) -> Step {
        if let Phase::Closing(_) = phase {
            // Anything but the peer's close ends a handshake we started.
            return Step::Done;
        }
        let (code, reason, error) = match err {
            WsError::Capacity(CapacityError::MessageTooLong { .. }) => (
                CloseCode::MESSAGE_TOO_BIG,
                "Message too big",
                ConnError::MessageTooBig {
                    limit: self.shared.max_message_size,
                },
            ),
            WsError::Utf8(_) => (
                CloseCode::INVALID_PAYLOAD,
                "Invalid UTF-8",
                ConnError::InvalidUtf8,
            ),
            WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake)
            | WsError::ConnectionClosed
            | WsError::AlreadyClosed => return self.fail_gone(None, status),
            WsError::Io(io) => return self.fail_gone(Some(io), status),
            other => (
                CloseCode::PROTOCOL_ERROR,
                "Protocol error",
                ConnError::Protocol(other.to_string()),
            ),
        };
        self.deliver_error(error);
        self.shared.mark_closing();
        *status = Some(CloseError::new(code, reason));
        // Failing the connection (RFC 6455 §7.1.7): replies already queued still go out
        // first (bounded by the close deadline), so what the application sent is not lost.
        *phase = self.start_close(code, reason.to_owned(), true).await;
        Step::Continue
    }

    fn fail_gone(&mut self, err: Option<std::io::Error>, status: &Option<CloseError>) -> Step {
        if status.is_none() {
            self.peer_gone(err);
        }
        Step::Done
    }

    /// Records that the peer vanished without a close frame.
    fn peer_gone(&mut self, err: Option<std::io::Error>) {
        self.shared.mark_closing();
        self.shared.set_pending_error(ConnError::PeerGone(err));
    }

    /// Hands an error to the reader, after any message it has not read yet.
    fn deliver_error(&self, err: ConnError) {
        if let Err(Err(err)) = self.deliver(Err(err)) {
            self.shared.set_pending_error(err);
        }
    }

    /// Hands an item to the reader when it has room; gives it back otherwise.
    #[allow(clippy::result_large_err)]
    fn deliver(&self, item: Result<Message, ConnError>) -> Result<(), Result<Message, ConnError>> {
        let mut inbox = lock(&self.shared.inbox);
        if inbox.reader_gone || inbox.item.is_some() {
            return Err(item);
        }
        inbox.item = Some(item);
        let reader = inbox.reader.take();
        drop(inbox);
        if let Some(reader) = reader {
            reader.wake();
        }
        Ok(())
    }

    /// Writes what is queued when `flush` is set (messages come before the close, so
    /// nothing queued is lost) or drops it, then writes the close frame and starts the
    /// handshake deadline.
    async fn start_close(&mut self, code: CloseCode, reason: String, flush: bool) -> Phase {
        let timeout = self.shared.close_timeout();
        let deadline = Instant::now() + timeout;
        let frame = CloseFrame {
            code: WsCloseCode::from(code.as_u16()),
            reason: reason.into(),
        };
        let write = async {
            let queued = std::mem::take(&mut lock(&self.shared.outbox).messages);
            for message in queued {
                self.release(&message);
                if flush {
                    self.frame(message);
                }
            }
            if flush {
                self.write_frames().await?;
            } else {
                self.discard_frames();
            }
            self.ws().close(Some(frame)).await
        };
        match tokio::time::timeout_at(deadline, write).await {
            Ok(Ok(())) => Phase::Closing(deadline),
            // The close frame could not be written: there is no handshake to wait for.
            _ => Phase::Closing(Instant::now()),
        }
    }

    /// Takes the pings and messages senders queued: pings are sent at once (by the engine),
    /// at most `WRITE_BATCH` messages become data frames waiting for [`Self::write_frames`].
    /// Returns how many frames it took and whether more messages are waiting.
    async fn feed_queued(&mut self) -> Result<(usize, bool), WsError> {
        let pings = {
            let mut outbox = lock(&self.shared.outbox);
            if outbox.messages.is_empty() && outbox.pings.is_empty() {
                return Ok((0, false));
            }
            std::mem::take(&mut outbox.pings)
        };
        let mut fed = 0;
        for reply in pings {
            self.send_ping(Some(reply), true).await?;
        }
        for _ in 0..WRITE_BATCH {
            let Some(message) = lock(&self.shared.outbox).messages.pop_front() else {
                break;
            };
            self.release(&message);
            self.frame(message);
            fed += 1;
        }
        Ok((fed, !lock(&self.shared.outbox).messages.is_empty()))
    }

    /// Adds a data frame for `message` to the frames waiting to be written.
    ///
    /// Data frames are written by the driver itself rather than by the engine: the engine
    /// copies every payload into a write buffer that then stays at its largest size for
    /// the connection's life. A server frame is a header and the payload as is (no mask),
    /// so a large payload goes to the socket straight from the message, shared by every
    /// recipient of a broadcast. Order with the engine's own frames (pings, pongs, close)
    /// is kept by writing these before any engine write that must follow them.
    fn frame(&mut self, message: Message) {
        let (opcode, payload) = match message {
            Message::Text(text) => (0x1, bytes::Bytes::from(text)),
            Message::Binary(data) => (0x2, data),
        };
        let out = &mut self.out;
        out.push(0x80 | opcode);
        match payload.len() {
            // The casts cannot truncate: each arm bounds the length.
            n if n < 126 => out.push(n as u8),
            n if n <= usize::from(u16::MAX) => {
                out.push(126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                out.push(127);
                out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        if payload.len() <= INLINE_PAYLOAD {
            out.extend_from_slice(&payload);
        } else {
            self.large.push((out.len(), payload));
        }
    }

    /// Writes the data frames waiting in `out` and `large`, in order.
    async fn write_frames(&mut self) -> Result<(), WsError> {
        if self.out.is_empty() && self.large.is_empty() {
            return Ok(());
        }
        let mut out = std::mem::take(&mut self.out);
        let mut large = std::mem::take(&mut self.large);
        let written = if large.is_empty() {
            self.ws().get_mut().write_all(&out).await
        } else {
            let mut slices = Vec::with_capacity(large.len() * 2 + 1);
            let mut at = 0;
            for (offset, payload) in &large {
                if *offset > at {
                    slices.push(IoSlice::new(&out[at..*offset]));
                }
                slices.push(IoSlice::new(payload));
                at = *offset;
            }
            if out.len() > at {
                slices.push(IoSlice::new(&out[at..]));
            }
            write_all_vectored(self.ws().get_mut(), &mut slices).await
        };
        out.clear();
        if out.capacity() <= KEEP_OUT_CAPACITY {
            self.out = out;
        }
        large.clear();
        self.large = large;
        written.map_err(WsError::Io)
    }

    /// Drops the data frames not written yet.
    fn discard_frames(&mut self) {
        self.out = Vec::new();
        self.large.clear();
    }

    /// Gives back the queue place and bytes a message held; it now sits in the engine's
    /// write buffer, which a flush empties before the next batch is taken.
    fn release(&self, message: &Message) {
        let cost = self.shared.queue_cost(message.len());
        self.shared.queue_bytes.add_permits(cost as usize);
        self.shared.queue_slots.add_permits(1);
    }

    /// Sends a ping whose payload is its id (flushed with `flush`); `reply` learns the
    /// round-trip time.
    async fn send_ping(
        &mut self,
        reply: Option<oneshot::Sender<Duration>>,
        flush: bool,
    ) -> Result<(), WsError> {
        self.next_ping += 1;
        let id = self.next_ping;
        let ping = WsMessage::Ping(id.to_be_bytes().to_vec().into());
        if flush {
            self.ws().send(ping).await?;
        } else {
            self.ws().feed(ping).await?;
        }
        if let Some(reply) = reply {
            self.pings.push_back((id, Instant::now(), reply));
        }
        Ok(())
    }

    fn on_pong(&mut self, payload: &[u8]) {
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

/// Runs a write, giving up when the connection is aborted (a peer that stopped reading
/// must not hold the driver past the close timeout) or at `stall_deadline`: a write stuck
/// that long to a peer that has sent nothing meanwhile means a dead peer, which no close
/// frame can reach.
async fn guarded_write<F, R>(shared: &Shared, last_seen: Instant, write: F) -> Result<R, WsError>
where
    F: std::future::Future<Output = Result<R, WsError>>,
{
    let mut write = std::pin::pin!(write);
    // Most writes complete at once: then no waiter is registered and no timer armed.
    let first = std::future::poll_fn(|cx| Poll::Ready(write.as_mut().poll(cx))).await;
    if let Poll::Ready(result) = first {
        return result;
    }
    // The write is blocked on the peer: wait for it, for an abort, or for the stall
    // deadline. Boxed: this rare state should not size every connection's task.
    // The deadline is computed only here: the clock is not read for writes that complete.
    let stall_deadline = stall_deadline(shared, last_seen);
    let result = Box::pin(wait_blocked_write(shared, stall_deadline, write)).await;
    // Waiting may have consumed a wake-up meant for the driver's loop: give one back.
    shared.wake.notify_one();
    result
}

async fn wait_blocked_write<R>(
    shared: &Shared,
    stall_deadline: Option<Instant>,
    write: Pin<&mut impl std::future::Future<Output = Result<R, WsError>>>,
) -> Result<R, WsError> {
    let aborted = async {
        loop {
            let woken = shared.wake.notified();
            if shared.aborted.load(Ordering::Acquire) {
                return;
            }
            woken.await;
        }
    };
    tokio::select! {
        biased;
        result = write => result,
        () = aborted => Err(WsError::ConnectionClosed),
        () = sleep_until(stall_deadline), if stall_deadline.is_some() => {
            Err(WsError::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "peer neither read nor wrote for the idle timeout",
            )))
        }
    }
}

/// `fut`, except that with `skip` its first poll returns `Pending` without polling it.
///
/// Only for a future whose waker is already registered for the event it waits for (the
/// socket's readability, found missing a moment before in the same poll): the event still
/// wakes the task, and the future is polled then.
async fn after_wake<F: std::future::Future>(skip: bool, fut: F) -> F::Output {
    if skip {
        let mut skipped = false;
        std::future::poll_fn(|_| {
            if skipped {
                Poll::Ready(())
            } else {
                skipped = true;
                Poll::Pending
            }
        })
        .await;
    }
    fut.await
}

/// When a write that may block gives up: the peer has been silent for the idle timeout and
/// the write has had at least the close timeout to finish. (A silent peer whose writes do
/// complete is closed properly, with 1001, by the driver's idle check.)
fn stall_deadline(shared: &Shared, last_seen: Instant) -> Option<Instant> {
    let idle = last_seen + shared.idle_timeout?;
    Some(idle.max(Instant::now() + shared.close_timeout()))
}

/// Writes every byte of `slices`, in order.
async fn write_all_vectored<W: AsyncWrite + Unpin>(
    writer: &mut W,
    mut slices: &mut [IoSlice<'_>],
) -> std::io::Result<()> {
    while !slices.is_empty() {
        let n = writer.write_vectored(slices).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        IoSlice::advance_slices(&mut slices, n);
    }
    Ok(())
}

/// The socket error behind an engine error, when there is one.
fn io_error(err: WsError) -> Option<std::io::Error> {
    match err {
        WsError::Io(io) => Some(io),
        _ => None,
    }
}

async fn tick(timer: &mut Option<tokio::time::Interval>) {
    match timer {
        Some(timer) => {
            timer.tick().await;
        }
        None => std::future::pending().await,
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
