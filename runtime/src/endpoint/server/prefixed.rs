//! Telling HTTP/2 with prior knowledge from HTTP/1.1: the first bytes are read and then
//! replayed to the protocol that was recognised.

use std::io::IoSlice;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};

/// The client connection preface of HTTP/2 (RFC 9113 §3.4).
const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Reads until the bytes either are the HTTP/2 preface or cannot be: returns whether they
/// are, and the bytes read (fewer than 24 when the client stopped sending).
pub(super) async fn sniff<T: AsyncRead + Unpin>(io: &mut T) -> std::io::Result<(bool, Vec<u8>)> {
    let mut read = Vec::with_capacity(PREFACE.len());
    let mut chunk = [0u8; 24];
    while read.len() < PREFACE.len() && PREFACE.starts_with(&read) {
        let n = io.read(&mut chunk[..PREFACE.len() - read.len()]).await?;
        if n == 0 {
            break;
        }
        read.extend_from_slice(&chunk[..n]);
    }
    Ok((read.as_slice() == PREFACE, read))
}

/// A stream whose first bytes were already read: they are read again first.
pub(crate) struct Prefixed<T> {
    prefix: Vec<u8>,
    at: usize,
    inner: T,
}

impl<T> Prefixed<T> {
    pub(super) fn new(prefix: Vec<u8>, inner: T) -> Self {
        Self {
            prefix,
            at: 0,
            inner,
        }
    }

    /// The stream, and the bytes read from it that were not replayed yet.
    pub(crate) fn into_parts(self) -> (Vec<u8>, T) {
        let mut prefix = self.prefix;
        prefix.drain(..self.at);
        (prefix, self.inner)
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Prefixed<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        if this.at < this.prefix.len() {
            let left = &this.prefix[this.at..];
            let n = left.len().min(buf.remaining());
            buf.put_slice(&left[..n]);
            this.at += n;
            if this.at == this.prefix.len() {
                // Replayed: a long-lived connection keeps no copy.
                this.prefix = Vec::new();
                this.at = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Prefixed<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn sniffed(bytes: &[u8]) -> (bool, Vec<u8>) {
        let mut io = bytes;
        sniff(&mut io).await.unwrap()
    }

    #[tokio::test]
    async fn tells_the_preface_from_http1_and_replays_what_it_read() {
        let get = b"GET / HTTP/1.1\r\n";
        assert_eq!(sniffed(get).await, (false, get.to_vec()));
        let mut h2 = PREFACE.to_vec();
        h2.extend_from_slice(b"frames");
        assert_eq!(sniffed(&h2).await, (true, PREFACE.to_vec()));
        assert_eq!(sniffed(b"PRI *").await, (false, b"PRI *".to_vec()));

        let mut replay = Prefixed::new(b"GE".to_vec(), &b"T /"[..]);
        let mut all = String::new();
        replay.read_to_string(&mut all).await.unwrap();
        assert_eq!(all, "GET /");
    }
}
