use ws_controller::{ws_controller, Hub};

struct Room {
    hub: Hub,
}

#[ws_controller(path = "/room")]
impl Room {
    #[on_text]
    async fn said(&self, text: String) -> String {
        text
    }

    #[hub]
    fn hub(&self) -> Hub {
        self.hub.clone()
    }
}

fn main() {}
