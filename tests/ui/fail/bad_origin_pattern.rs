use ws_controller::ws_controller;

struct Echo;

#[ws_controller(
    path = "/echo",
    origin = ["https://example.com", "example.com", "https://example.com:99999", "https://a.*.com"]
)]
impl Echo {
    #[on_text]
    async fn said(&self, text: String) -> String {
        text
    }
}

fn main() {}
