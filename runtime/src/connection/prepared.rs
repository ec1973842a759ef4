//! Messages encoded once for many connections.

use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use ws_controller_protocol::deflate::compress_shared;
use ws_controller_protocol::Message;

/// A message to send to many connections, prepared once.
///
/// Cloning a [`Message`] already shares its bytes. A prepared message also shares its
/// *compressed* form: the first connection that writes it with permessage-deflate (in the
/// lean mode, without context takeover) compresses it, at its own
/// [`compression_level`](crate::Settings::compression_level), and every other such
/// connection sends the same compressed frame. A broadcast to 10,000 compressed connections then
/// costs one deflate call, not 10,000. Connections without compression send the plain
/// bytes, also shared. [`Hub`](crate::Hub) broadcasts use this; use it by hand with
/// [`Sender::send_prepared`](crate::Sender::send_prepared).
///
/// ```
/// use ws_controller::PreparedMessage;
///
/// let update = PreparedMessage::new(r#"{"price": 42}"#.to_owned());
/// assert_eq!(update.message().as_text(), Some(r#"{"price": 42}"#));
/// ```
#[derive(Debug, Clone)]
pub struct PreparedMessage {
    inner: Arc<Prepared>,
}

#[derive(Debug)]
struct Prepared {
    message: Message,
    /// The compressed payload and the window bits it was compressed with.
    compressed: OnceLock<(u8, Bytes)>,
}

impl PreparedMessage {
    /// Prepares `message`.
    pub fn new(message: impl Into<Message>) -> Self {
        Self {
            inner: Arc::new(Prepared {
                message: message.into(),
                compressed: OnceLock::new(),
            }),
        }
    }

    /// The message.
    pub fn message(&self) -> &Message {
        &self.inner.message
    }

    /// The compressed payload for a peer that inflates windows of up to `window_bits`
    /// without context: compressed on first use (at `level`), shared afterwards. `None`
    /// when the shared form was made for a larger window than this peer accepts.
    pub(crate) fn compressed(&self, window_bits: u8, level: u8) -> Option<Bytes> {
        let (bits, bytes) = self.inner.compressed.get_or_init(|| {
            let mut out = Vec::new();
            let payload = self.inner.message.as_bytes();
            compress_shared(payload, window_bits, level, &mut out);
            (window_bits, Bytes::from(out))
        });
        (*bits <= window_bits).then(|| bytes.clone())
    }
}

/// What the outbound queue holds.
#[derive(Debug, Clone)]
pub(crate) enum Outgoing {
    Plain(Message),
    Prepared(PreparedMessage),
    /// Queued beyond the queue's limits, holding no permits: a room history's replay, whose
    /// size its history bounds (see `Shared::enqueue_unmetered`).
    Unmetered(PreparedMessage),
}

impl Outgoing {
    pub(crate) fn message(&self) -> &Message {
        match self {
            Self::Plain(message) => message,
            Self::Prepared(prepared) | Self::Unmetered(prepared) => prepared.message(),
        }
    }

    pub(crate) fn into_message(self) -> Message {
        match self {
            Self::Plain(message) => message,
            Self::Prepared(prepared) | Self::Unmetered(prepared) => prepared.message().clone(),
        }
    }
}
