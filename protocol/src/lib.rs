//! A sans-IO WebSocket protocol engine (RFC 6455) with permessage-deflate (RFC 7692).
//!
//! Nothing here touches a socket or a runtime: bytes go in, events and bytes come out.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod deflate;

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
