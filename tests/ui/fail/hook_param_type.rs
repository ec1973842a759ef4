use ws_controller::ws_controller;

struct Echo;

#[ws_controller(path = "/echo")]
impl Echo {
    #[on_text]
    async fn said(&self, text: String) -> String {
        text
    }

    #[check_origin]
    fn origin(&self, origin: &str) -> bool {
        origin.starts_with("https://")
    }
}

fn main() {}
