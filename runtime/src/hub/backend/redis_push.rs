//! What the single-server and the cluster Redis brokers share: their pushes, errors and
//! health check.

use ::redis::aio::ConnectionLike;
use ::redis::{PushInfo, PushKind, Value};
use bytes::Bytes;

use crate::hub::cluster::transport::{InboundSink, TransportError};

pub(super) fn error(e: ::redis::RedisError) -> TransportError {
    TransportError(e.to_string())
}

/// Hands a subscribed message (classic or sharded) to the hub; a lost connection makes it
/// subscribe everything again.
pub(super) fn on_push(sink: &InboundSink, push: PushInfo) {
    match push.kind {
        PushKind::Message | PushKind::SMessage => {
            let mut data = push.data.into_iter();
            if let (Some(Value::BulkString(channel)), Some(Value::BulkString(payload))) =
                (data.next(), data.next())
            {
                sink.message(Bytes::from(channel), Bytes::from(payload));
            }
        }
        PushKind::Disconnection => sink.lost(),
        _ => {}
    }
}

/// PINGs the publishing and the subscribing connection at once (a cluster connection
/// routes it to every master).
pub(super) async fn ping<C: ConnectionLike + Clone + Send>(
    publisher: &C,
    subscriber: &C,
) -> Result<(), TransportError> {
    let (mut publisher, mut subscriber) = (publisher.clone(), subscriber.clone());
    let ping = ::redis::cmd("PING");
    let (a, b) = futures_util::future::join(
        ping.query_async::<()>(&mut publisher),
        ping.query_async::<()>(&mut subscriber),
    )
    .await;
    a.and(b).map_err(error)
}
