//! The read side's buffer between the socket and the protocol decoder.
//!
//! Reading the socket a few KiB at a time would cost one system call per few KiB of a large
//! message; reading it into a large buffer of its own would cost that buffer on every idle
//! connection. [`ReadBuffer`] reads the socket in large chunks into a buffer borrowed from
//! a small per-thread pool, hands the bytes to the decoder (which unmasks them in place and
//! copies each message's payload out once), and gives the buffer back once it is drained
//! and the socket has nothing more (or the driver stops reading). While data flows, a
//! connection reads a chunk at a time into the same buffer; once it goes idle, it holds no
//! read buffer at all. A chunk is never zero-filled (bytes are read into its spare
//! capacity).

use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncReadExt};

/// Buffers a thread keeps for reuse; more are freed when given back.
const POOL_SIZE: usize = 16;

thread_local! {
    static POOL: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

/// A chunk of at least `size` bytes of capacity, empty.
fn take(size: usize) -> Vec<u8> {
    let pooled = POOL.with(|pool| {
        let mut pool = pool.borrow_mut();
        let at = pool.iter().rposition(|b| b.capacity() >= size)?;
        Some(pool.swap_remove(at))
    });
    pooled.unwrap_or_else(|| Vec::with_capacity(size))
}

fn give_back(mut chunk: Vec<u8>) {
    chunk.clear();
    POOL.with(|pool| {
        let mut pool = pool.borrow_mut();
        if pool.len() < POOL_SIZE {
            pool.push(chunk);
        }
    });
}

/// Bytes read from the socket and not yet decoded, in a pooled chunk (see the module docs).
pub(crate) struct ReadBuffer {
    /// The unread bytes are `chunk[pos..]`; a drained chunk is kept for the next read.
    chunk: Option<Vec<u8>>,
    pos: usize,
    chunk_size: usize,
}

impl ReadBuffer {
    pub(crate) fn new(chunk_size: usize) -> Self {
        Self {
            chunk: None,
            pos: 0,
            chunk_size: chunk_size.max(1),
        }
    }

    /// The bytes read and not yet decoded, if any (the decoder may change them in place).
    pub(crate) fn unread(&mut self) -> Option<&mut [u8]> {
        let pos = self.pos;
        self.chunk
            .as_mut()
            .filter(|chunk| chunk.len() > pos)
            .map(|chunk| &mut chunk[pos..])
    }

    /// Marks `n` unread bytes as decoded.
    pub(crate) fn consume(&mut self, n: usize) {
        self.pos += n;
    }

    /// Gives a drained chunk back to the pool (when the driver stops reading for a while).
    pub(crate) fn release_drained(&mut self) {
        if self.unread().is_none() {
            self.release();
        }
    }

    fn release(&mut self) {
        if let Some(chunk) = self.chunk.take() {
            give_back(chunk);
        }
        self.pos = 0;
    }

    /// Reads from `io` (call only when nothing is unread), into the drained chunk or a fresh
    /// one. `Ok(0)` is the end of the stream. When nothing is read, the chunk goes back to
    /// the pool: an idle connection keeps none.
    pub(crate) fn poll_fill<T: AsyncRead + Unpin>(
        &mut self,
        io: &mut T,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<usize>> {
        debug_assert!(self.unread().is_none(), "fill only a drained buffer");
        let mut chunk = match self.chunk.take() {
            Some(mut chunk) => {
                chunk.clear();
                chunk
            }
            None => take(self.chunk_size),
        };
        self.pos = 0;
        let read = {
            let fut = io.read_buf(&mut chunk);
            let mut fut = std::pin::pin!(fut);
            fut.as_mut().poll(cx)
        };
        match read {
            Poll::Ready(Ok(n)) if n > 0 => {
                self.chunk = Some(chunk);
                Poll::Ready(Ok(n))
            }
            other => {
                // Nothing to read (or end of stream, or an error): keep no buffer.
                give_back(chunk);
                other
            }
        }
    }

    /// Bytes read and not yet decoded.
    #[cfg(test)]
    pub(crate) fn buffered(&self) -> usize {
        self.chunk.as_ref().map_or(0, |c| c.len() - self.pos)
    }

    /// Whether the buffer holds a chunk.
    #[cfg(test)]
    pub(crate) fn holds_chunk(&self) -> bool {
        self.chunk.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    async fn fill<T: AsyncRead + Unpin>(buffer: &mut ReadBuffer, io: &mut T) -> usize {
        std::future::poll_fn(|cx| buffer.poll_fill(io, cx))
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn reads_a_chunk_at_a_time_and_releases_it_when_drained() {
        let (mut peer, mut io) = tokio::io::duplex(1 << 20);
        let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7) as u8).collect();
        peer.write_all(&data).await.unwrap();
        let mut buffer = ReadBuffer::new(64 << 10);
        let mut got = Vec::new();
        while got.len() < data.len() {
            let n = fill(&mut buffer, &mut io).await;
            assert!(n > 0 && n <= 64 << 10);
            // The decoder takes the bytes in two steps.
            let half = n / 2;
            got.extend_from_slice(&buffer.unread().unwrap()[..half]);
            buffer.consume(half);
            assert_eq!(buffer.buffered(), n - half);
            got.extend_from_slice(buffer.unread().unwrap());
            buffer.consume(n - half);
            assert_eq!(buffer.buffered(), 0);
            assert!(buffer.unread().is_none());
            assert!(buffer.holds_chunk(), "kept for the next read");
        }
        assert_eq!(got, data);
        // Nothing to read: the chunk goes back to the pool.
        let pending = std::future::poll_fn(|cx| Poll::Ready(buffer.poll_fill(&mut io, cx))).await;
        assert!(pending.is_pending());
        assert!(!buffer.holds_chunk(), "an idle connection keeps no chunk");
        drop(peer);
        assert_eq!(fill(&mut buffer, &mut io).await, 0, "end of stream");
        assert!(buffer.unread().is_none());
        assert!(!buffer.holds_chunk());
    }

    #[tokio::test]
    async fn a_drained_chunk_is_given_back_when_reading_stops() {
        let (mut peer, mut io) = tokio::io::duplex(1024);
        peer.write_all(b"abc").await.unwrap();
        let mut buffer = ReadBuffer::new(4096);
        assert_eq!(fill(&mut buffer, &mut io).await, 3);
        buffer.release_drained();
        assert!(buffer.holds_chunk(), "unread bytes stay");
        buffer.consume(3);
        buffer.release_drained();
        assert!(!buffer.holds_chunk());
    }
}
