//! One hub across processes: broadcasts and rooms over a pub/sub broker.
//!
//! The hub stays the only registry of this node's connections; the broker carries one
//! frame per broadcast ([`frame`]) to every other node that has an interest in it, and
//! each node hands the bytes to its own members. See [`Hub::redis`](crate::Hub::redis)
//! for the semantics.
// Without a broker feature nothing constructs a cluster; the hub's code paths stay the same.
#![cfg_attr(not(feature = "redis"), allow(dead_code))]

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot, watch, Notify};

pub(crate) mod frame;
pub(crate) mod options;
mod query;
pub(crate) mod state;
mod subscriber;
pub(crate) mod transport;

pub use query::ClusterCount;

use super::report::{RemoteDelivery, RemoteFailure};
use super::HubInner;
use options::{BrokerError, ClusterOptions};
use state::{bump, BrokerStatus, Stats};
use transport::{Inbound, InboundSink, Transport};
use ws_controller_protocol::Message;

/// A broadcast's destination.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Target<'a> {
    All,
    Room(&'a str),
}

/// How a broker spreads channels: one server, or Redis Cluster's slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Layout {
    /// Every channel on one server.
    Single,
    /// Sharded pub/sub: each room's channel hashes to its own slot (`{room}` hash tag); the
    /// hub-wide, control and node channels share the prefix's slot (`{prefix}`).
    Sharded,
}

/// The channel names of one prefix.
pub(crate) struct Channels {
    all: String,
    ctl: String,
    room: String,
    node: String,
    layout: Layout,
}

/// What a received channel name is.
pub(crate) enum Channel<'a> {
    All,
    Room(&'a str),
    Control,
    Node,
}

impl Channels {
    fn new(prefix: &str, node: u64, layout: Layout) -> Self {
        let fixed = fixed_prefix(prefix, layout);
        Self {
            all: format!("{fixed}:all"),
            ctl: format!("{fixed}:ctl"),
            room: format!("{prefix}:room:"),
            node: node_channel(&fixed, node),
            layout,
        }
    }

    pub(crate) fn room(&self, room: &str) -> String {
        match self.layout {
            Layout::Single => format!("{}{room}", self.room),
            Layout::Sharded => format!("{}{{{room}}}", self.room),
        }
    }

    fn target(&self, target: Target<'_>) -> String {
        match target {
            Target::All => self.all.clone(),
            Target::Room(room) => self.room(room),
        }
    }

    /// The channels every node listens on, whatever its rooms.
    pub(crate) fn fixed(&self) -> [String; 3] {
        [self.all.clone(), self.ctl.clone(), self.node.clone()]
    }

    pub(crate) fn classify<'a>(&self, channel: &'a [u8]) -> Option<Channel<'a>> {
        let channel = std::str::from_utf8(channel).ok()?;
        if channel == self.all {
            Some(Channel::All)
        } else if channel == self.ctl {
            Some(Channel::Control)
        } else if channel == self.node {
            Some(Channel::Node)
        } else {
            let room = channel.strip_prefix(&self.room)?;
            match self.layout {
                Layout::Single => Some(Channel::Room(room)),
                Layout::Sharded => room
                    .strip_prefix('{')
                    .and_then(|room| room.strip_suffix('}'))
                    .map(Channel::Room),
            }
        }
    }
}

/// What the hub-wide, control and node channels start with: the prefix, as a hash tag when
/// sharded so that they share one slot.
fn fixed_prefix(prefix: &str, layout: Layout) -> String {
    match layout {
        Layout::Single => prefix.to_owned(),
        Layout::Sharded => format!("{{{prefix}}}"),
    }
}

fn node_channel(fixed_prefix: &str, node: u64) -> String {
    format!("{fixed_prefix}:node:{node:016x}")
}

/// A frame waiting for the publisher task.
pub(crate) struct Outgoing {
    pub(crate) channel: String,
    pub(crate) frame: Bytes,
    /// Whether this node itself listens on the channel (its own copy is not counted).
    pub(crate) self_listening: bool,
    pub(crate) done: Option<oneshot::Sender<RemoteDelivery>>,
}

/// The broker side of a hub: owned by the hub; its tasks end when it is dropped.
pub(crate) struct Cluster {
    pub(crate) node: u64,
    pub(crate) options: ClusterOptions,
    pub(crate) channels: Channels,
    pub(crate) stats: Arc<Stats>,
    publish: mpsc::Sender<Outgoing>,
    queued_bytes: Arc<AtomicUsize>,
    /// Held while a broadcast delivers locally and queues its frame, so the local order
    /// and the order on the broker are the same.
    pub(crate) order: Mutex<()>,
    /// Bumped when a room appears or disappears on this node.
    interest_version: AtomicU64,
    interest: Arc<Notify>,
    /// The interest version the broker's subscriptions match.
    synced: watch::Receiver<u64>,
    pub(crate) queries: Mutex<HashMap<u64, mpsc::Sender<u64>>>,
    next_query: AtomicU64,
    /// Dropping it stops the subscriber task.
    _stop: oneshot::Sender<()>,
}

/// The parts of a cluster its tasks own; started once the hub exists.
pub(crate) struct Tasks {
    transport: Arc<dyn Transport>,
    publish: mpsc::Receiver<Outgoing>,
    inbound: mpsc::Receiver<Inbound>,
    lost: Arc<Notify>,
    interest: Arc<Notify>,
    synced: watch::Sender<u64>,
    stop: oneshot::Receiver<()>,
    stats: Arc<Stats>,
    queued_bytes: Arc<AtomicUsize>,
    publish_timeout: Duration,
    health_interval: Duration,
}

/// A random node id, never 0 (0 marks frames from outside the cluster).
fn node_id() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    RandomState::new()
        .hash_one((nanos, std::process::id()))
        .max(1)
}

impl Cluster {
    /// A cluster over the transport `connect` builds from the sink it is given.
    pub(crate) fn new(
        options: ClusterOptions,
        layout: Layout,
        connect: impl FnOnce(InboundSink) -> Result<Arc<dyn Transport>, BrokerError>,
    ) -> Result<(Self, Tasks), BrokerError> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(BrokerError::NoRuntime);
        }
        let node = node_id();
        let stats = Arc::new(Stats::default());
        let (inbound_tx, inbound) = mpsc::channel(options.inbound_queue.max(1));
        let lost = Arc::new(Notify::new());
        let transport = connect(InboundSink {
            queue: inbound_tx,
            stats: stats.clone(),
            lost: lost.clone(),
        })?;
        let (publish_tx, publish) = mpsc::channel(options.publish_queue.max(1));
        let (synced_tx, synced) = watch::channel(0);
        let (stop_tx, stop) = oneshot::channel();
        let interest = Arc::new(Notify::new());
        let queued_bytes = Arc::new(AtomicUsize::new(0));
        let tasks = Tasks {
            transport,
            publish,
            inbound,
            lost,
            interest: interest.clone(),
            synced: synced_tx,
            stop,
            stats: stats.clone(),
            queued_bytes: queued_bytes.clone(),
            publish_timeout: options.publish_timeout,
            health_interval: options.health_interval,
        };
        let cluster = Self {
            node,
            channels: Channels::new(&options.prefix, node, layout),
            options,
            stats,
            publish: publish_tx,
            queued_bytes,
            order: Mutex::new(()),
            // 1, so that `synced` (0) is behind until the first subscription succeeds.
            interest_version: AtomicU64::new(1),
            interest,
            synced,
            queries: Mutex::new(HashMap::new()),
            next_query: AtomicU64::new(1),
            _stop: stop_tx,
        };
        Ok((cluster, tasks))
    }

    /// A room appeared or disappeared on this node: its subscription must follow.
    pub(crate) fn interest_changed(&self) {
        self.interest_version.fetch_add(1, Ordering::AcqRel);
        self.interest.notify_one();
    }

    /// Waits until the broker's subscriptions match this node's rooms as they are now.
    pub(crate) async fn synced(&self) {
        let version = self.interest_version.load(Ordering::Acquire);
        let mut synced = self.synced.clone();
        // The sender lives as long as the subscriber task, which outlives `self`.
        let _ = synced.wait_for(|v| *v >= version).await;
    }

    /// Waits, at most [`ClusterOptions::join_timeout`], for the subscriptions to cover a
    /// room just joined; not at all while the broker is down.
    pub(crate) async fn joined(&self) {
        if self.stats.status() == BrokerStatus::Down {
            return;
        }
        if tokio::time::timeout(self.options.join_timeout, self.synced())
            .await
            .is_err()
        {
            bump(&self.stats.join_timeouts, 1);
        }
    }

    /// Queues `frame` for `channel` without waiting; the receiver resolves with the outcome.
    pub(crate) fn queue(
        &self,
        channel: String,
        frame: Bytes,
        self_listening: bool,
        want_outcome: bool,
    ) -> Result<Option<oneshot::Receiver<RemoteDelivery>>, RemoteFailure> {
        if self.stats.status() == BrokerStatus::Down {
            bump(&self.stats.publish_rejected, 1);
            return Err(RemoteFailure::Unavailable);
        }
        let len = frame.len();
        let queued = self.queued_bytes.fetch_add(len, Ordering::AcqRel);
        if queued + len > self.options.publish_queue_bytes && queued > 0 {
            self.queued_bytes.fetch_sub(len, Ordering::AcqRel);
            bump(&self.stats.publish_rejected, 1);
            return Err(RemoteFailure::Overloaded);
        }
        let (done, outcome) = if want_outcome {
            let (tx, rx) = oneshot::channel();
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };
        let outgoing = Outgoing {
            channel,
            frame,
            self_listening,
            done,
        };
        if self.publish.try_send(outgoing).is_err() {
            self.queued_bytes.fetch_sub(len, Ordering::AcqRel);
            bump(&self.stats.publish_rejected, 1);
            return Err(RemoteFailure::Overloaded);
        }
        Ok(outcome)
    }

    /// Queues one frame for a broadcast; call under [`Cluster::order`].
    pub(crate) fn publish(
        &self,
        target: Target<'_>,
        message: &Message,
        self_listening: bool,
    ) -> Published {
        let frame = frame::message(self.node, message);
        match self.queue(self.channels.target(target), frame, self_listening, true) {
            Ok(Some(outcome)) => Published::Pending(outcome, self.options.publish_timeout),
            Ok(None) => Published::Done(RemoteDelivery::Local),
            Err(failure) => Published::Done(RemoteDelivery::Failed(failure)),
        }
    }

    pub(crate) fn next_query(&self) -> u64 {
        self.next_query.fetch_add(1, Ordering::Relaxed)
    }

    pub(crate) fn node_channel(&self, node: u64) -> String {
        node_channel(
            &fixed_prefix(&self.options.prefix, self.channels.layout),
            node,
        )
    }
}

/// A queued broadcast frame, to be awaited outside every lock.
pub(crate) enum Published {
    Done(RemoteDelivery),
    Pending(oneshot::Receiver<RemoteDelivery>, Duration),
}

impl Published {
    pub(crate) async fn outcome(self) -> RemoteDelivery {
        match self {
            Self::Done(outcome) => outcome,
            Self::Pending(outcome, limit) => match tokio::time::timeout(limit, outcome).await {
                Ok(Ok(outcome)) => outcome,
                Ok(Err(_)) => RemoteDelivery::Failed(RemoteFailure::Lost),
                Err(_) => RemoteDelivery::Failed(RemoteFailure::TimedOut),
            },
        }
    }
}

impl Tasks {
    /// Starts the publisher and subscriber tasks for the hub `inner` points to.
    pub(crate) fn spawn(self, hub: Weak<HubInner>) {
        tokio::spawn(publisher(
            self.transport.clone(),
            self.publish,
            self.stats.clone(),
            self.queued_bytes,
            self.publish_timeout,
        ));
        tokio::spawn(
            subscriber::Subscriber {
                hub,
                transport: self.transport,
                stats: self.stats,
                subscribed: Default::default(),
                synced: self.synced,
                ever_synced: false,
                health_interval: self.health_interval,
            }
            .run(self.inbound, self.lost, self.interest, self.stop),
        );
    }
}

/// Publishes queued frames in order, as many per round trip as are waiting; ends when the
/// cluster (the queue's sender) is dropped.
async fn publisher(
    transport: Arc<dyn Transport>,
    mut queue: mpsc::Receiver<Outgoing>,
    stats: Arc<Stats>,
    queued_bytes: Arc<AtomicUsize>,
    limit: Duration,
) {
    const BATCH: usize = 256;
    let mut batch = Vec::with_capacity(BATCH);
    while queue.recv_many(&mut batch, BATCH).await > 0 {
        let frames: Vec<(String, Bytes)> = batch
            .iter_mut()
            .map(|o| (std::mem::take(&mut o.channel), o.frame.clone()))
            .collect();
        let bytes: usize = frames.iter().map(|(_, f)| f.len()).sum();
        let result = match tokio::time::timeout(limit, transport.publish(&frames)).await {
            Ok(result) => result.map_err(|e| (RemoteFailure::Lost, e.to_string())),
            Err(_) => Err((RemoteFailure::TimedOut, "publish timed out".to_owned())),
        };
        queued_bytes.fetch_sub(bytes, Ordering::AcqRel);
        match result {
            Ok(receivers) => {
                bump(&stats.published, batch.len() as u64);
                for (outgoing, receivers) in batch.drain(..).zip(receivers) {
                    let nodes = receivers.saturating_sub(usize::from(outgoing.self_listening));
                    if let Some(done) = outgoing.done {
                        let _ = done.send(RemoteDelivery::Published { nodes });
                    }
                }
            }
            Err((failure, error)) => {
                bump(&stats.publish_failed, batch.len() as u64);
                if stats.set_down(error.clone()) {
                    tracing::warn!(%error, "broker publish failed; remote delivery suspended");
                }
                for outgoing in batch.drain(..) {
                    if let Some(done) = outgoing.done {
                        let _ = done.send(RemoteDelivery::Failed(failure));
                    }
                }
            }
        }
        batch.clear();
    }
}

/// Starts a cluster for a new hub.
pub(crate) fn start(
    options: ClusterOptions,
    layout: Layout,
    connect: impl FnOnce(InboundSink) -> Result<Arc<dyn Transport>, BrokerError>,
) -> Result<crate::Hub, BrokerError> {
    let (cluster, tasks) = Cluster::new(options, layout, connect)?;
    let inner = Arc::new(HubInner::with_cluster(cluster));
    tasks.spawn(Arc::downgrade(&inner));
    Ok(crate::Hub { inner })
}
