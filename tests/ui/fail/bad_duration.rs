use ws_controller::ws_controller;

struct Echo;

#[ws_controller(
    path = "/echo",
    close_timeout = "10 seconds",
    ping_interval = "0s",
    idle_timeout = 30
)]
impl Echo {
    #[on_text]
    async fn said(&self, text: String) -> String {
        text
    }
}

fn main() {}
