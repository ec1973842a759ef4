//! One room's history: its epoch, its last offset, and the pushes it still keeps, bounded
//! by its [`History`].

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use ws_controller_protocol::Message;

use super::config::History;
use super::epoch::new_epoch;
use crate::connection::prepared::PreparedMessage;

/// A room's history. Its offsets are assigned and its ring appended under the room's lock,
/// together with the push's fan-out (see `Hub::push_numbered`).
pub(crate) struct RoomLog {
    epoch: Arc<str>,
    config: History,
    /// The offset of the latest push (0 before the first).
    last: u64,
    entries: VecDeque<Entry>,
    /// Payload bytes of `entries`.
    bytes: usize,
    /// When the latest push was made (or the history was made), for eviction.
    pub(crate) touched: Instant,
}

struct Entry {
    offset: u64,
    at: Instant,
    message: PreparedMessage,
}

/// Why a position cannot be recovered from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unrecoverable {
    /// The position names another epoch.
    Epoch,
    /// The pushes after the position are no longer all kept.
    TooOld,
    /// The position is after the latest push.
    Future,
}

impl RoomLog {
    pub(crate) fn new(config: History) -> Self {
        Self::with_epoch(config, new_epoch())
    }

    /// A history continuing `epoch` (a store that numbers pushes elsewhere).
    pub(crate) fn with_epoch(config: History, epoch: Arc<str>) -> Self {
        Self {
            epoch,
            config,
            last: 0,
            entries: VecDeque::with_capacity(config.max_pushes().min(16)),
            bytes: 0,
            touched: Instant::now(),
        }
    }

    pub(crate) fn epoch(&self) -> &Arc<str> {
        &self.epoch
    }

    /// The offset of the latest push, 0 before the first.
    pub(crate) fn last(&self) -> u64 {
        self.last
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Numbers the next push, builds its message from the epoch and the offset, and keeps
    /// it; returns it prepared, to fan out. Returns the change of payload bytes too.
    pub(crate) fn append(
        &mut self,
        build: impl FnOnce(&str, u64) -> Message,
    ) -> (PreparedMessage, isize) {
        let now = Instant::now();
        let before = self.bytes;
        self.expire(now);
        self.last += 1;
        let message = PreparedMessage::new(build(&self.epoch, self.last));
        self.bytes += message.message().len();
        self.entries.push_back(Entry {
            offset: self.last,
            at: now,
            message: message.clone(),
        });
        while self.entries.len() > self.config.max_pushes() {
            self.pop();
        }
        self.touched = now;
        (message, self.bytes as isize - before as isize)
    }

    /// Forgets the pushes older than the TTL; returns the payload bytes freed.
    pub(crate) fn expire(&mut self, now: Instant) -> usize {
        let Some(ttl) = self.config.max_age() else {
            return 0;
        };
        let before = self.bytes;
        while self
            .entries
            .front()
            .is_some_and(|e| now.saturating_duration_since(e.at) >= ttl)
        {
            self.pop();
        }
        before - self.bytes
    }

    /// True when every push it kept has expired (or it kept none) and `ttl` has passed
    /// since the latest: nothing is lost by dropping it.
    pub(crate) fn is_spent(&self, now: Instant) -> bool {
        self.config
            .max_age()
            .is_some_and(|ttl| now.saturating_duration_since(self.touched) >= ttl)
    }

    fn pop(&mut self) {
        if let Some(entry) = self.entries.pop_front() {
            self.bytes -= entry.message.message().len();
        }
    }

    /// The pushes after `offset` of `epoch`, in order, when all of them are kept.
    pub(crate) fn after(
        &self,
        epoch: &str,
        offset: u64,
    ) -> Result<impl Iterator<Item = &PreparedMessage>, Unrecoverable> {
        if epoch != &*self.epoch {
            return Err(Unrecoverable::Epoch);
        }
        if offset > self.last {
            return Err(Unrecoverable::Future);
        }
        // The first offset kept; with nothing kept, the next push's.
        let first = self.entries.front().map_or(self.last + 1, |e| e.offset);
        if offset + 1 < first {
            return Err(Unrecoverable::TooOld);
        }
        let skip = (offset + 1 - first) as usize;
        Ok(self.entries.iter().skip(skip).map(|e| &e.message))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn push(log: &mut RoomLog, text: &str) {
        log.append(|_, offset| Message::text(format!("{offset}:{text}")));
    }

    fn texts<'a>(messages: impl Iterator<Item = &'a PreparedMessage>) -> Vec<String> {
        messages
            .map(|m| m.message().as_text().unwrap_or_default().to_owned())
            .collect()
    }

    #[test]
    fn keeps_the_last_size_pushes_and_counts_their_bytes() {
        let mut log = RoomLog::new(History::size(2));
        for text in ["a", "b", "c"] {
            push(&mut log, text);
        }
        assert_eq!((log.last(), log.len(), log.bytes()), (3, 2, 6));
        let epoch = log.epoch().clone();
        assert_eq!(texts(log.after(&epoch, 1).unwrap()), ["2:b", "3:c"]);
        assert_eq!(texts(log.after(&epoch, 3).unwrap()), Vec::<String>::new());
        assert_eq!(log.after(&epoch, 0).err(), Some(Unrecoverable::TooOld));
        assert_eq!(log.after(&epoch, 4).err(), Some(Unrecoverable::Future));
        assert_eq!(log.after("other", 3).err(), Some(Unrecoverable::Epoch));
    }

    #[test]
    fn an_empty_history_recovers_from_zero_only() {
        let log = RoomLog::new(History::size(2));
        let epoch = log.epoch().clone();
        assert_eq!(log.after(&epoch, 0).map(|m| m.count()), Ok(0));
        assert_eq!(log.after(&epoch, 1).err(), Some(Unrecoverable::Future));
    }

    #[test]
    fn expired_pushes_are_forgotten() {
        let mut log = RoomLog::new(History::size(10).ttl(Duration::from_millis(10)));
        push(&mut log, "a");
        let later = Instant::now() + Duration::from_millis(20);
        assert_eq!(log.expire(later), 3);
        assert_eq!((log.len(), log.bytes(), log.last()), (0, 0, 1));
        let epoch = log.epoch().clone();
        assert_eq!(log.after(&epoch, 0).err(), Some(Unrecoverable::TooOld));
        assert_eq!(log.after(&epoch, 1).map(|m| m.count()), Ok(0));
        assert!(log.is_spent(later));
    }
}
