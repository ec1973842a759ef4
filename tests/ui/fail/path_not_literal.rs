use ws_controller::ws_controller;

const PATH: &str = "/echo";

struct Echo;

#[ws_controller(path = PATH)]
impl Echo {
    #[on_text]
    async fn said(&self, text: String) -> String {
        text
    }
}

fn main() {}
