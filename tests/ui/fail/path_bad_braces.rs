use axum::extract::Path;
use ws_controller::{ws_controller, Error};

struct Files;

#[ws_controller(path = "/files/{*rest}/{id}/{1x}/{open")]
impl Files {
    #[on_open]
    async fn open(&self, Path(p): Path<Vec<String>>) -> Result<Vec<String>, Error> {
        Ok(p)
    }

    #[on_text]
    async fn said(&self, text: String) -> String {
        text
    }
}

fn main() {}
