//! Catching panics from controller code and, in debug mode, recording where they happened.
//!
//! A backtrace taken where `catch_unwind` returns shows the catch site, not the panic. The
//! panic hook runs on the panicking thread before unwinding, so a chained hook stores the
//! backtrace in a thread-local that the catch site (same thread, same poll) picks up.

use std::any::Any;
use std::backtrace::Backtrace;
use std::cell::RefCell;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Once;
use std::task::{Context, Poll};

use futures_util::FutureExt;

thread_local! {
    static CAPTURE: RefCell<Capture> = const { RefCell::new(Capture { wanted: 0, last: None }) };
}

struct Capture {
    wanted: usize,
    last: Option<String>,
}

static INSTALL: Once = Once::new();

fn install_hook() {
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let recorded = CAPTURE.with(|c| {
                let mut c = c.borrow_mut();
                if c.wanted > 0 {
                    c.last = Some(Backtrace::force_capture().to_string());
                    true
                } else {
                    false
                }
            });
            if !recorded {
                previous(info);
            }
        }));
    });
}

/// The text of a panic payload (`&str` or `String`), or a placeholder.
pub(crate) fn payload_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}

/// Runs `fut`, turning a panic into `Err(payload, backtrace)`. The backtrace is captured only
/// when `backtrace` is true.
///
/// A combinator rather than an `async fn`: an `async fn` stores its argument and the future
/// it awaits separately, which would double the size of every connection's task (the serve
/// future is most of it).
pub(crate) fn catch<F: Future>(fut: F, backtrace: bool) -> Catch<F> {
    if backtrace {
        install_hook();
    }
    Catch { fut, backtrace }
}

pin_project_lite::pin_project! {
    /// The future of [`catch`].
    pub(crate) struct Catch<F> {
        #[pin]
        fut: F,
        backtrace: bool,
    }
}

/// What [`catch`] yields: the output, or the panic payload and (when asked for) backtrace.
pub(crate) type Caught<T> = Result<T, (Box<dyn Any + Send>, Option<String>)>;

impl<F: Future> Future for Catch<F> {
    type Output = Caught<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let backtrace = *this.backtrace;
        let mut fut = this.fut;
        if backtrace {
            CAPTURE.with(|c| c.borrow_mut().wanted += 1);
        }
        let polled = std::panic::catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(cx)));
        let trace = if backtrace {
            CAPTURE.with(|c| {
                let mut c = c.borrow_mut();
                c.wanted -= 1;
                c.last.take()
            })
        } else {
            None
        };
        match polled {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(out)) => Poll::Ready(Ok(out)),
            Err(payload) => Poll::Ready(Err((payload, trace))),
        }
    }
}

/// Runs `fut` and turns a panic inside it into an [`Error`](crate::Error) of kind
/// [`ErrorKind::Panic`](crate::ErrorKind::Panic) carrying the panic message, and a backtrace
/// of the panic site when `backtrace` is true.
///
/// This is how the serve driver contains panics; a hand-written serve loop can use it to run
/// cleanup code after a panicking handler.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let err = ws_controller::catch_panic(async { panic!("boom") }, false).await.unwrap_err();
/// assert_eq!(err.kind(), ws_controller::ErrorKind::Panic);
/// assert_eq!(err.to_string(), "panic: boom");
/// # });
/// ```
pub fn catch_panic<F: Future>(
    fut: F,
    backtrace: bool,
) -> impl Future<Output = Result<F::Output, crate::Error>> {
    catch(fut, backtrace)
        .map(|caught| caught.map_err(|(payload, trace)| crate::Error::from_panic(payload, trace)))
}

/// Runs a synchronous hook, turning a panic into its message.
pub(crate) fn catch_sync<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    std::panic::catch_unwind(AssertUnwindSafe(f)).map_err(|p| payload_message(p.as_ref()))
}
