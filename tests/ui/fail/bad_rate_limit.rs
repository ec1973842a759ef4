use ws_controller::ws_controller;

struct Feed;

#[ws_controller(path = "/feed", rate_limit_messages = 0, rate_limit_action = throttle)]
impl Feed {
    #[on_text]
    async fn text(&self, text: String) -> String {
        text
    }
}

struct Lonely;

// An action without a limit to act on.
#[ws_controller(path = "/lonely", rate_limit_action = drop)]
impl Lonely {
    #[on_text]
    async fn text(&self, text: String) -> String {
        text
    }
}

struct Huge;

#[ws_controller(path = "/huge", rate_limit_messages = 5_000_000_000)]
impl Huge {
    #[on_text]
    async fn text(&self, text: String) -> String {
        text
    }
}

fn main() {}
