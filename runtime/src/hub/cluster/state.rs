//! What a hub knows about its broker: [`BrokerState`], kept in atomics by the broker tasks.

use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::Mutex;

/// Whether the broker is reachable.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum BrokerStatus {
    /// An in-process hub: there is no broker.
    #[default]
    Local,
    /// Not connected yet since the hub was created.
    Connecting,
    /// Connected, and subscribed (or subscribing) to the channels of this node's rooms.
    Up,
    /// Unreachable, or the connection was lost; retried every
    /// [`ClusterOptions::health_interval`](crate::ClusterOptions::health_interval).
    Down,
}

/// A snapshot of a hub's broker connection and counters since the hub was created
/// ([`Hub::broker_state`](crate::Hub::broker_state)).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BrokerState {
    /// Reachable or not.
    pub status: BrokerStatus,
    /// This node's id on the broker (0 for an in-process hub).
    pub node: u64,
    /// The last broker error, if the broker was ever unreachable.
    pub last_error: Option<String>,
    /// Channels subscribed now: one per room with members on this node, plus three.
    pub subscriptions: usize,
    /// Messages the broker accepted.
    pub published: u64,
    /// Messages whose publish failed or timed out in flight.
    pub publish_failed: u64,
    /// Messages not even queued: broker down or publish queue full.
    pub publish_rejected: u64,
    /// Frames received from the broker.
    pub received: u64,
    /// Frames dropped because the node was not handing them out fast enough
    /// ([`ClusterOptions::inbound_queue`](crate::ClusterOptions::inbound_queue)).
    pub inbound_dropped: u64,
    /// Frames ignored: unknown version or kind, malformed, or invalid UTF-8.
    pub invalid_frames: u64,
    /// Local deliveries of other nodes' messages missed by slow connections (full queue
    /// under `DropNewest` or `Wait`) or that closed them (`Close`).
    pub remote_missed: u64,
    /// Times the subscription connection was lost (Redis restarted, or cut this node off
    /// under `client-output-buffer-limit pubsub`).
    pub connection_losses: u64,
    /// Times the node subscribed again to all its channels after a loss or an outage.
    pub resubscriptions: u64,
    /// Joins that returned before the broker confirmed the room's subscription
    /// ([`ClusterOptions::join_timeout`](crate::ClusterOptions::join_timeout)).
    pub join_timeouts: u64,
}

#[derive(Default)]
pub(crate) struct Stats {
    status: AtomicU8,
    pub(crate) subscriptions: AtomicUsize,
    pub(crate) published: AtomicU64,
    pub(crate) publish_failed: AtomicU64,
    pub(crate) publish_rejected: AtomicU64,
    pub(crate) received: AtomicU64,
    pub(crate) inbound_dropped: AtomicU64,
    pub(crate) invalid_frames: AtomicU64,
    pub(crate) remote_missed: AtomicU64,
    pub(crate) connection_losses: AtomicU64,
    pub(crate) resubscriptions: AtomicU64,
    pub(crate) join_timeouts: AtomicU64,
    last_error: Mutex<Option<String>>,
}

const CONNECTING: u8 = 0;
const UP: u8 = 1;
const DOWN: u8 = 2;

pub(crate) fn bump(counter: &AtomicU64, by: u64) {
    counter.fetch_add(by, Ordering::Relaxed);
}

impl Stats {
    pub(crate) fn status(&self) -> BrokerStatus {
        match self.status.load(Ordering::Acquire) {
            CONNECTING => BrokerStatus::Connecting,
            UP => BrokerStatus::Up,
            _ => BrokerStatus::Down,
        }
    }

    /// Marks the broker up; true when it was not.
    pub(crate) fn set_up(&self) -> bool {
        self.status.swap(UP, Ordering::AcqRel) != UP
    }

    /// Marks the broker down with `error`; true when it was not.
    pub(crate) fn set_down(&self, error: String) -> bool {
        *self
            .last_error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(error);
        self.status.swap(DOWN, Ordering::AcqRel) != DOWN
    }

    pub(crate) fn snapshot(&self, node: u64) -> BrokerState {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        BrokerState {
            status: self.status(),
            node,
            last_error: self
                .last_error
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone(),
            subscriptions: self.subscriptions.load(Ordering::Relaxed),
            published: get(&self.published),
            publish_failed: get(&self.publish_failed),
            publish_rejected: get(&self.publish_rejected),
            received: get(&self.received),
            inbound_dropped: get(&self.inbound_dropped),
            invalid_frames: get(&self.invalid_frames),
            remote_missed: get(&self.remote_missed),
            connection_losses: get(&self.connection_losses),
            resubscriptions: get(&self.resubscriptions),
            join_timeouts: get(&self.join_timeouts),
        }
    }
}
