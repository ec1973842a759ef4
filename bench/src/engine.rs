//! A load-generator client on the crate's own engine in the client role
//! (`ws_controller::protocol`): it negotiates permessage-deflate, masks and compresses
//! what it sends, inflates and checks what it receives, and counts the bytes on its socket.

use std::io;
use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use ws_controller::protocol::deflate::{
    accept_answer, client_offer, DeflateConfig, DeflateParams, Deflater, Inflater,
};
use ws_controller::protocol::handshake::{accept_key, client_key};
use ws_controller::protocol::{Decoder, Encoder, Event, Message, Payload, Role};

use crate::client::bad;

pub struct EngineClient {
    stream: TcpStream,
    decoder: Decoder,
    encoder: Encoder,
    /// Bytes read and not yet decoded start at `start`.
    input: Vec<u8>,
    start: usize,
    out: Vec<u8>,
    pub compression: Option<DeflateParams>,
    /// Bytes read from and written to the socket after the handshake.
    pub read_bytes: u64,
    pub written_bytes: u64,
}

impl EngineClient {
    /// Connects to `path`, offering `deflate` when given.
    pub async fn connect(
        addr: SocketAddr,
        path: &str,
        deflate: Option<&DeflateConfig>,
    ) -> io::Result<Self> {
        let mut stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let key = client_key();
        let offer = deflate
            .map(|c| format!("Sec-WebSocket-Extensions: {}\r\n", client_offer(c)))
            .unwrap_or_default();
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{offer}\r\n"
        );
        stream.write_all(request.as_bytes()).await?;
        let mut input = Vec::with_capacity(4096);
        let end = loop {
            if let Some(pos) = input.windows(4).position(|w| w == b"\r\n\r\n") {
                break pos;
            }
            if stream.read_buf(&mut input).await? == 0 {
                return Err(bad("connection closed during the handshake"));
            }
        };
        let head = String::from_utf8_lossy(&input[..end]).into_owned();
        if !head.starts_with("HTTP/1.1 101") {
            return Err(bad(format!("handshake refused: {head}")));
        }
        let header = |name: &str| {
            head.lines().find_map(|l| {
                let (n, v) = l.split_once(':')?;
                n.eq_ignore_ascii_case(name).then(|| v.trim())
            })
        };
        if header("sec-websocket-accept") != Some(accept_key(key.as_bytes()).as_str()) {
            return Err(bad("wrong Sec-WebSocket-Accept"));
        }
        let compression = match (deflate, header("sec-websocket-extensions")) {
            (Some(config), Some(answer)) => Some(
                accept_answer(answer.as_bytes(), config)
                    .map_err(|e| bad(format!("deflate answer {answer:?}: {e}")))?,
            ),
            (None, Some(answer)) => return Err(bad(format!("unoffered extension {answer}"))),
            (_, None) => None,
        };
        let mut decoder = Decoder::new(Role::Client, 64 << 20);
        let mut encoder = Encoder::new(Role::Client);
        if let (Some(params), Some(config)) = (&compression, deflate) {
            decoder = decoder.with_inflater(Inflater::new(params, Role::Client));
            encoder = encoder.with_deflater(Deflater::new(params, Role::Client, config.threshold));
        }
        input.drain(..end + 4);
        Ok(Self {
            stream,
            decoder,
            encoder,
            input,
            start: 0,
            out: Vec::new(),
            compression,
            read_bytes: 0,
            written_bytes: 0,
        })
    }

    /// Sends one message (compressed when negotiated and above the threshold).
    pub async fn send(&mut self, message: &Message) -> io::Result<()> {
        self.out.clear();
        if let Payload::Separate(payload) = self.encoder.message(message, &mut self.out, usize::MAX)
        {
            self.out.extend_from_slice(&payload);
        }
        self.stream.write_all(&self.out).await?;
        self.written_bytes += self.out.len() as u64;
        Ok(())
    }

    /// Receives the next data message (pings and pongs skipped; a close is an error).
    pub async fn recv(&mut self) -> io::Result<Message> {
        loop {
            if self.start < self.input.len() {
                let (used, event) = self.decoder.decode(&mut self.input[self.start..]);
                self.start += used;
                match event.map_err(|e| bad(format!("from the server: {e}")))? {
                    Some(Event::Message(message)) => return Ok(message),
                    Some(Event::Close(frame)) => {
                        return Err(bad(format!("server closed: {frame:?}")))
                    }
                    Some(_) => continue,
                    None => {}
                }
            }
            // Everything was consumed (the decoder keeps partial frames itself).
            self.input.clear();
            self.start = 0;
            self.input.reserve(4096);
            match self.stream.read_buf(&mut self.input).await? {
                0 => return Err(bad("server closed the connection")),
                n => self.read_bytes += n as u64,
            }
        }
    }
}
