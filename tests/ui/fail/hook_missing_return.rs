use http::request::Parts;
use ws_controller::{ws_controller, Error};

struct Echo;

#[ws_controller(path = "/echo")]
impl Echo {
    #[on_text]
    async fn said(&self, text: String) -> String {
        text
    }

    #[upgrade_headers]
    fn headers(&self, _request: &Parts) {}

    #[on_error]
    fn error(&self, _request: &Parts, _error: &Error) -> bool {
        true
    }
}

fn main() {}
