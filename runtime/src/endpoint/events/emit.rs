//! [`Sender::emit`]: a typed push to one connection.

use serde::Serialize;

use crate::endpoint::events::{EventFields, EventProtocol};
use crate::{ConnError, Sender};

impl Sender {
    /// Pushes `{"event": .., "data": ..}` to this connection, with the field names of its
    /// controller (an event controller with custom names stores its [`EventFields`] in the
    /// connection's data).
    ///
    /// To push one value to many connections, encode it once with [`Hub::emit`](crate::Hub::emit)
    /// or [`EventProtocol::push`].
    pub async fn emit<T: Serialize + ?Sized>(
        &self,
        event: &str,
        data: &T,
    ) -> Result<(), ConnError> {
        let fields = self.get::<EventFields>().unwrap_or_default();
        let message = EventProtocol::new(fields).push(event, data)?;
        self.send(message).await
    }
}
