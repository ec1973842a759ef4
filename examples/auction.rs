//! A live auction with event handlers: `/auction/{lot}?name=NAME`.
//!
//! ```text
//! ADDR=127.0.0.1:3000 cargo run --example auction
//! ```
//!
//! The wire is the crate's event protocol (JSON text):
//!
//! ```text
//! <- {"event":"state","data":{"lot":"vase","price":0,"leader":null}}     on connect
//! -> {"event":"bid","data":{"amount":5},"id":1}
//! <- {"event":"price","data":{"price":5,"leader":"ann"}}                to every bidder on the lot
//! <- {"event":"bid","id":1,"data":{"accepted":true,"price":5}}          the reply
//! ```
//!
//! A bid is accepted when it exceeds the lot's price. The AsyncAPI document of the protocol is
//! served at <http://127.0.0.1:3000/asyncapi.json>.

use std::collections::HashMap;
use std::sync::Mutex;

use axum::extract::{Path, Query};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use ws_controller::asyncapi::AsyncApi;
use ws_controller::{ws_controller, Conn, Error, Hub, Json, Shutdown};

/// The auction house: every lot's price and leader, and the hub of its bidders.
struct Auction {
    hub: Hub,
    lots: Mutex<HashMap<String, Lot>>,
}

#[derive(Clone, Default)]
struct Lot {
    price: u64,
    leader: Option<String>,
}

#[derive(Deserialize)]
struct Join {
    name: String,
}

/// Who a connection is; also attached to the connection, for the hub's queries.
#[derive(Clone)]
struct Bidder {
    lot: String,
    name: String,
}

#[derive(Deserialize, JsonSchema)]
struct Bid {
    amount: u64,
}

#[derive(Serialize, JsonSchema)]
struct BidResult {
    accepted: bool,
    price: u64,
}

/// Pushed on connect.
#[derive(Serialize, JsonSchema)]
struct LotState {
    lot: String,
    price: u64,
    leader: Option<String>,
}

/// Pushed to every bidder on the lot when a bid is accepted.
#[derive(Serialize, JsonSchema)]
struct Price {
    price: u64,
    leader: String,
}

#[ws_controller(
    path = "/auction/{lot}",
    asyncapi = true,
    emits = ["state": LotState, "price": Price],
)]
impl Auction {
    #[hub]
    fn hub(&self) -> &Hub {
        &self.hub
    }

    /// Joins the lot's room and pushes the lot's state; without `?name=` the upgrade is a 400.
    #[on_open]
    async fn open(
        &self,
        conn: &Conn,
        Path(lot): Path<String>,
        Query(join): Query<Join>,
    ) -> Result<Bidder, Error> {
        let state = self.lot(&lot);
        self.hub.join(conn.id(), &lot).await;
        let bidder = Bidder {
            lot: lot.clone(),
            name: join.name,
        };
        conn.insert(bidder.clone());
        let state = LotState {
            lot,
            price: state.price,
            leader: state.leader,
        };
        conn.emit("state", &state).await?;
        Ok(bidder)
    }

    /// Accepted when it exceeds the price; then everyone on the lot hears the new price.
    #[on_event("bid")]
    async fn bid(&self, bidder: &mut Bidder, bid: Bid) -> Result<Json<BidResult>, Error> {
        let (accepted, price) = {
            let mut lots = self.lots.lock().unwrap_or_else(|e| e.into_inner());
            let lot = lots.entry(bidder.lot.clone()).or_default();
            if bid.amount > lot.price {
                lot.price = bid.amount;
                lot.leader = Some(bidder.name.clone());
                (true, bid.amount)
            } else {
                (false, lot.price)
            }
        };
        if accepted {
            let push = Price {
                price,
                leader: bidder.name.clone(),
            };
            self.hub.emit_room(&bidder.lot, "price", &push).await?;
        }
        Ok(Json(BidResult { accepted, price }))
    }
}

impl Auction {
    fn new(hub: Hub) -> Self {
        Self {
            hub,
            lots: Mutex::default(),
        }
    }

    fn lot(&self, lot: &str) -> Lot {
        let lots = self.lots.lock().unwrap_or_else(|e| e.into_inner());
        lots.get(lot).cloned().unwrap_or_default()
    }
}

/// The AsyncAPI document of the auction's protocol.
pub fn api() -> AsyncApi {
    AsyncApi::new("Auction", "1.0.0")
        .description("Live bidding on lots: `bid` events, `state` and `price` pushes.")
        .server("local", "127.0.0.1:3000", "ws")
        .controller::<Auction>()
}

/// The auction's routes: the controller and its AsyncAPI document.
pub fn app(hub: Hub) -> axum::Router {
    Auction::new(hub)
        .into_router()
        .merge(api().into_router("/asyncapi.json"))
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let hub = Hub::new();
    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:3000".to_owned());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    tracing::info!(
        "auction on ws://{}/auction/{{lot}}?name=NAME",
        listener.local_addr()?
    );
    let signal = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    ws_controller::serve(listener, app(hub.clone()))
        .with_graceful_shutdown(hub.graceful(signal, Shutdown::default()))
        .await
}
