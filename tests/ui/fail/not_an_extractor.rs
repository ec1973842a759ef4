use ws_controller::ws_controller;

#[derive(Clone)]
struct Db;

struct Echo;

#[ws_controller(path = "/echo")]
impl Echo {
    #[on_json]
    async fn said(&self, db: Db, n: u32) -> String {
        let _ = db;
        n.to_string()
    }
}

fn main() {
    let _: axum::Router = Echo.into_router();
}
