//! Cluster-wide counts: a query on the control channel, one reply per node, a deadline.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::frame;
use super::Cluster;
use crate::hub::report::RemoteDelivery;

/// A count over every node of a cluster ([`Hub::cluster_count`](crate::Hub::cluster_count)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClusterCount {
    /// The sum over the nodes that answered, this one included.
    pub total: usize,
    /// Nodes that answered in time, this one included.
    pub answered: usize,
    /// Nodes the query reached, this one included: the broker's count of subscribers to
    /// the control channel. `None` when the broker could not be asked (then `total` is
    /// this node's own count).
    pub reached: Option<usize>,
}

impl ClusterCount {
    /// True when every node the query reached answered.
    pub fn is_complete(&self) -> bool {
        self.reached == Some(self.answered)
    }

    pub(crate) fn local(count: usize) -> Self {
        Self {
            total: count,
            answered: 1,
            reached: Some(1),
        }
    }
}

/// Removes a query's reply slot however the query ends.
struct Pending<'a> {
    cluster: &'a Cluster,
    id: u64,
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        self.cluster
            .queries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&self.id);
    }
}

impl Cluster {
    /// Asks every node for its count of connections (or of `room`'s members), waiting at
    /// most `timeout` for the answers.
    pub(crate) async fn count(
        &self,
        registry: impl FnOnce() -> usize,
        room: Option<&str>,
        timeout: Duration,
    ) -> ClusterCount {
        let deadline = Instant::now() + timeout;
        let id = self.next_query();
        let (tx, mut replies) = mpsc::channel(1024);
        self.queries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(id, tx);
        let _pending = Pending { cluster: self, id };
        let mut count = ClusterCount::local(registry());
        let query = frame::count(self.node, id, room);
        let outcome = match self.queue(self.channels.ctl.clone(), query, true, true) {
            Ok(Some(outcome)) => tokio::time::timeout_at(deadline, outcome).await,
            Ok(None) | Err(_) => Ok(Ok(RemoteDelivery::Local)),
        };
        let Ok(Ok(RemoteDelivery::Published { nodes })) = outcome else {
            count.reached = None;
            return count;
        };
        count.reached = Some(nodes + 1);
        while count.answered < nodes + 1 {
            match tokio::time::timeout_at(deadline, replies.recv()).await {
                Ok(Some(n)) => {
                    count.total += usize::try_from(n).unwrap_or(usize::MAX);
                    count.answered += 1;
                }
                Ok(None) | Err(_) => break,
            }
        }
        count
    }
}
