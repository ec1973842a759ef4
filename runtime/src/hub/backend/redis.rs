//! The Redis broker: redis-rs connection managers over RESP3, one for publishing and one
//! for subscriptions (reconnected and resubscribed by the manager, and by the hub's own
//! reconciliation after an outage).

use std::sync::Arc;
use std::time::Duration;

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::{Client, IntoConnectionInfo, ProtocolVersion, PushInfo};
use bytes::Bytes;

use super::redis_push::{error, on_push, ping};

use crate::hub::cluster::options::{BrokerError, ClusterOptions};
use crate::hub::cluster::transport::{BoxFuture, InboundSink, Transport, TransportError};
use crate::hub::cluster::Layout;
use crate::Hub;

/// How long one connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// How long a command may wait for its reply before the connection counts as broken.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);

struct Redis {
    publisher: ConnectionManager,
    subscriber: ConnectionManager,
}

impl Redis {
    /// Connection managers that connect lazily: the hub starts while Redis is down.
    fn new(url: &str, sink: InboundSink) -> Result<Self, BrokerError> {
        let invalid = |e: ::redis::RedisError| BrokerError::InvalidUrl(e.to_string());
        let info = url.into_connection_info().map_err(invalid)?;
        // Pushes (subscribed messages on a multiplexed connection) need RESP3.
        let settings = info
            .redis_settings()
            .clone()
            .set_protocol(ProtocolVersion::RESP3);
        let client = Client::open(info.set_redis_settings(settings)).map_err(invalid)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            // The hub's health check retries; the manager only tries again once, quickly.
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_millis(500));
        let publisher = ConnectionManager::new_lazy_with_config(client.clone(), config.clone())
            .map_err(invalid)?;
        let push = move |push: PushInfo| {
            on_push(&sink, push);
            Ok::<(), std::convert::Infallible>(())
        };
        let subscriber = ConnectionManager::new_lazy_with_config(
            client,
            config.set_push_sender(push).set_automatic_resubscription(),
        )
        .map_err(invalid)?;
        Ok(Self {
            publisher,
            subscriber,
        })
    }
}

impl Transport for Redis {
    fn publish<'a>(
        &'a self,
        frames: &'a [(String, Bytes)],
    ) -> BoxFuture<'a, Result<Vec<usize>, TransportError>> {
        Box::pin(async move {
            let mut pipeline = ::redis::pipe();
            for (channel, frame) in frames {
                pipeline.cmd("PUBLISH").arg(channel).arg(frame.as_ref());
            }
            let mut conn = self.publisher.clone();
            pipeline.query_async(&mut conn).await.map_err(error)
        })
    }

    fn subscribe<'a>(
        &'a self,
        channels: &'a [String],
    ) -> BoxFuture<'a, Result<(), TransportError>> {
        Box::pin(async move {
            let mut conn = self.subscriber.clone();
            conn.subscribe(channels).await.map_err(error)
        })
    }

    fn unsubscribe<'a>(
        &'a self,
        channels: &'a [String],
    ) -> BoxFuture<'a, Result<(), TransportError>> {
        Box::pin(async move {
            let mut conn = self.subscriber.clone();
            conn.unsubscribe(channels).await.map_err(error)
        })
    }

    fn ping(&self) -> BoxFuture<'_, Result<(), TransportError>> {
        Box::pin(ping(&self.publisher, &self.subscriber))
    }
}

impl Hub {
    /// A hub shared by every process connected to the Redis server at `url`
    /// (`redis://[user:password@]host[:port][/db]`), with default [`ClusterOptions`].
    ///
    /// Returns at once: the hub serves its own connections while it connects, and keeps
    /// retrying in the background if Redis is unreachable ([`Hub::broker_state`]). Must be
    /// called inside a tokio runtime. Requires the `redis` cargo feature.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), ws_controller::BrokerError> {
    /// let hub = ws_controller::Hub::redis("redis://127.0.0.1:6379")?;
    /// hub.broadcast_room("lobby", "hello, every node").await;
    /// # Ok(())
    /// # }
    /// ```
    pub fn redis(url: &str) -> Result<Hub, BrokerError> {
        Self::redis_with(url, ClusterOptions::default())
    }

    /// [`Hub::redis`] with `options`.
    pub fn redis_with(url: &str, options: ClusterOptions) -> Result<Hub, BrokerError> {
        crate::hub::cluster::start(options, Layout::Single, |sink| {
            Ok(Arc::new(Redis::new(url, sink)?) as Arc<dyn Transport>)
        })
    }
}
