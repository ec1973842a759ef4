//! The serve driver's closing rules over real TCP: what the client sees and what the error
//! hook receives when `serve` returns, fails, panics, or the peer closes or vanishes; and the
//! close-error classification helpers.

mod common;

use std::fmt;
use std::time::Duration;

use ws_controller::{
    close_status, is_close_error, CloseCode, CloseError, CloseStatus, Conn, ConnError, Error,
    ErrorKind, Settings,
};

use common::*;

fn quiet() -> Settings {
    Settings::default().ping_interval(None).idle_timeout(None)
}

async fn recv_forever(mut conn: Conn) -> Result<(), Error> {
    loop {
        let message = conn.recv().await?;
        conn.send(message).await?;
    }
}

fn hook(kind: ErrorKind, message: &str) -> (ErrorKind, String) {
    (kind, message.to_owned())
}

fn kinds(calls: &[HookCall]) -> Vec<(ErrorKind, String)> {
    calls.iter().map(|c| (c.kind, c.message.clone())).collect()
}

// ---------------------------------------------------------------------------------------
// serve returns
// ---------------------------------------------------------------------------------------

/// Goyave's normal-closure test.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ok_closes_1000_without_calling_the_hook() {
    let mut server = serve_script(quiet(), |conn: Conn| async move {
        conn.send_text("done").await?;
        Ok(())
    })
    .await;
    let mut ws = connect(server.addr, "/ws").await;
    assert_eq!(recv_text(&mut ws).await, "done");
    assert_eq!(
        expect_close(&mut ws).await,
        (1000, "Server closed connection".into())
    );
    assert_eq!(server.finished().await, []);
}

/// Goyave's normal-error test.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_calls_the_hook_once_then_closes_1011() {
    let mut server = serve_script(quiet(), |mut conn: Conn| async move {
        conn.recv().await?;
        Err(Error::msg("database unavailable"))
    })
    .await;
    let mut ws = connect(server.addr, "/ws").await;
    send_text(&mut ws, "go").await;
    assert_eq!(
        expect_close(&mut ws).await,
        (1011, "Internal Server Error".into())
    );
    let calls = server.finished().await;
    assert_eq!(
        kinds(&calls),
        [hook(ErrorKind::Handler, "database unavailable")]
    );
    assert_eq!(calls[0].backtrace, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_text_is_the_close_reason_in_debug() {
    let mut server = serve_script(quiet().debug(true), |_conn: Conn| async move {
        let io: Result<(), std::io::Error> = Err(std::io::Error::other("disk on fire"));
        io?;
        Ok(())
    })
    .await;
    let mut ws = connect(server.addr, "/ws").await;
    assert_eq!(expect_close(&mut ws).await, (1011, "disk on fire".into()));
    assert_eq!(
        kinds(&server.finished().await),
        [hook(ErrorKind::Handler, "disk on fire")]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_clean_close_does_not_call_the_hook() {
    for code in [1000u16, 1001] {
        let mut server = serve_script(quiet(), recv_forever).await;
        let mut ws = connect(server.addr, "/ws").await;
        assert_eq!(
            client_close(&mut ws, code, "bye").await,
            (code, "bye".into())
        );
        assert_eq!(server.finished().await, [], "code {code}");
    }
    // 1005: a close frame without a status.
    let mut server = serve_script(quiet(), recv_forever).await;
    let (_, mut raw) = raw_upgrade(server.addr, &Req::upgrade("/ws")).await;
    raw.send_frame(&client_frame(OP_CLOSE, b"")).await;
    let frames = raw.read_until_eof().await;
    assert_eq!(frames.len(), 1, "{frames:?}");
    assert_eq!(frames[0].close(), (1005, String::new()));
    assert_eq!(server.finished().await, []);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_close_with_another_code_reaches_the_hook() {
    let mut server = serve_script(quiet(), recv_forever).await;
    let mut ws = connect(server.addr, "/ws").await;
    assert_eq!(
        client_close(&mut ws, 4001, "custom").await,
        (4001, "custom".into())
    );
    assert_eq!(
        kinds(&server.finished().await),
        [hook(
            ErrorKind::PeerClosed,
            "connection closed with 4001: custom"
        )]
    );
}

/// A close error wrapped in an application error is still an orderly ending.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrapped_clean_close_does_not_call_the_hook() {
    let mut server = serve_script(quiet(), |mut conn: Conn| async move {
        match conn.recv().await {
            Ok(_) => Ok(()),
            Err(err) => Err(Error::new(AppError(err))),
        }
    })
    .await;
    let mut ws = connect(server.addr, "/ws").await;
    assert_eq!(client_close(&mut ws, 1001, "").await, (1001, String::new()));
    assert_eq!(server.finished().await, []);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vanished_peer_reaches_the_hook_as_peer_gone() {
    let mut server = serve_script(quiet(), recv_forever).await;
    let (_, raw) = raw_upgrade(server.addr, &Req::upgrade("/ws")).await;
    drop(raw);
    let calls = server.finished().await;
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].kind, ErrorKind::PeerGone);
    assert!(
        calls[0]
            .message
            .starts_with("peer went away without a close frame"),
        "{calls:?}"
    );
}

// ---------------------------------------------------------------------------------------
// Panics
// ---------------------------------------------------------------------------------------

/// Goyave's recovery test: a panic before the first await and one after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panic_closes_1011_and_reaches_the_hook() {
    let mut server = serve_script(quiet(), |mut conn: Conn| async move {
        if conn.uri().query() == Some("early") {
            panic!("early boom");
        }
        let message = conn.recv().await?;
        panic!("late boom after {:?}", message.as_text().unwrap_or(""));
    })
    .await;

    let mut ws = connect(server.addr, "/ws?early").await;
    assert_eq!(
        expect_close(&mut ws).await,
        (1011, "Internal Server Error".into())
    );
    let calls = server.finished().await;
    assert_eq!(kinds(&calls), [hook(ErrorKind::Panic, "panic: early boom")]);
    assert_eq!(calls[0].backtrace, None, "no backtrace without debug");

    let mut ws = connect(server.addr, "/ws?late").await;
    send_text(&mut ws, "trigger").await;
    assert_eq!(
        expect_close(&mut ws).await,
        (1011, "Internal Server Error".into())
    );
    let calls = server.finished().await;
    assert_eq!(
        kinds(&calls),
        [hook(ErrorKind::Panic, "panic: late boom after \"trigger\"")]
    );
    assert_eq!(calls[0].backtrace, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panic_in_debug_sends_the_message_and_captures_the_panic_site() {
    let mut server = serve_script(quiet().debug(true), |mut conn: Conn| async move {
        if conn.uri().query() == Some("early") {
            panic!("early boom");
        }
        conn.recv().await?;
        tokio::task::yield_now().await;
        panic!("late boom");
    })
    .await;
    for (query, message) in [("early", "panic: early boom"), ("late", "panic: late boom")] {
        let mut ws = connect(server.addr, &format!("/ws?{query}")).await;
        send_text(&mut ws, "trigger").await;
        assert_eq!(expect_close(&mut ws).await, (1011, message.into()));
        let calls = server.finished().await;
        assert_eq!(kinds(&calls), [hook(ErrorKind::Panic, message)]);
        let backtrace = calls[0].backtrace.as_deref().expect("backtrace in debug");
        // Captured where the panic happened, not where it was caught.
        assert!(
            backtrace.contains("runtime_serve.rs"),
            "backtrace does not show the panic site:\n{backtrace}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_string_panic_payload() {
    let mut server = serve_script(quiet(), |_conn: Conn| async move {
        std::panic::panic_any(42u32);
    })
    .await;
    let mut ws = connect(server.addr, "/ws").await;
    assert_eq!(
        expect_close(&mut ws).await,
        (1011, "Internal Server Error".into())
    );
    assert_eq!(
        kinds(&server.finished().await),
        [hook(ErrorKind::Panic, "panic: non-string panic payload")]
    );
}

/// Goyave's custom error handler test, with a handler that panics itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panicking_error_hook_is_contained() {
    let mut server = serve_script_with(quiet(), true, |conn: Conn| async move {
        if conn.uri().query() == Some("fail") {
            return Err(Error::msg("handler failed"));
        }
        recv_forever(conn).await
    })
    .await;
    let mut ws = connect(server.addr, "/ws?fail").await;
    assert_eq!(
        expect_close(&mut ws).await,
        (1011, "Internal Server Error".into())
    );
    assert_eq!(
        kinds(&server.finished().await),
        [hook(ErrorKind::Handler, "handler failed")]
    );
    // The server still serves.
    let mut ws = connect(server.addr, "/ws").await;
    send_text(&mut ws, "alive").await;
    assert_eq!(recv_text(&mut ws).await, "alive");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_connections_survive_a_panicking_one() {
    let mut server = serve_script(quiet(), |mut conn: Conn| async move {
        loop {
            let message = conn.recv().await?;
            if message.as_text() == Some("panic") {
                panic!("requested");
            }
            conn.send(message).await?;
        }
    })
    .await;
    let mut healthy = connect(server.addr, "/ws").await;
    let mut doomed = connect(server.addr, "/ws").await;
    send_text(&mut healthy, "before").await;
    assert_eq!(recv_text(&mut healthy).await, "before");
    send_text(&mut doomed, "panic").await;
    assert_eq!(
        expect_close(&mut doomed).await,
        (1011, "Internal Server Error".into())
    );
    assert_eq!(
        kinds(&server.finished().await),
        [hook(ErrorKind::Panic, "panic: requested")]
    );
    send_text(&mut healthy, "after").await;
    assert_eq!(recv_text(&mut healthy).await, "after");
    let mut fresh = connect(server.addr, "/ws").await;
    send_text(&mut fresh, "fresh").await;
    assert_eq!(recv_text(&mut fresh).await, "fresh");
}

/// A controller that keeps running after its connection is gone is not affected either: the
/// hook runs only when serve ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hook_runs_only_after_serve_ends() {
    let (tx, mut events) = tokio::sync::mpsc::unbounded_channel();
    let mut server = serve_script(quiet(), move |mut conn: Conn| {
        let tx = tx.clone();
        async move {
            let err = conn.recv().await.expect_err("peer closed");
            let _ = tx.send(());
            tokio::time::sleep(Duration::from_millis(100)).await;
            Err(Error::new(err))
        }
    })
    .await;
    let mut ws = connect(server.addr, "/ws").await;
    assert_eq!(client_close(&mut ws, 4002, "x").await, (4002, "x".into()));
    next_event(&mut events).await;
    assert_no_event(&mut server.hook);
    assert_eq!(
        kinds(&server.finished().await),
        [hook(
            ErrorKind::PeerClosed,
            "connection closed with 4002: x"
        )]
    );
}

// ---------------------------------------------------------------------------------------
// Close-error classification
// ---------------------------------------------------------------------------------------

#[derive(Debug)]
struct AppError(ConnError);

impl fmt::Display for AppError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "app failed")
    }
}

impl std::error::Error for AppError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

#[derive(Debug)]
struct Outer(Box<dyn std::error::Error + Send + Sync>);

impl fmt::Display for Outer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "outer")
    }
}

impl std::error::Error for Outer {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.0)
    }
}

#[test]
fn is_close_error_and_close_status_table() {
    let code = |n| CloseStatus::from(CloseCode::new(n).unwrap());
    let cases = [
        (code(1000), true),
        (code(1001), true),
        (CloseStatus::NoStatusReceived, true),
        (CloseStatus::Abnormal, false),
        (CloseStatus::TlsHandshake, false),
        (code(1002), false),
        (code(1003), false),
        (code(1007), false),
        (code(1008), false),
        (code(1009), false),
        (code(1011), false),
        (code(1012), false),
        (code(3000), false),
        (code(4000), false),
    ];
    for (status, clean) in cases {
        let close = CloseError::new(status, "r");
        assert_eq!(is_close_error(&close), clean, "CloseError {status}");
        assert_eq!(close_status(&close), Some(status));

        let conn = ConnError::Closed(close.clone());
        assert_eq!(is_close_error(&conn), clean, "ConnError {status}");
        assert_eq!(close_status(&conn), Some(status));

        let error = Error::new(ConnError::Closed(close.clone()));
        assert_eq!(is_close_error(&error), clean, "Error {status}");
        assert_eq!(close_status(&error), Some(status));

        let app = AppError(ConnError::Closed(close.clone()));
        assert_eq!(is_close_error(&app), clean, "AppError {status}");
        assert_eq!(close_status(&app), Some(status));

        let nested = Error::new(Outer(Box::new(AppError(ConnError::Closed(close)))));
        assert_eq!(is_close_error(&nested), clean, "nested {status}");
        assert_eq!(close_status(&nested), Some(status));

        let dynamic: Box<dyn std::error::Error + Send + Sync> =
            Box::new(CloseError::new(status, ""));
        assert_eq!(is_close_error(&*dynamic), clean, "dyn {status}");
    }

    for other in [
        Error::msg("plain"),
        Error::new(std::io::Error::other("io")),
        Error::new(ConnError::InvalidUtf8),
        Error::new(ConnError::PeerGone(None)),
        Error::new(ConnError::MessageTooBig { limit: 1 }),
    ] {
        assert!(!is_close_error(&other), "{other}");
        assert_eq!(close_status(&other), None, "{other}");
    }
}

#[test]
fn error_kinds_follow_the_wrapped_error() {
    let closed = |status: CloseStatus| ConnError::Closed(CloseError::new(status, ""));
    let code = |n| CloseStatus::from(CloseCode::new(n).unwrap());
    let cases = [
        (Error::msg("x"), ErrorKind::Handler),
        (Error::new(std::io::Error::other("x")), ErrorKind::Handler),
        (Error::new(ConnError::PeerGone(None)), ErrorKind::PeerGone),
        (
            Error::new(closed(CloseStatus::Abnormal)),
            ErrorKind::PeerGone,
        ),
        (
            Error::new(ConnError::MessageTooBig { limit: 1 }),
            ErrorKind::PeerViolation,
        ),
        (Error::new(ConnError::InvalidUtf8), ErrorKind::PeerViolation),
        (
            Error::new(ConnError::Protocol("x".into())),
            ErrorKind::PeerViolation,
        ),
        (
            Error::new(ConnError::UnexpectedMessage),
            ErrorKind::PeerViolation,
        ),
        (Error::new(closed(code(4000))), ErrorKind::PeerClosed),
        (Error::new(closed(code(1011))), ErrorKind::PeerClosed),
    ];
    for (error, kind) in cases {
        assert_eq!(error.kind(), kind, "{error}");
        assert_eq!(error.backtrace(), None);
    }
}
