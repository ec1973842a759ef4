use ws_controller::ws_controller;

struct Auction;

#[ws_controller(path = "/auction")]
impl Auction {
    #[on_event("bid")]
    async fn bid(&self, _amount: u64) {}

    #[on_text]
    async fn said(&self, text: String) -> String {
        text
    }
}

fn main() {}
