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

struct Loud;

// zlib has no level 10.
#[ws_controller(path = "/loud", compression = on, compression_level = 10)]
impl Loud {
    #[on_text]
    async fn text(&self, text: String) -> String {
        text
    }
}

struct Plain;

// A level with compression off would change nothing.
#[ws_controller(path = "/plain", compression_level = 1)]
impl Plain {
    #[on_text]
    async fn text(&self, text: String) -> String {
        text
    }
}

fn main() {}
