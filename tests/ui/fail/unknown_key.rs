use ws_controller::ws_controller;

struct Echo;

#[ws_controller(path = "/echo", max_msg_size = 1024, colour = "blue")]
impl Echo {
    #[on_text]
    async fn said(&self, text: String) -> String {
        text
    }
}

fn main() {}
