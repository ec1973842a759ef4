//! The connection's timers: the heartbeat and the idle check.
//!
//! A tokio timer registers its waker again on every poll, and the driver's loop waits on
//! its timers once or twice per message. Here they are polled with a waker of their own
//! (the connection's `Shared`, whose wake-up marks `timers_fired` and wakes the driver),
//! and only after it fired (or they were set): between firings a wait costs one atomic
//! load.
//!
//! The idle check reads no clock per message either: the driver sets a flag when it hears
//! from the peer, and the check looks at it every quarter of the idle timeout. A peer is
//! idle after four silent quarters in a row, so a silent connection is closed between the
//! idle timeout and a quarter after it.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Poll, Waker};
use std::time::Duration;

use tokio::time::{Instant, Interval, MissedTickBehavior, Sleep};

use crate::connection::shared::Shared;

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
        // Built from the connection's `Shared` (see the module docs).
        waker: Waker,
    }
}

impl Timers {
    pub(super) fn new(shared: &Arc<Shared>) -> Self {
        let (ping_interval, idle_timeout) = (shared.ping_interval, shared.idle_timeout);
        let heartbeat = ping_interval.map(|period| {
            let mut timer = tokio::time::interval_at(Instant::now() + period, period);
            timer.set_missed_tick_behavior(MissedTickBehavior::Delay);
            timer
        });
        let quarter = idle_timeout.map(|idle| (idle / QUARTERS).max(Duration::from_millis(1)));
        // Without an idle timeout the sleep is never polled.
        let first = quarter.unwrap_or(Duration::from_secs(86_400));
        Self {
            heartbeat,
            idle: tokio::time::sleep_until(Instant::now() + first),
            quarter,
            silent: 0,
            waker: Waker::from(shared.clone()),
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
    /// reading: a peer held back by backpressure is not idle, and a closing connection
    /// has its own deadline), so `Idle` comes only while watching. The heartbeat beats
    /// only while `open`.
    ///
    /// A timer's wake-up also wakes the driver (through `Shared::wake`, which the driver's
    /// wait polls first), so no task waker is needed here.
    pub(super) fn poll_due(
        self: Pin<&mut Self>,
        shared: &Shared,
        heard: &mut bool,
        open: bool,
        watching: bool,
    ) -> Poll<Due> {
        let mut this = self.project();
        let fired = &shared.timers_fired;
        if !(fired.load(Ordering::Relaxed) && fired.swap(false, Ordering::Acquire)) {
            return Poll::Pending;
        }
        let mut timers = std::task::Context::from_waker(this.waker);
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
