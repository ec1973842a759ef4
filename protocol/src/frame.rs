//! Frame headers (RFC 6455 §5.2): parsing and writing.

use crate::error::ProtocolError;
use crate::Role;

/// A frame's opcode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpCode {
    /// 0x0: a continuation of a fragmented data message.
    Continuation,
    /// 0x1: the first frame of a text message.
    Text,
    /// 0x2: the first frame of a binary message.
    Binary,
    /// 0x8: close.
    Close,
    /// 0x9: ping.
    Ping,
    /// 0xA: pong.
    Pong,
}

impl OpCode {
    /// The opcode of a header's low nibble; reserved values are a protocol error.
    pub fn from_u8(value: u8) -> Result<Self, ProtocolError> {
        Ok(match value {
            0x0 => Self::Continuation,
            0x1 => Self::Text,
            0x2 => Self::Binary,
            0x8 => Self::Close,
            0x9 => Self::Ping,
            0xA => Self::Pong,
            other => return Err(ProtocolError::ReservedOpcode(other)),
        })
    }

    /// The wire value.
    pub fn as_u8(self) -> u8 {
        match self {
            Self::Continuation => 0x0,
            Self::Text => 0x1,
            Self::Binary => 0x2,
            Self::Close => 0x8,
            Self::Ping => 0x9,
            Self::Pong => 0xA,
        }
    }

    /// True for close, ping and pong.
    pub fn is_control(self) -> bool {
        matches!(self, Self::Close | Self::Ping | Self::Pong)
    }
}

/// Largest payload of a control frame (§5.5).
pub const MAX_CONTROL_PAYLOAD: usize = 125;

/// Longest frame header: 2 bytes, an 8-byte length and a 4-byte mask.
pub const MAX_HEADER_LEN: usize = 14;

/// A parsed frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// Last frame of its message.
    pub fin: bool,
    /// RSV1: with permessage-deflate, the message is compressed.
    pub rsv1: bool,
    /// The opcode.
    pub opcode: OpCode,
    /// The masking key, when the frame is masked.
    pub mask: Option<[u8; 4]>,
    /// The payload length.
    pub len: u64,
}

impl FrameHeader {
    /// Parses a header from the start of `buf`: `Ok(None)` when more bytes are needed,
    /// otherwise the header and its length in bytes.
    ///
    /// Checks what a header alone can break: RSV2/RSV3 (no extension here defines them),
    /// reserved opcodes, the length's top bit, control frames that are fragmented or longer
    /// than 125 bytes, and masking for `role` (a server receives only masked frames, a
    /// client only unmasked ones, §5.1). RSV1 is left to the caller, which knows whether a
    /// compression extension was negotiated and where the frame sits in its message.
    pub fn parse(buf: &[u8], role: Role) -> Result<Option<(Self, usize)>, ProtocolError> {
        let [b0, b1, ..] = *buf else {
            return Ok(None);
        };
        if b0 & 0x30 != 0 {
            return Err(ProtocolError::ReservedBits);
        }
        let fin = b0 & 0x80 != 0;
        let rsv1 = b0 & 0x40 != 0;
        let opcode = OpCode::from_u8(b0 & 0x0F)?;
        let masked = b1 & 0x80 != 0;
        match (role, masked) {
            (Role::Server, false) => return Err(ProtocolError::UnmaskedFrame),
            (Role::Client, true) => return Err(ProtocolError::MaskedFrame),
            _ => {}
        }
        let (len, mut at) = match b1 & 0x7F {
            126 => {
                let Some(bytes) = buf.get(2..4) else {
                    return Ok(None);
                };
                (u64::from(u16::from_be_bytes([bytes[0], bytes[1]])), 4)
            }
            127 => {
                let Some(bytes) = buf.get(2..10) else {
                    return Ok(None);
                };
                let mut len = [0; 8];
                len.copy_from_slice(bytes);
                let len = u64::from_be_bytes(len);
                if len >> 63 != 0 {
                    return Err(ProtocolError::InvalidLength);
                }
                (len, 10)
            }
            n => (u64::from(n), 2),
        };
        if opcode.is_control() {
            if !fin {
                return Err(ProtocolError::FragmentedControl);
            }
            if len > MAX_CONTROL_PAYLOAD as u64 {
                return Err(ProtocolError::ControlTooLong);
            }
        }
        let mask = if masked {
            let Some(key) = buf.get(at..at + 4) else {
                return Ok(None);
            };
            at += 4;
            Some([key[0], key[1], key[2], key[3]])
        } else {
            None
        };
        let header = Self {
            fin,
            rsv1,
            opcode,
            mask,
            len,
        };
        Ok(Some((header, at)))
    }

    /// Appends the header to `out`, with the shortest length encoding (§5.2).
    pub fn write(&self, out: &mut Vec<u8>) {
        let mut b0 = self.opcode.as_u8();
        if self.fin {
            b0 |= 0x80;
        }
        if self.rsv1 {
            b0 |= 0x40;
        }
        let mask_bit = if self.mask.is_some() { 0x80 } else { 0 };
        out.push(b0);
        match self.len {
            // The casts cannot truncate: each arm bounds the length.
            n if n < 126 => out.push(mask_bit | n as u8),
            n if n <= u64::from(u16::MAX) => {
                out.push(mask_bit | 126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                out.push(mask_bit | 127);
                out.extend_from_slice(&n.to_be_bytes());
            }
        }
        if let Some(key) = self.mask {
            out.extend_from_slice(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(len: u64, mask: Option<[u8; 4]>) -> FrameHeader {
        FrameHeader {
            fin: true,
            rsv1: false,
            opcode: OpCode::Binary,
            mask,
            len,
        }
    }

    #[test]
    fn lengths_round_trip_with_the_shortest_encoding() {
        for (len, header_len) in [
            (0, 2),
            (125, 2),
            (126, 4),
            (65_535, 4),
            (65_536, 10),
            (u64::MAX >> 1, 10),
        ] {
            for (mask, role, extra) in [
                (None, Role::Client, 0),
                (Some([1, 2, 3, 4]), Role::Server, 4),
            ] {
                let mut out = Vec::new();
                header(len, mask).write(&mut out);
                assert_eq!(out.len(), header_len + extra, "len {len}");
                let parsed = FrameHeader::parse(&out, role).unwrap();
                assert_eq!(parsed, Some((header(len, mask), header_len + extra)));
                for cut in 0..out.len() {
                    assert_eq!(FrameHeader::parse(&out[..cut], role), Ok(None), "cut {cut}");
                }
            }
        }
    }

    #[test]
    fn header_rules() {
        let cases: &[(&[u8], Role, ProtocolError)] = &[
            (&[0xA2, 0x80], Role::Server, ProtocolError::ReservedBits),
            (&[0x92, 0x80], Role::Server, ProtocolError::ReservedBits),
            (
                &[0x83, 0x80],
                Role::Server,
                ProtocolError::ReservedOpcode(3),
            ),
            (
                &[0x8B, 0x80],
                Role::Server,
                ProtocolError::ReservedOpcode(11),
            ),
            (
                &[0x09, 0x80],
                Role::Server,
                ProtocolError::FragmentedControl,
            ),
            (
                &[0x89, 0xFE, 0, 126],
                Role::Server,
                ProtocolError::ControlTooLong,
            ),
            (&[0x82, 0x00], Role::Server, ProtocolError::UnmaskedFrame),
            (&[0x82, 0x80], Role::Client, ProtocolError::MaskedFrame),
            (
                &[0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0],
                Role::Server,
                ProtocolError::InvalidLength,
            ),
        ];
        for (bytes, role, error) in cases {
            assert_eq!(
                FrameHeader::parse(bytes, *role),
                Err(error.clone()),
                "{bytes:x?}"
            );
        }
    }
}
