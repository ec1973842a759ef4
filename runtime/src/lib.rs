//! Declarative WebSocket controllers for [axum]: RFC 6455 close semantics, safe defaults
//! and a panic-safe serve loop.
//!
//! A controller implements [`Controller`]: it owns each connection in
//! [`Controller::serve`] and may override hooks (origin check, upgrade headers, error
//! responses, error handler). [`route`] turns it into an axum [`Router`](axum::Router).
//!
//! ```no_run
//! use ws_controller::{Conn, Controller, Error};
//!
//! struct Echo;
//!
//! impl Controller for Echo {
//!     type Extract = ();
//!
//!     async fn serve(&self, mut conn: Conn, _: ()) -> Result<(), Error> {
//!         loop {
//!             let message = conn.recv().await?;
//!             conn.send(message).await?;
//!         }
//!     }
//! }
//!
//! # async fn run() -> std::io::Result<()> {
//! let app = ws_controller::route("/echo", Echo);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! ws_controller::serve(listener, app).await
//! # }
//! ```
//!
//! # Closing rules
//!
//! - `serve` returns `Ok` → close 1000 "Server closed connection".
//! - `serve` returns a close error (the peer closed with 1000, 1001 or 1005) → clean finish.
//! - `serve` returns any other error, or panics → the error hook runs once, then close 1011
//!   "Internal Server Error" (the error's text instead when [`Settings::debug`] is on).
//! - The peer breaks the protocol → 1002; invalid UTF-8 → 1007 (at its first byte, before
//!   the rest of the message arrives); too large → 1009 (from the frame header, before any
//!   of the payload is kept).
//!
//! # The protocol engine
//!
//! Connections run on [`protocol`], the crate's own sans-IO RFC 6455 engine (bytes in,
//! events and bytes out), with permessage-deflate (RFC 7692) as an option:
//! [`Settings::compression`]. Compression is off by default; [`Compression`] says what each
//! mode costs and why (CRIME/BREACH).
//!
//! # Differences from the Go libraries this design comes from
//!
//! - Debug is **off** by default: error text never reaches clients unless asked for.
//! - A peer's close is echoed with the peer's code, not replaced by 1000.
//! - Closing performs the full handshake without another task having to read.
//! - Close codes are a type that cannot hold codes invalid on the wire, and reasons are cut
//!   at a UTF-8 boundary so a close frame is always valid.
//! - Memory follows the traffic, not what a peer announces: a declared frame length
//!   reserves nothing, and idle connections hold no read buffer.
//!
#![doc = include_str!("operations.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod connection;
mod endpoint;
mod hub;
mod macro_support;
mod metrics;
#[cfg(feature = "test")]
pub mod test;

#[cfg(feature = "asyncapi")]
pub use endpoint::asyncapi;
pub use endpoint::origin;
/// The sans-IO protocol engine the connections run on (frames, the decoder and encoder,
/// permessage-deflate, handshake keys).
pub use ws_controller_protocol as protocol;

pub use connection::close::{
    close_status, is_close_error, truncate_reason, AsErrorSource, CloseCode, CloseError,
    CloseStatus, InvalidCloseCode, INTERNAL_ERROR_REASON, MAX_REASON_LEN, NORMAL_CLOSURE_REASON,
};
pub use connection::conn::{Conn, ConnId};
pub use connection::conn_id::ParseConnIdError;
pub use connection::error::ConnError;
pub use connection::prepared::PreparedMessage;
pub use connection::rate_limit::RATE_LIMIT_REASON;
pub use connection::sender::{Sender, TrySendError};
pub use connection::settings::{Compression, RateLimit, RateLimitAction, Settings, SlowConsumer};
pub use endpoint::controller::Controller;
pub use endpoint::error::{Error, ErrorKind, PanicError, UpgradeError};
pub use endpoint::events::{
    EventFields, EventId, EventProtocol, EventReply, Incoming, IntoEventReply, InvalidEnvelope,
    Reject,
};
pub use endpoint::handlers::{FromBinary, FromJson, FromText, IntoReply, IntoSession, Json};
pub use endpoint::origin::{InvalidOriginPattern, OriginAllowList};
pub use endpoint::panic::catch_panic;
pub use endpoint::serve::{default_on_error, serve_connection, Negotiated};
pub use endpoint::server::{serve, Server, DEFAULT_HANDSHAKE_TIMEOUT, DEFAULT_MAX_REQUEST_HEAD};
pub use endpoint::upgrade::{default_upgrade_error_response, handler, route};
pub use hub::cluster::options::{BrokerError, ClusterOptions};
pub use hub::cluster::state::{BrokerState, BrokerStatus};
pub use hub::cluster::ClusterCount;
pub use hub::history::{
    History, HistoryRules, HistoryState, InvalidSince, SincePosition, SincePositions,
    DEFAULT_MAX_ROOMS, JOINED_EVENT, MAX_SINCE_POSITIONS,
};
pub use hub::report::{BroadcastReport, RemoteDelivery, RemoteFailure};
pub use hub::shutdown::{Shutdown, ShutdownReport};
pub use hub::{Hub, TOO_SLOW_REASON};
pub use ws_controller_macros::ws_controller;
pub use ws_controller_protocol::{Message, Utf8Bytes};

/// Runs the `#[ws_controller]` documentation's examples as doctests of this crate, which has
/// the dependencies they use (the macro crate cannot depend on this one).
#[cfg(doctest)]
#[doc = include_str!("../../macros/src/ws_controller.md")]
pub struct WsControllerDoctests;

/// What `#[ws_controller]` expansions refer to; not a public API.
#[doc(hidden)]
pub mod __private {
    #[cfg(feature = "asyncapi")]
    pub use crate::asyncapi;
    pub use crate::endpoint::events::Incoming;
    pub use crate::if_asyncapi;
    pub use crate::macro_support::{FromEventData, SharedExtractor};
    pub use crate::{
        catch_panic, handler, is_close_error, origin, route, CloseCode, CloseError, CloseStatus,
        Compression, Conn, ConnError, Controller, Error, EventFields, EventProtocol, FromBinary,
        FromJson, FromText, Hub, IntoEventReply, IntoReply, IntoSession, Message, OriginAllowList,
        RateLimit, RateLimitAction, Settings, SlowConsumer, UpgradeError,
    };
    pub use axum::extract::FromRequestParts;
    pub use axum::response::{IntoResponse, Response};
    pub use axum::routing::MethodRouter;
    pub use axum::Router;
    pub use http::request::Parts;
    pub use http::{HeaderMap, StatusCode};
    pub use std::time::Duration;

    /// What a `#[serve]` method or an `#[on_close]` handler may return.
    #[diagnostic::on_unimplemented(
        message = "`{Self}` cannot be returned from this handler",
        label = "return `()` or `Result<(), E>`",
        note = "`E` must convert into `ws_controller::Error` (any `std::error::Error + Send + Sync + 'static` does)"
    )]
    pub trait IntoOutcome {
        /// The outcome for the serve driver.
        fn into_outcome(self) -> Result<(), Error>;
    }

    impl IntoOutcome for () {
        fn into_outcome(self) -> Result<(), Error> {
            Ok(())
        }
    }

    impl<E: Into<Error>> IntoOutcome for Result<(), E> {
        fn into_outcome(self) -> Result<(), Error> {
            self.map_err(Into::into)
        }
    }

    /// What a `#[check_origin]` hook returns.
    #[diagnostic::on_unimplemented(
        message = "a `#[check_origin]` hook must return `bool`, not `{Self}`",
        label = "return `bool` here: `true` accepts the origin"
    )]
    pub trait CheckOriginOutput {
        /// The decision.
        fn into_bool(self) -> bool;
    }

    impl CheckOriginOutput for bool {
        fn into_bool(self) -> bool {
            self
        }
    }

    /// What an `#[upgrade_headers]` hook returns.
    #[diagnostic::on_unimplemented(
        message = "an `#[upgrade_headers]` hook must return `HeaderMap`, not `{Self}`",
        label = "return `http::HeaderMap` here"
    )]
    pub trait UpgradeHeadersOutput {
        /// The headers.
        fn into_headers(self) -> HeaderMap;
    }

    impl UpgradeHeadersOutput for HeaderMap {
        fn into_headers(self) -> HeaderMap {
            self
        }
    }

    /// What a `#[hub]` hook returns.
    #[diagnostic::on_unimplemented(
        message = "a `#[hub]` hook must return `&Hub` or `Option<&Hub>`, not `{Self}`",
        label = "return `&ws_controller::Hub` here"
    )]
    pub trait HubOutput<'a> {
        /// The hub, if any.
        fn into_hub(self) -> Option<&'a Hub>;
    }

    impl<'a> HubOutput<'a> for &'a Hub {
        fn into_hub(self) -> Option<&'a Hub> {
            Some(self)
        }
    }

    impl<'a> HubOutput<'a> for Option<&'a Hub> {
        fn into_hub(self) -> Option<&'a Hub> {
            self
        }
    }

    /// Calls `controller`'s error hook, containing a panic in it, as the serve driver does.
    pub fn report_error<C: Controller<S>, S>(controller: &C, request: &Parts, error: &Error) {
        if let Err(message) =
            crate::endpoint::panic::catch_sync(|| controller.on_error(request, error))
        {
            tracing::error!(panic = %message, "error hook panicked");
        }
    }
}
