//! The endpoint: the [`Controller`](controller::Controller) trait, the upgrade route, the
//! origin check, the panic-safe serve driver and the HTTP server.

#[cfg(feature = "asyncapi")]
pub mod asyncapi;
pub mod controller;
pub mod error;
pub mod events;
pub mod handlers;
pub(crate) mod handshake;
pub(crate) mod limits;
pub mod origin;
pub(crate) mod panic;
pub(crate) mod request;
pub mod serve;
pub mod server;
mod together;
pub mod upgrade;
mod upgraded;
