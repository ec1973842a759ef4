use ws_controller::ws_controller;

struct Chat;

#[ws_controller(path = "/chat/{room}")]
impl Chat {
    #[on_text]
    async fn said(&self, text: String) -> String {
        text
    }
}

fn main() {}
