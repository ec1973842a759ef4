//! The connection driver: the one place that reads and writes the socket.
//!
//! It runs beside the controller's `serve` future in the same task. It writes queued
//! messages in order (batching what is ready into one flush), reads frames only when the
//! reader has room for a message (TCP backpressure instead of unbounded buffering),
//! answers control frames, matches pongs to pings, and runs the close handshake so that
//! closing never depends on someone else reading.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::error::{CapacityError, Error as WsError, ProtocolError};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode as WsCloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::WebSocketStream;

use crate::close::{CloseCode, CloseError, CloseStatus};
use crate::conn::{lock, DriverEnds, PingRequest, Shared};
use crate::{ConnError, Message};

/// Messages written before one flush, so a burst from many senders costs few syscalls.
const WRITE_BATCH: usize = 64;

pub(crate) struct Driver<T> {
    ws: WebSocketStream<T>,
    shared: Arc<Shared>,
    data: mpsc::Receiver<Message>,
    ping_requests: mpsc::Receiver<PingRequest>,
    closed: watch::Sender<Option<CloseError>>,
    /// Pings sent by [`Sender::ping`](crate::Sender::ping), oldest first.
    pings: VecDeque<(u64, Instant, oneshot::Sender<Duration>)>,
    next_ping: u64,
    /// When the peer last sent anything (data or control).
    last_seen: Instant,
}

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

type Permit<'a> = mpsc::Permit<'a, Result<Message, ConnError>>;

impl<T: AsyncRead + AsyncWrite + Unpin> Driver<T> {
    /// The driver of `ws`, and the reader's queue it feeds.
    pub(crate) fn new(
        ws: WebSocketStream<T>,
        ends: DriverEnds,
    ) -> (Self, mpsc::Sender<Result<Message, ConnError>>) {
        let driver = Self {
            ws,
            shared: ends.shared,
            data: ends.data,
            ping_requests: ends.pings,
            closed: ends.closed,
            pings: VecDeque::new(),
            next_ping: 0,
            last_seen: Instant::now(),
        };
        (driver, ends.inbound)
    }

    /// Drives the connection until it is closed, then publishes the final status and drops
    /// the socket (closing TCP).
    pub(crate) async fn run(
        mut self,
        inbound: mpsc::Sender<Result<Message, ConnError>>,
    ) -> CloseError {
        let status = self.run_loop(&inbound).await;
        // Publish the status before the reader sees its queue end, so `recv` reports it.
        let _ = self.closed.send(Some(status.clone()));
        // Nothing more will be written: wake senders waiting for queue room so they fail
        // instead of waiting forever.
        self.shared.queue_bytes.close();
        drop(inbound);
        status
    }

    async fn run_loop(&mut self, inbound: &mpsc::Sender<Result<Message, ConnError>>) -> CloseError {
        let shared = self.shared.clone();
        let mut phase = Phase::Open;
        // The status that ends the connection: the first close frame sent or received.
        let mut status: Option<CloseError> = None;
        let mut permit: Option<Permit<'_>> = None;
        let mut data_open = true;
        let mut pings_open = true;
        let mut reader_gone = false;
        let mut heartbeat = shared.ping_interval.map(|period| {
            let mut timer = tokio::time::interval_at(Instant::now() + period, period);
            timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            timer
        });

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
                    phase = self
                        .start_close(request.code, request.reason, request.flush)
                        .await;
                }
            }
            let open = matches!(phase, Phase::Open);
            // Data is read only when the reader has room for it (TCP backpressure), unless
            // nobody will read data any more.
            let wants_permit = open && !reader_gone && !shared.read_closed.load(Ordering::Acquire);
            let deadline = match phase {
                Phase::Closing(d) => Some(d),
                Phase::Open => None,
            };
            let reading = permit.is_some() || !wants_permit;
            // Silence only counts while we are reading: a peer held back by our own
            // backpressure is not idle.
            let idle_deadline = match shared.idle_timeout {
                Some(limit) if open && reading => Some(self.last_seen + limit),
                _ => None,
            };

            tokio::select! {
                () = shared.wake.notified() => {}

                request = self.ping_requests.recv(), if pings_open => match request {
                    Some(PingRequest(reply)) if open => {
                        if let Err(err) = guarded_write(&shared, self.stall_deadline(), self.send_ping(Some(reply))).await {
                            self.peer_gone(io_error(err));
                            break;
                        }
                    }
                    Some(_) => {}
                    None => pings_open = false,
                },

                message = self.data.recv(), if data_open && open => match message {
                    Some(message) => {
                        if let Err(err) = guarded_write(&shared, self.stall_deadline(), self.write_batch(message)).await {
                            self.peer_gone(io_error(err));
                            break;
                        }
                    }
                    None => data_open = false,
                },

                reserved = inbound.reserve(), if wants_permit && permit.is_none() => match reserved {
                    Ok(p) => {
                        permit = Some(p);
                        self.last_seen = Instant::now();
                    }
                    Err(_) => reader_gone = true,
                },

                frame = self.ws.next(), if reading => {
                    self.last_seen = Instant::now();
                    let step = match frame {
                        Some(frame) => self.on_frame(frame, &mut permit, &mut phase, &mut status).await,
                        None => self.fail_gone(None, &status),
                    };
                    if let Step::Done = step {
                        break;
                    }
                }

                () = sleep_until(deadline), if deadline.is_some() => break,

                _ = tick(&mut heartbeat), if open && heartbeat.is_some() => {
                    if let Err(err) = guarded_write(&shared, self.stall_deadline(), self.send_ping(None)).await {
                        self.peer_gone(io_error(err));
                        break;
                    }
                }

                () = sleep_until(idle_deadline), if idle_deadline.is_some() => {
                    tracing::debug!("closing idle connection");
                    shared.mark_closing();
                    status = Some(CloseError::new(CloseCode::GOING_AWAY, "Idle timeout"));
                    phase = self
                        .start_close(CloseCode::GOING_AWAY, "Idle timeout".into(), false)
                        .await;
                }
            }
        }
        status.unwrap_or_else(|| CloseError::new(CloseStatus::Abnormal, ""))
    }

    /// Handles one read result. `permit` is the reader's slot when data may be delivered.
    async fn on_frame(
        &mut self,
        frame: Result<WsMessage, WsError>,
        permit: &mut Option<Permit<'_>>,
        phase: &mut Phase,
        status: &mut Option<CloseError>,
    ) -> Step {
        let shared = self.shared.clone();
        let message = match frame {
            Ok(WsMessage::Text(text)) => Message::Text(text),
            Ok(WsMessage::Binary(data)) => Message::Binary(data),
            Ok(WsMessage::Ping(_)) => {
                // The engine queued the pong; send it now rather than with the next read.
                return match guarded_write(&shared, self.stall_deadline(), self.ws.flush()).await {
                    Ok(()) => Step::Continue,
                    Err(err) => self.fail_gone(io_error(err), status),
                };
            }
            Ok(WsMessage::Pong(payload)) => {
                self.on_pong(&payload);
                return Step::Continue;
            }
            Ok(WsMessage::Close(frame)) => return self.on_close_frame(frame, phase, status).await,
            Ok(WsMessage::Frame(_)) => return Step::Continue,
            Err(err) => return self.on_error(err, permit.take(), phase, status).await,
        };
        match phase {
            // Data during our close handshake is discarded (RFC 6455 §1.4).
            Phase::Closing(_) => Step::Continue,
            Phase::Open if shared.read_closed.load(Ordering::Acquire) => {
                self.deliver_error(ConnError::UnexpectedMessage, permit.take());
                *status = Some(CloseError::new(
                    CloseCode::POLICY_VIOLATION,
                    "unexpected data message",
                ));
                *phase = self
                    .start_close(
                        CloseCode::POLICY_VIOLATION,
                        "unexpected data message".into(),
                        false,
                    )
                    .await;
                Step::Continue
            }
            Phase::Open => {
                // Without a permit the reader is gone: nobody will read this message.
                if let Some(permit) = permit.take() {
                    permit.send(Ok(message));
                }
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
        if let Ok(Ok(())) = tokio::time::timeout(timeout, self.ws.flush()).await {
            self.shared
                .handshake_completed
                .store(true, Ordering::Release);
        }
        Step::Done
    }

    async fn on_error(
        &mut self,
        err: WsError,
        permit: Option<Permit<'_>>,
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
        self.deliver_error(error, permit);
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
    fn deliver_error(&self, err: ConnError, permit: Option<Permit<'_>>) {
        match permit {
            Some(permit) => permit.send(Err(err)),
            None => self.shared.set_pending_error(err),
        }
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
            while let Ok(message) = self.data.try_recv() {
                self.release(&message);
                if flush {
                    self.ws.feed(message.into()).await?;
                }
            }
            self.ws.close(Some(frame)).await
        };
        match tokio::time::timeout_at(deadline, write).await {
            Ok(Ok(())) => Phase::Closing(deadline),
            // The close frame could not be written: there is no handshake to wait for.
            _ => Phase::Closing(Instant::now()),
        }
    }

    async fn write_batch(&mut self, first: Message) -> Result<(), WsError> {
        self.release(&first);
        self.ws.feed(first.into()).await?;
        for _ in 1..WRITE_BATCH {
            match self.data.try_recv() {
                Ok(message) => {
                    self.release(&message);
                    self.ws.feed(message.into()).await?;
                }
                Err(_) => break,
            }
        }
        self.ws.flush().await
    }

    /// Gives back the queue bytes a message held; it now sits in the engine's write buffer,
    /// which a flush empties before the next batch is taken.
    fn release(&self, message: &Message) {
        let cost = self.shared.queue_cost(message.len());
        self.shared.queue_bytes.add_permits(cost as usize);
    }

    /// When a write that may block gives up: the peer has been silent for the idle timeout
    /// and the write has had at least the close timeout to finish. (A silent peer whose
    /// writes do complete is closed properly, with 1001, by the driver's idle check.)
    fn stall_deadline(&self) -> Option<Instant> {
        let idle = self.last_seen + self.shared.idle_timeout?;
        Some(idle.max(Instant::now() + self.shared.close_timeout()))
    }

    /// Sends a ping whose payload is its id; `reply` learns the round-trip time.
    async fn send_ping(&mut self, reply: Option<oneshot::Sender<Duration>>) -> Result<(), WsError> {
        self.next_ping += 1;
        let id = self.next_ping;
        self.ws
            .send(WsMessage::Ping(id.to_be_bytes().to_vec().into()))
            .await?;
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
async fn guarded_write<F>(
    shared: &Shared,
    stall_deadline: Option<Instant>,
    write: F,
) -> Result<(), WsError>
where
    F: std::future::Future<Output = Result<(), WsError>>,
{
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
