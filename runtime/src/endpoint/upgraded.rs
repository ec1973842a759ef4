//! The stream of an upgraded connection.
//!
//! hyper hands an upgrade over as `Upgraded`: a boxed stream behind a replay buffer, so
//! every read and write of the connection would go through three layers and a dynamic
//! call. When hyper served a plain `TcpStream` (this crate's server, `axum::serve`), the
//! stream is taken back out of it, with the bytes hyper had read past the request (a
//! client may send its first frames right behind the handshake), and the connection runs
//! on the socket itself. (Behind `axum::serve` hyper-util wraps the stream in a private
//! type, so those connections keep hyper's layers.)

use std::io::IoSlice;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

#[cfg(feature = "http2")]
use crate::endpoint::server::prefixed::Prefixed;

pub(crate) enum UpgradedStream {
    Tcp {
        stream: TcpStream,
        /// Read past the request by hyper; read again first.
        early: Bytes,
    },
    Other(TokioIo<Upgraded>),
}

impl UpgradedStream {
    pub(crate) fn new(upgraded: Upgraded) -> Self {
        let upgraded = match upgraded.downcast::<TokioIo<TcpStream>>() {
            Ok(parts) => return Self::tcp(parts.io.into_inner(), parts.read_buf),
            Err(upgraded) => upgraded,
        };
        // With HTTP/2 enabled, the server hands hyper the stream behind the bytes it read
        // to recognise the protocol (long replayed by the time of an upgrade).
        #[cfg(feature = "http2")]
        let upgraded = match upgraded.downcast::<TokioIo<Prefixed<TcpStream>>>() {
            Ok(parts) => {
                let (mut unread, stream) = parts.io.into_inner().into_parts();
                unread.extend_from_slice(&parts.read_buf);
                return Self::tcp(stream, Bytes::from(unread));
            }
            Err(upgraded) => upgraded,
        };
        Self::Other(TokioIo::new(upgraded))
    }

    fn tcp(stream: TcpStream, early: Bytes) -> Self {
        Self::Tcp {
            stream,
            // An empty slice of hyper's read buffer would still hold all of it.
            early: if early.is_empty() {
                Bytes::new()
            } else {
                early
            },
        }
    }
}

impl AsyncRead for UpgradedStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Self::Tcp { stream, early } if early.is_empty() => Pin::new(stream).poll_read(cx, buf),
            Self::Tcp { early, .. } => {
                let n = early.len().min(buf.remaining());
                buf.put_slice(&early[..n]);
                early.advance(n);
                if early.is_empty() {
                    *early = Bytes::new();
                }
                Poll::Ready(Ok(()))
            }
            Self::Other(io) => Pin::new(io).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for UpgradedStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Self::Tcp { stream, .. } => Pin::new(stream).poll_write(cx, buf),
            Self::Other(io) => Pin::new(io).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Self::Tcp { stream, .. } => Pin::new(stream).poll_write_vectored(cx, bufs),
            Self::Other(io) => Pin::new(io).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Self::Tcp { stream, .. } => stream.is_write_vectored(),
            Self::Other(io) => io.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Self::Tcp { stream, .. } => Pin::new(stream).poll_flush(cx),
            Self::Other(io) => Pin::new(io).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Self::Tcp { stream, .. } => Pin::new(stream).poll_shutdown(cx),
            Self::Other(io) => Pin::new(io).poll_shutdown(cx),
        }
    }
}
