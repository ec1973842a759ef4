use ws_controller::ws_controller;

#[derive(serde::Serialize, schemars::JsonSchema)]
struct Price {
    price: u64,
}

struct Auction;

#[ws_controller(path = "/auction", asyncapi = true, emits = [Price, "price": Price, "price": Price])]
impl Auction {
    #[on_event("bid")]
    async fn bid(&self, _amount: u64) {}
}

fn main() {}
