//! The wire format of messages on the broker, version 1.
//!
//! Every frame starts with a version byte, then a kind byte, then the sending node's id
//! (8 bytes, big-endian). A node ignores (and counts) frames whose version or kind it does
//! not know, so a release may add a version once the release before it reads it.
//!
//! | kind | name | after the node id | channel |
//! |---|---|---|---|
//! | `0x00` | text message | the UTF-8 payload | `{prefix}:all`, `{prefix}:room:{room}` |
//! | `0x01` | binary message | the payload | `{prefix}:all`, `{prefix}:room:{room}` |
//! | `0x10` | count connections | query id (8 bytes) | `{prefix}:ctl` |
//! | `0x11` | count room members | query id (8 bytes), room name (UTF-8) | `{prefix}:ctl` |
//! | `0x20` | count reply | query id (8 bytes), count (8 bytes) | `{prefix}:node:{id}` |
//!
//! Node ids are never 0: a publisher outside the cluster uses 0 and its messages reach
//! every node's members. Integers are big-endian; `{id}` is the id in 16 lowercase hex
//! digits.

use bytes::{BufMut, Bytes, BytesMut};

use ws_controller_protocol::{Message, Utf8Bytes};

/// The version this release writes and reads.
pub(crate) const VERSION: u8 = 1;
const HEADER: usize = 10;

const TEXT: u8 = 0x00;
const BINARY: u8 = 0x01;
const COUNT_ALL: u8 = 0x10;
const COUNT_ROOM: u8 = 0x11;
const COUNT_REPLY: u8 = 0x20;

/// A decoded frame.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Frame {
    Message {
        origin: u64,
        message: Message,
    },
    Count {
        origin: u64,
        query: u64,
        room: Option<String>,
    },
    CountReply {
        origin: u64,
        query: u64,
        count: u64,
    },
}

/// Why a frame was ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum FrameError {
    #[error("frame shorter than its header")]
    Short,
    #[error("unknown frame version {0}")]
    Version(u8),
    #[error("unknown frame kind {0:#04x}")]
    Kind(u8),
    #[error("text frame is not UTF-8")]
    Utf8,
}

fn header(kind: u8, origin: u64, rest: usize) -> BytesMut {
    let mut out = BytesMut::with_capacity(HEADER + rest);
    out.put_u8(VERSION);
    out.put_u8(kind);
    out.put_u64(origin);
    out
}

/// The frame for a message: one copy of the payload behind the header, whatever the
/// number of nodes and recipients.
pub(crate) fn message(origin: u64, message: &Message) -> Bytes {
    let kind = if message.is_text() { TEXT } else { BINARY };
    let mut out = header(kind, origin, message.len());
    out.put_slice(message.as_bytes());
    out.freeze()
}

pub(crate) fn count(origin: u64, query: u64, room: Option<&str>) -> Bytes {
    let kind = if room.is_some() {
        COUNT_ROOM
    } else {
        COUNT_ALL
    };
    let room = room.unwrap_or_default();
    let mut out = header(kind, origin, 8 + room.len());
    out.put_u64(query);
    out.put_slice(room.as_bytes());
    out.freeze()
}

pub(crate) fn count_reply(origin: u64, query: u64, count: u64) -> Bytes {
    let mut out = header(COUNT_REPLY, origin, 16);
    out.put_u64(query);
    out.put_u64(count);
    out.freeze()
}

fn u64_at(frame: &[u8], at: usize) -> Result<u64, FrameError> {
    frame
        .get(at..at + 8)
        .and_then(|b| b.try_into().ok())
        .map(u64::from_be_bytes)
        .ok_or(FrameError::Short)
}

/// Decodes a frame; a message's payload shares `frame`'s bytes.
pub(crate) fn decode(frame: Bytes) -> Result<Frame, FrameError> {
    if frame.len() < HEADER {
        return Err(FrameError::Short);
    }
    if frame[0] != VERSION {
        return Err(FrameError::Version(frame[0]));
    }
    let origin = u64_at(&frame, 2)?;
    match frame[1] {
        TEXT => {
            let text = Utf8Bytes::try_from(frame.slice(HEADER..)).map_err(|_| FrameError::Utf8)?;
            Ok(Frame::Message {
                origin,
                message: Message::Text(text),
            })
        }
        BINARY => Ok(Frame::Message {
            origin,
            message: Message::Binary(frame.slice(HEADER..)),
        }),
        COUNT_ALL | COUNT_ROOM => {
            let query = u64_at(&frame, HEADER)?;
            let room = std::str::from_utf8(&frame[HEADER + 8..]).map_err(|_| FrameError::Utf8)?;
            Ok(Frame::Count {
                origin,
                query,
                room: (frame[1] == COUNT_ROOM).then(|| room.to_owned()),
            })
        }
        COUNT_REPLY => Ok(Frame::CountReply {
            origin,
            query: u64_at(&frame, HEADER)?,
            count: u64_at(&frame, HEADER + 8)?,
        }),
        kind => Err(FrameError::Kind(kind)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip() {
        let text = Message::text("héllo");
        assert_eq!(
            decode(message(7, &text)),
            Ok(Frame::Message {
                origin: 7,
                message: text
            })
        );
        let binary = Message::binary(vec![0u8, 255]);
        assert_eq!(
            decode(message(u64::MAX, &binary)),
            Ok(Frame::Message {
                origin: u64::MAX,
                message: binary
            })
        );
        assert_eq!(
            decode(count(3, 9, Some("lobby"))),
            Ok(Frame::Count {
                origin: 3,
                query: 9,
                room: Some("lobby".into())
            })
        );
        assert_eq!(
            decode(count(3, 9, None)),
            Ok(Frame::Count {
                origin: 3,
                query: 9,
                room: None
            })
        );
        assert_eq!(
            decode(count_reply(4, 9, 12)),
            Ok(Frame::CountReply {
                origin: 4,
                query: 9,
                count: 12
            })
        );
    }

    #[test]
    fn the_documented_layout_is_what_is_written() {
        let frame = message(0x0102, &Message::text("hi"));
        assert_eq!(&frame[..], b"\x01\x00\x00\x00\x00\x00\x00\x00\x01\x02hi");
    }

    #[test]
    fn malformed_frames_are_errors() {
        assert_eq!(
            decode(Bytes::from_static(b"\x01\x00")),
            Err(FrameError::Short)
        );
        assert_eq!(
            decode(Bytes::from_static(b"\x02\x00\0\0\0\0\0\0\0\0x")),
            Err(FrameError::Version(2))
        );
        assert_eq!(
            decode(Bytes::from_static(b"\x01\x7f\0\0\0\0\0\0\0\0")),
            Err(FrameError::Kind(0x7f))
        );
        assert_eq!(
            decode(Bytes::from_static(b"\x01\x00\0\0\0\0\0\0\0\0\xff")),
            Err(FrameError::Utf8)
        );
        assert_eq!(
            decode(Bytes::from_static(b"\x01\x20\0\0\0\0\0\0\0\0\0\0")),
            Err(FrameError::Short)
        );
    }
}
