use ws_controller::ws_controller;

struct Auction;

#[ws_controller(path = "/auction")]
impl Auction {
    #[on_event("$joined")]
    async fn joined(&self, _amount: u64) {}
}

fn main() {}
