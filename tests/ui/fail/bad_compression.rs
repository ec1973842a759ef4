use ws_controller::ws_controller;

struct Feed;

#[ws_controller(path = "/feed", compression = gzip)]
impl Feed {
    #[on_text]
    async fn text(&self, text: String) -> String {
        text
    }
}

struct Lean;

// A window size only means something with context takeover.
#[ws_controller(path = "/lean", compression = on, compression_window_bits = 10)]
impl Lean {
    #[on_text]
    async fn text(&self, text: String) -> String {
        text
    }
}

struct Tiny;

#[ws_controller(path = "/tiny", compression = context_takeover, compression_window_bits = 8)]
impl Tiny {
    #[on_text]
    async fn text(&self, text: String) -> String {
        text
    }
}

fn main() {}
