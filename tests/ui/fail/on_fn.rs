use ws_controller::ws_controller;

#[ws_controller(path = "/echo")]
async fn echo(text: String) -> String {
    text
}

fn main() {}
