//! The read side: bytes in, messages and control frames out.

use bytes::Bytes;

use crate::close::{parse_close, CloseFrame};
use crate::deflate::{InflateError, Inflater};
use crate::error::ProtocolError;
use crate::frame::{FrameHeader, OpCode, MAX_HEADER_LEN};
use crate::mask::apply_mask;
use crate::message::{Message, Utf8Bytes};
use crate::utf8::Utf8Validator;
use crate::Role;

/// What the peer sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A complete data message.
    Message(Message),
    /// A ping, to be answered with a pong carrying the same payload.
    Ping(Bytes),
    /// A pong.
    Pong(Bytes),
    /// A close frame (`None`: without a status code).
    Close(Option<CloseFrame>),
}

/// Turns received bytes into [`Event`]s, enforcing every rule of RFC 6455 (and RFC 7692
/// when an [`Inflater`] is set) as the bytes arrive.
///
/// - A header is checked as soon as it is complete, and a data frame against the message
///   size limit before any of its payload is kept (1009 without buffering).
/// - Payload memory grows with the bytes received, never from a declared length: a peer
///   that announces 16 MiB and sends 100 bytes costs about 100 bytes.
/// - Text is checked as it arrives, inside a frame and across frames, so invalid UTF-8 fails
///   at its first byte (1007) rather than when the message ends.
/// - Compressed messages are inflated as they arrive; inflated bytes count against the
///   limit as they are produced.
///
/// After a violation the decoder returns the same error for any further input.
pub struct Decoder {
    role: Role,
    max_message_size: usize,
    inflater: Option<Inflater>,
    header: [u8; MAX_HEADER_LEN],
    header_len: u8,
    frame: Option<Frame>,
    message: Option<Partial>,
    control: Vec<u8>,
    failed: Option<ProtocolError>,
}

impl std::fmt::Debug for Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decoder")
            .field("role", &self.role)
            .field("max_message_size", &self.max_message_size)
            .field("compression", &self.inflater.is_some())
            .field("buffered", &self.buffered())
            .field("failed", &self.failed)
            .finish()
    }
}

/// The frame whose payload is being read.
#[derive(Debug)]
struct Frame {
    opcode: OpCode,
    fin: bool,
    mask: Option<[u8; 4]>,
    remaining: u64,
    /// Payload bytes already read: where the mask stands.
    offset: usize,
}

/// A data message being assembled from its frames.
#[derive(Debug)]
struct Partial {
    compressed: bool,
    data: Data,
    utf8: Utf8Validator,
}

#[derive(Debug)]
enum Data {
    /// Uncompressed text, built by the pass that checks it.
    Text(String),
    /// Binary data, or compressed text (checked as it is inflated, turned into a `String`
    /// at the end).
    Bytes { text: bool, bytes: Vec<u8> },
}

impl Data {
    fn len(&self) -> usize {
        match self {
            Self::Text(text) => text.len(),
            Self::Bytes { bytes, .. } => bytes.len(),
        }
    }
}

impl Decoder {
    /// A decoder for `role` (a server expects masked frames) that accepts messages of up to
    /// `max_message_size` bytes.
    pub fn new(role: Role, max_message_size: usize) -> Self {
        Self {
            role,
            max_message_size,
            inflater: None,
            header: [0; MAX_HEADER_LEN],
            header_len: 0,
            frame: None,
            message: None,
            control: Vec::new(),
            failed: None,
        }
    }

    /// Accepts compressed messages (RSV1), inflated by `inflater` (permessage-deflate).
    pub fn with_inflater(mut self, inflater: Inflater) -> Self {
        self.inflater = Some(inflater);
        self
    }

    /// The size limit.
    pub fn max_message_size(&self) -> usize {
        self.max_message_size
    }

    /// True between messages: no frame or message is half read.
    pub fn is_idle(&self) -> bool {
        self.header_len == 0 && self.frame.is_none() && self.message.is_none()
    }

    /// Bytes held for a message or control frame not yet complete.
    pub fn buffered(&self) -> usize {
        self.message.as_ref().map_or(0, |m| m.data.len()) + self.control.len()
    }

    /// Decodes from `input` until one event is complete or the input ends, and returns how
    /// many bytes it consumed with the event, if any. Call again with the rest of the input
    /// after an event.
    ///
    /// Masked payloads are unmasked in place, so `input` is changed: it is the caller's read
    /// buffer, consumed here.
    pub fn decode(&mut self, input: &mut [u8]) -> (usize, Result<Option<Event>, ProtocolError>) {
        if let Some(err) = &self.failed {
            return (0, Err(err.clone()));
        }
        let mut at = 0;
        loop {
            let step = if self.frame.is_some() {
                self.read_payload(input, &mut at)
            } else {
                self.read_header(input, &mut at)
            };
            match step {
                Ok(Some(event)) => return (at, Ok(Some(event))),
                Ok(None) if at == input.len() => return (at, Ok(None)),
                Ok(None) => {}
                Err(err) => {
                    self.failed = Some(err.clone());
                    self.message = None;
                    self.control = Vec::new();
                    return (at, Err(err));
                }
            }
        }
    }

    fn read_header(
        &mut self,
        input: &[u8],
        at: &mut usize,
    ) -> Result<Option<Event>, ProtocolError> {
        let rest = &input[*at..];
        let parsed = if self.header_len == 0 {
            match FrameHeader::parse(rest, self.role)? {
                Some((header, len)) => Some((header, len)),
                None => {
                    self.header[..rest.len()].copy_from_slice(rest);
                    self.header_len = rest.len() as u8;
                    *at = input.len();
                    None
                }
            }
        } else {
            // A header split across reads: gather it in the small buffer.
            let have = usize::from(self.header_len);
            let take = (MAX_HEADER_LEN - have).min(rest.len());
            self.header[have..have + take].copy_from_slice(&rest[..take]);
            match FrameHeader::parse(&self.header[..have + take], self.role)? {
                Some((header, len)) => {
                    self.header_len = 0;
                    Some((header, len - have))
                }
                None => {
                    self.header_len = (have + take) as u8;
                    *at += take;
                    None
                }
            }
        };
        let Some((header, len)) = parsed else {
            return Ok(None);
        };
        *at += len;
        self.start_frame(header)
    }

    fn start_frame(&mut self, header: FrameHeader) -> Result<Option<Event>, ProtocolError> {
        match header.opcode {
            OpCode::Continuation => {
                let Some(message) = &self.message else {
                    return Err(ProtocolError::UnexpectedContinuation);
                };
                // RSV1 marks a compressed message on its first frame only (RFC 7692 §6).
                if header.rsv1 {
                    return Err(ProtocolError::ReservedBits);
                }
                if !message.compressed {
                    self.check_size(message.data.len(), header.len)?;
                }
            }
            OpCode::Text | OpCode::Binary => {
                if self.message.is_some() {
                    return Err(ProtocolError::ExpectedContinuation);
                }
                if header.rsv1 && self.inflater.is_none() {
                    return Err(ProtocolError::ReservedBits);
                }
                // A compressed frame's length says nothing of the message's: its inflated
                // bytes are counted as they are produced.
                if !header.rsv1 {
                    self.check_size(0, header.len)?;
                }
                let text = header.opcode == OpCode::Text;
                let data = match (text, header.rsv1) {
                    (true, false) => Data::Text(String::new()),
                    _ => Data::Bytes {
                        text,
                        bytes: Vec::new(),
                    },
                };
                self.message = Some(Partial {
                    compressed: header.rsv1,
                    data,
                    utf8: Utf8Validator::new(),
                });
            }
            OpCode::Close | OpCode::Ping | OpCode::Pong => {
                if header.rsv1 {
                    return Err(ProtocolError::ReservedBits);
                }
            }
        }
        self.frame = Some(Frame {
            opcode: header.opcode,
            fin: header.fin,
            mask: header.mask,
            remaining: header.len,
            offset: 0,
        });
        if header.len == 0 {
            return self.end_frame();
        }
        Ok(None)
    }

    fn check_size(&self, have: usize, more: u64) -> Result<(), ProtocolError> {
        let limit = self.max_message_size;
        if more > (limit - have.min(limit)) as u64 {
            return Err(ProtocolError::MessageTooBig { limit });
        }
        Ok(())
    }

    fn read_payload(
        &mut self,
        input: &mut [u8],
        at: &mut usize,
    ) -> Result<Option<Event>, ProtocolError> {
        let Some(frame) = &mut self.frame else {
            return Ok(None);
        };
        let available = input.len() - *at;
        // Fits: `remaining` is compared with a `usize` before the cast.
        let take = if frame.remaining < available as u64 {
            frame.remaining as usize
        } else {
            available
        };
        let piece = &mut input[*at..*at + take];
        *at += take;
        if let Some(key) = frame.mask {
            apply_mask(piece, key, frame.offset);
        }
        frame.offset = frame.offset.wrapping_add(take);
        frame.remaining -= take as u64;
        let frame_rest = frame.remaining;
        let control = frame.opcode.is_control();
        if control {
            self.control.extend_from_slice(piece);
        } else {
            self.append(piece, frame_rest)?;
        }
        if frame_rest == 0 {
            return self.end_frame();
        }
        Ok(None)
    }

    /// Adds a piece of a data frame's payload to the message.
    fn append(&mut self, piece: &[u8], frame_rest: u64) -> Result<(), ProtocolError> {
        let limit = self.max_message_size;
        let Some(message) = &mut self.message else {
            return Ok(());
        };
        match &mut message.data {
            Data::Text(text) => {
                reserve(text.len(), text.capacity(), piece.len(), frame_rest, |n| {
                    text.reserve_exact(n)
                });
                message
                    .utf8
                    .push(piece, text)
                    .map_err(|_| ProtocolError::InvalidUtf8)?;
            }
            Data::Bytes { .. } if message.compressed => {
                if let Some(inflater) = &mut self.inflater {
                    inflate(inflater, message, Some(piece), limit)?;
                }
            }
            Data::Bytes { bytes, .. } => {
                reserve(
                    bytes.len(),
                    bytes.capacity(),
                    piece.len(),
                    frame_rest,
                    |n| bytes.reserve_exact(n),
                );
                bytes.extend_from_slice(piece);
            }
        }
        Ok(())
    }

    fn end_frame(&mut self) -> Result<Option<Event>, ProtocolError> {
        let Some(frame) = self.frame.take() else {
            return Ok(None);
        };
        match frame.opcode {
            OpCode::Ping => Ok(Some(Event::Ping(self.take_control()))),
            OpCode::Pong => Ok(Some(Event::Pong(self.take_control()))),
            OpCode::Close => {
                let payload = std::mem::take(&mut self.control);
                Ok(Some(Event::Close(parse_close(&payload)?)))
            }
            OpCode::Text | OpCode::Binary | OpCode::Continuation if frame.fin => {
                self.end_message().map(|m| m.map(Event::Message))
            }
            _ => Ok(None),
        }
    }

    fn take_control(&mut self) -> Bytes {
        Bytes::from(std::mem::take(&mut self.control))
    }

    fn end_message(&mut self) -> Result<Option<Message>, ProtocolError> {
        let limit = self.max_message_size;
        let Some(mut message) = self.message.take() else {
            return Ok(None);
        };
        if let (true, Some(inflater)) = (message.compressed, &mut self.inflater) {
            inflate(inflater, &mut message, None, limit)?;
        }
        message
            .utf8
            .finish()
            .map_err(|_| ProtocolError::InvalidUtf8)?;
        Ok(Some(match message.data {
            Data::Text(text) => Message::Text(Utf8Bytes::from(shrink(text))),
            Data::Bytes { text: true, bytes } => {
                let text = String::from_utf8(bytes).map_err(|_| ProtocolError::InvalidUtf8)?;
                Message::Text(Utf8Bytes::from(shrink(text)))
            }
            Data::Bytes {
                text: false,
                mut bytes,
            } => {
                if bytes.capacity() > bytes.len() + bytes.len() / 4 {
                    bytes.shrink_to_fit();
                }
                Message::Binary(Bytes::from(bytes))
            }
        }))
    }
}

/// Grows a message buffer for `piece` more bytes: doubling (so a large message costs a
/// linear number of copies), but never past the end the current frame declares, and never
/// by more than the bytes received so far (a declared length alone reserves nothing).
fn reserve(len: usize, capacity: usize, piece: usize, frame_rest: u64, grow: impl FnOnce(usize)) {
    let need = len + piece;
    if need <= capacity {
        return;
    }
    let frame_end = u64::try_from(need)
        .unwrap_or(u64::MAX)
        .saturating_add(frame_rest);
    let doubled = u64::try_from(capacity.saturating_mul(2).max(need)).unwrap_or(u64::MAX);
    let target = usize::try_from(doubled.min(frame_end)).unwrap_or(need);
    grow(target.max(need) - len);
}

/// A finished message keeps no more than a quarter of slack: it may live long in a queue.
fn shrink(mut text: String) -> String {
    if text.capacity() > text.len() + text.len() / 4 {
        text.shrink_to_fit();
    }
    text
}

/// Inflates a piece of a compressed message (its end, with `None`) into the message, and
/// checks the text it produced.
fn inflate(
    inflater: &mut Inflater,
    message: &mut Partial,
    piece: Option<&[u8]>,
    limit: usize,
) -> Result<(), ProtocolError> {
    let Data::Bytes { text, bytes } = &mut message.data else {
        return Ok(());
    };
    let before = bytes.len();
    let inflated = match piece {
        Some(piece) => inflater.inflate(piece, bytes, limit),
        None => inflater.finish(bytes, limit),
    };
    inflated.map_err(|err| inflate_error(err, limit))?;
    if *text {
        message
            .utf8
            .feed(&bytes[before..])
            .map_err(|_| ProtocolError::InvalidUtf8)?;
    }
    Ok(())
}

fn inflate_error(err: InflateError, limit: usize) -> ProtocolError {
    match err {
        InflateError::TooBig => ProtocolError::MessageTooBig { limit },
        other => ProtocolError::Compression(other.to_string()),
    }
}
