//! The read side: socket bytes through the decoder, events to the reader or the handshake.

use std::sync::atomic::Ordering;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite};
use ws_controller_protocol::{Event, Message, ProtocolError};

use super::{Driver, Phase, Step};
use crate::connection::close::{CloseCode, CloseError};
use crate::connection::error::ConnError;
use crate::connection::rate_limit::{RateLimitAction, RATE_LIMIT_REASON};
use crate::connection::shared::lock;

/// What a read produced: an event, the end of the stream (`None`), or a failure.
pub(super) type ReadResult = Option<Result<Event, ReadError>>;

pub(super) enum ReadError {
    Io(std::io::Error),
    Protocol(ProtocolError),
}

impl<T: AsyncRead + AsyncWrite + Unpin> Driver<T> {
    /// Decodes what was read, and reads the socket when that yields no event.
    pub(super) fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<ReadResult> {
        loop {
            if let Some(unread) = self.read_buffer.unread() {
                let (used, result) = self.decoder.decode(unread);
                self.read_buffer.consume(used);
                match result {
                    Ok(Some(event)) => return Poll::Ready(Some(Ok(event))),
                    Ok(None) => {}
                    Err(err) => return Poll::Ready(Some(Err(ReadError::Protocol(err)))),
                }
                continue;
            }
            let Some(io) = self.io.as_mut() else {
                return Poll::Ready(None);
            };
            match std::task::ready!(self.read_buffer.poll_fill(io, cx)) {
                Ok(0) => return Poll::Ready(None),
                Ok(_) => {}
                Err(err) => return Poll::Ready(Some(Err(ReadError::Io(err)))),
            }
        }
    }

    /// Handles one read result.
    pub(super) async fn on_read(
        &mut self,
        read: ReadResult,
        phase: &mut Phase,
        status: &mut Option<CloseError>,
    ) -> Step {
        let event = match read {
            Some(Ok(event)) => event,
            None => return self.fail_gone(None, status),
            Some(Err(ReadError::Io(err))) => return self.fail_gone(Some(err), status),
            // The closing paths run once per connection: boxed, so that the connection's
            // task does not carry their room (timers, close writes) for its whole life.
            Some(Err(ReadError::Protocol(err))) => {
                return Box::pin(self.on_violation(err, phase, status)).await
            }
        };
        match event {
            Event::Message(message) => self.on_message(message, phase, status).await,
            Event::Ping(payload) => {
                // Answered with the replies being batched: written when no frame is waiting.
                if let Phase::Open = phase {
                    self.queue_pong(payload);
                }
                Step::Continue
            }
            Event::Pong(payload) => {
                self.on_pong(&payload);
                Step::Continue
            }
            Event::Close(frame) => Box::pin(self.on_close_frame(frame, phase, status)).await,
        }
    }

    async fn on_message(
        &mut self,
        message: Message,
        phase: &mut Phase,
        status: &mut Option<CloseError>,
    ) -> Step {
        match phase {
            // Data during our close handshake is discarded (RFC 6455 §1.4).
            Phase::Closing(_) => Step::Continue,
            Phase::Open if self.shared.read_closed.load(Ordering::Acquire) => {
                self.deliver_error(ConnError::UnexpectedMessage);
                let reason = "unexpected data message";
                *status = Some(CloseError::new(CloseCode::POLICY_VIOLATION, reason));
                *phase =
                    Box::pin(self.start_close(CloseCode::POLICY_VIOLATION, reason, false)).await;
                Step::Continue
            }
            Phase::Open => {
                self.shared
                    .metrics
                    .received(message.is_text(), message.len());
                let admitted = self
                    .rate_limiter
                    .as_mut()
                    .is_none_or(|l| l.admit(message.len()));
                if !admitted {
                    return Box::pin(self.over_rate_limit(phase, status)).await;
                }
                // Frames are read only when the reader has room, or is gone (then nobody will
                // read this message).
                let _ = self.deliver(Ok(message));
                Step::Continue
            }
        }
    }

    /// A message past the rate limit: dropped, or the connection closed with 1008.
    async fn over_rate_limit(
        &mut self,
        phase: &mut Phase,
        status: &mut Option<CloseError>,
    ) -> Step {
        let action = self.rate_limiter.as_ref().map(|l| l.action);
        if action == Some(RateLimitAction::Drop) {
            tracing::debug!("message over the rate limit dropped");
            return Step::Continue;
        }
        tracing::debug!("closing a connection over its rate limit");
        self.deliver_error(ConnError::RateLimited);
        self.shared.mark_closing();
        *status = Some(CloseError::new(
            CloseCode::POLICY_VIOLATION,
            RATE_LIMIT_REASON,
        ));
        *phase = self
            .start_close(CloseCode::POLICY_VIOLATION, RATE_LIMIT_REASON, true)
            .await;
        Step::Continue
    }

    /// Hands an error to the reader, after any message it has not read yet.
    pub(super) fn deliver_error(&self, err: ConnError) {
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
        self.shared.inbox_full.store(true, Ordering::Release);
        let reader = inbox.reader.take();
        drop(inbox);
        if let Some(reader) = reader {
            reader.wake();
        }
        Ok(())
    }
}
