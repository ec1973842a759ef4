//! What a room's history keeps: [`History`] per room name or room-name prefix, in
//! [`HistoryRules`].

use std::collections::HashMap;
use std::time::Duration;

/// How many rooms' histories a hub keeps, at most, unless
/// [`HistoryRules::max_rooms`] says otherwise.
pub const DEFAULT_MAX_ROOMS: usize = 10_000;

/// What one room's history keeps: its last `size` pushes, each for at most `ttl`.
///
/// A size is required, so that a room's memory is bounded by its configuration whatever
/// the traffic; a TTL is optional.
///
/// ```
/// use std::time::Duration;
/// use ws_controller::History;
///
/// let history = History::size(100).ttl(Duration::from_secs(300));
/// assert_eq!(history.max_pushes(), 100);
/// assert_eq!(history.max_age(), Some(Duration::from_secs(300)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct History {
    size: usize,
    ttl: Option<Duration>,
}

impl History {
    /// Keeps the last `size` pushes (at least 1).
    pub const fn size(size: usize) -> Self {
        Self {
            size: if size == 0 { 1 } else { size },
            ttl: None,
        }
    }

    /// Forgets a push `ttl` after it was made.
    pub const fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(ttl);
        self
    }

    /// How many pushes are kept.
    pub const fn max_pushes(&self) -> usize {
        self.size
    }

    /// How long a push is kept, if it expires.
    pub const fn max_age(&self) -> Option<Duration> {
        self.ttl
    }
}

/// Which rooms of a [`Hub`](crate::Hub) keep a history, and what each keeps: an exact room
/// name wins over a prefix, and the longest matching prefix wins over shorter ones.
///
/// ```
/// use std::time::Duration;
/// use ws_controller::{History, HistoryRules, Hub};
///
/// let hub = Hub::new().with_history(
///     HistoryRules::new()
///         .prefix("feed:", History::size(100).ttl(Duration::from_secs(300)))
///         .room("lobby", History::size(10)),
/// );
/// assert!(hub.history_of("feed:rust").is_some());
/// assert!(hub.history_of("chat").is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryRules {
    rooms: HashMap<String, History>,
    /// Longest first, so the first match is the most specific.
    prefixes: Vec<(String, History)>,
    max_rooms: usize,
}

impl Default for HistoryRules {
    fn default() -> Self {
        Self::new()
    }
}

impl HistoryRules {
    /// No room has a history.
    pub fn new() -> Self {
        Self {
            rooms: HashMap::new(),
            prefixes: Vec::new(),
            max_rooms: DEFAULT_MAX_ROOMS,
        }
    }

    /// The room named `room` keeps `history`.
    pub fn room(mut self, room: impl Into<String>, history: History) -> Self {
        self.rooms.insert(room.into(), history);
        self
    }

    /// Every room whose name starts with `prefix` keeps `history` (`""` matches every
    /// room).
    pub fn prefix(mut self, prefix: impl Into<String>, history: History) -> Self {
        let prefix = prefix.into();
        self.prefixes.retain(|(p, _)| *p != prefix);
        self.prefixes.push((prefix, history));
        self.prefixes
            .sort_by_key(|(prefix, _)| std::cmp::Reverse(prefix.len()));
        self
    }

    /// Keeps the histories of at most `rooms` rooms (default [`DEFAULT_MAX_ROOMS`], at
    /// least 1). Beyond it, a new room's history replaces the one of the room without
    /// members here that was pushed to least recently; rooms with members are never
    /// dropped, so the bound is `max(rooms, rooms with members)`.
    pub fn max_rooms(mut self, rooms: usize) -> Self {
        self.max_rooms = rooms.max(1);
        self
    }

    /// The history `room` keeps, if any.
    pub fn for_room(&self, room: &str) -> Option<History> {
        if let Some(history) = self.rooms.get(room) {
            return Some(*history);
        }
        self.prefixes
            .iter()
            .find(|(prefix, _)| room.starts_with(prefix.as_str()))
            .map(|(_, history)| *history)
    }

    /// The bound on the number of rooms' histories.
    pub fn room_limit(&self) -> usize {
        self.max_rooms
    }

    /// True when no room keeps a history.
    pub fn is_empty(&self) -> bool {
        self.rooms.is_empty() && self.prefixes.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_names_win_then_the_longest_prefix() {
        let rules = HistoryRules::new()
            .prefix("a", History::size(1))
            .prefix("ab", History::size(2))
            .room("abc", History::size(3));
        assert_eq!(rules.for_room("abc").map(|h| h.max_pushes()), Some(3));
        assert_eq!(rules.for_room("abd").map(|h| h.max_pushes()), Some(2));
        assert_eq!(rules.for_room("ax").map(|h| h.max_pushes()), Some(1));
        assert_eq!(rules.for_room("b"), None);
    }

    #[test]
    fn a_size_of_zero_keeps_one() {
        assert_eq!(History::size(0).max_pushes(), 1);
    }
}
