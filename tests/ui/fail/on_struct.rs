use ws_controller::ws_controller;

#[ws_controller(path = "/echo")]
struct Echo;

fn main() {}
