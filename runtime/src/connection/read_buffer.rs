//! The read side between the socket and the WebSocket engine.
//!
//! The engine keeps its own small buffer (its memory is paid by every connection, idle or
//! not) and asks for at most that much per read. Reading the socket that many bytes at a
//! time would cost one system call per few KiB of a large message; reading it into a large
//! per-connection buffer would cost that buffer on every idle connection.
//!
//! [`ReadBuffer`] reads the socket in large chunks into a buffer it borrows from a small
//! per-thread pool, serves the engine's small reads from it, and gives the buffer back as
//! soon as it is empty and the socket has nothing more to read. While data flows, a
//! connection reads the socket a chunk at a time; once it goes idle, it holds no read
//! buffer at all. A chunk is never zero-filled (the bytes are read into spare capacity).

use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};

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

/// A stream whose reads go through a pooled chunk (see the module docs).
pub(crate) struct ReadBuffer<T> {
    io: T,
    /// The bytes read and not yet handed out are `chunk[pos..]`; no chunk when empty.
    chunk: Option<Vec<u8>>,
    pos: usize,
    chunk_size: usize,
}

impl<T> ReadBuffer<T> {
    pub(crate) fn new(io: T, chunk_size: usize) -> Self {
        Self {
            io,
            chunk: None,
            pos: 0,
            chunk_size: chunk_size.max(1),
        }
    }

    /// Bytes read from the socket and not yet handed to the engine.
    #[cfg(test)]
    pub(crate) fn buffered(&self) -> usize {
        self.chunk.as_ref().map_or(0, |c| c.len() - self.pos)
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for ReadBuffer<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if out.remaining() == 0 {
            // Nothing is asked for (and a read that fills nothing means end of stream).
            return Poll::Ready(Ok(()));
        }
        if this.chunk.is_none() {
            if out.remaining() >= this.chunk_size {
                // A read as large as a chunk gains nothing from one.
                return Pin::new(&mut this.io).poll_read(cx, out);
            }
            let mut chunk = take(this.chunk_size);
            let read = {
                let fut = this.io.read_buf(&mut chunk);
                let mut fut = std::pin::pin!(fut);
                fut.as_mut().poll(cx)
            };
            match read {
                Poll::Ready(Ok(n)) if n > 0 => {
                    this.chunk = Some(chunk);
                    this.pos = 0;
                }
                other => {
                    // Nothing to read (or end of stream, or an error): keep no buffer.
                    give_back(chunk);
                    return other.map_ok(|_| ());
                }
            }
        }
        if let Some(chunk) = &this.chunk {
            let rest = &chunk[this.pos..];
            let n = rest.len().min(out.remaining());
            out.put_slice(&rest[..n]);
            this.pos += n;
            if this.pos == chunk.len() {
                if let Some(chunk) = this.chunk.take() {
                    give_back(chunk);
                }
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for ReadBuffer<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[tokio::test]
    async fn small_reads_are_served_from_one_chunk_which_is_released_when_drained() {
        let (mut peer, io) = tokio::io::duplex(1 << 20);
        let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7) as u8).collect();
        peer.write_all(&data).await.unwrap();
        let mut reader = ReadBuffer::new(io, 64 << 10);
        let mut got = Vec::new();
        let mut small = [0u8; 1000];
        while got.len() < data.len() {
            let n = reader.read(&mut small).await.unwrap();
            assert!(n > 0);
            got.extend_from_slice(&small[..n]);
            if got.len() == 64 << 10 || got.len() == data.len() {
                assert_eq!(
                    reader.buffered(),
                    0,
                    "a drained chunk goes back to the pool"
                );
            }
        }
        assert_eq!(got, data);
        drop(peer);
        assert_eq!(reader.read(&mut small).await.unwrap(), 0, "end of stream");
        assert_eq!(reader.buffered(), 0);
    }

    #[tokio::test]
    async fn large_reads_bypass_the_chunk() {
        let (mut peer, io) = tokio::io::duplex(1 << 20);
        peer.write_all(&[5u8; 4096]).await.unwrap();
        let mut reader = ReadBuffer::new(io, 1024);
        let mut big = [0u8; 4096];
        let n = reader.read(&mut big).await.unwrap();
        assert!(n > 0 && big[..n].iter().all(|&b| b == 5));
        assert_eq!(reader.buffered(), 0);
    }
}
