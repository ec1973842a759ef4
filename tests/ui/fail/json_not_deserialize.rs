use ws_controller::ws_controller;

struct Command {
    name: String,
}

struct Echo;

#[ws_controller(path = "/echo")]
impl Echo {
    #[on_json]
    async fn command(&self, command: Command) -> String {
        command.name
    }
}

fn main() {}
