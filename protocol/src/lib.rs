//! A sans-IO WebSocket protocol engine (RFC 6455) with permessage-deflate (RFC 7692).
//!
//! Nothing here touches a socket or a runtime: bytes go in, events and bytes come out.
//! [`Decoder`] turns received bytes into [`Event`]s and enforces every rule of the protocol
//! as the bytes arrive; [`Encoder`] turns messages and control frames into bytes. The
//! connection's state around them (who closed first, timers, queues) belongs to the I/O
//! layer that drives them, which can then be tested split at every byte and fuzzed
//! without sockets.
//!
//! ```
//! use ws_controller_protocol::{Decoder, Encoder, Event, Message, Role};
//!
//! let mut client = Encoder::new(Role::Client);
//! let mut wire = Vec::new();
//! client.message(&Message::text("hello"), &mut wire, usize::MAX);
//!
//! let mut server = Decoder::new(Role::Server, 64 << 10);
//! let (used, event) = server.decode(&mut wire);
//! assert_eq!(used, wire.len());
//! assert_eq!(event, Ok(Some(Event::Message(Message::text("hello")))));
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod close;
mod decoder;
pub mod deflate;
mod encoder;
mod error;
pub mod frame;
pub mod handshake;
pub mod mask;
mod message;
pub mod utf8;

pub use close::CloseFrame;
pub use decoder::{Decoder, Event};
pub use encoder::{Encoder, Payload};
pub use error::ProtocolError;
pub use message::{Message, Utf8Bytes};

/// Which end of the connection this engine is.
///
/// A client masks the frames it sends and receives unmasked ones; a server the reverse.
/// With permessage-deflate, each end compresses with its own direction's parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The end that accepted the connection.
    Server,
    /// The end that opened it.
    Client,
}
