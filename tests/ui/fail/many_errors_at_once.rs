use ws_controller::ws_controller;

struct Echo;

#[ws_controller(path = "echo", debug = yes, send_queue = 0)]
impl Echo {
    #[on_text]
    fn said(&mut self, text: String) -> String {
        text
    }

    #[on_binary]
    async fn data(self, data: Vec<u8>) -> Vec<u8> {
        data
    }
}

fn main() {}
