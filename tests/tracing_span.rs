//! The connection's `ws` span is a child of the upgrade request's span, so what a
//! request-level layer recorded (a `TraceLayer`'s request id) follows the connection's
//! events. Checked with a subscriber layer that records each span's parent and each
//! event's scope (the test's runtime has one thread, where the subscriber is the default).

mod common;

use std::sync::{Arc, Mutex};

use axum::extract::Request;
use axum::middleware::Next;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::{Event, Instrument, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use ws_controller::{Conn, Controller, Error};

use common::*;

/// A span's name and its parent's.
type SpanParent = (String, Option<String>);
/// An event's message and the names of its spans, from the innermost out.
type EventScope = (String, Vec<String>);

#[derive(Clone, Default)]
struct Recorded {
    spans: Arc<Mutex<Vec<SpanParent>>>,
    events: Arc<Mutex<Vec<EventScope>>>,
}

struct Message(String);

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Recorded {
    fn on_new_span(&self, _: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let span = ctx.span(id).expect("a new span is registered");
        let parent = span.parent().map(|p| p.name().to_owned());
        self.spans
            .lock()
            .unwrap()
            .push((span.name().to_owned(), parent));
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut message = Message(String::new());
        event.record(&mut message);
        let scope = ctx
            .event_scope(event)
            .map(|scope| scope.map(|span| span.name().to_owned()).collect())
            .unwrap_or_default();
        self.events.lock().unwrap().push((message.0, scope));
    }
}

struct Echo;

impl Controller for Echo {
    type Extract = ();

    async fn serve(&self, mut conn: Conn, _: ()) -> Result<(), Error> {
        let message = conn.recv().await?;
        tracing::info!("handled");
        conn.send(message).await?;
        Ok(())
    }
}

#[tokio::test]
async fn the_connection_span_is_a_child_of_the_request_span() {
    let recorded = Recorded::default();
    let subscriber = tracing_subscriber::registry().with(recorded.clone());
    let _default = tracing::subscriber::set_default(subscriber);

    // What `tower_http::trace::TraceLayer` does: a span around each request.
    let app = ws_controller::route("/ws", Echo).layer(axum::middleware::from_fn(
        |request: Request, next: Next| async move {
            next.run(request)
                .instrument(tracing::info_span!("request", id = 7))
                .await
        },
    ));
    let (app, mut done) = with_done_signal(app);
    let addr = spawn_server(app).await;
    let mut ws = connect(addr, "/ws").await;
    send_text(&mut ws, "hello").await;
    assert_eq!(recv_text(&mut ws).await, "hello");
    assert_eq!(expect_close(&mut ws).await.0, 1000);
    next_event(&mut done).await;

    let spans = recorded.spans.lock().unwrap().clone();
    assert!(
        spans.contains(&("ws".to_owned(), Some("request".to_owned()))),
        "spans: {spans:?}"
    );
    let events = recorded.events.lock().unwrap().clone();
    let scope_of = |message: &str| {
        events
            .iter()
            .find(|(m, _)| m == message)
            .map(|(_, scope)| scope.clone())
            .unwrap_or_else(|| panic!("no event {message:?} in {events:?}"))
    };
    assert_eq!(scope_of("handled"), ["ws", "request"]);
    assert_eq!(scope_of("connection closed"), ["ws", "request"]);
}
