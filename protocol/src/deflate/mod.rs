//! permessage-deflate (RFC 7692): negotiation, and per-message compression both ways.
//!
//! - Negotiation: a server picks among the client's offers with [`accept_offer`] and
//!   answers [`DeflateParams::response_header`]; a client sends [`client_offer`] and
//!   checks the answer with [`accept_answer`].
//! - Sending: a [`Deflater`] per connection; [`compress_shared`] compresses a broadcast
//!   once for every connection without context takeover in that direction.
//! - Receiving: an [`Inflater`] per connection, bounded by the message size limit as it
//!   inflates.
//!
//! Compression is raw DEFLATE through zlib-rs (no C), at zlib's level 6 unless a
//! [`Deflater`] is given another ([`Deflater::with_level`]). Without context takeover
//! ([`DeflateConfig::lean`]) zlib state is borrowed per message from per-thread pools, so
//! idle connections hold none; with it ([`DeflateConfig::context_takeover`]) each
//! connection owns its state, whose measured size that constructor documents.
//!
//! ```
//! use ws_controller_protocol::deflate::{accept_offer, DeflateConfig, Deflater, Inflater};
//! use ws_controller_protocol::Role;
//!
//! let config = DeflateConfig::lean();
//! let offer: &[u8] = b"permessage-deflate; client_max_window_bits";
//! let params = accept_offer([offer], &config).unwrap();
//! assert_eq!(
//!     params.response_header(),
//!     "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
//! );
//!
//! let mut server = Deflater::new(&params, Role::Server, config.threshold);
//! let mut client = Inflater::new(&params, Role::Client);
//! let message = "hello ".repeat(500);
//! assert!(server.should_compress(message.len()));
//! let mut payload = Vec::new();
//! server.compress(message.as_bytes(), &mut payload);
//! let mut inflated = Vec::new();
//! client.inflate(&payload, &mut inflated, 64 << 10).unwrap();
//! client.finish(&mut inflated, 64 << 10).unwrap();
//! assert_eq!(inflated, message.as_bytes());
//! assert!(!server.holds_state() && !client.holds_state());
//! ```

mod compress;
mod header;
mod inflate;
mod negotiate;
mod params;
mod pool;

#[cfg(test)]
mod tests;

pub use compress::{compress_shared, messages_compressed, Deflater, DEFAULT_LEVEL};
pub use inflate::{InflateError, Inflater};
pub use negotiate::{accept_answer, accept_offer, client_offer, NegotiationError};
pub use params::{DeflateConfig, DeflateParams};

/// The end of a sync flush (an empty stored block's LEN and NLEN): removed by the sender
/// and put back by the receiver (RFC 7692 §7.2.1, §7.2.2).
const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];
