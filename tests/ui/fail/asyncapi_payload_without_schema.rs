use ws_controller::ws_controller;

#[derive(serde::Deserialize)]
struct Bid {
    amount: u64,
}

struct Auction;

#[ws_controller(path = "/auction", asyncapi = true)]
impl Auction {
    #[on_event("bid")]
    async fn bid(&self, bid: Bid) {
        let _ = bid.amount;
    }
}

fn main() {}
