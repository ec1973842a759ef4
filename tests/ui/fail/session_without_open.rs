use ws_controller::ws_controller;

struct Counter;

#[ws_controller(path = "/count")]
impl Counter {
    #[on_text]
    async fn said(&self, count: &mut usize, text: String) -> String {
        *count += 1;
        text
    }
}

fn main() {}
