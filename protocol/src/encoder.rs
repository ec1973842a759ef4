//! The write side: messages and control frames to bytes.

use bytes::Bytes;

use crate::close::close_payload;
use crate::deflate::Deflater;
use crate::frame::{FrameHeader, OpCode};
use crate::mask::{apply_mask, random_mask};
use crate::message::Message;
use crate::Role;

/// Where a frame's payload is after [`Encoder::message`] wrote its header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// Appended to the output after the header.
    Inline,
    /// To be written right after the output as it stands: a large payload goes to the
    /// socket from its own buffer (shared, for a broadcast, by every recipient) instead of
    /// being copied next to its header.
    Separate(Bytes),
}

/// Encodes frames for one connection: masks them for a client, compresses messages when
/// permessage-deflate was negotiated. Messages are never fragmented.
pub struct Encoder {
    role: Role,
    deflater: Option<Deflater>,
}

impl std::fmt::Debug for Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encoder")
            .field("role", &self.role)
            .field("compression", &self.deflater.is_some())
            .finish()
    }
}

impl Encoder {
    /// An encoder for `role`.
    pub fn new(role: Role) -> Self {
        Self {
            role,
            deflater: None,
        }
    }

    /// Compresses messages with `deflater` (those its threshold admits).
    pub fn with_deflater(mut self, deflater: Deflater) -> Self {
        self.deflater = Some(deflater);
        self
    }

    /// The compressor, when permessage-deflate is on.
    pub fn deflater(&self) -> Option<&Deflater> {
        self.deflater.as_ref()
    }

    /// Appends a data frame for `message` to `out`. Payloads up to `inline_limit` bytes
    /// are copied after the header; a server sends larger ones as [`Payload::Separate`]
    /// (a client must mask, so it always copies).
    pub fn message(
        &mut self,
        message: &Message,
        out: &mut Vec<u8>,
        inline_limit: usize,
    ) -> Payload {
        let opcode = if message.is_text() {
            OpCode::Text
        } else {
            OpCode::Binary
        };
        if let Some(deflater) = &mut self.deflater {
            if deflater.should_compress(message.len()) {
                let mut compressed = Vec::new();
                deflater.compress(message.as_bytes(), &mut compressed);
                return self.data_frame(opcode, true, Bytes::from(compressed), out, inline_limit);
            }
        }
        let payload = message.as_bytes();
        if self.role == Role::Server && payload.len() > inline_limit {
            // Shared, not copied: a clone of the message holds the same bytes.
            return self.data_frame(
                opcode,
                false,
                message.clone().into_data(),
                out,
                inline_limit,
            );
        }
        let mask = self.mask();
        self.header(opcode, false, payload.len(), mask, out);
        copy_masked(payload, mask, out);
        Payload::Inline
    }

    /// Appends a frame for a message compressed once for many connections
    /// ([`compress_shared`](crate::deflate::compress_shared)); the caller checked that this
    /// connection's peer can inflate it ([`Deflater::shared_window_bits`]).
    pub fn precompressed(
        &mut self,
        text: bool,
        compressed: Bytes,
        out: &mut Vec<u8>,
        inline_limit: usize,
    ) -> Payload {
        let opcode = if text { OpCode::Text } else { OpCode::Binary };
        self.data_frame(opcode, true, compressed, out, inline_limit)
    }

    fn data_frame(
        &mut self,
        opcode: OpCode,
        rsv1: bool,
        payload: Bytes,
        out: &mut Vec<u8>,
        inline_limit: usize,
    ) -> Payload {
        let mask = self.mask();
        self.header(opcode, rsv1, payload.len(), mask, out);
        if mask.is_none() && payload.len() > inline_limit {
            return Payload::Separate(payload);
        }
        copy_masked(&payload, mask, out);
        Payload::Inline
    }

    fn header(
        &self,
        opcode: OpCode,
        rsv1: bool,
        len: usize,
        mask: Option<[u8; 4]>,
        out: &mut Vec<u8>,
    ) {
        FrameHeader {
            fin: true,
            rsv1,
            opcode,
            mask,
            len: len as u64,
        }
        .write(out);
    }

    /// Appends a control frame (payload at most 125 bytes; longer is cut, as it would be
    /// invalid).
    pub fn control(&mut self, opcode: OpCode, payload: &[u8], out: &mut Vec<u8>) {
        debug_assert!(opcode.is_control());
        let payload = &payload[..payload.len().min(crate::frame::MAX_CONTROL_PAYLOAD)];
        let mask = self.mask();
        self.header(opcode, false, payload.len(), mask, out);
        copy_masked(payload, mask, out);
    }

    /// Appends a close frame with `code` and `reason` (cut at a UTF-8 boundary to fit).
    pub fn close(&mut self, code: u16, reason: &str, out: &mut Vec<u8>) {
        self.control(OpCode::Close, &close_payload(code, reason), out);
    }

    /// Appends a close frame without a status code (the peer reports 1005).
    pub fn close_empty(&mut self, out: &mut Vec<u8>) {
        self.control(OpCode::Close, &[], out);
    }

    fn mask(&self) -> Option<[u8; 4]> {
        match self.role {
            Role::Client => Some(random_mask()),
            Role::Server => None,
        }
    }
}

/// Appends `payload` to `out`, masked with `mask` when there is one.
fn copy_masked(payload: &[u8], mask: Option<[u8; 4]>, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(payload);
    if let Some(key) = mask {
        apply_mask(&mut out[start..], key, 0);
    }
}
