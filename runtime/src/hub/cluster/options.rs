//! How a hub talks to its broker: [`ClusterOptions`], and why one could not be set up.

use std::time::Duration;

/// Settings of a hub that spans processes; the defaults suit a broker on the local network.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClusterOptions {
    /// Prefix of every channel the hub uses, so several applications can share one broker.
    /// Default `"wsc"`.
    pub prefix: String,
    /// How long a broadcast waits for the broker to accept its message before reporting
    /// [`RemoteFailure::TimedOut`](crate::RemoteFailure::TimedOut). Default 500 ms.
    pub publish_timeout: Duration,
    /// Messages waiting to be published, at most; beyond, a broadcast reports
    /// [`RemoteFailure::Overloaded`](crate::RemoteFailure::Overloaded). Default 4,096.
    pub publish_queue: usize,
    /// Payload bytes waiting to be published, at most. Default 16 MiB.
    pub publish_queue_bytes: usize,
    /// Messages received from the broker and not yet handed to local connections, at most;
    /// beyond, they are dropped and counted ([`BrokerState::inbound_dropped`](crate::BrokerState::inbound_dropped)).
    /// Default 8,192.
    pub inbound_queue: usize,
    /// How often the broker's health is checked (and a lost connection retried). Default 500 ms.
    pub health_interval: Duration,
    /// How long [`Hub::join`](crate::Hub::join) waits for the broker to confirm the room's
    /// subscription before returning anyway (counted in
    /// [`BrokerState::join_timeouts`](crate::BrokerState::join_timeouts)). Default 1 s.
    pub join_timeout: Duration,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        Self {
            prefix: "wsc".to_owned(),
            publish_timeout: Duration::from_millis(500),
            publish_queue: 4096,
            publish_queue_bytes: 16 << 20,
            inbound_queue: 8192,
            health_interval: Duration::from_millis(500),
            join_timeout: Duration::from_secs(1),
        }
    }
}

impl ClusterOptions {
    /// Sets [`ClusterOptions::prefix`].
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Sets [`ClusterOptions::publish_timeout`].
    pub fn publish_timeout(mut self, timeout: Duration) -> Self {
        self.publish_timeout = timeout;
        self
    }

    /// Sets [`ClusterOptions::publish_queue`] (at least 1).
    pub fn publish_queue(mut self, messages: usize) -> Self {
        self.publish_queue = messages.max(1);
        self
    }

    /// Sets [`ClusterOptions::publish_queue_bytes`].
    pub fn publish_queue_bytes(mut self, bytes: usize) -> Self {
        self.publish_queue_bytes = bytes;
        self
    }

    /// Sets [`ClusterOptions::inbound_queue`] (at least 1).
    pub fn inbound_queue(mut self, messages: usize) -> Self {
        self.inbound_queue = messages.max(1);
        self
    }

    /// Sets [`ClusterOptions::join_timeout`].
    pub fn join_timeout(mut self, timeout: Duration) -> Self {
        self.join_timeout = timeout;
        self
    }

    /// Sets [`ClusterOptions::health_interval`].
    pub fn health_interval(mut self, interval: Duration) -> Self {
        self.health_interval = interval.max(Duration::from_millis(10));
        self
    }
}

/// Why a hub with a broker could not be created. Reaching the broker is not one of the
/// reasons: the hub starts without it and connects in the background.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BrokerError {
    /// The broker URL is malformed.
    #[error("invalid broker URL: {0}")]
    InvalidUrl(String),
    /// There is no tokio runtime to run the hub's broker tasks on.
    #[error("a hub with a broker must be created inside a tokio runtime")]
    NoRuntime,
}
