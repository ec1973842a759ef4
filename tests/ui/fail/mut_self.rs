use ws_controller::ws_controller;

struct Echo {
    count: usize,
}

#[ws_controller(path = "/echo")]
impl Echo {
    #[on_text]
    async fn said(&mut self, text: String) -> String {
        self.count += 1;
        text
    }
}

fn main() {}
