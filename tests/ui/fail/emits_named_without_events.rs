use ws_controller::ws_controller;

#[derive(serde::Serialize, schemars::JsonSchema)]
struct Update {
    n: u64,
}

struct Feed;

#[ws_controller(path = "/feed", asyncapi = true, emits = ["update": Update])]
impl Feed {
    #[on_text]
    async fn said(&self, text: String) -> String {
        text
    }
}

fn main() {}
