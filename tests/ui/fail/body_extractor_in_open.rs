use axum::Json;
use ws_controller::{ws_controller, Error};

#[derive(serde::Deserialize)]
struct Login {
    name: String,
}

struct Lobby;

#[ws_controller(path = "/lobby")]
impl Lobby {
    #[on_open]
    async fn open(&self, body: String, Json(login): Json<Login>) -> Result<String, Error> {
        let _ = body;
        Ok(login.name)
    }

    #[on_text]
    async fn said(&self, name: &mut String, text: String) -> String {
        format!("{name}: {text}")
    }
}

fn main() {}
