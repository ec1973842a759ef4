use ws_controller::ws_controller;

struct Feed;

#[ws_controller(path = "/feed", slow_consumer = drop_oldest)]
impl Feed {
    #[on_text]
    async fn text(&self, text: String) -> String {
        text
    }
}

fn main() {}
