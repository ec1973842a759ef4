//! The connection's timers: the heartbeat and the idle check.
//!
//! A tokio timer registers its waker again on every poll, and the driver's loop waits on
//! its timers once or twice per message. Here they are polled with a waker of their own,
//! and only after it fired (or they were set): between firings a wait costs one atomic
//! load.
//!
//! The idle check reads no clock per message either: the driver sets a flag when it hears
//! from the peer, and the check looks at it every quarter of the idle timeout. A peer is
//! idle after four silent quarters in a row, so a silent connection is closed between the
//! idle timeout and a quarter after it.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use futures_util::task::AtomicWaker;
use tokio::time::{Instant, Interval, MissedTickBehavior, Sleep};

/// Silent checks in a row after which the peer is idle.
const QUARTERS: u32 = 4;

/// What a timer asks the driver to do.
pub(super) enum Due {
    /// Send a heartbeat ping.
    Heartbeat,
    /// The peer has been silent for the idle timeout.
    Idle,
}

pin_project_lite::pin_project! {
    pub(super) struct Timers {
        heartbeat: Option<Interval>,
        #[pin]
        idle: Sleep,
        // A quarter of the idle timeout; `None` without one.
        quarter: Option<Duration>,
        // Checks in a row that found the peer silent.
        silent: u32,
        // The timers must be polled: they fired, or were just set.
        fired: Arc<Fired>,
        waker: Waker,
    }
}

/// The timers' waker: notes the firing and wakes the driver.
#[derive(Default)]
struct Fired {
    flag: AtomicBool,
    driver: AtomicWaker,
}

impl Wake for Fired {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.flag.store(true, Ordering::Release);
        self.driver.wake();
    }
}

impl Timers {
    pub(super) fn new(ping_interval: Option<Duration>, idle_timeout: Option<Duration>) -> Self {
        let heartbeat = ping_interval.map(|period| {
            let mut timer = tokio::time::interval_at(Instant::now() + period, period);
            timer.set_missed_tick_behavior(MissedTickBehavior::Delay);
            timer
        });
        let quarter = idle_timeout.map(|idle| (idle / QUARTERS).max(Duration::from_millis(1)));
        // Without an idle timeout the sleep is never polled.
        let first = quarter.unwrap_or(Duration::from_secs(86_400));
        let fired = Arc::new(Fired::default());
        fired.flag.store(true, Ordering::Relaxed);
        Self {
            heartbeat,
            idle: tokio::time::sleep_until(Instant::now() + first),
            quarter,
            silent: 0,
            waker: Waker::from(fired.clone()),
            fired,
        }
    }

    /// How long the peer may still stay silent before it is idle (an estimate, to a
    /// quarter of the idle timeout); `None` without an idle timeout.
    pub(super) fn idle_left(&self) -> Option<Duration> {
        self.quarter
            .map(|quarter| quarter * QUARTERS.saturating_sub(self.silent))
    }

    /// The next thing due. `heard` is the driver's flag for "the peer spoke" (taken here);
    /// a peer is silent only while `watching` (the connection is open and the driver is
    /// reading: a peer held back by backpressure is not idle). The heartbeat beats only
    /// while `open`.
    pub(super) fn poll_due(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        heard: &mut bool,
        open: bool,
        watching: bool,
    ) -> Poll<Due> {
        let mut this = self.project();
        let fired = &this.fired.flag;
        if !(fired.load(Ordering::Relaxed) && fired.swap(false, Ordering::Acquire)) {
            return Poll::Pending;
        }
        // The timers' waker wakes whatever polls them; the driver's task waker is the same
        // on every poll, so registering it when they fired is enough.
        this.fired.driver.register(cx.waker());
        let mut timers = Context::from_waker(this.waker);
        if let Some(heartbeat) = this.heartbeat.as_mut().filter(|_| open) {
            if heartbeat.poll_tick(&mut timers).is_ready() {
                // Polled again next time, to wait for the following tick.
                fired.store(true, Ordering::Relaxed);
                return Poll::Ready(Due::Heartbeat);
            }
        }
        let Some(quarter) = *this.quarter else {
            return Poll::Pending;
        };
        while this.idle.as_mut().poll(&mut timers).is_ready() {
            let silent = !std::mem::take(heard) && watching;
            *this.silent = if silent { *this.silent + 1 } else { 0 };
            this.idle.as_mut().reset(Instant::now() + quarter);
            if *this.silent >= QUARTERS {
                *this.silent = 0;
                fired.store(true, Ordering::Relaxed);
                return Poll::Ready(Due::Idle);
            }
        }
        Poll::Pending
    }
}
