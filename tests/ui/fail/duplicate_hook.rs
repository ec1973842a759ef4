use http::request::Parts;
use ws_controller::{ws_controller, Error};

struct Echo;

#[ws_controller(path = "/echo")]
impl Echo {
    #[on_text]
    async fn said(&self, text: String) -> String {
        text
    }

    #[on_error]
    fn log(&self, _request: &Parts, _error: &Error) {}

    #[on_error]
    fn log_again(&self, _request: &Parts, _error: &Error) {}
}

fn main() {}
