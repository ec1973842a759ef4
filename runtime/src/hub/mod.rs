//! The connection registry: every open connection of one or more controllers, rooms, and
//! broadcasts that encode once and never wait on one slow client.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

mod events;
pub mod shutdown;

use serde::Serialize;
use tokio::sync::Notify;

use crate::connection::close::CloseCode;
use crate::connection::conn::{ConnId, Sender, TrySendError};
use crate::connection::error::ConnError;
use crate::connection::message::Message;
use crate::connection::settings::SlowConsumer;

/// Reason of the 1008 close sent to a connection that cannot keep up with broadcasts.
pub const TOO_SLOW_REASON: &str = "connection too slow";

/// A registry of open connections, with rooms and broadcasts. Cloning is cheap (one `Arc`).
///
/// A connection joins when its controller names the hub ([`Controller::hub`](crate::Controller::hub)),
/// or by [`Hub::register`]; it leaves by itself when its task ends, whatever ended it.
///
/// A broadcast clones the message once per recipient, which shares its bytes (no copy, no
/// re-encoding), and queues it without waiting. When a connection's queue is full its
/// [`SlowConsumer`] policy decides: close it with 1008 (default), drop the message, or wait.
#[derive(Clone, Default)]
pub struct Hub {
    pub(crate) inner: Arc<HubInner>,
}

#[derive(Default)]
pub(crate) struct HubInner {
    state: RwLock<State>,
    pub(crate) shutting_down: AtomicBool,
    /// Notified whenever a connection leaves.
    pub(crate) left: Notify,
}

#[derive(Default)]
struct State {
    members: HashMap<ConnId, Member>,
    rooms: HashMap<String, HashSet<ConnId>>,
}

struct Member {
    sender: Sender,
    rooms: HashSet<String>,
}

/// What a broadcast did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BroadcastReport {
    /// Connections the message was queued for.
    pub delivered: usize,
    /// Connections that missed it under [`SlowConsumer::DropNewest`].
    pub dropped: usize,
    /// Connections closed with 1008 under [`SlowConsumer::Close`].
    pub closed: usize,
}

impl Hub {
    /// An empty hub.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a connection; it is removed when its task ends. Registering twice is a no-op.
    /// A connection registered while the hub shuts down is closed at once.
    pub fn register(&self, conn: &Sender) {
        let id = conn.id();
        {
            let mut state = self.write();
            if state.members.contains_key(&id) {
                return;
            }
            state.members.insert(
                id,
                Member {
                    sender: conn.clone(),
                    rooms: HashSet::new(),
                },
            );
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
        let mut state = self.write();
        if let Some(member) = state.members.remove(&id) {
            for room in member.rooms {
                if let Some(ids) = state.rooms.get_mut(&room) {
                    ids.remove(&id);
                    if ids.is_empty() {
                        state.rooms.remove(&room);
                    }
                }
            }
        }
        drop(state);
        self.inner.left.notify_waiters();
    }

    /// How many connections are registered.
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
    pub fn join(&self, id: ConnId, room: &str) -> bool {
        let mut state = self.write();
        let Some(member) = state.members.get_mut(&id) else {
            return false;
        };
        member.rooms.insert(room.to_owned());
        state.rooms.entry(room.to_owned()).or_default().insert(id);
        true
    }

    /// Takes a connection out of `room`; false when it was not in it.
    pub fn leave(&self, id: ConnId, room: &str) -> bool {
        let mut state = self.write();
        let Some(member) = state.members.get_mut(&id) else {
            return false;
        };
        if !member.rooms.remove(room) {
            return false;
        }
        if let Some(ids) = state.rooms.get_mut(room) {
            ids.remove(&id);
            if ids.is_empty() {
                state.rooms.remove(room);
            }
        }
        true
    }

    /// The members of `room`.
    pub fn room(&self, room: &str) -> Vec<ConnId> {
        self.read()
            .rooms
            .get(room)
            .map(|ids| ids.iter().copied().collect())
            .unwrap_or_default()
    }

    /// The rooms a connection is in.
    pub fn rooms_of(&self, id: ConnId) -> Vec<String> {
        self.read()
            .members
            .get(&id)
            .map(|m| m.rooms.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Sends to every registered connection.
    pub async fn broadcast(&self, message: impl Into<Message>) -> BroadcastReport {
        self.deliver(message.into(), |_, _| true).await
    }

    /// Sends to the members of `room`.
    pub async fn broadcast_room(&self, room: &str, message: impl Into<Message>) -> BroadcastReport {
        let message = message.into();
        let members: HashSet<ConnId> = self.read().rooms.get(room).cloned().unwrap_or_default();
        self.deliver(message, |id, _| members.contains(&id)).await
    }

    /// Sends to every registered connection but `except` (typically the sender).
    pub async fn broadcast_except(
        &self,
        except: ConnId,
        message: impl Into<Message>,
    ) -> BroadcastReport {
        self.deliver(message.into(), |id, _| id != except).await
    }

    /// Sends to the connections `filter` accepts.
    pub async fn broadcast_filter(
        &self,
        message: impl Into<Message>,
        filter: impl Fn(&Sender) -> bool,
    ) -> BroadcastReport {
        self.deliver(message.into(), |_, sender| filter(sender))
            .await
    }

    /// Serializes `value` once and sends it to every registered connection as JSON text.
    pub async fn broadcast_json<T: Serialize + ?Sized>(
        &self,
        value: &T,
    ) -> Result<BroadcastReport, ConnError> {
        let text = serde_json::to_string(value).map_err(ConnError::Encode)?;
        Ok(self.broadcast(Message::Text(text.into())).await)
    }

    /// Queues `message` for every member `select` accepts, applying each slow consumer's
    /// policy. Only [`SlowConsumer::Wait`] recipients are awaited, after everyone else has
    /// been served, so one slow client never delays the rest.
    async fn deliver(
        &self,
        message: Message,
        select: impl Fn(ConnId, &Sender) -> bool,
    ) -> BroadcastReport {
        let mut report = BroadcastReport::default();
        let mut waiting = Vec::new();
        {
            let state = self.read();
            for (id, member) in &state.members {
                if !select(*id, &member.sender) {
                    continue;
                }
                match member.sender.try_send(message.clone()) {
                    Ok(()) => report.delivered += 1,
                    Err(TrySendError::Closed(_)) => {}
                    Err(TrySendError::Full(message)) => match member.sender.shared.slow_consumer {
                        SlowConsumer::Close => {
                            member.sender.shared.request_close(
                                CloseCode::POLICY_VIOLATION,
                                TOO_SLOW_REASON,
                                false,
                            );
                            report.closed += 1;
                        }
                        SlowConsumer::DropNewest => report.dropped += 1,
                        SlowConsumer::Wait => waiting.push((member.sender.clone(), message)),
                    },
                }
            }
        }
        let sends = waiting
            .iter()
            .map(|(sender, message)| sender.send(message.clone()));
        for result in futures_util::future::join_all(sends).await {
            if result.is_ok() {
                report.delivered += 1;
            }
        }
        report
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

    fn read(&self) -> RwLockReadGuard<'_, State> {
        self.inner
            .state
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.inner
            .state
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("connections", &self.count())
            .field("shutting_down", &self.is_shutting_down())
            .finish()
    }
}
