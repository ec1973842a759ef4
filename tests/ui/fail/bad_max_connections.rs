use ws_controller::ws_controller;

struct Echo;

#[ws_controller(
    path = "/echo",
    max_connections = 0,
    max_connections_per_client = "8",
)]
impl Echo {
    #[on_text]
    async fn said(&self, text: String) -> String {
        text
    }
}

struct Feed;

#[ws_controller(path = "/feed", max_connections = 10_000u32, max_connections_per_client = -1)]
impl Feed {
    #[on_text]
    async fn said(&self, text: String) -> String {
        text
    }
}

fn main() {}
