//! [`TestClient`]: a WebSocket client on the crate's own protocol engine, in the client
//! role (it masks what it sends and checks that the server does not).

use std::pin::Pin;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use ws_controller_protocol::deflate::{DeflateParams, Deflater, Inflater};
use ws_controller_protocol::frame::OpCode;
use ws_controller_protocol::{CloseFrame, Decoder, Encoder, Event, Payload, Role};

use super::{Io, TestError, DEFAULT_TIMEOUT};
use crate::{CloseCode, CloseError, CloseStatus, Message, Utf8Bytes};

/// The largest message the client accepts by default.
const DEFAULT_MAX_MESSAGE: usize = 64 << 20;

/// A WebSocket client connected to a [`TestServer`](super::TestServer). Every operation
/// fails with [`TestError::Timeout`] instead of hanging. Pings are answered, and a close
/// from the server is answered, completing the handshake.
pub struct TestClient {
    io: Pin<Box<dyn Io>>,
    response: http::Response<()>,
    compression: Option<DeflateParams>,
    decoder: Decoder,
    encoder: Encoder,
    /// Bytes read and not yet decoded.
    input: Vec<u8>,
    /// Set once a close frame was sent.
    close_sent: bool,
    /// How the connection ended, once it has.
    ended: Option<CloseError>,
    timeout: Duration,
}

impl TestClient {
    pub(super) fn new(
        io: Pin<Box<dyn Io>>,
        response: http::Response<()>,
        compression: Option<DeflateParams>,
        input: Vec<u8>,
    ) -> Self {
        let mut decoder = Decoder::new(Role::Client, DEFAULT_MAX_MESSAGE);
        let mut encoder = Encoder::new(Role::Client);
        if let Some(params) = &compression {
            decoder = decoder.with_inflater(Inflater::new(params, Role::Client));
            // Compress every message the test sends, so compressed input is exercised.
            encoder = encoder.with_deflater(Deflater::new(params, Role::Client, 0));
        }
        Self {
            io,
            response,
            compression,
            decoder,
            encoder,
            input,
            close_sent: false,
            ended: None,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// The server's `101 Switching Protocols` response.
    pub fn response(&self) -> &http::Response<()> {
        &self.response
    }

    /// The subprotocol the server selected.
    pub fn subprotocol(&self) -> Option<&str> {
        self.response
            .headers()
            .get(http::header::SEC_WEBSOCKET_PROTOCOL)
            .and_then(|v| v.to_str().ok())
    }

    /// The permessage-deflate parameters agreed on, when compression was offered and
    /// accepted.
    pub fn compression(&self) -> Option<&DeflateParams> {
        self.compression.as_ref()
    }

    /// Changes how long each operation may wait (default 5 s).
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// Sends a message.
    pub async fn send(&mut self, message: impl Into<Message>) -> Result<(), TestError> {
        let mut out = Vec::new();
        if let Payload::Separate(payload) =
            self.encoder.message(&message.into(), &mut out, usize::MAX)
        {
            out.extend_from_slice(&payload);
        }
        self.send_raw(&out).await
    }

    /// Sends a text message.
    pub async fn send_text(&mut self, text: impl Into<Utf8Bytes>) -> Result<(), TestError> {
        self.send(Message::Text(text.into())).await
    }

    /// Sends a binary message.
    pub async fn send_binary(&mut self, data: impl Into<bytes::Bytes>) -> Result<(), TestError> {
        self.send(Message::Binary(data.into())).await
    }

    /// Sends `value` as a JSON text message.
    pub async fn send_json<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), TestError> {
        let text = serde_json::to_string(value)?;
        self.send_text(text).await
    }

    /// Sends a ping.
    pub async fn ping(&mut self, payload: &[u8]) -> Result<(), TestError> {
        let mut out = Vec::new();
        self.encoder.control(OpCode::Ping, payload, &mut out);
        self.send_raw(&out).await
    }

    /// Writes bytes as they are (hand-made frames, for tests of what servers do with
    /// malformed input).
    pub async fn send_raw(&mut self, bytes: &[u8]) -> Result<(), TestError> {
        let timeout = self.timeout;
        bounded(timeout, async {
            self.io.write_all(bytes).await?;
            self.io.flush().await
        })
        .await??;
        Ok(())
    }

    /// Receives the next data message (pings are answered, pongs skipped). A close frame
    /// gives [`TestError::Closed`], after the close is answered.
    pub async fn recv(&mut self) -> Result<Message, TestError> {
        let timeout = self.timeout;
        bounded(timeout, self.next_message()).await?
    }

    async fn next_message(&mut self) -> Result<Message, TestError> {
        loop {
            if let Some(ended) = &self.ended {
                return Err(TestError::Closed(ended.clone()));
            }
            match self.next_event().await? {
                Event::Message(message) => return Ok(message),
                Event::Ping(payload) => {
                    let mut out = Vec::new();
                    self.encoder.control(OpCode::Pong, &payload, &mut out);
                    self.send_raw(&out).await?;
                }
                Event::Pong(_) => {}
                Event::Close(frame) => {
                    if !self.close_sent {
                        // Echo the server's close (RFC 6455 §5.5.1) so its handshake completes.
                        let mut out = Vec::new();
                        match &frame {
                            Some(frame) => self.encoder.close(frame.code, &frame.reason, &mut out),
                            None => self.encoder.close_empty(&mut out),
                        }
                        self.close_sent = true;
                        // The server may already be gone: the echo is best effort.
                        let _ = self.send_raw(&out).await;
                    }
                    self.ended = Some(close_error(frame));
                }
            }
        }
    }

    async fn next_event(&mut self) -> Result<Event, TestError> {
        loop {
            if !self.input.is_empty() {
                let (used, event) = self.decoder.decode(&mut self.input);
                self.input.drain(..used);
                if let Some(event) = event? {
                    return Ok(event);
                }
            }
            if self.io.read_buf(&mut self.input).await? == 0 {
                let ended = CloseError::new(CloseStatus::Abnormal, "");
                self.ended = Some(ended.clone());
                return Err(TestError::Closed(ended));
            }
        }
    }

    /// Receives the next message, which must be text.
    pub async fn recv_text(&mut self) -> Result<String, TestError> {
        match self.recv().await? {
            Message::Text(text) => Ok(text.into_string()),
            got => Err(TestError::UnexpectedMessage {
                expected: "text",
                got,
            }),
        }
    }

    /// Receives the next message, which must be binary.
    pub async fn recv_binary(&mut self) -> Result<bytes::Bytes, TestError> {
        match self.recv().await? {
            Message::Binary(data) => Ok(data),
            got => Err(TestError::UnexpectedMessage {
                expected: "binary",
                got,
            }),
        }
    }

    /// Receives the next message and decodes it from JSON.
    pub async fn recv_json<T: DeserializeOwned>(&mut self) -> Result<T, TestError> {
        let message = self.recv().await?;
        Ok(serde_json::from_slice(message.as_bytes())?)
    }

    /// Waits for the server's close frame (skipping data), answers it, and returns its
    /// status and reason.
    pub async fn closed(&mut self) -> Result<CloseError, TestError> {
        loop {
            match self.recv().await {
                Ok(_) => {}
                Err(TestError::Closed(close)) => return Ok(close),
                Err(err) => return Err(err),
            }
        }
    }

    /// Asserts that the server closes the connection with `code` and `reason` (data that
    /// arrives first is skipped), answering the close. Panics with both closes shown when
    /// they differ.
    pub async fn expect_close(&mut self, code: impl Into<CloseStatus>, reason: &str) {
        let expected = CloseError::new(code, reason);
        match self.closed().await {
            Ok(got) => assert_eq!(got, expected, "unexpected close"),
            Err(err) => panic!("expected close {expected:?}, got error: {err}"),
        }
    }

    /// Starts the close handshake with `code` and `reason` and returns the server's reply.
    pub async fn close(&mut self, code: CloseCode, reason: &str) -> Result<CloseError, TestError> {
        if !self.close_sent {
            let mut out = Vec::new();
            self.encoder.close(code.as_u16(), reason, &mut out);
            self.close_sent = true;
            self.send_raw(&out).await?;
        }
        self.closed().await
    }
}

async fn bounded<F: std::future::Future>(
    timeout: Duration,
    fut: F,
) -> Result<F::Output, TestError> {
    tokio::time::timeout(timeout, fut)
        .await
        .map_err(|_| TestError::Timeout(timeout))
}

fn close_error(frame: Option<CloseFrame>) -> CloseError {
    match frame {
        None => CloseError::new(CloseStatus::NoStatusReceived, ""),
        Some(frame) => {
            let status = match CloseCode::new(frame.code) {
                Ok(code) => CloseStatus::Code(code),
                Err(_) => CloseStatus::Abnormal,
            };
            CloseError::new(status, frame.reason)
        }
    }
}
