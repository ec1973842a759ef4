//! The Redis Cluster broker: redis-rs cluster connections over RESP3 with sharded pub/sub
//! (`SPUBLISH`/`SSUBSCRIBE`, Redis 7), one for publishing and one for subscriptions. The
//! client follows `MOVED`/`ASK`, refreshes its slot map after a failover and resubscribes
//! each channel on the node that now owns its slot; the hub resubscribes too after a lost
//! connection. A command must stay within one slot, so batches are split by slot and the
//! slots' pipelines run concurrently.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use ::redis::cluster::{ClusterClientBuilder, ClusterConfig};
use ::redis::cluster_async::ClusterConnection;
use ::redis::cluster_routing::Slot;
use ::redis::{ProtocolVersion, PushInfo};
use bytes::Bytes;
use futures_util::future::try_join_all;

use super::redis_push::{error, on_push, ping};

use crate::hub::cluster::options::{BrokerError, ClusterOptions};
use crate::hub::cluster::transport::{BoxFuture, InboundSink, Transport, TransportError};
use crate::hub::cluster::Layout;
use crate::Hub;

/// How long one connection attempt to a node may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// How long a command may wait for its reply, redirections and retries included.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);
/// Attempts per command: enough to follow a `MOVED` or `ASK` and a reconnection; the hub's
/// health check retries beyond.
const RETRIES: u32 = 3;

struct RedisCluster {
    publisher: ClusterConnection,
    subscriber: ClusterConnection,
}

impl RedisCluster {
    /// Cluster connections that connect in the background: the hub starts while the
    /// cluster is down.
    fn new<S: AsRef<str>>(
        nodes: impl IntoIterator<Item = S>,
        sink: InboundSink,
    ) -> Result<Self, BrokerError> {
        let nodes: Vec<String> = nodes.into_iter().map(|n| n.as_ref().to_owned()).collect();
        if nodes.is_empty() {
            return Err(BrokerError::InvalidUrl("no cluster node given".to_owned()));
        }
        let client = ClusterClientBuilder::new(nodes)
            // Pushes (sharded messages on a multiplexed connection) need RESP3.
            .use_protocol(ProtocolVersion::RESP3)
            .connection_timeout(CONNECT_TIMEOUT)
            .response_timeout(RESPONSE_TIMEOUT)
            .retries(RETRIES)
            .min_retry_wait(20)
            .max_retry_wait(200)
            .build()
            .map_err(|e| BrokerError::InvalidUrl(e.to_string()))?;
        let publisher = client.get_pending_async_connection_with_config(ClusterConfig::new());
        let push = move |push: PushInfo| {
            on_push(&sink, push);
            Ok::<(), std::convert::Infallible>(())
        };
        let subscriber = client
            .get_pending_async_connection_with_config(ClusterConfig::new().set_push_sender(push));
        Ok(Self {
            publisher,
            subscriber,
        })
    }
}

/// The indices of `channels`, grouped by slot, in their order within each slot.
fn by_slot<'a>(channels: impl Iterator<Item = &'a str>) -> Vec<Vec<usize>> {
    let mut groups: HashMap<Slot, usize> = HashMap::new();
    let mut slots: Vec<Vec<usize>> = Vec::new();
    for (i, channel) in channels.enumerate() {
        let group = *groups.entry(Slot::for_key(channel)).or_insert_with(|| {
            slots.push(Vec::new());
            slots.len() - 1
        });
        slots[group].push(i);
    }
    slots
}

impl RedisCluster {
    /// Sends `command` for each slot's channels at once, one command per slot.
    async fn per_slot(&self, command: &str, channels: &[String]) -> Result<(), TransportError> {
        let groups = by_slot(channels.iter().map(String::as_str));
        try_join_all(groups.into_iter().map(|group| {
            let mut conn = self.subscriber.clone();
            let names: Vec<&str> = group.iter().map(|&i| channels[i].as_str()).collect();
            async move {
                match command {
                    "SSUBSCRIBE" => conn.ssubscribe(names).await,
                    _ => conn.sunsubscribe(names).await,
                }
            }
        }))
        .await
        .map(drop)
        .map_err(error)
    }
}

impl Transport for RedisCluster {
    fn publish<'a>(
        &'a self,
        frames: &'a [(String, Bytes)],
    ) -> BoxFuture<'a, Result<Vec<usize>, TransportError>> {
        Box::pin(async move {
            // Order matters within a channel, which lives in one slot: each slot's frames
            // go out in one ordered pipeline; different slots (shards) in parallel.
            let groups = by_slot(frames.iter().map(|(channel, _)| channel.as_str()));
            let replies = try_join_all(groups.iter().map(|group| {
                let mut pipeline = ::redis::pipe();
                for &i in group {
                    let (channel, frame) = &frames[i];
                    pipeline.cmd("SPUBLISH").arg(channel).arg(frame.as_ref());
                }
                let mut conn = self.publisher.clone();
                async move { pipeline.query_async::<Vec<usize>>(&mut conn).await }
            }))
            .await
            .map_err(error)?;
            let mut receivers = vec![0; frames.len()];
            for (group, counts) in groups.iter().zip(replies) {
                for (&i, count) in group.iter().zip(counts) {
                    receivers[i] = count;
                }
            }
            Ok(receivers)
        })
    }

    fn subscribe<'a>(
        &'a self,
        channels: &'a [String],
    ) -> BoxFuture<'a, Result<(), TransportError>> {
        Box::pin(self.per_slot("SSUBSCRIBE", channels))
    }

    fn unsubscribe<'a>(
        &'a self,
        channels: &'a [String],
    ) -> BoxFuture<'a, Result<(), TransportError>> {
        Box::pin(self.per_slot("SUNSUBSCRIBE", channels))
    }

    fn ping(&self) -> BoxFuture<'_, Result<(), TransportError>> {
        Box::pin(ping(&self.publisher, &self.subscriber))
    }
}

impl Hub {
    /// A hub shared by every process connected to the Redis Cluster (Redis 7 or later)
    /// that `nodes` belong to (`redis://[user:password@]host:port` each; one reachable node
    /// is enough, the others are discovered), with sharded pub/sub: each room's traffic
    /// touches only the shard that owns its channel's slot.
    ///
    /// Everything [`Hub::redis`] promises holds, with two differences: messages keep their
    /// order per room and per hub-wide channel (not across them), and while any shard's
    /// master is unreachable (during a failover) the broker counts as down for every room.
    /// After a failover a node may miss one room's subscription (a known bug, see the hub's
    /// semantics).
    /// Returns at once and connects in the background. Must be called inside a tokio
    /// runtime. Requires the `redis` cargo feature.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), ws_controller::BrokerError> {
    /// use ws_controller::{ClusterOptions, Hub};
    /// let nodes = ["redis://10.0.0.1:7000", "redis://10.0.0.2:7000", "redis://10.0.0.3:7000"];
    /// let hub = Hub::redis_cluster(nodes, ClusterOptions::default())?;
    /// hub.broadcast_room("lobby", "hello, every node").await;
    /// # Ok(())
    /// # }
    /// ```
    pub fn redis_cluster<S: AsRef<str>>(
        nodes: impl IntoIterator<Item = S>,
        options: ClusterOptions,
    ) -> Result<Hub, BrokerError> {
        crate::hub::cluster::start(options, Layout::Sharded, |sink| {
            Ok(Arc::new(RedisCluster::new(nodes, sink)?) as Arc<dyn Transport>)
        })
    }
}
