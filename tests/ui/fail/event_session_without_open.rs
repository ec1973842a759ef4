use ws_controller::ws_controller;

struct Auction;

#[ws_controller(path = "/auction")]
impl Auction {
    #[on_event("bid")]
    async fn bid(&self, _bids: &mut u32, _amount: u64) {}
}

fn main() {}
