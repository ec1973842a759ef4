//! A minimal WebSocket client for load generation: one handshake, masked binary frames out,
//! frames in parsed straight from a read buffer. It costs the client core little per
//! message, so the server is what gets measured.

use std::io;
use std::net::SocketAddr;
use std::ops::Range;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub const OP_TEXT: u8 = 0x1;
pub const OP_BINARY: u8 = 0x2;
pub const OP_PING: u8 = 0x9;

const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

pub struct Client {
    stream: TcpStream,
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

pub fn bad(message: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.into())
}

impl Client {
    /// Connects and completes the opening handshake on `path`.
    pub async fn connect(addr: SocketAddr, path: &str, buf_size: usize) -> io::Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let mut client = Self {
            stream,
            buf: vec![0; buf_size.max(1024)],
            start: 0,
            end: 0,
        };
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        client.stream.write_all(request.as_bytes()).await?;
        loop {
            if let Some(pos) = find(&client.buf[..client.end], b"\r\n\r\n") {
                let head = &client.buf[..pos];
                if !head.starts_with(b"HTTP/1.1 101") {
                    return Err(bad(format!(
                        "handshake refused: {}",
                        String::from_utf8_lossy(head)
                    )));
                }
                client.start = pos + 4;
                return Ok(client);
            }
            let n = client.stream.read(&mut client.buf[client.end..]).await?;
            if n == 0 {
                return Err(bad("connection closed during the handshake"));
            }
            client.end += n;
        }
    }

    /// Writes raw bytes (one or more encoded frames).
    pub async fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes).await
    }

    /// Reads the next frame; the payload is `self.payload(range)` until the next call.
    /// Pings are skipped (the benchmark never runs long enough for a heartbeat to matter).
    pub async fn next_frame(&mut self) -> io::Result<(u8, Range<usize>)> {
        loop {
            let available = &self.buf[self.start..self.end];
            if let Some((header, len)) = parse_header(available)? {
                let total = header + len;
                if available.len() >= total {
                    let opcode = available[0] & 0x0f;
                    let range = self.start + header..self.start + total;
                    self.start += total;
                    if opcode == OP_PING {
                        continue;
                    }
                    return Ok((opcode, range));
                }
                if self.buf.len() - self.start < total {
                    self.compact();
                    if self.buf.len() < total {
                        self.buf.resize(total, 0);
                    }
                }
            } else if self.start > 0 && self.buf.len() - self.start < 14 {
                self.compact();
            }
            if self.start == self.end {
                self.start = 0;
                self.end = 0;
            }
            let n = self.stream.read(&mut self.buf[self.end..]).await?;
            if n == 0 {
                return Err(bad("server closed the connection"));
            }
            self.end += n;
        }
    }

    /// Drops the connection with a TCP reset (SO_LINGER 0) instead of a close.
    pub fn reset(self) -> io::Result<()> {
        self.stream.set_zero_linger()
    }

    /// True when a whole frame is already buffered.
    pub fn has_frame(&self) -> bool {
        matches!(parse_header(&self.buf[self.start..self.end]), Ok(Some((h, l))) if self.end - self.start >= h + l)
    }

    pub fn payload(&self, range: Range<usize>) -> &[u8] {
        &self.buf[range]
    }

    fn compact(&mut self) {
        self.buf.copy_within(self.start..self.end, 0);
        self.end -= self.start;
        self.start = 0;
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// (header length, payload length) of a server frame, once its header is complete.
fn parse_header(b: &[u8]) -> io::Result<Option<(usize, usize)>> {
    if b.len() < 2 {
        return Ok(None);
    }
    if b[0] & 0x80 == 0 {
        return Err(bad("fragmented frame from the server"));
    }
    if b[1] & 0x80 != 0 {
        return Err(bad("masked frame from the server"));
    }
    Ok(match b[1] & 0x7f {
        126 if b.len() >= 4 => Some((4, u16::from_be_bytes([b[2], b[3]]) as usize)),
        127 if b.len() >= 10 => {
            let len = u64::from_be_bytes(b[2..10].try_into().unwrap());
            Some((10, usize::try_from(len).map_err(|_| bad("frame too long"))?))
        }
        126 | 127 => None,
        len => Some((2, len as usize)),
    })
}

/// A masked client frame whose payload is `payload`.
pub fn encode(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(payload.len() + 14);
    frame.push(0x80 | opcode);
    match payload.len() {
        n if n < 126 => frame.push(0x80 | n as u8),
        n if n <= u16::MAX as usize => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            frame.push(0x80 | 127);
            frame.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(&MASK);
    let start = frame.len();
    frame.extend_from_slice(payload);
    mask(&mut frame[start..], 0);
    frame
}

/// Where the payload starts in a frame made by [`encode`].
pub fn payload_offset(frame: &[u8]) -> usize {
    match frame[1] & 0x7f {
        126 => 8,
        127 => 14,
        _ => 6,
    }
}

/// Replaces the 8-byte tag at the start of an encoded frame's payload (masking it).
pub fn set_tag(frame: &mut [u8], tag: u64) {
    let at = payload_offset(frame);
    let bytes = &mut frame[at..at + 8];
    bytes.copy_from_slice(&tag.to_be_bytes());
    mask(bytes, 0);
}

fn mask(bytes: &mut [u8], offset: usize) {
    for (i, b) in bytes.iter_mut().enumerate() {
        *b ^= MASK[(offset + i) % 4];
    }
}
