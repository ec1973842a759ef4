//! Polling a connection's two halves (the driver and the controller's serve future), which
//! share a task.
//!
//! `tokio::join!` polls each half once per wake-up of the task: a message handed from one
//! half to the other waits for the task's next turn in the scheduler's queue, and every
//! hand-off schedules the task again. Here each half has a waker of its own. A wake-up while
//! the halves are being polled only asks for another round in the same turn, one that comes
//! later wakes the task, and a round polls only the halves that were woken. A reply is then
//! written, and a pipelining peer's next message delivered, within one turn, and the driver
//! is not polled for the controller's wake-ups or the other way round.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use futures_util::task::AtomicWaker;

/// Rounds of the halves in one turn before the task lets others run.
const ROUNDS: usize = 32;

/// Runs `a` and `b` to completion in the current task; see the module docs.
pub(crate) fn together<A: Future, B: Future<Output = ()>>(a: A, b: B) -> Together<A, B> {
    // Both halves are polled on the first poll.
    let a_half = Arc::new(First {
        woken: AtomicBool::new(true),
        polling: AtomicBool::new(false),
        task: AtomicWaker::new(),
    });
    let b_half = Arc::new(Second {
        woken: AtomicBool::new(true),
        first: a_half.clone(),
    });
    Together {
        a,
        a_out: None,
        b,
        b_done: false,
        a_waker: Waker::from(a_half.clone()),
        a_half,
        b_waker: Waker::from(b_half.clone()),
        b_half,
    }
}

/// The first half's waker, which also holds the task's state (one allocation less per
/// connection than a third shared object).
struct First {
    woken: AtomicBool,
    /// The halves are being polled: a wake-up needs no task wake-up.
    polling: AtomicBool,
    task: AtomicWaker,
}

/// The second half's waker.
struct Second {
    woken: AtomicBool,
    first: Arc<First>,
}

/// Notes a half's wake-up, and wakes the task unless the halves are being polled.
fn woken(flag: &AtomicBool, first: &First) {
    flag.store(true, Ordering::SeqCst);
    if !first.polling.load(Ordering::SeqCst) {
        first.task.wake();
    }
}

/// Takes a half's wake-up.
fn take(flag: &AtomicBool) -> bool {
    flag.load(Ordering::SeqCst) && flag.swap(false, Ordering::SeqCst)
}

impl Wake for First {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        woken(&self.woken, self);
    }
}

impl Wake for Second {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        woken(&self.woken, &self.first);
    }
}

pin_project_lite::pin_project! {
    pub(crate) struct Together<A: Future, B> {
        #[pin]
        a: A,
        a_out: Option<A::Output>,
        #[pin]
        b: B,
        b_done: bool,
        a_half: Arc<First>,
        a_waker: Waker,
        b_half: Arc<Second>,
        b_waker: Waker,
    }
}

impl<A: Future, B: Future<Output = ()>> Future for Together<A, B> {
    type Output = (A::Output, ());

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let first = &**this.a_half;
        first.task.register(cx.waker());
        first.polling.store(true, Ordering::SeqCst);
        for _ in 0..ROUNDS {
            // A wake-up is taken even for a half that has finished (a stale waker may still
            // fire), or it would keep the task waking itself.
            let mut woken = false;
            if take(&first.woken) && this.a_out.is_none() {
                woken = true;
                let mut cx = Context::from_waker(this.a_waker);
                if let Poll::Ready(out) = this.a.as_mut().poll(&mut cx) {
                    *this.a_out = Some(out);
                }
            }
            if take(&this.b_half.woken) && !*this.b_done {
                woken = true;
                let mut cx = Context::from_waker(this.b_waker);
                *this.b_done = this.b.as_mut().poll(&mut cx).is_ready();
            }
            if *this.b_done {
                if let Some(out) = this.a_out.take() {
                    first.polling.store(false, Ordering::SeqCst);
                    return Poll::Ready((out, ()));
                }
            }
            if !woken {
                first.polling.store(false, Ordering::SeqCst);
                // A wake-up that came after a half's check, while `polling` was still set,
                // did not wake the task: take it now.
                if first.woken.load(Ordering::SeqCst) || this.b_half.woken.load(Ordering::SeqCst) {
                    cx.waker().wake_by_ref();
                }
                return Poll::Pending;
            }
        }
        // Still busy: let other tasks run, and come back.
        first.polling.store(false, Ordering::SeqCst);
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    /// A future that counts its polls and is ready after `ready_after` of them, waking
    /// itself each time.
    struct Counted<'a> {
        polls: &'a AtomicUsize,
        ready_after: usize,
    }

    impl Future for Counted<'_> {
        type Output = ();

        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            let n = self.polls.fetch_add(1, Ordering::SeqCst) + 1;
            if n >= self.ready_after {
                return Poll::Ready(());
            }
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }

    /// Counts the polls of the future it wraps.
    struct Polls<'a, F> {
        inner: Pin<Box<F>>,
        polls: &'a AtomicUsize,
    }

    impl<F: Future> Future for Polls<'_, F> {
        type Output = F::Output;

        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
            self.polls.fetch_add(1, Ordering::SeqCst);
            self.inner.as_mut().poll(cx)
        }
    }

    #[tokio::test]
    async fn a_finished_half_woken_again_does_not_keep_the_task_busy() {
        let stale: std::sync::Mutex<Option<Waker>> = std::sync::Mutex::new(None);
        let (tx, mut rx) = tokio::sync::oneshot::channel::<()>();
        // `a` finishes at once, leaving its waker behind.
        let a = std::future::poll_fn(|cx| {
            *stale.lock().unwrap() = Some(cx.waker().clone());
            Poll::Ready(())
        });
        // `b` wakes `a`'s stale waker, then waits for a message sent 50 ms later.
        let b = std::future::poll_fn(|cx| {
            if let Some(waker) = stale.lock().unwrap().take() {
                waker.wake();
            }
            Pin::new(&mut rx).poll(cx).map(Result::unwrap)
        });
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            let _ = tx.send(());
        });
        let polls = AtomicUsize::new(0);
        Polls {
            inner: Box::pin(together(a, b)),
            polls: &polls,
        }
        .await;
        let polls = polls.load(Ordering::SeqCst);
        assert!(
            polls <= 4,
            "polled {polls} times: the task kept waking itself"
        );
    }

    #[tokio::test]
    async fn a_half_is_polled_only_when_woken() {
        let a_polls = AtomicUsize::new(0);
        let b_polls = AtomicUsize::new(0);
        let (tx, mut rx) = tokio::sync::oneshot::channel::<()>();
        // `a` wakes itself 5 times; `b` waits for a message sent once `a` is done.
        let a = async {
            Counted {
                polls: &a_polls,
                ready_after: 5,
            }
            .await;
            tx.send(()).unwrap();
        };
        let b = std::future::poll_fn(|cx| {
            b_polls.fetch_add(1, Ordering::SeqCst);
            Pin::new(&mut rx).poll(cx).map(Result::unwrap)
        });
        together(a, b).await;
        assert_eq!(a_polls.load(Ordering::SeqCst), 5);
        // Once at the start and once when the message came, not once per poll of `a`.
        assert_eq!(b_polls.load(Ordering::SeqCst), 2);
    }
}
