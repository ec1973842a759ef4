use ws_controller::ws_controller;

struct Bid {
    amount: u64,
}

struct Auction;

#[ws_controller(path = "/auction")]
impl Auction {
    #[on_event("bid")]
    async fn bid(&self, bid: Bid) {
        let _ = bid.amount;
    }
}

fn main() {}
