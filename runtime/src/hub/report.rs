//! What a broadcast did, locally and on the other nodes.

/// What a broadcast did. Cheap to copy: counters and one small enum.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BroadcastReport {
    /// Connections of this node the message was queued for.
    pub delivered: usize,
    /// Connections of this node that missed it under
    /// [`SlowConsumer::DropNewest`](crate::SlowConsumer::DropNewest).
    pub dropped: usize,
    /// Connections of this node closed with 1008 under
    /// [`SlowConsumer::Close`](crate::SlowConsumer::Close).
    pub closed: usize,
    /// What happened on the broker: [`RemoteDelivery::Local`] for an in-process hub and for
    /// local-only broadcasts ([`Hub::broadcast_filter`](crate::Hub::broadcast_filter)).
    pub remote: RemoteDelivery,
    /// The push's offset in its room's history ([`Hub::with_history`](crate::Hub::with_history));
    /// `None` for a room without history and for every other broadcast.
    pub offset: Option<u64>,
}

/// The broker's part of a broadcast on a hub that spans processes
/// ([`Hub::redis`](crate::Hub::redis)).
///
/// The other nodes deliver to their own connections and report nothing back; this says
/// whether the message reached the broker, and how many other nodes were listening.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RemoteDelivery {
    /// Nothing was published: the hub is in-process, or the broadcast is local by nature.
    #[default]
    Local,
    /// The broker accepted the message and passed it to `nodes` other nodes (those with an
    /// interest: members in the room, or any connection for a broadcast to all).
    Published {
        /// Other nodes subscribed to the message's channel when the broker received it.
        nodes: usize,
    },
    /// The message did not reach the other nodes (or it is unknown whether it did); local
    /// delivery happened regardless.
    Failed(RemoteFailure),
}

impl RemoteDelivery {
    /// True unless the message was meant for other nodes and did not reach the broker.
    pub fn is_ok(self) -> bool {
        !matches!(self, Self::Failed(_))
    }
}

/// Why a broadcast did not reach the other nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemoteFailure {
    /// The broker is unreachable: the message was not queued (no wait, no buffering).
    Unavailable,
    /// The publish queue is full (the broker is slower than the broadcasts): not queued.
    Overloaded,
    /// No answer from the broker within
    /// [`ClusterOptions::publish_timeout`](crate::ClusterOptions::publish_timeout); the
    /// message may still be published.
    TimedOut,
    /// The broker connection failed while the message was in flight; it may or may not
    /// have been published.
    Lost,
}
