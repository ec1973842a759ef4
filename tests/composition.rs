//! A controller's router composes like any axum router: `nest`, `merge`, `with_state` and
//! tower layers (what middleware inserts reaches the connection).

use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use ws_controller::test::TestServer;
use ws_controller::{CloseCode, Conn, Controller, Error};

#[derive(Clone)]
struct AppState {
    greeting: &'static str,
}

/// Who the middleware said the user is.
#[derive(Clone)]
struct User(&'static str);

/// Greets with the router state and the user the middleware found, then closes.
struct Greeter;

impl Controller<AppState> for Greeter {
    type Extract = (State<AppState>,);

    async fn serve(&self, conn: Conn, (State(state),): Self::Extract) -> Result<(), Error> {
        let user = conn.extensions().get::<User>().map_or("nobody", |u| u.0);
        conn.send_text(format!(
            "{} {user} at {}",
            state.greeting,
            conn.uri().path()
        ))
        .await?;
        Ok(())
    }
}

async fn authenticate(mut request: Request, next: Next) -> Response {
    request.extensions_mut().insert(User("ada"));
    next.run(request).await
}

#[tokio::test]
async fn nest_layers_and_state_compose() {
    let api = axum::Router::new()
        .merge(ws_controller::route("/greet", Greeter))
        .route("/health", get(|| async { "ok" }))
        .layer(middleware::from_fn(authenticate));
    let app = axum::Router::new()
        .nest("/api", api)
        .with_state(AppState { greeting: "hello" });

    let server = TestServer::new(app);
    let mut client = server.connect("/api/greet").await.unwrap();
    // As for any axum handler inside `nest`, the URI is the one the nested router sees.
    assert_eq!(client.recv_text().await.unwrap(), "hello ada at /greet");
    client
        .expect_close(CloseCode::NORMAL_CLOSURE, "Server closed connection")
        .await;

    // The controller is not reachable outside its nest.
    match server.connect("/greet").await {
        Err(ws_controller::test::TestError::Refused { status, .. }) => {
            assert_eq!(status, http::StatusCode::NOT_FOUND)
        }
        Err(other) => panic!("expected 404, got {other}"),
        Ok(_) => panic!("expected 404, got a connection"),
    }
}
