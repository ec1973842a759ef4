//! An [AsyncAPI 3.0](https://www.asyncapi.com/docs/reference/specification/v3.0.0) document
//! generated from the controllers (feature `asyncapi`), for the front-end team and for code
//! generators.
//!
//! Each controller is a channel (its address is the route, its `{params}` the channel's
//! parameters); each `#[on_event]` handler a `receive` operation with the payload's schema
//! and a `reply` (the reply's schema when the handler returns a value, and the error reply);
//! each push listed in `emits = [..]` a `send` operation; text, binary and JSON handlers are
//! `receive` operations with their content types, and a `reply` when the handler's return
//! type sends one ([`DescribeReply`]: text, binary, or JSON with the schema of `Json<T>`'s
//! `T`). Schemas come from [`schemars`] (JSON Schema draft-07, under
//! `#/components/schemas`).
//!
//! ```
//! use ws_controller::asyncapi::AsyncApi;
//! use ws_controller::{ws_controller, Json};
//!
//! #[derive(serde::Deserialize, schemars::JsonSchema)]
//! struct Bid { amount: u64 }
//!
//! #[derive(serde::Serialize, schemars::JsonSchema)]
//! struct Price { price: u64 }
//!
//! struct Auction;
//!
//! #[ws_controller(path = "/auction", asyncapi = true, emits = ["price": Price])]
//! impl Auction {
//!     #[on_event("bid")]
//!     async fn bid(&self, bid: Bid) -> Json<Price> {
//!         Json(Price { price: bid.amount })
//!     }
//! }
//!
//! let api = AsyncApi::new("Auctions", "1.0.0")
//!     .server("local", "127.0.0.1:3000", "ws")
//!     .controller::<Auction>();
//! let document = api.to_json();
//! assert_eq!(document["channels"]["Auction"]["address"], "/auction");
//! // Served next to the controllers:
//! let app: axum::Router = Auction.into_router().merge(api.into_router("/asyncapi.json"));
//! ```

mod channel;
mod document;

pub use channel::{Channel, DescribeChannel, DescribeReply, PayloadSchema, Reply, SchemaFn};
pub use document::AsyncApi;
