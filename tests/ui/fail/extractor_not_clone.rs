use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use ws_controller::ws_controller;

/// An extractor that is not `Clone`.
struct Token(String);

impl<S: Send + Sync> FromRequestParts<S> for Token {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(_: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Token(String::new()))
    }
}

#[derive(Clone, serde::Deserialize)]
struct Q {
    n: u32,
}

struct Echo;

#[ws_controller(path = "/echo")]
impl Echo {
    #[on_text]
    async fn said(&self, token: Token, Query(q): Query<Q>, text: String) -> String {
        format!("{}{}{text}", token.0, q.n)
    }
}

fn main() {}
