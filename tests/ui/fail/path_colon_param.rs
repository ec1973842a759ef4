use axum::extract::Path;
use ws_controller::{ws_controller, Error};

struct Chat;

#[ws_controller(path = "/chat/:room/*rest")]
impl Chat {
    #[on_open]
    async fn open(&self, Path(room): Path<(String, String)>) -> Result<String, Error> {
        Ok(room.0)
    }

    #[on_text]
    async fn said(&self, room: &mut String, text: String) -> String {
        format!("{room}: {text}")
    }
}

fn main() {}
