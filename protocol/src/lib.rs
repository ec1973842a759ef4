//! A sans-IO WebSocket protocol engine (RFC 6455) with permessage-deflate (RFC 7692).
//!
//! Nothing here touches a socket or a runtime: bytes go in, events and bytes come out.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod deflate;
