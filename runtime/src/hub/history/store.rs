//! The hub's histories: one [`RoomLog`] per room that keeps one, made on first use from the
//! [`HistoryRules`], their number bounded by [`HistoryRules::max_rooms`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Instant;

use super::config::{History, HistoryRules};
use super::ring::RoomLog;
use crate::hub::registry::Registry;

/// A room's history, locked by whoever numbers a push of the room or joins it.
pub(crate) type SharedLog = Arc<Mutex<RoomLog>>;

/// Lock order: the hub's registry, then `logs`, then one room's log (never while holding
/// a room's log lock is `logs` taken).
#[derive(Default)]
pub(crate) struct Histories {
    enabled: AtomicBool,
    rules: RwLock<Arc<HistoryRules>>,
    logs: RwLock<HashMap<String, SharedLog>>,
    /// Payload bytes kept by every room's history.
    bytes: AtomicUsize,
}

pub(crate) fn lock(log: &SharedLog) -> std::sync::MutexGuard<'_, RoomLog> {
    log.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Histories {
    pub(crate) fn set_rules(&self, rules: HistoryRules) {
        self.enabled.store(!rules.is_empty(), Ordering::Release);
        *self.rules.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(rules);
    }

    /// What `room`'s history keeps, if it keeps one.
    pub(crate) fn config(&self, room: &str) -> Option<History> {
        if !self.enabled.load(Ordering::Acquire) {
            return None;
        }
        self.rules
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .for_room(room)
    }

    pub(crate) fn is_enabled(&self) -> bool {
        self.enabled.load(Ordering::Acquire)
    }

    /// `room`'s history if it exists.
    pub(crate) fn existing(&self, room: &str) -> Option<SharedLog> {
        self.logs
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(room)
            .cloned()
    }

    /// `room`'s history, made when the rules give it one and it has none yet. `registry`
    /// is the hub's state, locked by the caller: which rooms have members.
    pub(crate) fn log(&self, room: &str, registry: &Registry) -> Option<SharedLog> {
        if let Some(log) = self.existing(room) {
            return Some(log);
        }
        let config = self.config(room)?;
        let limit = self
            .rules
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .room_limit();
        let mut logs = self.logs.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(log) = logs.get(room) {
            return Some(log.clone());
        }
        if logs.len() >= limit {
            self.evict(&mut logs, registry, limit);
        }
        let log = Arc::new(Mutex::new(RoomLog::new(config)));
        logs.insert(room.to_owned(), log.clone());
        crate::metrics::history_rooms(logs.len());
        Some(log)
    }

    /// Drops the histories of rooms without members here whose pushes all expired; then,
    /// while still at `limit`, the one pushed to least recently.
    fn evict(&self, logs: &mut HashMap<String, SharedLog>, registry: &Registry, limit: usize) {
        let now = Instant::now();
        let idle = |room: &String| !registry.rooms.contains_key(room);
        let spent: Vec<String> = logs
            .iter()
            .filter(|(room, log)| idle(room) && lock(log).is_spent(now))
            .map(|(room, _)| room.clone())
            .collect();
        for room in spent {
            self.drop_log(logs, &room);
        }
        while logs.len() >= limit {
            let oldest = logs
                .iter()
                .filter(|(room, _)| idle(room))
                .min_by_key(|(_, log)| lock(log).touched)
                .map(|(room, _)| room.clone());
            match oldest {
                Some(room) => self.drop_log(logs, &room),
                // Every history has members: they bound it.
                None => break,
            }
        }
    }

    fn drop_log(&self, logs: &mut HashMap<String, SharedLog>, room: &str) {
        if let Some(log) = logs.remove(room) {
            self.account(-(lock(&log).bytes() as isize));
        }
    }

    /// Adds `delta` payload bytes to the total.
    pub(crate) fn account(&self, delta: isize) {
        if delta >= 0 {
            self.bytes.fetch_add(delta as usize, Ordering::Relaxed);
        } else {
            self.bytes
                .fetch_sub(delta.unsigned_abs(), Ordering::Relaxed);
        }
        crate::metrics::history_bytes(self.bytes());
    }

    /// Payload bytes kept by every room's history.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes.load(Ordering::Relaxed)
    }

    /// How many rooms have a history.
    pub(crate) fn rooms(&self) -> usize {
        self.logs
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}
