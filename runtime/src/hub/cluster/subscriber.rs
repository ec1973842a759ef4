//! The subscriber task: keeps the broker's subscriptions equal to this node's interest,
//! hands received messages to local connections, answers queries, and watches the
//! broker's health.

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch, Notify};

use super::frame::{self, Frame};
use super::state::{bump, Stats};
use super::transport::{Inbound, Transport};
use super::{Channel, Cluster};
use crate::hub::deliver::fan_out;
use crate::hub::report::BroadcastReport;
use crate::hub::{HubInner, Registry};

/// Channels per SUBSCRIBE or UNSUBSCRIBE command.
const CHUNK: usize = 512;

pub(super) struct Subscriber {
    pub(super) hub: Weak<HubInner>,
    pub(super) transport: Arc<dyn Transport>,
    pub(super) stats: Arc<Stats>,
    /// What the broker has confirmed (as far as this task knows).
    pub(super) subscribed: HashSet<String>,
    pub(super) synced: watch::Sender<u64>,
    /// Set once the broker confirmed a first set of subscriptions.
    pub(super) ever_synced: bool,
    pub(super) health_interval: Duration,
}

impl Subscriber {
    pub(super) async fn run(
        mut self,
        mut inbound: mpsc::Receiver<Inbound>,
        lost: Arc<Notify>,
        interest: Arc<Notify>,
        mut stop: oneshot::Receiver<()>,
    ) {
        let mut health = tokio::time::interval(self.health_interval);
        health.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                _ = &mut stop => break,
                () = lost.notified() => {
                    self.forget_subscriptions();
                    if self.stats.set_down("subscription connection lost".to_owned()) {
                        tracing::warn!("broker subscription lost; resubscribing");
                    }
                    self.reconcile().await;
                }
                Some(message) = inbound.recv() => self.receive(message),
                () = interest.notified() => self.reconcile().await,
                _ = health.tick() => {
                    self.check_health().await;
                    self.reconcile().await;
                }
            }
            if self.hub.strong_count() == 0 {
                break;
            }
        }
        tracing::debug!("broker subscriber stopped");
    }

    async fn check_health(&mut self) {
        match self.transport.ping().await {
            Ok(()) => {
                if self.stats.set_up() {
                    tracing::info!("broker connected");
                    // After an outage nothing can be assumed about the subscriptions.
                    self.forget_subscriptions();
                }
            }
            Err(error) => {
                self.forget_subscriptions();
                if self.stats.set_down(error.to_string()) {
                    tracing::warn!(%error, "broker unreachable; serving locally, retrying");
                }
            }
        }
    }

    /// Subscribes to the channels of rooms that appeared, unsubscribes from those that
    /// disappeared; on failure, the next health check retries.
    async fn reconcile(&mut self) {
        let Some(hub) = self.hub.upgrade() else {
            return;
        };
        let Some(cluster) = hub.cluster.as_ref() else {
            return;
        };
        let version = cluster.interest_version.load(Ordering::Acquire);
        if *self.synced.borrow() >= version && !self.subscribed.is_empty() {
            return;
        }
        let mut wanted: HashSet<String> = cluster.channels.fixed().into_iter().collect();
        wanted.extend(
            super::super::read(&hub.state)
                .rooms
                .keys()
                .map(|room| cluster.channels.room(room)),
        );
        drop(hub);
        let resubscribing = self.subscribed.is_empty() && self.ever_synced;
        let add: Vec<String> = wanted.difference(&self.subscribed).cloned().collect();
        let remove: Vec<String> = self.subscribed.difference(&wanted).cloned().collect();
        for chunk in add.chunks(CHUNK) {
            if let Err(error) = self.transport.subscribe(chunk).await {
                self.fail(error.to_string());
                return;
            }
            self.subscribed.extend(chunk.iter().cloned());
        }
        for chunk in remove.chunks(CHUNK) {
            if let Err(error) = self.transport.unsubscribe(chunk).await {
                self.fail(error.to_string());
                return;
            }
            for channel in chunk {
                self.subscribed.remove(channel);
            }
        }
        if resubscribing {
            bump(&self.stats.resubscriptions, 1);
            tracing::info!(
                channels = self.subscribed.len(),
                "broker subscriptions restored"
            );
        }
        self.stats.set_up();
        self.stats
            .subscriptions
            .store(self.subscribed.len(), Ordering::Relaxed);
        self.ever_synced = true;
        self.synced.send_replace(version);
    }

    /// The broker holds none of this node's subscriptions any more (as far as it can tell):
    /// everything is subscribed again, and `broker_synced` waits for it.
    fn forget_subscriptions(&mut self) {
        self.subscribed.clear();
        self.stats.subscriptions.store(0, Ordering::Relaxed);
        self.synced.send_replace(0);
    }

    fn fail(&mut self, error: String) {
        if self.stats.set_down(error.clone()) {
            tracing::warn!(%error, "broker subscription failed; retrying");
        }
    }

    fn receive(&mut self, inbound: Inbound) {
        bump(&self.stats.received, 1);
        let Some(hub) = self.hub.upgrade() else {
            return;
        };
        let Some(cluster) = hub.cluster.as_ref() else {
            return;
        };
        let Some(channel) = cluster.channels.classify(&inbound.channel) else {
            return;
        };
        let frame = match frame::decode(inbound.payload) {
            Ok(frame) => frame,
            Err(error) => {
                bump(&self.stats.invalid_frames, 1);
                tracing::debug!(%error, "broker frame ignored");
                return;
            }
        };
        match (frame, channel) {
            // No echo: this node delivered its own broadcasts directly.
            (Frame::Message { origin, .. }, _) if origin == cluster.node => {}
            (Frame::Message { message, .. }, Channel::All) => {
                let registry = super::super::read(&hub.state);
                let members = registry.members.values().map(|m| &m.sender);
                deliver_remote(&self.stats, members, &message);
            }
            (Frame::Message { message, .. }, Channel::Room(room)) => {
                let registry = super::super::read(&hub.state);
                if let Some(members) = registry.rooms.get(room) {
                    deliver_remote(&self.stats, members.values(), &message);
                }
            }
            (
                Frame::Count {
                    origin,
                    query,
                    room,
                },
                Channel::Control,
            ) if origin != cluster.node => {
                let count = local_count(&super::super::read(&hub.state), room.as_deref());
                let reply = frame::count_reply(cluster.node, query, count as u64);
                // Best effort: an asker that gets no reply counts this node as silent.
                let _ = cluster.queue(cluster.node_channel(origin), reply, false, false);
            }
            (Frame::CountReply { query, count, .. }, Channel::Node) => {
                answer(cluster, query, count)
            }
            _ => bump(&self.stats.invalid_frames, 1),
        }
    }
}

fn deliver_remote<'a>(
    stats: &Stats,
    members: impl Iterator<Item = &'a crate::Sender>,
    message: &crate::Message,
) {
    let mut report = BroadcastReport::default();
    // A message from another node cannot hold that node back: `Wait` recipients miss it.
    let waiting = fan_out(members, message, false, &mut report);
    debug_assert!(waiting.is_empty());
    let missed = report.dropped + report.closed;
    bump(&stats.remote_missed, missed as u64);
    crate::metrics::remote_broadcast(report.delivered, missed);
}

pub(super) fn local_count(registry: &Registry, room: Option<&str>) -> usize {
    match room {
        None => registry.members.len(),
        Some(room) => registry.rooms.get(room).map_or(0, |m| m.len()),
    }
}

fn answer(cluster: &Cluster, query: u64, count: u64) {
    let queries = cluster
        .queries
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(replies) = queries.get(&query) {
        let _ = replies.try_send(count);
    }
}
