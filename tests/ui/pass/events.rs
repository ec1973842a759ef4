//! An event controller with every parameter form, custom field names, extractors in every
//! handler, and an AsyncAPI description.
#![deny(warnings)]

use axum::extract::{Path, State};
use ws_controller::asyncapi::{AsyncApi, DescribeChannel};
use ws_controller::{ws_controller, CloseStatus, Conn, Error, Json, Reject};

#[derive(Clone)]
struct Db;

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Bid {
    amount: u64,
}

#[derive(serde::Serialize, schemars::JsonSchema)]
struct Price {
    price: u64,
}

struct Auction;

type Reply<T> = Result<Json<T>, Reject>;

#[ws_controller(
    path = "/auction/{lot}",
    event_field = "topic",
    data_field = "payload",
    id_field = "ref",
    error_field = "err",
    asyncapi = true,
    emits = ["price": Price],
)]
impl Auction {
    #[on_open]
    async fn open(&self, conn: &Conn, Path(lot): Path<String>, State(_db): State<Db>) -> Result<String, Error> {
        conn.emit("price", &Price { price: 0 }).await?;
        Ok(lot)
    }

    #[on_event("bid")]
    async fn bid(&self, conn: &Conn, lot: &mut String, State(_db): State<Db>, bid: Bid) -> Reply<Price> {
        let _ = (conn.id(), lot);
        if bid.amount == 0 {
            return Err(Reject::new("too_low", "bid more"));
        }
        Ok(Json(Price { price: bid.amount }))
    }

    #[on_event("ping")]
    async fn ping(&self) {}

    #[on_event("quote")]
    async fn quote(&self, lot: &mut String) -> Option<Json<String>> {
        Some(Json(lot.clone()))
    }

    #[on_binary]
    async fn raw(&self, data: Vec<u8>) -> Vec<u8> {
        data
    }

    #[on_close]
    async fn left(&self, lot: String, State(_db): State<Db>, status: CloseStatus, reason: &str) {
        let _ = (lot, status, reason);
    }
}

fn main() {
    let _: axum::Router = Auction.into_router().with_state(Db);
    let api = AsyncApi::new("t", "1").controller::<Auction>();
    assert_eq!(<Auction as DescribeChannel>::describe_channel().name(), "Auction");
    let _ = api.to_json();
}
