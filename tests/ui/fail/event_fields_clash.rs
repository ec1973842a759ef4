use ws_controller::ws_controller;

struct Auction;

#[ws_controller(path = "/auction", event_field = "data", id_field = "")]
impl Auction {
    #[on_event("bid")]
    async fn bid(&self, _amount: u64) {}
}

fn main() {}
