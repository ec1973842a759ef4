//! Every form of the origin policy.
use http::request::Parts;
use ws_controller::ws_controller;

macro_rules! echo {
    ($name:ident, $($args:tt)*) => {
        struct $name;

        #[ws_controller($($args)*)]
        impl $name {
            #[on_text]
            async fn said(&self, text: String) -> String {
                text
            }
        }
    };
}

echo!(Default, path = "/default");
echo!(SameHost, path = "/same", origin = same_host);
echo!(Any, path = "/any", origin = any);
echo!(
    List,
    path = "/list",
    origin = [
        "https://example.com",
        "https://*.example.com",
        "http://localhost:3000",
        "http://[::1]:8080"
    ]
);
echo!(Func, path = "/func", origin = checks::trusted);

mod checks {
    pub fn trusted(request: &http::request::Parts) -> bool {
        request.headers.get("origin").is_none()
    }
}

struct Hooked;

#[ws_controller(path = "/hooked")]
impl Hooked {
    #[on_text]
    async fn said(&self, text: String) -> String {
        text
    }

    #[check_origin]
    fn origin(&self, request: &Parts) -> bool {
        request.headers.get("origin").is_some()
    }
}

fn main() {
    let _app: axum::Router = axum::Router::new()
        .merge(Default.into_router())
        .merge(SameHost.into_router())
        .merge(Any.into_router())
        .merge(List.into_router())
        .merge(Func.into_router())
        .merge(Hooked.into_router());
}
