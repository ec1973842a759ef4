//! Out of file descriptors for real: `ws_controller::serve`'s accept loop pauses (10 ms,
//! doubling, up to 1 s) instead of spinning on EMFILE, logs the episode once, and serves the
//! client that waited in the listen backlog once descriptors are free again.
//!
//! A test binary of its own: it lowers the process's open-files limit and takes every
//! descriptor left.

mod common;

use std::future::IntoFuture;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

use common::*;

/// The messages of the events logged (on this thread: the runtime has one).
#[derive(Clone, Default)]
struct Messages(Arc<Mutex<Vec<String>>>);

impl Messages {
    fn count(&self, prefix: &str) -> usize {
        let messages = self.0.lock().unwrap();
        messages.iter().filter(|m| m.starts_with(prefix)).count()
    }
}

struct Message<'a>(&'a mut String);

impl Visit for Message<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            *self.0 = format!("{value:?}");
        }
    }
}

impl<S: Subscriber> Layer<S> for Messages {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let mut message = String::new();
        event.record(&mut Message(&mut message));
        self.0.lock().unwrap().push(message);
    }
}

/// Lowers the soft open-files limit to `limit` (so that taking every descriptor is quick).
fn limit_open_files(limit: u64) {
    let mut current = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain libc calls on a valid, initialized struct.
    let set = unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut current);
        current.rlim_cur = limit.min(current.rlim_max);
        libc::setrlimit(libc::RLIMIT_NOFILE, &current)
    };
    assert_eq!(set, 0, "setrlimit");
}

/// Opens `/dev/null` until the process is out of descriptors.
fn take_every_descriptor() -> Vec<std::fs::File> {
    let mut hoard = Vec::new();
    loop {
        match std::fs::File::open("/dev/null") {
            Ok(file) => hoard.push(file),
            Err(err) if err.raw_os_error() == Some(libc::EMFILE) => return hoard,
            Err(err) => panic!("open /dev/null: {err}"),
        }
    }
}

#[test]
fn accept_waits_out_fd_exhaustion_and_then_serves_the_waiting_client() {
    let messages = Messages::default();
    let subscriber = tracing_subscriber::registry().with(messages.clone());
    let _default = tracing::subscriber::set_default(subscriber);
    limit_open_files(256);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = ws_controller::route("/ws", Echo);
        tokio::spawn(ws_controller::serve(listener, app).into_future());

        let mut hoard = take_every_descriptor();
        // One descriptor for the client's socket; none is left for the server's accept.
        hoard.pop();
        let stream = TcpStream::connect(addr).await.expect("connect");
        stream.set_nodelay(true).unwrap();
        tokio::time::sleep(Duration::from_millis(700)).await;
        // Pauses of 10, 20, 40, 80, 160 and 320 ms fit in 700 ms: six or seven tries, where
        // a loop that retried at once would have failed thousands of times.
        let failures = messages.count("accept failed");
        assert!((3..=8).contains(&failures), "{failures} failed accepts");
        assert_eq!(
            messages.count("accept failed (out of file descriptors?)"),
            1
        );

        drop(hoard);
        // The client waited in the backlog: it is accepted and served on that socket.
        let mut raw = RawConn {
            stream,
            buf: Vec::new(),
        };
        raw.write(&Req::upgrade("/ws").to_bytes()).await;
        assert_eq!(raw.read_response().await.status, 101);
        raw.send_frame(&client_frame(OP_TEXT, b"still here")).await;
        let echo = raw.read_frame().await.expect("the echo");
        assert_eq!(echo.payload, b"still here");
        assert_eq!(messages.count("accepting connections again"), 1);
    });
}
