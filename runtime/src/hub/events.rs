//! Typed pushes to many connections (encoded once, shared by every recipient) and queries
//! over the connections' data. Written against the hub's public methods only.

use serde::Serialize;

use crate::connection::error::ConnError;
use crate::connection::sender::Sender;
use crate::endpoint::events::EventProtocol;
use crate::hub::{BroadcastReport, Hub};
use crate::ConnId;

impl Hub {
    /// Pushes `{"event": .., "data": ..}` to every registered connection; `data` is encoded
    /// once. Uses the default field names: for custom ones, encode with
    /// [`EventProtocol::push`] and [`Hub::broadcast`].
    pub async fn emit<T: Serialize + ?Sized>(
        &self,
        event: &str,
        data: &T,
    ) -> Result<BroadcastReport, ConnError> {
        let message = EventProtocol::default().push(event, data)?;
        Ok(self.broadcast(message).await)
    }

    /// Pushes an event to the members of `room`, encoded once.
    pub async fn emit_room<T: Serialize + ?Sized>(
        &self,
        room: &str,
        event: &str,
        data: &T,
    ) -> Result<BroadcastReport, ConnError> {
        let message = EventProtocol::default().push(event, data)?;
        Ok(self.broadcast_room(room, message).await)
    }

    /// Pushes an event to every registered connection but `except`, encoded once.
    pub async fn emit_except<T: Serialize + ?Sized>(
        &self,
        except: ConnId,
        event: &str,
        data: &T,
    ) -> Result<BroadcastReport, ConnError> {
        let message = EventProtocol::default().push(event, data)?;
        Ok(self.broadcast_except(except, message).await)
    }

    /// Pushes an event to the connections whose data of type `D` matches `predicate` (e.g.
    /// every connection of one user), encoded once.
    ///
    /// ```
    /// # async fn run(hub: ws_controller::Hub) -> Result<(), ws_controller::ConnError> {
    /// #[derive(Clone)]
    /// struct User { id: u64 }
    /// // In `#[on_open]`: `conn.insert(User { id })`.
    /// hub.emit_where(|user: &User| user.id == 7, "notice", &"hello").await?;
    /// # Ok(()) }
    /// ```
    pub async fn emit_where<D: Send + Sync + 'static, T: Serialize + ?Sized>(
        &self,
        predicate: impl Fn(&D) -> bool,
        event: &str,
        data: &T,
    ) -> Result<BroadcastReport, ConnError> {
        let message = EventProtocol::default().push(event, data)?;
        Ok(self
            .broadcast_filter(message, |sender| {
                sender.with_data(|value: Option<&D>| value.is_some_and(&predicate))
            })
            .await)
    }

    /// The registered connections whose data of type `D` matches `predicate`: "every
    /// connection of user X" is `hub.find(|user: &User| user.id == x)`.
    pub fn find<D: Send + Sync + 'static>(&self, predicate: impl Fn(&D) -> bool) -> Vec<Sender> {
        self.ids()
            .into_iter()
            .filter_map(|id| self.get(id))
            .filter(|sender| sender.with_data(|value: Option<&D>| value.is_some_and(&predicate)))
            .collect()
    }
}
