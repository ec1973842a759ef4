//! Event pushes to many connections through a [`Hub`], encoded once and shared by every
//! recipient. Here, above the hub, because the envelope is the event protocol's.

use serde::Serialize;

use crate::connection::error::ConnError;
use crate::endpoint::events::EventProtocol;
use crate::hub::history::NumberedPush;
use crate::hub::report::BroadcastReport;
use crate::hub::Hub;
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
    ///
    /// In a room with history ([`Hub::with_history`]) the push is numbered and kept:
    /// `{"event":..,"room":..,"epoch":..,"offset":..,"data":..}`, and the report's
    /// [`offset`](BroadcastReport::offset) is its offset.
    pub async fn emit_room<T: Serialize + ?Sized>(
        &self,
        room: &str,
        event: &str,
        data: &T,
    ) -> Result<BroadcastReport, ConnError> {
        self.emit_to_room(room, None, event, data).await
    }

    /// Pushes an event to the members of `room` but `except` (typically the sender),
    /// encoded once; numbered and kept in a room with history, as [`Hub::emit_room`].
    pub async fn emit_room_except<T: Serialize + ?Sized>(
        &self,
        room: &str,
        except: ConnId,
        event: &str,
        data: &T,
    ) -> Result<BroadcastReport, ConnError> {
        self.emit_to_room(room, Some(except), event, data).await
    }

    async fn emit_to_room<T: Serialize + ?Sized>(
        &self,
        room: &str,
        except: Option<ConnId>,
        event: &str,
        data: &T,
    ) -> Result<BroadcastReport, ConnError> {
        if self.history_of(room).is_some() {
            let push = NumberedPush::new(event, room, data)?;
            return Ok(self.push_numbered(room, except, &push).await);
        }
        let message = EventProtocol::default().push(event, data)?;
        Ok(match except {
            Some(except) => self.broadcast_room_except(room, except, message).await,
            None => self.broadcast_room(room, message).await,
        })
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
}
