use ws_controller::ws_controller;

struct Echo;

#[ws_controller(path = "/echo", max_message_size = 0, send_queue = 0)]
impl Echo {
    #[on_text]
    async fn said(&self, text: String) -> String {
        text
    }
}

fn main() {}
