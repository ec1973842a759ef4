use ws_controller::ws_controller;

struct Echo;

#[ws_controller(path = "/echo")]
impl Echo {
    #[on_txt]
    async fn said(&self, text: String) -> String {
        text
    }

    #[on_binary]
    async fn data(&self, data: Vec<u8>) -> Vec<u8> {
        data
    }

    #[on_message]
    async fn other(&self, text: String) -> String {
        text
    }
}

fn main() {}
