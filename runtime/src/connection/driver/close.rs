//! The close handshake (RFC 6455 §7): closing, answering the peer's close, and failing the
//! connection when the peer breaks the protocol.

use std::sync::atomic::Ordering;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;
use ws_controller_protocol::{CloseFrame, ProtocolError};

use super::{Driver, Phase, Step};
use crate::connection::close::{CloseCode, CloseError, CloseStatus};
use crate::connection::error::ConnError;
use crate::connection::shared::lock;

impl<T: AsyncRead + AsyncWrite + Unpin> Driver<T> {
    /// Writes what is queued when `flush` is set (messages come before the close, so
    /// nothing queued is lost) or drops it, then writes the close frame and starts the
    /// handshake deadline.
    pub(super) async fn start_close(
        &mut self,
        code: CloseCode,
        reason: &str,
        flush: bool,
    ) -> Phase {
        let timeout = self.shared.close_timeout();
        let deadline = Instant::now() + timeout;
        let queued = std::mem::take(&mut lock(&self.shared.outbox).messages);
        for message in queued {
            self.release(&message);
            if flush {
                self.frame(&message);
            }
        }
        if !flush {
            self.discard_frames();
        }
        self.add_latest_pong();
        self.encoder.close(code.as_u16(), reason, &mut self.out);
        match tokio::time::timeout_at(deadline, self.write_frames()).await {
            Ok(Ok(())) => Phase::Closing(deadline),
            // The close frame could not be written: there is no handshake to wait for.
            _ => Phase::Closing(Instant::now()),
        }
    }

    /// The peer's close frame: it answers ours, or we echo it with its code and reason, write
    /// it, and drop TCP (the server closes TCP first, §7.1.1).
    pub(super) async fn on_close_frame(
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
        let received = match &frame {
            None => CloseError::new(CloseStatus::NoStatusReceived, ""),
            Some(frame) => match CloseCode::new(frame.code) {
                Ok(code) => CloseError::new(code, frame.reason.as_str()),
                // The decoder admits only codes that may be sent, which `CloseCode` holds.
                Err(_) => CloseError::new(CloseCode::PROTOCOL_ERROR, frame.reason.as_str()),
            },
        };
        *status = Some(received);
        // Replies taken before the peer's close go out before the echo of it.
        self.add_latest_pong();
        match &frame {
            None => self.encoder.close_empty(&mut self.out),
            Some(frame) => self.encoder.close(frame.code, &frame.reason, &mut self.out),
        }
        let timeout = self.shared.close_timeout();
        if let Ok(Ok(())) = tokio::time::timeout(timeout, self.write_frames()).await {
            self.shared
                .handshake_completed
                .store(true, Ordering::Release);
        }
        Step::Done
    }

    /// Fails the connection (§7.1.7) for a protocol violation: the reader learns why, and
    /// replies already queued still go out before the close frame (bounded by the close
    /// deadline), so what the application sent is not lost.
    pub(super) async fn on_violation(
        &mut self,
        err: ProtocolError,
        phase: &mut Phase,
        status: &mut Option<CloseError>,
    ) -> Step {
        if let Phase::Closing(_) = phase {
            // Anything but the peer's close ends a handshake we started.
            return Step::Done;
        }
        // A malformed close frame is still the peer's close: it sends no other, so ours ends
        // the handshake.
        let peer_closed = matches!(
            err,
            ProtocolError::InvalidCloseCode(_)
                | ProtocolError::CloseTooShort
                | ProtocolError::InvalidCloseReason
        );
        let (code, reason, error) = match err {
            ProtocolError::MessageTooBig { limit } => (
                CloseCode::MESSAGE_TOO_BIG,
                "Message too big",
                ConnError::MessageTooBig { limit },
            ),
            ProtocolError::InvalidUtf8 | ProtocolError::InvalidCloseReason => (
                CloseCode::INVALID_PAYLOAD,
                "Invalid UTF-8",
                ConnError::InvalidUtf8,
            ),
            ProtocolError::Compression(detail) => (
                CloseCode::INVALID_PAYLOAD,
                "Invalid compressed data",
                ConnError::Compression(detail),
            ),
            other => (
                CloseCode::PROTOCOL_ERROR,
                "Protocol error",
                ConnError::Protocol(other.to_string()),
            ),
        };
        self.deliver_error(error);
        self.shared.mark_closing();
        *status = Some(CloseError::new(code, reason));
        *phase = self.start_close(code, reason, true).await;
        if peer_closed {
            return Step::Done;
        }
        Step::Continue
    }

    /// The peer vanished (end of stream or a socket error).
    pub(super) fn fail_gone(
        &mut self,
        err: Option<std::io::Error>,
        status: &Option<CloseError>,
    ) -> Step {
        if status.is_none() {
            self.peer_gone(err);
        }
        Step::Done
    }

    /// Records that the peer vanished without a close frame.
    pub(super) fn peer_gone(&mut self, err: Option<std::io::Error>) {
        self.shared.mark_closing();
        self.shared.set_pending_error(ConnError::PeerGone(err));
    }
}
