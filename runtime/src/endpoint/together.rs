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
    let task = Arc::new(Task::default());
    let half = |task: &Arc<Task>| {
        // Both halves are polled on the first poll.
        let half = Arc::new(Half {
            woken: AtomicBool::new(true),
            task: task.clone(),
        });
        (Waker::from(half.clone()), half)
    };
    let (a_waker, a_half) = half(&task);
    let (b_waker, b_half) = half(&task);
    Together {
        a,
        a_out: None,
        b,
        b_done: false,
        task,
        a_half,
        a_waker,
        b_half,
        b_waker,
    }
}

/// The task the halves run in.
#[derive(Default)]
struct Task {
    /// The halves are being polled: a wake-up needs no task wake-up.
    polling: AtomicBool,
    waker: AtomicWaker,
}

/// One half's waker.
struct Half {
    woken: AtomicBool,
    task: Arc<Task>,
}

impl Half {
    fn take(&self) -> bool {
        self.woken.load(Ordering::SeqCst) && self.woken.swap(false, Ordering::SeqCst)
    }
}

impl Wake for Half {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::SeqCst);
        if !self.task.polling.load(Ordering::SeqCst) {
            self.task.waker.wake();
        }
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
        task: Arc<Task>,
        a_half: Arc<Half>,
        a_waker: Waker,
        b_half: Arc<Half>,
        b_waker: Waker,
    }
}

impl<A: Future, B: Future<Output = ()>> Future for Together<A, B> {
    type Output = (A::Output, ());

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        this.task.waker.register(cx.waker());
        let task = &**this.task;
        task.polling.store(true, Ordering::SeqCst);
        for _ in 0..ROUNDS {
            let mut woken = false;
            if this.a_out.is_none() && this.a_half.take() {
                woken = true;
                let mut cx = Context::from_waker(this.a_waker);
                if let Poll::Ready(out) = this.a.as_mut().poll(&mut cx) {
                    *this.a_out = Some(out);
                }
            }
            if !*this.b_done && this.b_half.take() {
                woken = true;
                let mut cx = Context::from_waker(this.b_waker);
                *this.b_done = this.b.as_mut().poll(&mut cx).is_ready();
            }
            if *this.b_done {
                if let Some(out) = this.a_out.take() {
                    task.polling.store(false, Ordering::SeqCst);
                    return Poll::Ready((out, ()));
                }
            }
            if !woken {
                task.polling.store(false, Ordering::SeqCst);
                // A wake-up that came after a half's check, while `polling` was still set,
                // did not wake the task: take it now.
                let pending = |half: &Half| half.woken.load(Ordering::SeqCst);
                if pending(this.a_half) || pending(this.b_half) {
                    cx.waker().wake_by_ref();
                }
                return Poll::Pending;
            }
        }
        // Still busy: let other tasks run, and come back.
        task.polling.store(false, Ordering::SeqCst);
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
