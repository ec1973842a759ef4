use ws_controller::ws_controller;

struct Auction;

#[ws_controller(path = "/auction")]
impl Auction {
    #[on_event(bid)]
    async fn bid(&self, _amount: u64) {}

    #[on_event()]
    async fn ask(&self, _amount: u64) {}
}

fn main() {}
