use ws_controller::ws_controller;

struct Auction;

#[ws_controller(path = "/auction")]
impl Auction {
    #[on_event("bid")]
    async fn bid(&self, amount: u64) -> u64 {
        amount
    }
}

fn main() {}
