use ws_controller::ws_controller;

struct Echo;

#[ws_controller(path = "/echo", event_field = "topic")]
impl Echo {
    #[on_text]
    async fn said(&self, text: String) -> String {
        text
    }
}

fn main() {}
