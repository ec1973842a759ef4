use ws_controller::ws_controller;

#[derive(serde::Serialize)]
struct Price {
    price: u64,
}

struct Auction;

#[ws_controller(path = "/auction", emits = ["price": Price])]
impl Auction {
    #[on_event("bid")]
    async fn bid(&self, _amount: u64) {}
}

fn main() {}
