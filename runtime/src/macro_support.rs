//! Traits that `#[ws_controller]` expansions check types with, so that a wrong type is
//! reported on the user's token with a message saying what fits. Not a public API (they are
//! reached through `__private`).

use serde::de::DeserializeOwned;

use crate::endpoint::events::Incoming;

/// The data parameter of an `#[on_event]` handler.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be decoded as the data of an event",
    label = "the data parameter of an `#[on_event]` handler must implement `serde::Deserialize`",
    note = "add `#[derive(serde::Deserialize)]` to `{Self}`"
)]
pub trait FromEventData: Sized {
    /// Decodes the event's data.
    fn from_event(incoming: &Incoming) -> Result<Self, serde_json::Error>;
}

impl<T: DeserializeOwned> FromEventData for T {
    fn from_event(incoming: &Incoming) -> Result<Self, serde_json::Error> {
        incoming.decode()
    }
}

/// An extractor taken by a handler other than `#[on_open]`: extracted once, at the upgrade,
/// and cloned for every call.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is extracted once, at the upgrade, and cloned for every call of this handler, so it must implement `Clone`",
    label = "this extractor is not `Clone`",
    note = "take it in `#[on_open]` only (which runs once), or share what it holds behind an `Arc`"
)]
pub trait SharedExtractor: Sized {
    /// A copy for one call.
    fn share(&self) -> Self;
}

impl<T: Clone> SharedExtractor for T {
    fn share(&self) -> Self {
        self.clone()
    }
}

/// Expands its input when the `asyncapi` feature is on; otherwise an error, on the
/// `asyncapi` key of the attribute, that says how to turn the feature on.
#[cfg(feature = "asyncapi")]
#[doc(hidden)]
#[macro_export]
macro_rules! if_asyncapi {
    ($($tokens:tt)*) => { $($tokens)* };
}

/// Expands its input when the `asyncapi` feature is on; otherwise an error, on the
/// `asyncapi` key of the attribute, that says how to turn the feature on.
#[cfg(not(feature = "asyncapi"))]
#[doc(hidden)]
#[macro_export]
macro_rules! if_asyncapi {
    ($($tokens:tt)*) => {
        ::core::compile_error!(
            "`asyncapi = true` needs the `asyncapi` feature of ws-controller: \
             `ws-controller = { version = \"0.1\", features = [\"asyncapi\"] }`"
        );
    };
}
