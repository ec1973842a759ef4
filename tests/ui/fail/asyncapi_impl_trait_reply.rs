use ws_controller::{ws_controller, IntoEventReply, IntoReply};

struct Auction;

#[ws_controller(path = "/auction", asyncapi = true)]
impl Auction {
    #[on_event("bid")]
    async fn bid(&self, amount: u64) -> impl IntoEventReply {
        let _ = amount;
    }
}

struct Echo;

#[ws_controller(path = "/echo", asyncapi = true)]
impl Echo {
    #[on_text]
    async fn text(&self, text: String) -> impl IntoReply {
        text
    }
}

fn main() {}
