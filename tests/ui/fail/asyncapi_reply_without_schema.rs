use ws_controller::{ws_controller, Json, Reject};

#[derive(serde::Serialize)]
struct Accepted {
    price: u64,
}

struct Auction;

#[ws_controller(path = "/auction", asyncapi = true)]
impl Auction {
    #[on_event("bid")]
    async fn bid(&self, amount: u64) -> Result<Json<Accepted>, Reject> {
        Ok(Json(Accepted { price: amount }))
    }
}

struct Quote;

// A plain handler's JSON reply is described too.
#[ws_controller(path = "/quote", asyncapi = true)]
impl Quote {
    #[on_text]
    async fn quote(&self, _text: String) -> Json<Accepted> {
        Json(Accepted { price: 1 })
    }
}

fn main() {}
