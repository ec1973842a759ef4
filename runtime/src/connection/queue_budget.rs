//! [`QueueBudget`]: the room left in a connection's outbound queue, in messages and in
//! bytes, taken by senders and given back by the driver.
//!
//! Two `tokio::sync::Semaphore`s (one per limit) cost each message two compare-and-swaps to
//! take and two mutex locks to give back (a semaphore's release always locks its waiter
//! list). Here both counts share one atomic word: a message takes its place and its bytes
//! with one compare-and-swap, and the driver gives them back with one atomic add; the
//! waiter list is locked only when a sender is waiting. Waiting senders are served first
//! come, first served, as a fair semaphore's would be: while one waits, later senders
//! queue behind it (so a large message is not starved by a stream of small ones).

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::task::{Context, Poll, Waker};

use crate::connection::shared::lock;

/// Free message places in the high half of the state word, free bytes in the low half.
const SLOT: u64 = 1 << 32;

pub(crate) struct QueueBudget {
    state: AtomicU64,
    /// Senders in `waiters`; read without the lock by those that give room back.
    waiting: AtomicUsize,
    waiters: Mutex<Waiters>,
    closed: AtomicBool,
}

#[derive(Default)]
struct Waiters {
    queue: VecDeque<Waiter>,
    next_id: u64,
}

struct Waiter {
    id: u64,
    waker: Waker,
}

/// Why room could not be taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NoRoom {
    Full,
    Closed,
}

impl QueueBudget {
    /// Room for `slots` messages and `bytes` bytes (each at most `u32::MAX`).
    pub(crate) fn new(slots: u32, bytes: u32) -> Self {
        Self {
            state: AtomicU64::new(u64::from(slots) * SLOT + u64::from(bytes)),
            waiting: AtomicUsize::new(0),
            waiters: Mutex::new(Waiters::default()),
            closed: AtomicBool::new(false),
        }
    }

    /// Free bytes.
    pub(crate) fn available_bytes(&self) -> usize {
        (self.state.load(Ordering::Acquire) & (SLOT - 1)) as usize
    }

    /// Takes one place and `cost` bytes without waiting. Fails while another sender waits
    /// (it comes first).
    pub(crate) fn try_take(&self, cost: u32) -> Result<(), NoRoom> {
        if self.closed.load(Ordering::Acquire) {
            return Err(NoRoom::Closed);
        }
        if self.waiting.load(Ordering::SeqCst) > 0 || !self.take_now(cost) {
            return Err(NoRoom::Full);
        }
        Ok(())
    }

    /// Takes one place and `cost` bytes, waiting in turn for them.
    pub(crate) fn take(&self, cost: u32) -> Take<'_> {
        Take {
            budget: self,
            cost,
            id: None,
        }
    }

    /// Gives back `slots` places and `bytes` bytes.
    pub(crate) fn give_back(&self, slots: u32, bytes: u32) {
        self.state
            .fetch_add(u64::from(slots) * SLOT + u64::from(bytes), Ordering::SeqCst);
        if self.waiting.load(Ordering::SeqCst) > 0 {
            self.wake_first();
        }
    }

    /// No more room will be given: waiting senders fail, and so do later ones.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        let waiters = std::mem::take(&mut lock(&self.waiters).queue);
        self.waiting.fetch_sub(waiters.len(), Ordering::SeqCst);
        for waiter in waiters {
            waiter.waker.wake();
        }
    }

    fn take_now(&self, cost: u32) -> bool {
        let cost = u64::from(cost);
        self.state
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |state| {
                (state >= SLOT && state & (SLOT - 1) >= cost).then(|| state - SLOT - cost)
            })
            .is_ok()
    }

    fn wake_first(&self) {
        if let Some(first) = lock(&self.waiters).queue.front() {
            first.waker.wake_by_ref();
        }
    }
}

/// The future of [`QueueBudget::take`]; dropping it gives up its turn.
pub(crate) struct Take<'a> {
    budget: &'a QueueBudget,
    cost: u32,
    /// Set once it waits in the queue.
    id: Option<u64>,
}

impl Future for Take<'_> {
    type Output = Result<(), NoRoom>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let budget = this.budget;
        let Some(id) = this.id else {
            match budget.try_take(this.cost) {
                Err(NoRoom::Full) => {}
                done => return Poll::Ready(done),
            }
            let mut waiters = lock(&budget.waiters);
            let id = waiters.next_id;
            waiters.next_id += 1;
            waiters.queue.push_back(Waiter {
                id,
                waker: cx.waker().clone(),
            });
            budget.waiting.fetch_add(1, Ordering::SeqCst);
            this.id = Some(id);
            drop(waiters);
            // Room given back before `waiting` was raised woke nobody: look again.
            return Pin::new(this).poll(cx);
        };
        let mut waiters = lock(&budget.waiters);
        if budget.closed.load(Ordering::SeqCst) {
            drop(waiters);
            this.leave();
            return Poll::Ready(Err(NoRoom::Closed));
        }
        let first = waiters.queue.front().is_some_and(|w| w.id == id);
        if first && budget.take_now(this.cost) {
            waiters.queue.pop_front();
            budget.waiting.fetch_sub(1, Ordering::SeqCst);
            this.id = None;
            // The next in line may fit in what is left.
            if let Some(next) = waiters.queue.front() {
                next.waker.wake_by_ref();
            }
            return Poll::Ready(Ok(()));
        }
        if let Some(waiter) = waiters.queue.iter_mut().find(|w| w.id == id) {
            waiter.waker.clone_from(cx.waker());
        }
        Poll::Pending
    }
}

impl Take<'_> {
    /// Leaves the queue (if `close` has not emptied it already), passing the turn on.
    fn leave(&mut self) {
        let Some(id) = self.id.take() else {
            return;
        };
        let mut waiters = lock(&self.budget.waiters);
        let Some(at) = waiters.queue.iter().position(|w| w.id == id) else {
            return;
        };
        waiters.queue.remove(at);
        self.budget.waiting.fetch_sub(1, Ordering::SeqCst);
        // The turn passes to the next in line, which may fit now.
        if at == 0 {
            if let Some(next) = waiters.queue.front() {
                next.waker.wake_by_ref();
            }
        }
    }
}

impl Drop for Take<'_> {
    fn drop(&mut self) {
        self.leave();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn poll(take: &mut Pin<Box<Take<'_>>>) -> Poll<Result<(), NoRoom>> {
        let waker = futures_util::task::noop_waker();
        take.as_mut().poll(&mut Context::from_waker(&waker))
    }

    #[test]
    fn both_limits_hold_and_room_comes_back() {
        let budget = QueueBudget::new(2, 10);
        assert_eq!(budget.try_take(4), Ok(()));
        assert_eq!(budget.try_take(7), Err(NoRoom::Full), "bytes");
        assert_eq!(budget.try_take(6), Ok(()));
        assert_eq!(budget.available_bytes(), 0);
        budget.give_back(1, 4);
        assert_eq!(budget.try_take(0), Ok(()));
        assert_eq!(budget.try_take(0), Err(NoRoom::Full), "places");
        budget.close();
        assert_eq!(budget.try_take(0), Err(NoRoom::Closed));
    }

    #[test]
    fn waiters_are_served_in_turn_and_newcomers_queue_behind_them() {
        let budget = QueueBudget::new(4, 10);
        assert_eq!(budget.try_take(10), Ok(()));
        let mut large = Box::pin(budget.take(8));
        assert!(poll(&mut large).is_pending());
        // Room for a small message, but the large one waits first.
        budget.give_back(1, 4);
        assert_eq!(budget.try_take(1), Err(NoRoom::Full));
        let mut small = Box::pin(budget.take(1));
        assert!(poll(&mut small).is_pending());
        assert!(poll(&mut small).is_pending(), "not its turn");
        budget.give_back(1, 6);
        assert_eq!(poll(&mut large), Poll::Ready(Ok(())));
        assert_eq!(poll(&mut small), Poll::Ready(Ok(())));
        assert_eq!(budget.available_bytes(), 1);
    }

    #[test]
    fn a_dropped_waiter_passes_its_turn_and_close_fails_the_rest() {
        let budget = QueueBudget::new(1, 10);
        assert_eq!(budget.try_take(1), Ok(()));
        let mut first = Box::pin(budget.take(1));
        let mut second = Box::pin(budget.take(1));
        let mut third = Box::pin(budget.take(1));
        assert!(poll(&mut first).is_pending());
        assert!(poll(&mut second).is_pending());
        assert!(poll(&mut third).is_pending());
        drop(first);
        budget.give_back(1, 1);
        assert_eq!(poll(&mut second), Poll::Ready(Ok(())));
        budget.close();
        assert_eq!(poll(&mut third), Poll::Ready(Err(NoRoom::Closed)));
        drop(third);
        assert_eq!(budget.waiting.load(Ordering::SeqCst), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn many_senders_and_a_consumer_never_exceed_the_limits() {
        let budget = Arc::new(QueueBudget::new(3, 100));
        let held = Arc::new(AtomicU64::new(0));
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<u32>();
        let senders: Vec<_> = (0..8u32)
            .map(|s| {
                let (budget, held, tx) = (budget.clone(), held.clone(), tx.clone());
                tokio::spawn(async move {
                    for i in 0..500u32 {
                        let cost = (s * 7 + i) % 60;
                        budget.take(cost).await.unwrap();
                        let now = held.fetch_add(SLOT + u64::from(cost), Ordering::SeqCst);
                        let now = now + SLOT + u64::from(cost);
                        assert!(now >> 32 <= 3 && now & (SLOT - 1) <= 100);
                        tx.send(cost).unwrap();
                    }
                })
            })
            .collect();
        drop(tx);
        let mut received = 0;
        while let Some(cost) = rx.recv().await {
            held.fetch_sub(SLOT + u64::from(cost), Ordering::SeqCst);
            budget.give_back(1, cost);
            received += 1;
        }
        for sender in senders {
            sender.await.unwrap();
        }
        assert_eq!(received, 8 * 500);
        assert_eq!(budget.available_bytes(), 100);
    }
}
