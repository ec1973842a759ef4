use axum::extract::Path;
use ws_controller::{ws_controller, Conn, Error};

struct Auction;

#[ws_controller(path = "/auction/{lot}")]
impl Auction {
    #[on_open]
    async fn open(&self, Path(lot): Path<String>, conn: &Conn) -> Result<String, Error> {
        let _ = conn;
        Ok(lot)
    }

    #[on_text]
    async fn said(&self, lot: &mut String, text: String) -> String {
        format!("{lot}: {text}")
    }
}

fn main() {}
