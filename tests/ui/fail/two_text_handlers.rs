use ws_controller::ws_controller;

struct Echo;

#[ws_controller(path = "/echo")]
impl Echo {
    #[on_text]
    async fn said(&self, text: String) -> String {
        text
    }

    #[on_json]
    async fn command(&self, value: serde_json::Value) -> String {
        value.to_string()
    }
}

fn main() {}
