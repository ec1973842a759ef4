//! A join of a room with history: under the hub's exclusive lock and the room's, the
//! replay (when the connection named a `since` position for the room), then `$joined`,
//! are queued, and the connection becomes a member: every push is either before the join
//! (in the ring) or after it (live), never both, never neither.

use std::time::Instant;

use super::envelope::{joined, Recovered};
use super::since::{SincePosition, SincePositions};
use super::store::lock;
use crate::connection::conn::ConnId;
use crate::connection::prepared::PreparedMessage;
use crate::connection::sender::Sender;
use crate::hub::registry::Interest;
use crate::hub::Hub;

impl Hub {
    /// `None` when `id` is not registered.
    pub(crate) fn join_with_history(&self, id: ConnId, room: &str) -> Option<Interest> {
        let mut registry = self.write();
        let member = registry.members.get(&id)?;
        if member.rooms.contains(room) {
            return Some(Interest::Unchanged);
        }
        let sender = member.sender.clone();
        let Some(log) = self.inner.histories.log(room, &registry) else {
            return registry.join(id, room);
        };
        let mut log = lock(&log);
        let freed = log.expire(Instant::now());
        self.inner.histories.account(-(freed as isize));
        let (replay, recovery) = match take_since(&sender, room) {
            None => (Vec::new(), None),
            Some(since) => match log.after(since.epoch(), since.offset()) {
                Ok(missed) => {
                    let replay: Vec<PreparedMessage> = missed.cloned().collect();
                    let missed = replay.len() as u64;
                    crate::metrics::recovery(true, missed);
                    let recovered = Recovered {
                        recovered: true,
                        missed,
                    };
                    (replay, Some(recovered))
                }
                Err(why) => {
                    tracing::debug!(room, ?why, %since, "room history cannot recover");
                    crate::metrics::recovery(false, 0);
                    let failed = Recovered {
                        recovered: false,
                        missed: 0,
                    };
                    (Vec::new(), Some(failed))
                }
            },
        };
        let announce = joined(room, log.epoch(), log.last(), recovery);
        // Beyond the queue's limits: the replay is bounded by the room's history, and the
        // lock cannot wait for the connection to drain.
        let queued = replay
            .into_iter()
            .chain(std::iter::once(PreparedMessage::new(announce)));
        sender.shared.enqueue_unmetered(queued);
        registry.join(id, room)
    }
}

/// The connection's position for `room`, consumed: only its first join recovers.
fn take_since(sender: &Sender, room: &str) -> Option<SincePosition> {
    let mut data = crate::connection::shared::lock(&sender.shared.data);
    data.get_mut::<SincePositions>()?.take(room)
}
