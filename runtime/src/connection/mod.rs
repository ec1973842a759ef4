//! One WebSocket connection: [`Conn`](conn::Conn) and [`Sender`](sender::Sender), the
//! driver that runs the protocol engine over the socket, close codes and the connection's
//! settings.
//!
//! Built on the sans-IO engine (`ws-controller-protocol`); knows nothing of routes,
//! controllers or hubs.

pub mod close;
pub mod conn;
pub mod conn_id;
mod data;
pub(crate) mod driver;
pub mod error;
pub mod prepared;
mod queue_budget;
pub mod rate_limit;
pub(crate) mod read_buffer;
pub mod sender;
pub mod settings;
pub(crate) mod shared;
mod wake;
