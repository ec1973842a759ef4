//! The read side's buffer between the socket and the protocol decoder.
//!
//! Reading the socket a few KiB at a time would cost one system call per few KiB of a large
//! message; reading it into a large buffer of its own would cost that buffer on every idle
//! connection. [`ReadBuffer`] reads the socket in large chunks into a buffer borrowed from
//! a small per-thread pool, hands the bytes to the decoder (which unmasks them in place and
//! copies each message's payload out once), and gives the buffer back as soon as it is
//! drained. While data flows, a connection reads a chunk at a time; once it goes idle, it
//! holds no read buffer at all. A chunk is never zero-filled (bytes are read into its spare
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
    /// The unread bytes are `chunk[pos..]`; no chunk when there are none.
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
        self.chunk.as_mut().map(|chunk| &mut chunk[pos..])
    }

    /// Marks `n` unread bytes as decoded; a drained chunk goes back to the pool.
    pub(crate) fn consume(&mut self, n: usize) {
        self.pos += n;
        if self.chunk.as_ref().is_some_and(|c| self.pos >= c.len()) {
            if let Some(chunk) = self.chunk.take() {
                give_back(chunk);
            }
            self.pos = 0;
        }
    }

    /// Reads from `io` into a fresh chunk (call only when nothing is unread). `Ok(0)` is
    /// the end of the stream.
    pub(crate) fn poll_fill<T: AsyncRead + Unpin>(
        &mut self,
        io: &mut T,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<usize>> {
        debug_assert!(self.chunk.is_none(), "fill only a drained buffer");
        let mut chunk = take(self.chunk_size);
        let read = {
            let fut = io.read_buf(&mut chunk);
            let mut fut = std::pin::pin!(fut);
            fut.as_mut().poll(cx)
        };
        match read {
            Poll::Ready(Ok(n)) if n > 0 => {
                self.chunk = Some(chunk);
                self.pos = 0;
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
            assert_eq!(
                buffer.buffered(),
                0,
                "a drained chunk goes back to the pool"
            );
            assert!(buffer.unread().is_none());
        }
        assert_eq!(got, data);
        drop(peer);
        assert_eq!(fill(&mut buffer, &mut io).await, 0, "end of stream");
        assert!(buffer.unread().is_none());
    }
}
