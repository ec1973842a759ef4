use http::request::Parts;
use ws_controller::ws_controller;

struct Echo;

#[ws_controller(path = "/echo", origin = ["https://example.com"])]
impl Echo {
    #[on_text]
    async fn said(&self, text: String) -> String {
        text
    }

    #[check_origin]
    fn origin(&self, _request: &Parts) -> bool {
        true
    }
}

fn main() {}
