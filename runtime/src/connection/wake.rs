//! Waking a connection's driver: many wakers (senders, the reader, close requests, an
//! abort), one waiter (the driver).
//!
//! A `tokio::sync::Notify` would do, but it locks its waiter list on every notification to
//! a registered waiter and on every registration, which the driver pays twice per message.
//! With a single waiter an atomic flag and an [`AtomicWaker`] are enough.

use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use futures_util::task::AtomicWaker;

#[derive(Default)]
pub(crate) struct DriverWake {
    /// Set by [`DriverWake::wake`], cleared when the driver sees it.
    woken: AtomicBool,
    driver: AtomicWaker,
}

impl DriverWake {
    /// Wakes the driver, or makes its next wait return at once.
    pub(crate) fn wake(&self) {
        self.woken.store(true, Ordering::Release);
        self.driver.wake();
    }

    /// Ready once per [`DriverWake::wake`] (several wake-ups before a poll count as one).
    pub(crate) fn poll_woken(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.take() {
            return Poll::Ready(());
        }
        self.driver.register(cx.waker());
        // A wake-up between the check and the registration found no waker to wake.
        if self.take() {
            return Poll::Ready(());
        }
        Poll::Pending
    }

    fn take(&self) -> bool {
        self.woken.load(Ordering::Relaxed) && self.woken.swap(false, Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::task::Wake;

    #[derive(Default)]
    struct Count(std::sync::atomic::AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn a_wake_up_before_the_wait_is_kept_and_several_count_once() {
        let count = Arc::new(Count::default());
        let waker = std::task::Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        let wake = DriverWake::default();
        assert!(wake.poll_woken(&mut cx).is_pending());
        wake.wake();
        wake.wake();
        assert_eq!(
            count.0.load(Ordering::SeqCst),
            1,
            "the registered waker, once"
        );
        assert!(wake.poll_woken(&mut cx).is_ready());
        assert!(wake.poll_woken(&mut cx).is_pending());
        wake.wake();
        assert_eq!(count.0.load(Ordering::SeqCst), 2);
        assert!(wake.poll_woken(&mut cx).is_ready());
    }
}
