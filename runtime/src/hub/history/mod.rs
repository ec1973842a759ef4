//! Room history and recovery across reconnects: what a room keeps ([`HistoryRules`]), the
//! offsets and epochs its pushes carry, and the replay a reconnecting connection gets (the
//! semantics are documented on `Hub::with_history`, from `history.md`).

mod config;
mod envelope;
mod epoch;
mod join;
mod push;
mod ring;
mod since;
pub(crate) mod store;

use std::sync::Arc;

pub use config::{History, HistoryRules, DEFAULT_MAX_ROOMS};
pub(crate) use envelope::NumberedPush;
pub use envelope::JOINED_EVENT;
pub use since::{InvalidSince, SincePosition, SincePositions, MAX_SINCE_POSITIONS};

use crate::hub::Hub;
use store::lock;

/// Where a room's history stands.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HistoryState {
    /// The history's epoch: it changes exactly when continuity is lost.
    pub epoch: Arc<str>,
    /// The latest push's offset (0 before the first).
    pub offset: u64,
    /// Pushes kept (at most the room's [`History::max_pushes`]).
    pub kept: usize,
    /// Their payload bytes.
    pub bytes: usize,
}

impl Hub {
    /// Keeps a history for the rooms `rules` name: their pushes through
    /// [`Hub::emit_room`](crate::Hub::emit_room) and
    /// [`Hub::emit_room_except`](crate::Hub::emit_room_except) are numbered and kept, every
    /// join is announced with `$joined`, and a reconnecting connection's `since` positions
    /// are replayed. Call it when building the hub; the histories made so far keep their
    /// settings.
    ///
    /// An in-process hub only, for now: on a hub that spans processes the rules are
    /// ignored and pushes go out without positions.
    ///
    /// ```
    /// use std::time::Duration;
    /// use ws_controller::{History, HistoryRules, Hub};
    ///
    /// let hub = Hub::new().with_history(
    ///     HistoryRules::new().prefix("feed:", History::size(100).ttl(Duration::from_secs(300))),
    /// );
    /// # let _ = hub;
    /// ```
    #[doc = include_str!("history.md")]
    pub fn with_history(self, rules: HistoryRules) -> Self {
        if self.inner.cluster.is_some() && !rules.is_empty() {
            tracing::warn!("room history is in-process only for now: rules ignored");
        }
        self.inner.histories.set_rules(rules);
        self
    }

    /// What `room`'s history keeps, if it keeps one.
    pub fn history_of(&self, room: &str) -> Option<History> {
        if self.inner.cluster.is_some() {
            return None;
        }
        self.inner.histories.config(room)
    }

    /// True when some room keeps a history (what makes upgrades parse `since`).
    pub fn has_history(&self) -> bool {
        self.inner.cluster.is_none() && self.inner.histories.is_enabled()
    }

    /// Where `room`'s history stands, once it exists (its first push or join).
    pub fn history_state(&self, room: &str) -> Option<HistoryState> {
        let log = self.inner.histories.existing(room)?;
        let log = lock(&log);
        Some(HistoryState {
            epoch: log.epoch().clone(),
            offset: log.last(),
            kept: log.len(),
            bytes: log.bytes(),
        })
    }

    /// Payload bytes kept by every room's history of this hub.
    pub fn history_bytes(&self) -> usize {
        self.inner.histories.bytes()
    }

    /// How many rooms have a history (bounded by [`HistoryRules::max_rooms`]).
    pub fn history_rooms(&self) -> usize {
        self.inner.histories.rooms()
    }
}
