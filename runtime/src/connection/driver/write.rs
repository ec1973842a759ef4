//! The write side: queued messages and control frames to the socket.
//!
//! Frames are gathered in the driver's `out` buffer and written together. A server frame
//! is a header and the payload as is (no mask), so a payload larger than
//! [`INLINE_PAYLOAD`] goes to the socket straight from the message's own buffer (shared
//! by every recipient of a broadcast) in a vectored write, without a copy.

use std::collections::VecDeque;
use std::io::IoSlice;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::task::Poll;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;
use ws_controller_protocol::frame::OpCode;
use ws_controller_protocol::Payload;

use super::{Driver, WRITE_BATCH};
use crate::connection::prepared::Outgoing;
use crate::connection::shared::{lock, Shared};

/// Payloads up to this size are copied next to their header; larger ones are written
/// from the message's own buffer.
const INLINE_PAYLOAD: usize = 1 << 10;

/// The write buffer is freed after a write when it grew beyond this (idle connections
/// keep no large buffer).
const KEEP_OUT_CAPACITY: usize = 4 << 10;

/// Queue and large-payload slots kept after a burst.
const KEEP_QUEUE_CAPACITY: usize = 8;

/// Messages taken from the queue per lock.
const TAKE: usize = 8;

/// Why a write did not complete.
pub(super) enum WriteError {
    Io(std::io::Error),
    /// The connection was aborted while the write waited for the peer.
    Aborted,
}

impl WriteError {
    /// The socket error, when there was one.
    pub(super) fn into_io(self) -> Option<std::io::Error> {
        match self {
            Self::Io(err) => Some(err),
            Self::Aborted => None,
        }
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> Driver<T> {
    /// Takes the pings and (at most `WRITE_BATCH`) messages senders queued and turns them
    /// into frames waiting for [`Self::write_frames`]. Returns whether more messages are
    /// waiting.
    ///
    /// Messages are taken [`TAKE`] at a time into an array on the stack, one lock each
    /// time: a lone reply costs one lock, and no second queue ring lives in the driver.
    pub(super) fn feed_queued(&mut self) -> bool {
        let mut fed = 0;
        loop {
            let mut taken: [Option<Outgoing>; TAKE] = [const { None }; TAKE];
            let (pings, more) = {
                let mut outbox = lock(&self.shared.outbox);
                for slot in &mut taken {
                    match outbox.messages.pop_front() {
                        Some(message) => *slot = Some(message),
                        None => break,
                    }
                }
                // A burst leaves the ring at its largest: an idle connection keeps a small one.
                if outbox.messages.is_empty() && outbox.messages.capacity() > KEEP_QUEUE_CAPACITY {
                    outbox.messages = VecDeque::new();
                }
                (
                    std::mem::take(&mut outbox.pings),
                    !outbox.messages.is_empty(),
                )
            };
            for reply in pings {
                self.send_ping(Some(reply));
            }
            for message in taken.into_iter().flatten() {
                self.release(&message);
                self.frame(&message);
                fed += 1;
            }
            if !more {
                return false;
            }
            if fed >= WRITE_BATCH {
                // The rest is taken on a later turn.
                self.shared.queued.store(true, Ordering::Release);
                return true;
            }
        }
    }

    /// Adds a data frame for `message` to the frames waiting to be written.
    pub(super) fn frame(&mut self, message: &Outgoing) {
        // A pong owed to an earlier ping goes before the replies that follow it.
        if self.latest_pong.is_some() {
            self.add_latest_pong();
        }
        let shared_frame = match (message, self.encoder.deflater()) {
            (Outgoing::Prepared(prepared) | Outgoing::Unmetered(prepared), Some(deflater))
                if deflater.should_compress(prepared.message().len()) =>
            {
                deflater
                    .shared_window_bits()
                    .and_then(|bits| prepared.compressed(bits, deflater.level()))
            }
            _ => None,
        };
        let payload = match shared_frame {
            Some(compressed) => {
                let text = message.message().is_text();
                self.encoder
                    .precompressed(text, compressed, &mut self.out, INLINE_PAYLOAD)
            }
            None => self
                .encoder
                .message(message.message(), &mut self.out, INLINE_PAYLOAD),
        };
        let sent = message.message();
        self.shared.metrics.sent(sent.is_text(), sent.len());
        if let Payload::Separate(bytes) = payload {
            self.large_bytes += bytes.len();
            self.large.push((self.out.len(), bytes));
        }
        self.unflushed += 1;
    }

    /// Adds a control frame to the frames waiting to be written.
    pub(super) fn control(&mut self, opcode: OpCode, payload: &[u8]) {
        self.encoder.control(opcode, payload, &mut self.out);
        self.unflushed += 1;
    }

    /// Writes the frames waiting in `out` and `large`, in order.
    pub(super) async fn write_frames(&mut self) -> Result<(), WriteError> {
        self.add_latest_pong();
        self.unflushed = 0;
        if self.out.is_empty() && self.large.is_empty() {
            return Ok(());
        }
        let mut out = std::mem::take(&mut self.out);
        let mut large = std::mem::take(&mut self.large);
        self.large_bytes = 0;
        let io = self.io();
        let written = if large.is_empty() {
            io.write_all(&out).await
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
            write_all_vectored(io, &mut slices).await
        };
        out.clear();
        if out.capacity() <= KEEP_OUT_CAPACITY {
            self.out = out;
        }
        large.clear();
        if large.capacity() <= KEEP_QUEUE_CAPACITY {
            self.large = large;
        }
        written.map_err(WriteError::Io)
    }

    /// Drops the frames not written yet.
    pub(super) fn discard_frames(&mut self) {
        self.latest_pong = None;
        self.pongs_batched = 0;
        self.out = Vec::new();
        self.large.clear();
        self.large_bytes = 0;
        self.unflushed = 0;
    }

    /// Gives back the queue place and bytes a message held; it is about to become a frame
    /// in `out`, which a write empties before the next batch is taken.
    pub(super) fn release(&self, message: &Outgoing) {
        if let Outgoing::Unmetered(_) = message {
            return;
        }
        let cost = self.shared.queue_cost(message.message().len());
        self.shared.queue_room.give_back(1, cost);
    }
}

/// Runs a write, giving up when the connection is aborted (a peer that stopped reading
/// must not hold the driver past the close timeout) or at the stall deadline: a write stuck
/// after the peer has been silent for the idle timeout (`idle_left` is what remains of it)
/// means a dead peer, which no close frame can reach.
pub(super) async fn guarded_write<F>(
    shared: &Shared,
    idle_left: Option<Duration>,
    write: F,
) -> Result<(), WriteError>
where
    F: std::future::Future<Output = Result<(), WriteError>>,
{
    let mut write = std::pin::pin!(write);
    // Most writes complete at once: then no timer is armed.
    let first = std::future::poll_fn(|cx| Poll::Ready(write.as_mut().poll(cx))).await;
    if let Poll::Ready(result) = first {
        return result;
    }
    // The write is blocked on the peer: wait for it, for an abort, or for the stall
    // deadline. Boxed: this rare state should not size every connection's task.
    // The deadline is computed only here: the clock is not read for writes that complete.
    let stall_deadline = idle_left.map(|left| Instant::now() + left.max(shared.close_timeout()));
    let result = Box::pin(wait_blocked_write(shared, stall_deadline, write)).await;
    // Waiting may have consumed a wake-up meant for the driver's loop: give one back.
    shared.wake.wake();
    result
}

async fn wait_blocked_write(
    shared: &Shared,
    stall_deadline: Option<Instant>,
    write: Pin<&mut impl std::future::Future<Output = Result<(), WriteError>>>,
) -> Result<(), WriteError> {
    let aborted = std::future::poll_fn(|cx| loop {
        if shared.aborted.load(Ordering::Acquire) {
            return Poll::Ready(());
        }
        std::task::ready!(shared.wake.poll_woken(cx));
    });
    tokio::select! {
        biased;
        result = write => result,
        () = aborted => Err(WriteError::Aborted),
        () = super::heartbeat::sleep_until(stall_deadline), if stall_deadline.is_some() => {
            Err(WriteError::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "peer neither read nor wrote for the idle timeout",
            )))
        }
    }
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
