//! Typed per-connection data: what a controller attaches to a connection (the authenticated
//! user, its lot, its locale) and reads back from any handle, e.g. one a [`Hub`](crate::Hub)
//! hands out.

use crate::connection::sender::Sender;
use crate::connection::shared::lock;

impl Sender {
    /// Attaches `value` to the connection, replacing (and returning) the previous value of
    /// its type. One value per type: wrap plain types in a newtype.
    ///
    /// ```
    /// # async fn open(conn: &ws_controller::Conn) {
    /// #[derive(Clone)]
    /// struct User { id: u64 }
    /// conn.insert(User { id: 7 });
    /// assert_eq!(conn.get::<User>().map(|u| u.id), Some(7));
    /// # }
    /// ```
    pub fn insert<T: Clone + Send + Sync + 'static>(&self, value: T) -> Option<T> {
        lock(&self.shared.data).insert(value)
    }

    /// A clone of the connection's value of type `T`.
    pub fn get<T: Clone + Send + Sync + 'static>(&self) -> Option<T> {
        lock(&self.shared.data).get::<T>().cloned()
    }

    /// Reads the connection's value of type `T` without cloning it (`None` when absent).
    /// `f` runs under the data's lock: keep it short and do not touch this connection's data
    /// inside it.
    pub fn with_data<T: Send + Sync + 'static, R>(&self, f: impl FnOnce(Option<&T>) -> R) -> R {
        f(lock(&self.shared.data).get::<T>())
    }

    /// Detaches and returns the connection's value of type `T`.
    pub fn remove<T: Clone + Send + Sync + 'static>(&self) -> Option<T> {
        lock(&self.shared.data).remove::<T>()
    }
}
