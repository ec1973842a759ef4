use ws_controller::ws_controller;

struct Echo;

#[ws_controller(path = "/echo", asyncapi = yes, emits = "price")]
impl Echo {
    #[on_text]
    async fn said(&self, text: String) -> String {
        text
    }
}

fn main() {}
