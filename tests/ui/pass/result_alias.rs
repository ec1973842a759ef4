//! Return types are decided by traits: an alias of `Result` behaves like `Result`.
use ws_controller::{ws_controller, Error, Json};

type AppResult<T> = Result<T, Error>;
type Reply = Option<Json<serde_json::Value>>;

struct Echo;

#[ws_controller(path = "/echo")]
impl Echo {
    #[on_open]
    async fn open(&self) -> AppResult<u64> {
        Ok(0)
    }

    #[on_json]
    async fn command(&self, count: &mut u64, value: serde_json::Value) -> AppResult<Reply> {
        *count += 1;
        Ok(Some(Json(value)))
    }

    #[on_binary]
    async fn data(&self, data: bytes::Bytes) -> Result<bytes::Bytes, std::io::Error> {
        Ok(data)
    }
}

fn main() {
    let _app: axum::Router = Echo.into_router();
}
