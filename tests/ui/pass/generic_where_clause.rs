//! A controller generic over its store, with a `where` clause, and extractors that read the
//! router state.
use std::marker::PhantomData;
use std::sync::Mutex;

use axum::extract::{FromRef, State};
use ws_controller::{ws_controller, Error};

trait Store: Send + Sync + 'static {
    fn put(&self, value: String);
}

#[derive(Default)]
struct Memory(Mutex<Vec<String>>);

impl Store for Memory {
    fn put(&self, value: String) {
        self.0.lock().unwrap().push(value);
    }
}

#[derive(Clone)]
struct Prefix(String);

#[derive(Clone)]
struct AppState {
    prefix: Prefix,
}

impl FromRef<AppState> for Prefix {
    fn from_ref(state: &AppState) -> Self {
        state.prefix.clone()
    }
}

struct Keeper<S, T = ()> {
    store: S,
    _marker: PhantomData<fn() -> T>,
}

#[ws_controller(path = "/keep")]
impl<S, T> Keeper<S, T>
where
    S: Store,
    T: 'static,
{
    #[on_open]
    async fn open(&self, State(prefix): State<Prefix>) -> Result<String, Error> {
        Ok(prefix.0)
    }

    #[on_text]
    async fn said(&self, prefix: &mut String, text: String) {
        self.store.put(format!("{prefix}{text}"));
    }
}

fn main() {
    let keeper: Keeper<Memory> = Keeper {
        store: Memory::default(),
        _marker: PhantomData,
    };
    let _app: axum::Router = axum::Router::new()
        .merge(keeper.into_router())
        .with_state(AppState {
            prefix: Prefix("> ".into()),
        });
    assert_eq!(Keeper::<Memory>::PATH, "/keep");
}
