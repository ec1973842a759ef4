use ws_controller::{ws_controller, IntoEventReply};

struct Auction;

#[ws_controller(path = "/auction", asyncapi = true)]
impl Auction {
    #[on_event("bid")]
    async fn bid(&self, amount: u64) -> impl IntoEventReply {
        let _ = amount;
    }
}

fn main() {}
