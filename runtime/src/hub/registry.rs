//! The hub's state: connections, and rooms holding their members' senders so that a room
//! operation costs O(room), whatever the number of other connections.

use std::collections::{HashMap, HashSet};

use crate::connection::conn::ConnId;
use crate::connection::sender::Sender;

#[derive(Default)]
pub(crate) struct Registry {
    pub(crate) members: HashMap<ConnId, Member>,
    pub(crate) rooms: HashMap<String, HashMap<ConnId, Sender>>,
}

pub(crate) struct Member {
    pub(crate) sender: Sender,
    pub(crate) rooms: HashSet<String>,
}

/// Whether a change made a room appear or disappear on this node (what a broker
/// subscription follows).
#[must_use]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Interest {
    Unchanged,
    Changed,
}

impl Registry {
    /// False when `id` was already registered.
    pub(crate) fn insert(&mut self, sender: &Sender) -> bool {
        let id = sender.id();
        if self.members.contains_key(&id) {
            return false;
        }
        self.members.insert(
            id,
            Member {
                sender: sender.clone(),
                rooms: HashSet::new(),
            },
        );
        true
    }

    pub(crate) fn remove(&mut self, id: ConnId) -> Interest {
        let mut interest = Interest::Unchanged;
        if let Some(member) = self.members.remove(&id) {
            for room in member.rooms {
                if self.drop_from_room(&room, id) {
                    interest = Interest::Changed;
                }
            }
        }
        interest
    }

    /// `None` when `id` is not registered.
    pub(crate) fn join(&mut self, id: ConnId, room: &str) -> Option<Interest> {
        let member = self.members.get_mut(&id)?;
        if !member.rooms.insert(room.to_owned()) {
            return Some(Interest::Unchanged);
        }
        let sender = member.sender.clone();
        let interest = match self.rooms.get_mut(room) {
            Some(ids) => {
                ids.insert(id, sender);
                Interest::Unchanged
            }
            None => {
                self.rooms
                    .insert(room.to_owned(), HashMap::from([(id, sender)]));
                Interest::Changed
            }
        };
        Some(interest)
    }

    /// `None` when `id` was not in `room`.
    pub(crate) fn leave(&mut self, id: ConnId, room: &str) -> Option<Interest> {
        let member = self.members.get_mut(&id)?;
        if !member.rooms.remove(room) {
            return None;
        }
        Some(if self.drop_from_room(room, id) {
            Interest::Changed
        } else {
            Interest::Unchanged
        })
    }

    /// True when the room became empty (and was removed).
    fn drop_from_room(&mut self, room: &str, id: ConnId) -> bool {
        let Some(ids) = self.rooms.get_mut(room) else {
            return false;
        };
        ids.remove(&id);
        if ids.is_empty() {
            self.rooms.remove(room);
            return true;
        }
        false
    }
}
