//! One WebSocket connection: [`Conn`](conn::Conn) and its handles, the driver that runs the
//! protocol over the socket, close codes, messages and the connection's settings.
//!
//! Built on the sans-IO protocol engine; knows nothing of routes, controllers or hubs.

pub mod close;
pub mod conn;
pub mod conn_id;
mod data;
pub(crate) mod driver;
pub mod error;
pub mod message;
pub(crate) mod read_buffer;
pub mod settings;
