use ws_controller::ws_controller;

struct Bidder {
    name: String,
}

struct Auction;

#[ws_controller(path = "/auction")]
impl Auction {
    #[on_open]
    async fn open(&self) -> Bidder {
        Bidder { name: "ann".into() }
    }

    #[on_event("bid")]
    async fn bid(&self, bidder: &mut Bidder, amount: u64) {
        let _ = (&bidder.name, amount);
    }
}

fn main() {}
