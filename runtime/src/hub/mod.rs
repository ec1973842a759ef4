//! The connection registry: every open connection of one or more controllers, rooms, and
//! broadcasts that encode once and never wait on one slow client; optionally one hub
//! across processes over a broker ([`cluster`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

mod backend;
pub(crate) mod cluster;
mod data;
mod deliver;
pub(crate) mod history;
mod registry;
pub(crate) mod report;
pub mod shutdown;

use serde::Serialize;
use tokio::sync::Notify;

use crate::connection::conn::ConnId;
use crate::connection::error::ConnError;
use crate::connection::sender::Sender;
use cluster::state::BrokerState;
use cluster::{Cluster, ClusterCount, Target};
use registry::{Interest, Registry};
use report::BroadcastReport;
use ws_controller_protocol::Message;

/// Reason of the 1008 close sent to a connection that cannot keep up with broadcasts.
pub const TOO_SLOW_REASON: &str = "connection too slow";

/// A registry of open connections, with rooms and broadcasts. Cloning is cheap (one `Arc`).
///
/// A connection joins when its controller names the hub ([`Controller::hub`](crate::Controller::hub)),
/// or by [`Hub::register`]; it leaves by itself when its task ends, whatever ended it.
///
/// A broadcast clones the message once per recipient, which shares its bytes (no copy, no
/// re-encoding), and queues it without waiting. When a connection's queue is full its
/// [`SlowConsumer`](crate::SlowConsumer) policy decides: close it with 1008 (default), drop
/// the message, or wait. Room operations cost O(members of the room).
///
/// Rooms can keep a history of their pushes, so a client that reconnects gets what it
/// missed: see [`Hub::with_history`].
///
/// [`Hub::new`] is in-process. With the `redis` feature, [`Hub::redis`] makes one hub of
/// many processes; nothing else in the application changes.
#[cfg_attr(feature = "redis", doc = include_str!("cluster/semantics.md"))]
#[derive(Clone, Default)]
pub struct Hub {
    pub(crate) inner: Arc<HubInner>,
}

#[derive(Default)]
pub(crate) struct HubInner {
    state: RwLock<Registry>,
    pub(crate) shutting_down: AtomicBool,
    /// Notified whenever a connection leaves.
    pub(crate) left: Notify,
    /// The broker side, for a hub that spans processes.
    pub(crate) cluster: Option<Cluster>,
    /// The rooms' histories ([`Hub::with_history`]).
    pub(crate) histories: history::store::Histories,
}

impl HubInner {
    pub(crate) fn with_cluster(cluster: Cluster) -> Self {
        Self {
            cluster: Some(cluster),
            ..Self::default()
        }
    }
}

impl Hub {
    /// An empty in-process hub.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a connection; it is removed when its task ends. Registering twice is a no-op.
    /// A connection registered while the hub shuts down is closed at once.
    pub fn register(&self, conn: &Sender) {
        let id = conn.id();
        if !self.write().insert(conn) {
            return;
        }
        let hub = Arc::downgrade(&self.inner);
        let registered = conn.shared.on_end(Box::new(move || {
            if let Some(inner) = hub.upgrade() {
                Hub { inner }.remove(id);
            }
        }));
        if !registered {
            // The connection ended before it could be registered.
            self.remove(id);
            return;
        }
        if self.is_shutting_down() {
            let shutdown = shutdown::Shutdown::default();
            conn.shared
                .request_close(shutdown.code, &shutdown.reason, true);
        }
    }

    /// Removes a connection now (it stays open).
    pub fn unregister(&self, id: ConnId) {
        self.remove(id);
    }

    fn remove(&self, id: ConnId) {
        let interest = self.write().remove(id);
        self.follow(interest);
        self.inner.left.notify_waiters();
    }

    /// Tells the broker side that a room appeared or disappeared here.
    fn follow(&self, interest: Interest) {
        if let (Interest::Changed, Some(cluster)) = (interest, &self.inner.cluster) {
            cluster.interest_changed();
        }
    }

    /// How many connections are registered on this node ([`Hub::cluster_count`] for all).
    pub fn count(&self) -> usize {
        self.read().members.len()
    }

    /// The registered connections' ids.
    pub fn ids(&self) -> Vec<ConnId> {
        self.read().members.keys().copied().collect()
    }

    /// A handle to a registered connection.
    pub fn get(&self, id: ConnId) -> Option<Sender> {
        self.read().members.get(&id).map(|m| m.sender.clone())
    }

    /// Puts a registered connection in `room`; false when it is not registered.
    ///
    /// The connection is a member as soon as this is called. On a hub that spans
    /// processes, the first member of a room on this node subscribes the node to the room,
    /// and this returns once the broker confirmed the subscription, so that a broadcast
    /// made anywhere after it returns reaches the new member. The wait is bounded by
    /// [`ClusterOptions::join_timeout`](crate::ClusterOptions::join_timeout) and skipped
    /// while the broker is down (the subscription follows when it is back).
    ///
    /// In a room with history ([`Hub::with_history`]) the connection first gets the pushes
    /// it missed since the position its upgrade URL named for the room (its first join of
    /// the room only), then `$joined`, then the room's live pushes; joining a room it is
    /// in already sends nothing.
    pub async fn join(&self, id: ConnId, room: &str) -> bool {
        let interest = if self.history_of(room).is_some() {
            self.join_with_history(id, room)
        } else {
            self.write().join(id, room)
        };
        let Some(interest) = interest else {
            return false;
        };
        self.follow(interest);
        if let Some(cluster) = &self.inner.cluster {
            cluster.joined().await;
        }
        true
    }

    /// Takes a connection out of `room`; false when it was not in it.
    pub fn leave(&self, id: ConnId, room: &str) -> bool {
        let interest = self.write().leave(id, room);
        match interest {
            Some(interest) => {
                self.follow(interest);
                true
            }
            None => false,
        }
    }

    /// The members of `room` on this node.
    pub fn room(&self, room: &str) -> Vec<ConnId> {
        self.read()
            .rooms
            .get(room)
            .map(|ids| ids.keys().copied().collect())
            .unwrap_or_default()
    }

    /// The rooms with members on this node, each with its number of members here.
    pub fn rooms(&self) -> Vec<(String, usize)> {
        self.read()
            .rooms
            .iter()
            .map(|(room, members)| (room.clone(), members.len()))
            .collect()
    }

    /// The rooms a connection is in.
    pub fn rooms_of(&self, id: ConnId) -> Vec<String> {
        self.read()
            .members
            .get(&id)
            .map(|m| m.rooms.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Sends to every registered connection (of every node).
    pub async fn broadcast(&self, message: impl Into<Message>) -> BroadcastReport {
        self.deliver(Target::All, None, message.into()).await
    }

    /// Sends to the members of `room` (on every node).
    pub async fn broadcast_room(&self, room: &str, message: impl Into<Message>) -> BroadcastReport {
        self.deliver(Target::Room(room), None, message.into()).await
    }

    /// Sends to the members of `room` (on every node) but `except` (typically the sender).
    pub async fn broadcast_room_except(
        &self,
        room: &str,
        except: ConnId,
        message: impl Into<Message>,
    ) -> BroadcastReport {
        self.deliver(Target::Room(room), Some(except), message.into())
            .await
    }

    /// Sends to every registered connection (of every node) but `except` (typically the
    /// sender).
    pub async fn broadcast_except(
        &self,
        except: ConnId,
        message: impl Into<Message>,
    ) -> BroadcastReport {
        self.deliver(Target::All, Some(except), message.into())
            .await
    }

    /// Sends to the connections of **this node** that `filter` accepts: a closure cannot
    /// travel to other nodes, so this broadcast is local on every hub (its report's
    /// `remote` is [`RemoteDelivery::Local`](crate::RemoteDelivery::Local)); use a room for
    /// a cluster-wide subset.
    pub async fn broadcast_filter(
        &self,
        message: impl Into<Message>,
        filter: impl Fn(&Sender) -> bool,
    ) -> BroadcastReport {
        let message = message.into();
        let mut report = BroadcastReport::default();
        let waiting = {
            let registry = self.read();
            let members = registry
                .members
                .values()
                .map(|m| &m.sender)
                .filter(|s| filter(s));
            deliver::fan_out(members, &message, true, &mut report)
        };
        deliver::wait_for(waiting, &mut report).await;
        crate::metrics::broadcast(report.delivered, report.dropped, report.closed);
        report
    }

    /// Serializes `value` once and sends it to every registered connection (of every node)
    /// as JSON text.
    pub async fn broadcast_json<T: Serialize + ?Sized>(
        &self,
        value: &T,
    ) -> Result<BroadcastReport, ConnError> {
        Ok(self.broadcast(json(value)?).await)
    }

    /// Serializes `value` once and sends it to the members of `room` (on every node) as
    /// JSON text.
    pub async fn broadcast_room_json<T: Serialize + ?Sized>(
        &self,
        room: &str,
        value: &T,
    ) -> Result<BroadcastReport, ConnError> {
        Ok(self.broadcast_room(room, json(value)?).await)
    }

    /// Delivers locally and, on a hub that spans processes, queues one frame for the
    /// broker, both under the cluster's order lock so every node sees this node's
    /// broadcasts in the same order. Then awaits the `Wait` recipients and the broker.
    async fn deliver(
        &self,
        target: Target<'_>,
        except: Option<ConnId>,
        message: Message,
    ) -> BroadcastReport {
        let mut report = BroadcastReport::default();
        let cluster = self.inner.cluster.as_ref();
        let (waiting, published) = {
            let _order = cluster.map(|c| c.order.lock().unwrap_or_else(|e| e.into_inner()));
            let registry = self.read();
            let keep = |(id, _): &(&ConnId, &Sender)| Some(**id) != except;
            let (waiting, listening) = match target {
                Target::All => {
                    let members = registry.members.iter().map(|(id, m)| (id, &m.sender));
                    let members = members.filter(keep).map(|(_, s)| s);
                    let waiting = deliver::fan_out(members, &message, true, &mut report);
                    (waiting, true)
                }
                Target::Room(room) => match registry.rooms.get(room) {
                    Some(members) => {
                        let members = members.iter().filter(keep).map(|(_, s)| s);
                        let waiting = deliver::fan_out(members, &message, true, &mut report);
                        (waiting, true)
                    }
                    None => (Vec::new(), false),
                },
            };
            drop(registry);
            let published = cluster.map(|c| c.publish(target, &message, listening));
            (waiting, published)
        };
        let mut waited = BroadcastReport::default();
        let remote = async {
            match published {
                Some(published) => published.outcome().await,
                None => report::RemoteDelivery::Local,
            }
        };
        let ((), remote) =
            futures_util::future::join(deliver::wait_for(waiting, &mut waited), remote).await;
        report.delivered += waited.delivered;
        report.remote = remote;
        crate::metrics::broadcast(report.delivered, report.dropped, report.closed);
        report
    }

    /// The broker's state and counters; [`BrokerStatus::Local`](crate::BrokerStatus::Local)
    /// for an in-process hub.
    pub fn broker_state(&self) -> BrokerState {
        match &self.inner.cluster {
            Some(cluster) => cluster.stats.snapshot(cluster.node),
            None => BrokerState::default(),
        }
    }

    /// Waits until the broker's subscriptions match this node's rooms as they are when
    /// called (at once for an in-process hub). While the broker is down it waits for it:
    /// bound it with a timeout.
    pub async fn broker_synced(&self) {
        if let Some(cluster) = &self.inner.cluster {
            cluster.synced().await;
        }
    }

    /// Connections registered on every node, asking the other nodes through the broker and
    /// waiting at most `timeout` for their answers.
    pub async fn cluster_count(&self, timeout: Duration) -> ClusterCount {
        match &self.inner.cluster {
            Some(cluster) => cluster.count(|| self.count(), None, timeout).await,
            None => ClusterCount::local(self.count()),
        }
    }

    /// Members of `room` on every node, like [`Hub::cluster_count`].
    pub async fn cluster_room_count(&self, room: &str, timeout: Duration) -> ClusterCount {
        let here = || self.read().rooms.get(room).map_or(0, |m| m.len());
        match &self.inner.cluster {
            Some(cluster) => cluster.count(here, Some(room), timeout).await,
            None => ClusterCount::local(here()),
        }
    }

    /// True once [`Hub::shutdown`] has begun.
    pub fn is_shutting_down(&self) -> bool {
        self.inner.shutting_down.load(Ordering::Acquire)
    }

    pub(crate) fn snapshot(&self) -> Vec<Sender> {
        self.read()
            .members
            .values()
            .map(|m| m.sender.clone())
            .collect()
    }

    fn read(&self) -> RwLockReadGuard<'_, Registry> {
        read(&self.inner.state)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Registry> {
        self.inner
            .state
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn read(state: &RwLock<Registry>) -> RwLockReadGuard<'_, Registry> {
    state
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn json<T: Serialize + ?Sized>(value: &T) -> Result<Message, ConnError> {
    let text = serde_json::to_string(value).map_err(ConnError::Encode)?;
    Ok(Message::Text(text.into()))
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("connections", &self.count())
            .field("broker", &self.broker_state().status)
            .field("shutting_down", &self.is_shutting_down())
            .finish()
    }
}
