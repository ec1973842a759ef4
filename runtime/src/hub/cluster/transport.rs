//! What a broker must provide: ordered publishing, channel subscriptions, a health check,
//! and a bounded way to hand what it receives to the hub. Framing, interest, queries and
//! fault handling live above it, so a backend is a thin adapter over its client crate.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::{mpsc, Notify};

use super::state::{bump, Stats};

pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A broker error, as text for logs and [`BrokerState::last_error`](crate::BrokerState::last_error).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub(crate) struct TransportError(pub(crate) String);

/// A pub/sub broker connection. Implementations reconnect by themselves; the hub calls
/// [`Transport::ping`] periodically, which must also trigger a reconnection attempt.
pub(crate) trait Transport: Send + Sync + 'static {
    /// Publishes `frames` in this order, in one round trip if it can; returns each one's
    /// number of receiving subscribers.
    fn publish<'a>(
        &'a self,
        frames: &'a [(String, Bytes)],
    ) -> BoxFuture<'a, Result<Vec<usize>, TransportError>>;

    /// Subscribes to `channels`; returns once the broker confirmed.
    fn subscribe<'a>(&'a self, channels: &'a [String])
        -> BoxFuture<'a, Result<(), TransportError>>;

    /// Unsubscribes from `channels`.
    fn unsubscribe<'a>(
        &'a self,
        channels: &'a [String],
    ) -> BoxFuture<'a, Result<(), TransportError>>;

    /// Checks that publishing and subscribing connections are both alive.
    fn ping(&self) -> BoxFuture<'_, Result<(), TransportError>>;
}

/// A message on a subscribed channel.
#[derive(Debug)]
pub(crate) struct Inbound {
    pub(crate) channel: Bytes,
    pub(crate) payload: Bytes,
}

/// A bounded, never-blocking queue from the transport to the hub: what does not fit is
/// dropped and counted, so a node that falls behind cannot grow memory without bound.
#[derive(Clone)]
pub(crate) struct InboundSink {
    pub(crate) queue: mpsc::Sender<Inbound>,
    pub(crate) stats: Arc<Stats>,
    /// Notified when the subscribing connection is lost (it then holds no subscription).
    pub(crate) lost: Arc<Notify>,
}

impl InboundSink {
    pub(crate) fn message(&self, channel: Bytes, payload: Bytes) {
        if self.queue.try_send(Inbound { channel, payload }).is_err() {
            bump(&self.stats.inbound_dropped, 1);
        }
    }

    /// The subscribing connection was lost: everything must be subscribed again.
    pub(crate) fn lost(&self) {
        bump(&self.stats.connection_losses, 1);
        self.lost.notify_one();
    }
}
