//! Doc comments, lint attributes and `#[tracing::instrument]` stay on the methods.
#![deny(warnings)]

use ws_controller::ws_controller;

struct Echo {
    name: String,
}

#[ws_controller(path = "/echo")]
impl Echo {
    /// Echoes the text.
    #[on_text]
    #[allow(clippy::needless_pass_by_value)]
    #[tracing::instrument(skip(self))]
    async fn said(&self, text: String) -> String {
        tracing::info!("said");
        #[allow(unused_variables)]
        let unused = 1;
        text
    }

    /// A helper that is not a handler keeps its attributes too.
    #[inline]
    #[must_use]
    fn name(&self) -> &str {
        &self.name
    }

    #[on_binary]
    #[cfg_attr(test, allow(dead_code))]
    #[doc(alias = "bytes")]
    async fn data(&self, data: Vec<u8>) -> Vec<u8> {
        data
    }
}

fn main() {
    let echo = Echo { name: "e".into() };
    assert_eq!(echo.name(), "e");
    let _app: axum::Router = echo.into_router();
}
